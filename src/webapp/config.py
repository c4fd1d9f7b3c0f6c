"""Configuration of the report service, read from the environment in one place.

Every setting has one environment variable, one default and one reason,
listed in :data:`VARIABLES`. :meth:`Settings.from_env` validates them all and
returns a frozen :class:`Settings`; a bad value raises
:class:`storemon.ConfigError` naming the variable and the value.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from storemon import ConfigError

__all__ = ["Settings", "VARIABLES", "NO_DATA_MESSAGE", "ROLES", "Token", "token_name"]

#: Why a service with neither ``STOREMON_STORE`` nor ``STOREMON_DATA_DIR`` refuses to start.
NO_DATA_MESSAGE = (
    "no data configured: set STOREMON_STORE (a data store) or STOREMON_DATA_DIR (a directory with the input "
    "files; `storemon sample` prints the bundled sample's)"
)

#: Environment variable → (default, what it is): the service's only defaults.
VARIABLES: dict[str, tuple[str | None, str]] = {
    "REDIS_URL": (
        "redis://127.0.0.1:6379/0",
        "Redis holding the job queue (redis://, rediss:// or unix://). Only queue state "
        "lives there; finished reports live in the reports directory.",
    ),
    "STOREMON_DATA_DIR": (
        None,
        "Directory with store_status.csv, menu_hours.csv and timezones.csv (2024 names) "
        "or the 2023 names; it must exist. No default: without it or STOREMON_STORE the "
        "service refuses to start.",
    ),
    "STOREMON_STORE": (
        None,
        "A storemon data store (directory). When set, reports read it instead of "
        "STOREMON_DATA_DIR, and the intake endpoints (POST /api/polls, PUT /api/hours, "
        "PUT /api/timezones) write to it; the web app creates it if missing. Unset: "
        "reports read STOREMON_DATA_DIR and intake answers 503.",
    ),
    "STOREMON_MAX_INTAKE_BYTES": (
        str(16 * 1024 * 1024),
        "Largest body the intake endpoints accept, in bytes (larger: 413). The trigger "
        "endpoint has its own, small limit.",
    ),
    "STOREMON_REPORTS_DIR": (
        "run/reports",
        "Where each report's CSV and JSON record are written (relative paths are taken "
        "from the working directory). Web and workers must see the same directory.",
    ),
    "STOREMON_QUEUE": ("storemon", "Name of the RQ queue the web app fills and the workers drain."),
    "STOREMON_JOB_TIMEOUT": (
        "600",
        "Seconds one report may take on a worker before RQ stops it (the report ends Failed).",
    ),
    "STOREMON_WORKER_HEARTBEAT": (
        "10",
        "Seconds between a worker's heartbeats while it runs a job. A job whose worker "
        "stays silent for 3 heartbeats + 2 s (worker killed, machine lost) is abandoned: "
        "its report ends Failed.",
    ),
    "STOREMON_TEST_HOLD_FILE": (
        None,
        "TEST ONLY. While this file exists, jobs pause just before writing their CSV, so "
        "that tests can kill a worker mid-job deterministically (shard i of a sharded report "
        "pauses while FILE.shard<i> exists, and fails while FILE.fail<i> exists). Never set it in production.",
    ),
    "STOREMON_SHARD_STORES": (
        "20000",
        "Stores per shard job when a trigger does not say how many shards: a report over a data "
        "store of S stores runs as ceil(S / this) shard jobs plus one fan-in job (1: one job, as "
        "unsharded). Each shard job needs memory for about this many stores' polls (docs/scaling.md).",
    ),
}

# --- access control, admission and retention (one block, kept apart from the rest) ----

#: The roles, weakest first; each role may do everything the ones before it may.
ROLES: tuple[str, ...] = ("read", "write", "admin")

#: Shortest token accepted (characters): a token is a secret, not a password to remember.
MIN_TOKEN_LENGTH = 16

VARIABLES.update(
    {
        "STOREMON_TOKENS": (
            None,
            "Bearer tokens of the API, comma-separated role:token pairs, e.g. "
            "'read:…,write:…,admin:…'. Roles: read (fetch reports, read tables), write (+ trigger "
            "reports, POST polls, PATCH tables), admin (+ PUT tables, restore versions). Tokens are at "
            "least 16 characters of [A-Za-z0-9._~+/=-]. Unset: the web app refuses to start unless STOREMON_AUTH=off.",
        ),
        "STOREMON_AUTH": (
            "on",
            "'on' (default): every endpoint but GET /api/health and GET /api/openapi.json needs "
            "a token. 'off': no authentication at all (local experiments only; a warning is "
            "logged at every start).",
        ),
        "STOREMON_MAX_QUEUED": (
            "100",
            "Most reports that may wait in the queue; a trigger beyond that answers 429 with Retry-After.",
        ),
        "STOREMON_REPORT_RETENTION_DAYS": (
            "30",
            "Reports (CSV and record) older than this many days are deleted by the worker after each job.",
        ),
    }
)

_TOKEN = re.compile(r"[A-Za-z0-9._~+/=\-]+")

# --- the web console (src/webapp/console) -------------------------------------------

#: Shortest secret key accepted for the console's signed session cookie (characters).
MIN_SECRET_KEY_LENGTH = 32

VARIABLES["STOREMON_SECRET_KEY"] = (
    None,
    "Key that signs the web console's session cookie (at least 32 characters; python -c 'import "
    "secrets; print(secrets.token_urlsafe(32))' makes one). Every web process must share it. Unset: "
    "the console is off (its pages answer 503) and only the API is served.",
)


def _secret_key(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value.strip()) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"STOREMON_SECRET_KEY: use at least {MIN_SECRET_KEY_LENGTH} characters")
    return value.strip()


@dataclass(frozen=True)
class Token:
    """One configured bearer token and the role it grants. Never printed: ``repr`` hides the secret."""

    role: str
    secret: str = field(repr=False)

    @property
    def name(self) -> str:
        """What logs and records call the token: its role and a fingerprint that does not reveal it."""
        return token_name(self.role, self.secret)


def token_name(role: str, secret: str) -> str:
    """``role:`` plus the first 8 hex digits of the token's SHA-256."""
    return f"{role}:{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:8]}"


