"""storemon: exact store uptime/downtime over business hours.

The public API is listed in ``__all__`` (pinned by ``tests/test_api.py``)::

    from storemon import load_dir, compute_report
    inputs = load_dir("data/sample")
    report = compute_report(inputs.polls, inputs.hours, inputs.timezones)

The library does no I/O in :func:`compute_report`; loading and validation live
in :mod:`storemon.load`. It never imports Flask or RQ.
"""

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE
from storemon.exceptions import (
    ConfigError,
    FileFormatError,
    InputError,
    InvalidRowError,
    StoreError,
    StoremonError,
)
from storemon.load import Inputs, Loaded, load_dir, load_hours, load_inputs, load_polls, load_timezones
from storemon.report import compute_report
from storemon.store import (
    append_polls,
    compact,
    ingest_paths,
    latest_poll,
    open_store,
    replace_hours,
    replace_timezones,
    report_from_store,
)
from storemon.schema import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REJECTS_SCHEMA,
    REPORT_COLUMNS,
    REPORT_SCHEMA,
    TIMEZONES_SCHEMA,
)

__version__ = "0.1.0"

__all__ = [
    "compute_report",
    "report_from_store",
    "open_store",
    "ingest_paths",
    "append_polls",
    "replace_hours",
    "replace_timezones",
    "compact",
    "latest_poll",
    "load_dir",
    "load_inputs",
    "load_polls",
    "load_hours",
    "load_timezones",
    "Inputs",
    "Loaded",
    "POLLS_SCHEMA",
    "HOURS_SCHEMA",
    "TIMEZONES_SCHEMA",
    "REPORT_SCHEMA",
    "REPORT_COLUMNS",
    "REJECTS_SCHEMA",
    "DEFAULT_HORIZON",
    "DEFAULT_TIMEZONE",
    "StoremonError",
    "InputError",
    "FileFormatError",
    "InvalidRowError",
    "ConfigError",
    "StoreError",
]
