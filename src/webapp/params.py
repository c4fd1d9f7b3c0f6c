"""The optional JSON body of a trigger request, checked field by field.

``{"now": "<instant>", "horizon_hours": <number ≥ 0>}``, both optional.
``now`` is read by :func:`storemon.parse_instant`, the parser the input
files and the command line use (``2024-10-14T12:00:00Z``, ``2024-10-14
12:00:00 UTC``, an offset …; without a zone it is UTC) and must lie in the
valid range ``[1970-01-01, 2200-01-01)`` UTC. A missing or ``null`` ``now``
means the library's default (the latest poll). A missing ``horizon_hours`` means
:data:`storemon.DEFAULT_HORIZON`. Anything else is a :class:`BadParameter`
naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storemon import DEFAULT_HORIZON, ConfigError, parse_instant

__all__ = ["BadParameter", "ReportParams", "parse_trigger_body"]

_FIELDS = ("now", "horizon_hours")
_DEFAULT_HORIZON_HOURS = DEFAULT_HORIZON / timedelta(hours=1)


class BadParameter(ValueError):
    """A trigger body that cannot be used; ``str()`` names the field, for a person."""


@dataclass(frozen=True)
class ReportParams:
    """What a client asked for: the report instant (``None``: latest poll) and horizon."""

    now: datetime | None
    horizon_hours: float

    @property
    def horizon(self) -> timedelta:
        """The horizon as the library takes it."""
        return timedelta(hours=self.horizon_hours)

    def to_json(self) -> dict[str, Any]:
        """The parameters as stored in a job and in the report's record."""
        return {"now": self.now.isoformat() if self.now else None, "horizon_hours": self.horizon_hours}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportParams:
        """Inverse of :meth:`to_json` (for trusted data written by :meth:`to_json`)."""
        now = data.get("now")
        return cls(now=datetime.fromisoformat(now) if now else None, horizon_hours=float(data["horizon_hours"]))


def parse_trigger_body(body: bytes) -> ReportParams:
    """Parse a trigger request body (empty, or a JSON object) into :class:`ReportParams`."""
    if not body.strip():
        return ReportParams(now=None, horizon_hours=_DEFAULT_HORIZON_HOURS)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadParameter(
            f'request body is not valid JSON ({exc}); send an object such as {{"now": "2024-10-14T12:00:00Z"}}'
        ) from None
    if not isinstance(data, dict):
        raise BadParameter(f"request body must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise BadParameter(f"unknown field {unknown[0]!r} (allowed: {', '.join(_FIELDS)})")
    return ReportParams(now=_now(data.get("now")), horizon_hours=_horizon_hours(data))


def _now(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadParameter(f"field 'now' must be an ISO 8601 string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadParameter("field 'now' is not valid Unicode text (a lone surrogate)") from None
    try:
        return parse_instant(value.strip(), "field 'now'")
    except ConfigError as exc:
        raise BadParameter(str(exc)) from None


def _horizon_hours(data: dict[str, Any]) -> float:
    if "horizon_hours" not in data:
        return _DEFAULT_HORIZON_HOURS
    value = data["horizon_hours"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadParameter(f"field 'horizon_hours' must be a number of hours, not {json.dumps(value)}")
    try:
        hours = float(value)
        if math.isfinite(hours) and hours >= 0:
            timedelta(hours=hours)
    except OverflowError:
        raise BadParameter(f"field 'horizon_hours' is too large: {value}") from None
    if not math.isfinite(hours) or hours < 0:
        raise BadParameter(f"field 'horizon_hours' must be a finite number ≥ 0, not {value}")
    return hours