def _tokens(value: str | None) -> tuple[Token, ...]:
    if value is None:
        return ()
    tokens: list[Token] = []
    for position, entry in enumerate(value.split(","), start=1):
        role, sep, secret = entry.strip().partition(":")
        where = f"STOREMON_TOKENS entry {position}"
        if not sep or role not in ROLES:
            raise ConfigError(f"{where}: expected role:token with a role among {', '.join(ROLES)}")
        if len(secret) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(secret):
            raise ConfigError(
                f"{where} ({role}): a token is at least {MIN_TOKEN_LENGTH} characters of letters, digits and ._~+/=-"
            )
        tokens.append(Token(role, secret))
    secrets_seen = [t.secret for t in tokens]
    if len(set(secrets_seen)) != len(secrets_seen):
        raise ConfigError("STOREMON_TOKENS: the same token is given twice")
    return tuple(tokens)


def _auth(value: str) -> bool:
    switch = value.strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError(f"STOREMON_AUTH={value!r}: use 'on' or 'off'")
    return switch == "on"


def _safety(raw: Callable[[str], str | None]) -> dict[str, Any]:
    """The fields of this block, for :meth:`Settings.from_env`."""
    return {
        "tokens": _tokens(raw("STOREMON_TOKENS")),
        "auth": _auth(raw("STOREMON_AUTH") or ""),
        "max_queued": _positive_int("STOREMON_MAX_QUEUED", raw("STOREMON_MAX_QUEUED") or "", unit="reports"),
        "retention_days": _positive_int(
            "STOREMON_REPORT_RETENTION_DAYS", raw("STOREMON_REPORT_RETENTION_DAYS") or "", unit="days"
        ),
        "secret_key": _secret_key(raw("STOREMON_SECRET_KEY")),
    }


