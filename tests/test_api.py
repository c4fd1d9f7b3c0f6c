"""The public API is explicit: derived from the modules and pinned here, so a change to it is deliberate.

A module is public when no part of its dotted name starts with ``_``; its
public names are its ``__all__``. Everything else is private and may change
at any time. The web app uses public names only, and the computation
(``storemon._core``) does no I/O and imports neither Flask, RQ nor the store.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import storemon
from storemon import exceptions

SRC = Path(storemon.__file__).parent.parent

PUBLIC = {
    "storemon": [
        "append_polls", "atomic_path", "check_store", "check_zone", "collect_garbage", "compact", "CompactResult",
        "compute_report", "ConfigError", "current_table", "daily", "daily_from_store", "DAILY_SCHEMA",
        "DEFAULT_HORIZON", "DEFAULT_TIMEZONE", "display_report", "FileFormatError", "fleet_summary", "format_instant",
        "FORMATS", "HOURS_SCHEMA", "incidents", "incidents_from_store", "INCIDENTS_SCHEMA", "ingest_paths",
        "IngestResult", "InputError", "Inputs", "InvalidRowError", "is_known_zone", "latest_poll", "load_dir",
        "load_hours", "load_inputs", "load_polls", "load_special_hours", "load_timezones", "Loaded", "open_store",
        "output_format", "parse_hours", "parse_instant", "parse_polls", "parse_special_hours", "parse_timezones",
        "pin_snapshot", "POLLS_SCHEMA", "read_polls", "read_rejects", "REJECTS_SCHEMA", "release_snapshot",
        "replace_hours", "replace_special_hours",
        "replace_timezones", "REPORT_COLUMNS", "report_from_store", "REPORT_SCHEMA", "report_views",
        "report_views_from_store", "ReportViews", "resolve_now", "restore_table",
        "rows_rejected", "sample_dir", "shard_of", "Snapshot", "SPECIAL_HOURS_SCHEMA", "StaleVersionError", "STATUS",
        "Store", "StoreError",
        "StoreLike", "StoremonError", "table_csv", "table_versions", "timeline", "timeline_from_store",
        "TIMELINE_SCHEMA", "TIMELINE_STATUS", "TIMEZONES_SCHEMA", "utc_instant", "write_report", "write_table",
        "__version__"
    ],
    "storemon.defaults": [
        "DAY", "DEFAULT_HORIZON", "DEFAULT_TIMEZONE", "ENV_PREFIX", "HOUR", "SNAPSHOT_TTL", "WEEK"
    ],
    "storemon.exceptions": [
        "ConfigError", "FileFormatError", "InputError", "InvalidRowError", "StaleVersionError", "StoreError",
        "StoremonError"
    ],
    "storemon.schema": [
        "check_zone", "DAILY_SCHEMA", "HOURS_SCHEMA", "INCIDENTS_SCHEMA", "is_known_zone", "POLLS_SCHEMA",
        "REJECTS_SCHEMA", "REPORT_COLUMNS", "REPORT_SCHEMA", "SPECIAL_HOURS_SCHEMA", "STATUS", "TIMELINE_SCHEMA",
        "TIMELINE_STATUS", "TIMEZONES_SCHEMA"
    ],
    "storemon.store": [
        "append_polls", "check_store", "collect_garbage", "compact", "CompactResult", "current_table",
        "daily_from_store", "incidents_from_store", "ingest_paths", "IngestResult", "latest_poll", "open_store",
        "pin_snapshot", "read_polls", "read_rejects", "release_snapshot", "replace_hours", "replace_special_hours",
        "replace_timezones", "report_from_store", "report_views_from_store", "restore_table", "rows_rejected",
        "Snapshot", "Store", "StoreLike", "table_versions", "timeline_from_store"
    ],
}  # fmt: skip

# What the pure computation may import: polars, numpy (array passes and correctly rounded division,
# see docs/architecture.md), computation-only stdlib modules and its own kind.
CORE_MAY_IMPORT = {
    "__future__", "dataclasses", "datetime", "enum", "functools", "collections", "typing", "math", "zoneinfo",
    "concurrent.futures",  # threads for a Polars call that runs on one (store_codes.distinct_ids), no I/O
    "polars", "numpy", "storemon._core", "storemon._instants", "storemon.schema", "storemon.defaults",
    "storemon.exceptions",
}  # fmt: skip
# Polars entry points and builtins that touch files.
IO_NAMES = {"open", "read_csv", "read_parquet", "read_ndjson", "read_json", "read_ipc", "scan_csv", "scan_parquet",
            "scan_ndjson", "scan_ipc", "write_csv", "write_parquet", "write_ndjson", "write_json", "write_ipc",
            "sink_csv", "sink_parquet", "sink_ndjson", "sink_ipc"}  # fmt: skip


def _modules() -> dict[str, object]:
    found = {"storemon": storemon}
    for info in pkgutil.walk_packages(storemon.__path__, "storemon."):
        if not info.name.endswith("__main__"):
            found[info.name] = importlib.import_module(info.name)
    return found


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def test_public_names_are_derived_from_the_modules_and_pinned():
    derived = {}
    for name, module in _modules().items():
        if _is_public(name):
            assert hasattr(module, "__all__"), f"public module {name} has no __all__"
            derived[name] = sorted(module.__all__)
    assert derived == {name: sorted(names) for name, names in PUBLIC.items()}
    assert len(storemon.__all__) == len(set(storemon.__all__))


def test_public_names_exist_and_are_reexported_at_the_top():
    top = set(storemon.__all__)
    for module_name, names in PUBLIC.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert getattr(module, name) is not None, (module_name, name)
            if module_name not in ("storemon", "storemon.defaults"):
                assert name in top, f"{module_name}.{name} is public but not in storemon.__all__"
                assert getattr(storemon, name) is getattr(module, name)


def test_every_public_name_has_a_docstring():
    for name in storemon.__all__:
        obj = getattr(storemon, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), name


def test_compute_report_signature():
    sig = inspect.signature(storemon.compute_report)
    assert list(sig.parameters)[:4] == ["polls", "hours", "tz", "now"]
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
    assert issubclass(storemon.StaleVersionError, storemon.StoreError)
    for name in exceptions.__all__:
        assert name in (exceptions.__doc__ or "")


def test_input_error_names_where():
    err = storemon.InvalidRowError("unknown status", file="s.csv", line=7, column="status", value="maybe")
    assert str(err) == "s.csv, line 7, column 'status', value 'maybe': unknown status"
    assert (err.file, err.line, err.column, err.value) == ("s.csv", 7, "status", "maybe")


def _storemon_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of everything a module takes from storemon."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "storemon":
            uses += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            uses += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "storemon"]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "storemon":
            uses.append((node.lineno, f"storemon.{node.attr}"))
    return uses


def _is_public_use(dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    if dotted in PUBLIC:
        return True
    return module in PUBLIC and name in PUBLIC[module]


def test_webapp_uses_public_names_only():
    offenders = []
    for path in sorted((SRC / "webapp").glob("*.py")):
        for line, dotted in _storemon_uses(ast.parse(path.read_text(), str(path))):
            if not _is_public_use(dotted):
                offenders.append(f"{path.name}:{line}: {dotted}")
    assert offenders == []


def test_the_private_name_check_catches_a_private_import():
    tree = ast.parse("from storemon._core.report import reaching_polls\nimport storemon\nstoremon._load.x\n")
    assert [_is_public_use(d) for _, d in _storemon_uses(tree)] == [False, True, False]


def test_computation_does_no_io_and_imports_no_service_or_store():
    core = SRC / "storemon" / "_core"
    problems = []
    for path in sorted(core.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    if not any(name == ok or name.startswith(ok + ".") for ok in CORE_MAY_IMPORT):
                        problems.append(f"{path.name}:{node.lineno}: imports {name}")
            elif isinstance(node, ast.Attribute | ast.Name):
                name = node.attr if isinstance(node, ast.Attribute) else node.id
                if name in IO_NAMES:
                    problems.append(f"{path.name}:{node.lineno}: uses {name}")
    assert problems == []


def test_library_and_cli_never_import_the_web_stack():
    code = (
        "import sys, storemon, storemon._cli; "
        "print(any(m.split('.')[0] in {'flask', 'rq', 'redis'} for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
