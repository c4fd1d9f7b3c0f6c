"""The optional JSON body of a trigger request, checked field by field.

``{"now": "<instant>", "horizon_hours": <number ≥ 0>, "horizon_active_hours": <number ≥ 0>,
"horizon_inactive_hours": <number ≥ 0>, "shards": <whole number 1..MAX_SHARDS>}``, all optional.
``now`` is read by :func:`storemon.parse_instant`, the parser the input
files and the command line use (``2024-10-14T12:00:00Z``, ``2024-10-14
12:00:00 UTC``, an offset …; without a zone it is UTC) and must lie in the
valid range ``[1970-01-01, 2200-01-01)`` UTC. A missing or ``null`` ``now``
means the library's default (the latest poll). A missing ``horizon_hours`` means
:data:`storemon.DEFAULT_HORIZON`. A missing or ``null`` ``shards`` lets the worker choose
the number of shard jobs from the store's size (``STOREMON_SHARD_STORES``, :mod:`webapp.jobs`);
``1`` computes the report in one job, as without sharding. Anything else is a :class:`BadParameter`
naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, overload

from storemon import DEFAULT_HORIZON, ConfigError, parse_instant

__all__ = ["BadParameter", "ReportParams", "parse_trigger_body", "MAX_SHARDS"]

_FIELDS = ("now", "horizon_hours", "horizon_active_hours", "horizon_inactive_hours", "shards")

#: Most shard jobs one report may ask for (the library's shard index is a contiguous range of its hash buckets).
MAX_SHARDS = 256
_DEFAULT_HORIZON_HOURS = DEFAULT_HORIZON / timedelta(hours=1)


class BadParameter(ValueError):
    """A trigger body that cannot be used; ``str()`` names the field, for a person."""


@dataclass(frozen=True)
class ReportParams:
    """What a client asked for: the report instant (``None``: latest poll) and the horizons.

    ``horizon_active_hours`` / ``horizon_inactive_hours`` are ``None`` when
    not given: the same as ``horizon_hours``. ``shards`` is ``None`` when not
    given (the worker chooses), else the number of shard jobs asked for.
    """

    now: datetime | None
    horizon_hours: float
    horizon_active_hours: float | None = None
    horizon_inactive_hours: float | None = None
    shards: int | None = None

    @property
    def horizon(self) -> timedelta:
        """The horizon as the library takes it."""
        return timedelta(hours=self.horizon_hours)

    @property
    def horizons(self) -> dict[str, Any]:
        """``horizon``, ``horizon_active``, ``horizon_inactive`` keywords for the library (given ones only)."""
        keywords: dict[str, Any] = {"horizon": self.horizon}
        if self.horizon_active_hours is not None:
            keywords["horizon_active"] = timedelta(hours=self.horizon_active_hours)
        if self.horizon_inactive_hours is not None:
            keywords["horizon_inactive"] = timedelta(hours=self.horizon_inactive_hours)
        return keywords

    def to_json(self) -> dict[str, Any]:
        """The parameters as stored in a job and in the report's record."""
        return {
            "now": self.now.isoformat() if self.now else None,
            "horizon_hours": self.horizon_hours,
            "horizon_active_hours": self.horizon_active_hours,
            "horizon_inactive_hours": self.horizon_inactive_hours,
            "shards": self.shards,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportParams:
        """Inverse of :meth:`to_json` (for trusted data written by :meth:`to_json`; older jobs lack the two)."""
        now = data.get("now")
        active, inactive = data.get("horizon_active_hours"), data.get("horizon_inactive_hours")
        shards = data.get("shards")
        return cls(
            now=datetime.fromisoformat(now) if now else None,
            horizon_hours=float(data["horizon_hours"]),
            horizon_active_hours=None if active is None else float(active),
            horizon_inactive_hours=None if inactive is None else float(inactive),
            shards=None if shards is None else int(shards),
        )


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
    return ReportParams(
        now=_now(data.get("now")),
        horizon_hours=_hours_field(data, "horizon_hours", _DEFAULT_HORIZON_HOURS),
        horizon_active_hours=_hours_field(data, "horizon_active_hours", None),
        horizon_inactive_hours=_hours_field(data, "horizon_inactive_hours", None),
        shards=_shards(data.get("shards")),
    )


def _shards(value: object) -> int | None:
    """``shards``: absent or null (the worker chooses), else a whole number in ``[1, MAX_SHARDS]``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadParameter(f"field 'shards' must be a whole number from 1 to {MAX_SHARDS}, not {json.dumps(value)}")
    if not 1 <= value <= MAX_SHARDS:
        raise BadParameter(f"field 'shards' must be from 1 to {MAX_SHARDS}, not {value}")
    return value


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


@overload
def _hours_field(data: dict[str, Any], name: str, default: float) -> float: ...
@overload
def _hours_field(data: dict[str, Any], name: str, default: None) -> float | None: ...
def _hours_field(data: dict[str, Any], name: str, default: float | None) -> float | None:
    """A horizon field: a finite number of hours ≥ 0 that a timedelta holds; ``default`` when missing."""
    if name not in data or (default is None and data[name] is None):
        return default
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadParameter(f"field {name!r} must be a number of hours, not {json.dumps(value)}")
    try:
        hours = float(value)
        if math.isfinite(hours) and hours >= 0:
            timedelta(hours=hours)
    except OverflowError:
        raise BadParameter(f"field {name!r} is too large: {value}") from None
    if not math.isfinite(hours) or hours < 0:
        raise BadParameter(f"field {name!r} must be a finite number ≥ 0, not {value}")
    return hours