_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class Settings:
    """The service's validated configuration (see :data:`VARIABLES` for each field)."""

    redis_url: str
    data_dir: Path | None
    reports_dir: Path
    queue: str
    job_timeout: int
    worker_heartbeat: int
    hold_file: Path | None = None
    store: Path | None = None
    max_intake_bytes: int = 16 * 1024 * 1024
    shard_stores: int = 20_000
    # access control, admission and retention (see the block above)
    tokens: tuple[Token, ...] = field(default=(), repr=False)
    auth: bool = True
    max_queued: int = 100
    retention_days: int = 30
    secret_key: str | None = field(default=None, repr=False)  # the console's cookie key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting from ``environ`` (default: ``os.environ``).

        Unset or empty variables take their defaults; relative paths are made
        absolute against the current directory, so a job carries paths that
        mean the same thing on the worker. There is no default data: without
        ``STOREMON_STORE``, ``STOREMON_DATA_DIR`` must name an existing
        directory (:class:`ConfigError` otherwise).
        """
        env = os.environ if environ is None else environ

        def raw(name: str) -> str | None:
            value = env.get(name, "")
            return value if value.strip() else VARIABLES[name][0]

        hold = raw("STOREMON_TEST_HOLD_FILE")
        store = raw("STOREMON_STORE")
        settings = cls(
            redis_url=_redis_url(raw("REDIS_URL") or ""),
            data_dir=None,
            reports_dir=_path("STOREMON_REPORTS_DIR", raw("STOREMON_REPORTS_DIR") or ""),
            queue=_queue_name(raw("STOREMON_QUEUE") or ""),
            job_timeout=_positive_int("STOREMON_JOB_TIMEOUT", raw("STOREMON_JOB_TIMEOUT") or ""),
            worker_heartbeat=_positive_int("STOREMON_WORKER_HEARTBEAT", raw("STOREMON_WORKER_HEARTBEAT") or ""),
            hold_file=_path("STOREMON_TEST_HOLD_FILE", hold) if hold else None,
            store=_store("STOREMON_STORE", store) if store else None,
            max_intake_bytes=_positive_int(
                "STOREMON_MAX_INTAKE_BYTES", raw("STOREMON_MAX_INTAKE_BYTES") or "", unit="bytes"
            ),
            shard_stores=_positive_int("STOREMON_SHARD_STORES", raw("STOREMON_SHARD_STORES") or "", unit="stores"),
            **_safety(raw),
        )
        # Last, so that a bad value of any other variable is named first.
        data_dir = _data_dir("STOREMON_DATA_DIR", raw("STOREMON_DATA_DIR"), has_store=settings.store is not None)
        return replace(settings, data_dir=data_dir)

    @property
    def abandon_after(self) -> int:
        """Seconds of worker silence after which its running job counts as abandoned."""
        return 3 * self.worker_heartbeat + 2

    @property
    def worker_stale_after(self) -> int:
        """Seconds since a worker's last heartbeat after which health no longer counts it (at most 30)."""
        return min(30, 2 * self.worker_heartbeat + 5)


def _redis_url(value: str) -> str:
    scheme = urlsplit(value.strip()).scheme
    if scheme not in _REDIS_SCHEMES:
        raise ConfigError(
            f"REDIS_URL={value!r} is not a Redis URL (expected e.g. redis://127.0.0.1:6379/0; "
            f"schemes: {', '.join(_REDIS_SCHEMES)})"
        )
    return value.strip()


def _path(name: str, value: str) -> Path:
    if "\0" in value:
        raise ConfigError(f"{name}={value!r} is not a usable path")
    return Path(value).expanduser().resolve()


def _data_dir(name: str, value: str | None, *, has_store: bool) -> Path | None:
    """The data directory; required, and required to exist, when there is no store to read instead."""
    if value is None:
        if has_store:
            return None
        raise ConfigError(NO_DATA_MESSAGE)
    path = _path(name, value)
    if not has_store and not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ConfigError(f"{name}={value!r} {what}: it must be a directory with the input files")
    return path


def _store(name: str, value: str) -> Path:
    if "://" in value:
        raise ConfigError(f"{name}={value!r}: the data store must be a local directory, not a URL")
    path = _path(name, value)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}={value!r} is not a directory")
    return path


def _queue_name(value: str) -> str:
    if not _QUEUE_NAME.fullmatch(value):
        raise ConfigError(f"STOREMON_QUEUE={value!r}: use 1-100 letters, digits, '_', '.' or '-'")
    return value


def _positive_int(name: str, value: str, unit: str = "seconds") -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number of {unit}") from None
    if number <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive number of {unit}")
    return number
