"""The public API is explicit: this test pins it, so a change to it is deliberate."""

from __future__ import annotations

import inspect
from datetime import timedelta

import storemon
from storemon import exceptions


def test_public_names_are_pinned():
    assert sorted(storemon.__all__) == sorted(
        [
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
    )
    for name in storemon.__all__:
        assert getattr(storemon, name) is not None


def test_every_public_name_has_a_docstring():
    for name in storemon.__all__:
        obj = getattr(storemon, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), name


def test_compute_report_signature():
    sig = inspect.signature(storemon.compute_report)
    assert list(sig.parameters) == ["polls", "hours", "tz", "now", "horizon", "default_timezone"]
    assert sig.parameters["now"].default is None
    assert sig.parameters["horizon"].default == timedelta(days=8)
    assert sig.parameters["horizon"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["default_timezone"].default == "America/Chicago"


def test_exception_hierarchy_matches_its_docstring():
    assert issubclass(storemon.InputError, storemon.StoremonError)
    assert issubclass(storemon.FileFormatError, storemon.InputError)
    assert issubclass(storemon.InvalidRowError, storemon.InputError)
    assert issubclass(storemon.ConfigError, storemon.StoremonError)
    assert issubclass(storemon.StoreError, storemon.StoremonError)
    assert not issubclass(storemon.ConfigError, storemon.InputError)
    for name in exceptions.__all__:
        assert name in exceptions.__doc__


def test_input_error_names_where():
    err = storemon.InvalidRowError("unknown status", file="s.csv", line=7, column="status", value="maybe")
    assert str(err) == "s.csv, line 7, column 'status', value 'maybe': unknown status"
    assert (err.file, err.line, err.column, err.value) == ("s.csv", 7, "status", "maybe")


def test_library_never_imports_web_stack():
    import subprocess
    import sys

    code = "import sys, storemon, storemon.cli; print(any(m.split('.')[0] in {'flask', 'rq'} for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
