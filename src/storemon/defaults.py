"""Default values, gathered in one place.

Every default that a caller, the CLI or the web service may rely on lives here,
each with the reason it has the value it has. See ``docs/rules.md`` for the meaning of each parameter.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["DEFAULT_HORIZON", "DEFAULT_TIMEZONE", "HOUR", "DAY", "WEEK", "ENV_PREFIX", "SNAPSHOT_TTL"]

#: How far one poll's status is carried forward and backward in time. A store
#: whose nearest poll is further away than this has *no known status* there.
DEFAULT_HORIZON: timedelta = timedelta(days=8)

#: Time zone for stores that have no (valid) time-zone row.
DEFAULT_TIMEZONE: str = "America/Chicago"

#: Length of the three report windows, all ending at ``now``.
HOUR: timedelta = timedelta(hours=1)
DAY: timedelta = timedelta(hours=24)
WEEK: timedelta = timedelta(hours=168)

#: Environment-variable prefix of every CLI option and service setting (``STOREMON_NOW`` …).
ENV_PREFIX: str = "STOREMON"

#: How long a snapshot pin (``storemon.store.pin_snapshot``) keeps its state readable: far
#: longer than the shard jobs of one report take, short enough that a forgotten
#: pin holds merged-away files on disk for hours, not forever.
SNAPSHOT_TTL: timedelta = timedelta(hours=6)
