"""storemon: exact store uptime/downtime over business hours.

The public API is exactly ``__all__`` (pinned by ``tests/test_api.py``); every
module whose name starts with ``_`` is private::

    from storemon import load_dir, compute_report
    inputs = load_dir("data/sample")
    report = compute_report(inputs.polls, inputs.hours, inputs.timezones)

:func:`compute_report` does no I/O (the computation lives in
``storemon._core``); loading and validation are :func:`load_dir` and
friends, the data store is :mod:`storemon.store`. The rules every figure
follows are in ``docs/rules.md``. The library never imports Flask or RQ.
"""

from storemon._core.fleet import fleet_summary
from storemon._core.ranges import ReportViews, daily, incidents, report_views, timeline
from storemon._core.report import compute_report, resolve_now
from storemon._core.shards import shard_of
from storemon._fileio import atomic_path
from storemon._instants import format_instant, parse_instant, utc_instant
from storemon._load import (
    Inputs,
    Loaded,
    load_dir,
    load_hours,
    load_inputs,
    load_polls,
    load_special_hours,
    load_timezones,
    parse_hours,
    parse_polls,
    parse_special_hours,
    parse_timezones,
)
from storemon._output import FORMATS, display_report, output_format, table_csv, write_report, write_table
from storemon._sample import sample_dir
from storemon._version import __version__
from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE
from storemon.exceptions import (
    ConfigError,
    FileFormatError,
    InputError,
    InvalidRowError,
    StaleVersionError,
    StoreError,
    StoremonError,
)
from storemon.schema import (
    DAILY_SCHEMA,
    HOURS_SCHEMA,
    INCIDENTS_SCHEMA,
    POLLS_SCHEMA,
    REJECTS_SCHEMA,
    REPORT_COLUMNS,
    REPORT_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    STATUS,
    TIMELINE_SCHEMA,
    TIMELINE_STATUS,
    TIMEZONES_SCHEMA,
    check_zone,
    is_known_zone,
)
from storemon.store import (
    CompactResult,
    IngestResult,
    Snapshot,
    Store,
    StoreLike,
    append_polls,
    check_store,
    collect_garbage,
    compact,
    current_table,
    daily_from_store,
    incidents_from_store,
    ingest_paths,
    latest_poll,
    open_store,
    pin_snapshot,
    read_polls,
    read_rejects,
    release_snapshot,
    replace_hours,
    replace_special_hours,
    replace_timezones,
    report_from_store,
    report_views_from_store,
    restore_table,
    rows_rejected,
    table_versions,
    timeline_from_store,
)

__all__ = [
    # computing
    "compute_report",
    "resolve_now",
    "timeline",
    "incidents",
    "daily",
    "report_views",
    "ReportViews",
    "fleet_summary",
    "shard_of",
    # instants
    "parse_instant",
    "utc_instant",
    "format_instant",
    # loading
    "load_dir",
    "load_inputs",
    "load_polls",
    "load_hours",
    "load_timezones",
    "load_special_hours",
    "parse_polls",
    "parse_hours",
    "parse_timezones",
    "parse_special_hours",
    "Inputs",
    "Loaded",
    "sample_dir",
    # writing
    "write_report",
    "write_table",
    "table_csv",
    "display_report",
    "output_format",
    "FORMATS",
    "atomic_path",
    # the data store
    "Store",
    "StoreLike",
    "open_store",
    "ingest_paths",
    "append_polls",
    "replace_hours",
    "replace_timezones",
    "replace_special_hours",
    "report_from_store",
    "timeline_from_store",
    "incidents_from_store",
    "daily_from_store",
    "report_views_from_store",
    "latest_poll",
    "read_polls",
    "read_rejects",
    "rows_rejected",
    "check_store",
    "current_table",
    "table_versions",
    "restore_table",
    "compact",
    "collect_garbage",
    "pin_snapshot",
    "release_snapshot",
    "Snapshot",
    "IngestResult",
    "CompactResult",
    # schemas
    "POLLS_SCHEMA",
    "HOURS_SCHEMA",
    "TIMEZONES_SCHEMA",
    "SPECIAL_HOURS_SCHEMA",
    "REPORT_SCHEMA",
    "TIMELINE_SCHEMA",
    "TIMELINE_STATUS",
    "INCIDENTS_SCHEMA",
    "DAILY_SCHEMA",
    "REPORT_COLUMNS",
    "REJECTS_SCHEMA",
    "STATUS",
    "is_known_zone",
    "check_zone",
    # defaults
    "DEFAULT_HORIZON",
    "DEFAULT_TIMEZONE",
    # errors
    "StoremonError",
    "InputError",
    "FileFormatError",
    "InvalidRowError",
    "ConfigError",
    "StoreError",
    "StaleVersionError",
    "__version__",
]
