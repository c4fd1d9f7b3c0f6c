"""The ``storemon`` command line, on click.

Thin by design, like rq's: one function per command; each parses nothing
itself (typed options do that), calls the library and prints a summary on
stderr.

Environment: every option also reads two variables, the first one set wins:
``STOREMON_<COMMAND>_<OPTION>`` (click's ``auto_envvar_prefix`` naming) and the
shared ``STOREMON_<OPTION>`` (``--now`` ← ``STOREMON_NOW``, ``--store`` ←
``STOREMON_STORE``, as the service reads it), with dashes as underscores. The
one exception is ``generate --format`` (a data-set layout), which reads only
``STOREMON_GENERATE_FORMAT``: ``STOREMON_FORMAT`` is the report's output
format. The ``DATA_DIR`` of ``report``, ``timeline``, ``incidents`` and ``daily``
also reads ``STOREMON_<COMMAND>_DATA_DIR`` and ``STOREMON_DATA_DIR``. A value
given on the command line wins over both; ``--help`` lists each option's
variables.

Exit status, decided in one place (:func:`main`): 0 success; 2 bad input or
parameters (a :class:`StoremonError`, a click usage error, a ``--store`` that
names no store); 1 a file or the data store could not be read or written
(:class:`OSError`, a damaged store part); 130 interrupted (Ctrl-C). Each
comes with a one-line message on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import polars as pl
from click.core import ParameterSource

from storemon._core.ranges import daily, incidents, timeline
from storemon._core.report import SAME_AS_HORIZON, compute_report, resolve_now
from storemon._generate import DEFAULT_END, generate_dataset
from storemon._instants import format_instant, parse_instant
from storemon._load import Inputs, load_dir, load_inputs
from storemon._output import FORMATS, csv_ready, display_report, display_table, output_format, write_report, write_table
from storemon._sample import sample_dir
from storemon._version import __version__
from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE, ENV_PREFIX
from storemon.exceptions import ConfigError, StoreError, StoremonError
from storemon.schema import REPORT_COLUMNS
from storemon.store import (
    Store,
    daily_from_store,
    incidents_from_store,
    ingest_paths,
    latest_poll,
    open_store,
    read_rejects,
    report_from_store,
    timeline_from_store,
)
from storemon.store._compact import compact
from storemon.store._manifest import MANIFEST_NAME

__all__ = ["main", "cli", "HorizonType", "InstantType", "parse_horizon", "describe_horizon"]

_F = TypeVar("_F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_OS = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

#: Horizon units: suffix → timedelta keyword. A number needs one.
HORIZON_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_HORIZON_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNLIMITED = {"inf", "infinite", "none"}
_UNITS_HELP = "w (weeks), d (days), h (hours), m (minutes), s (seconds)"

#: Options whose shared ``STOREMON_<OPTION>`` would clash with another command's option of that name.
_COMMAND_ONLY_ENVVARS = {("generate", "format")}


# --- typed options ------------------------------------------------------------------


def parse_horizon(text: str) -> timedelta | None:
    """``8d``, ``36h``, ``90m``, ``2w``, ``45s`` (decimals allowed); ``inf`` for no limit.

    Raises :class:`ConfigError` naming the value: for a number without a unit
    (listing the units), an unknown unit, or a horizon too long to represent.
    """
    if text.strip().lower() in _UNLIMITED:
        return None
    match = _HORIZON_RE.match(text)
    if not match:
        raise ConfigError(f"bad horizon {text!r}: use a number and a unit, e.g. 8d, 36h, 90m, or inf for no limit")
    number, unit = match.groups()
    if not unit:
        raise ConfigError(f"bad horizon {text!r}: the number needs a unit: {_UNITS_HELP}; e.g. 8d or 36h")
    if unit.lower() not in HORIZON_UNITS:
        raise ConfigError(f"bad horizon {text!r}: unknown unit {unit!r}; use {_UNITS_HELP}")
    try:
        return timedelta(**{HORIZON_UNITS[unit.lower()]: float(number)})
    except OverflowError:
        raise ConfigError(f"bad horizon {text!r}: too long (at most {timedelta.max.days} days); use inf") from None


def describe_horizon(horizon: timedelta | None) -> str:
    """The horizon as the option spells it: ``8d``, ``36h``, ``90m``, ``45s``, ``inf``."""
    if horizon is None:
        return "inf"
    seconds = horizon.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class _Option(click.Option):
    """An option whose error message names the environment variable its value came from, if it did."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = click.Parameter.get_error_hint(self, ctx)  # not click.Option's list of every variable
        if ctx is not None and self.name and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT:
            names = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or [])
            used = next((name for name in names if os.environ.get(name)), None)
            if used:
                hint += f" (from {used}={os.environ[used]!r})"
        return hint


option = functools.partial(click.option, cls=_Option)


if TYPE_CHECKING:  # click >= 8.5 types ParamType by (value, input); older clicks take no arguments at run time
    _HorizonBase = click.ParamType[timedelta | None, Any]
    _InstantBase = click.ParamType[datetime | None, Any]
else:
    _HorizonBase = _InstantBase = click.ParamType


class HorizonType(_HorizonBase):
    """How far a poll's status reaches: ``8d``, ``36h``, ``90m``, ``2w``, ``45s`` or ``inf`` (None)."""

    name = "horizon"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta | None:
        if value is None or isinstance(value, timedelta):
            return value
        try:
            return parse_horizon(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"


class InstantType(_InstantBase):
    """An instant, in any form an input file may write a timestamp (:func:`storemon.parse_instant`)."""

    name = "instant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        what = param.opts[0] if param is not None and param.opts else "instant"
        try:
            return parse_instant(str(value), what)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INSTANT"


HORIZON = HorizonType()
INSTANT = InstantType()


# --- the error boundary ------------------------------------------------------------------


class _IOFailure(Exception):
    """A file could not be written (exit 1); the message says which."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script exits with it).

    The single error boundary: usage errors and :class:`StoremonError` are
    exit 2, :class:`OSError` and a damaged store exit 1, Ctrl-C 130; each
    with a message on stderr and no traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args, prog_name="storemon", standalone_mode=False)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and EOF at a prompt)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # pragma: no cover - outside click's own catch
        return EXIT_INTERRUPTED
    except click.ClickException as exc:  # usage and bad parameters: exit 2
        exc.show()
        return exc.exit_code
    except StoreError as exc:  # the store was opened, then found damaged or unwritable
        _error(str(exc))
        return EXIT_OS
    except StoremonError as exc:
        _error(str(exc))
        return EXIT_INPUT
    except _IOFailure as exc:
        _error(str(exc))
        return EXIT_OS
    except BrokenPipeError:  # the reader of stdout went away (``| head``): not worth a message
        _silence_stdout()
        return EXIT_OS
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return EXIT_OS
    return result if isinstance(result, int) else EXIT_OK


def _error(message: str) -> None:
    click.echo(f"storemon: error: {message}", err=True)


def _note(message: str) -> None:
    click.echo(f"storemon: {message}", err=True)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _open_store(location: str, *, create: bool = False) -> Store:
    """Open ``--store``; a location that holds no store is a bad parameter (exit 2), not damage."""
    try:
        return open_store(location, create=create)
    except StoreError as exc:
        if not _names_no_store(location, create=create):
            raise  # a store that is there but damaged, or a directory that cannot be written: exit 1
        raise click.BadParameter(str(exc), param_hint="'--store'") from None


def _names_no_store(location: str, *, create: bool) -> bool:
    """Whether ``location`` is the wrong thing to name as a store (as opposed to a store in trouble)."""
    root = Path(location)
    try:
        if "://" in location or (root.exists() and not root.is_dir()):
            return True
        if (root / MANIFEST_NAME).exists():
            return False
        # Without a manifest: no store to open; to create one, a directory holding other files.
        return not create or (root.is_dir() and any(root.iterdir()))
    except OSError:
        return False


# --- the commands --------------------------------------------------------------------------

CONTEXT_SETTINGS: dict[str, Any] = {
    "auto_envvar_prefix": ENV_PREFIX,
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 100,
}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="storemon", message="%(prog)s %(version)s")
def cli() -> None:
    """Exact store uptime/downtime over business hours.

    Every option also reads STOREMON_<COMMAND>_<OPTION> or STOREMON_<OPTION>
    from the environment (see each command's --help). Exit status: 0 success,
    2 bad input or usage, 1 a file or the store could not be read or written,
    130 interrupted.
    """


def _input_options(command: str, output: str) -> Callable[[_F], _F]:
    """The inputs, parameters and outputs shared by ``report``, ``timeline``, ``incidents`` and ``daily``."""
    upper = command.upper()
    decorators = [
        click.argument(
            "data_dir",
            required=False,
            type=click.Path(path_type=str),
            envvar=[f"{ENV_PREFIX}_{upper}_DATA_DIR", f"{ENV_PREFIX}_DATA_DIR"],
        ),
        option("--polls", type=click.Path(path_type=str), help="Status polls file (CSV or Parquet)."),
        option("--hours", type=click.Path(path_type=str), help="Business hours file."),
        option("--timezones", type=click.Path(path_type=str), help="Time zones file."),
        option("--special", type=click.Path(path_type=str), help="Special hours file (optional, with --polls …)."),
        option("--store", metavar="DIR", help="Read this data store (see 'storemon ingest') instead of input files."),
        option("--now", type=INSTANT, show_default="the latest poll", help="The instant the figures are for."),
        option(
            "--horizon",
            type=HORIZON,
            default=describe_horizon(DEFAULT_HORIZON),
            help="How far a poll's status reaches: a number and a unit w, d, h, m, s (8d, 36h, 90m), or inf.",
        ),
        option("--horizon-active", type=HORIZON, show_default="--horizon", help="The horizon of an active poll."),
        option("--horizon-inactive", type=HORIZON, show_default="--horizon", help="The horizon of an inactive poll."),
        option("--default-timezone", default=DEFAULT_TIMEZONE, metavar="ZONE", help="Zone of stores without one."),
        option("--strict", is_flag=True, help="Stop at the first invalid row (exit 2)."),
        option("-o", "--output", default=output, metavar="FILE", help="Where to write the result; '-' for stdout."),
        option("--rejects", metavar="FILE", help="Also write every rejected input row to FILE."),
        option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS, case_sensitive=False),
            show_default="by extension: .parquet, .jsonl or .ndjson, else csv",
            help="Format of -o and --rejects.",
        ),
    ]

    def decorate(function: _F) -> _F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def _range_options(function: _F) -> _F:
    """``--store-id``, ``--start`` and ``--end`` of the range commands."""
    function = option("--end", type=INSTANT, show_default="--now", help="End of the range (excluded).")(function)
    function = option("--start", type=INSTANT, show_default="--end − 168 h", help="Start of the range.")(function)
    return option("--store-id", "store_ids", multiple=True, metavar="ID", help="Only this store (repeatable).")(
        function
    )


@dataclass(frozen=True)
class _Run:
    """What one computing command reads, resolved from its options."""

    inputs: Inputs | None  # input files, or None for a store
    store: Store | None
    now: datetime
    keywords: dict[str, Any]  # horizon, horizon_active, horizon_inactive, default_timezone

    def describe(self) -> str:
        horizons = [f"horizon {describe_horizon(self.keywords['horizon'])}"]
        for name in ("horizon_active", "horizon_inactive"):
            if self.keywords[name] is not SAME_AS_HORIZON:
                horizons.append(f"{name.replace('_', ' ')} {describe_horizon(self.keywords[name])}")
        return f"now {format_instant(self.now)}, {', '.join(horizons)}"


def _resolve(params: dict[str, Any]) -> _Run:
    """Read the inputs (files or store) and the parameters the options name (the error rules of ``report``)."""
    if params["rejects"] == "-":
        raise click.BadParameter("'-' (stdout) is for -o only; give a file name", param_hint="'--rejects'")
    ctx = click.get_current_context()
    keywords: dict[str, Any] = {"horizon": params["horizon"], "default_timezone": params["default_timezone"]}
    for name in ("horizon_active", "horizon_inactive"):
        given = ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        keywords[name] = params[name] if given else SAME_AS_HORIZON
    explicit = [params["polls"], params["hours"], params["timezones"], params["special"]]
    data_dir, store, now = params["data_dir"], params["store"], params["now"]
    if store:
        if data_dir or any(explicit):
            raise ConfigError(
                "give either --store or input files (DATA_DIR, --polls/--hours/--timezones/--special), not both"
            )
        opened = _open_store(store)
        now = now or latest_poll(opened)
        if now is None:
            raise ConfigError(f"store {store} holds no polls yet: pass --now or ingest polls first")
        return _Run(None, opened, now, keywords)
    if data_dir and any(explicit):
        raise ConfigError("give either DATA_DIR or --polls/--hours/--timezones/--special, not both")
    if data_dir:
        inputs = load_dir(data_dir, strict=params["strict"])
    elif params["polls"] and params["hours"] and params["timezones"]:
        inputs = load_inputs(
            params["polls"], params["hours"], params["timezones"], strict=params["strict"], special=params["special"]
        )
    else:
        raise ConfigError("give DATA_DIR, or all three of --polls, --hours and --timezones, or --store")
    return _Run(inputs, None, resolve_now(inputs.polls, now), keywords)


def _finish(run: _Run, result: pl.DataFrame, what: str, params: dict[str, Any], started: float) -> None:
    """Write the result and rejects, then the summary on stderr."""
    rejects_file = params["rejects"]
    if run.store is not None:
        rejects = read_rejects(run.store) if rejects_file else None
        where = _write_outputs(result, params["output"], rejects, rejects_file, params["fmt"])
        _note(
            f"{result.height} {what} from store {params['store']}, {run.describe()} → {where} "
            f"({time.perf_counter() - started:.2f} s)"
        )
        return
    assert run.inputs is not None
    where = _write_outputs(result, params["output"], run.inputs.rejects, rejects_file, params["fmt"])
    _note(
        f"{result.height} {what}, {run.describe()}, {run.inputs.rows_rejected} rejected rows → {where} "
        f"({time.perf_counter() - started:.2f} s)"
    )
    _print_rejects_summary(run.inputs, rejects_file)


@cli.command()
@_input_options("report", "report.csv")
def report(**params: Any) -> None:
    """Compute the uptime/downtime report of every store.

    Reads DATA_DIR (the three files under their 2024 or 2023 names, CSV or
    Parquet, and special_hours.csv when there), or the files given by
    --polls, --hours, --timezones (and --special), or a data store
    (--store). The CSV report rounds to two decimals; Parquet and JSON lines
    keep the exact figures. A summary and the count of rejected rows per file
    and reason go to stderr. DATA_DIR also reads STOREMON_REPORT_DATA_DIR or
    STOREMON_DATA_DIR.
    """
    started = time.perf_counter()
    run = _resolve(params)
    if run.store is not None:
        result = report_from_store(run.store, run.now, **run.keywords)
    else:
        assert run.inputs is not None
        inputs = run.inputs
        result = compute_report(
            inputs.polls, inputs.hours, inputs.timezones, run.now, special=inputs.special, **run.keywords
        )
    _finish(run, result, "stores", params, started)


def _range_command(name: str, params: dict[str, Any], what: str, extra: dict[str, Any]) -> None:
    started = time.perf_counter()
    run = _resolve(params)
    stores = list(params["store_ids"]) or None
    where = {"start": params["start"], "end": params["end"], "stores": stores, **extra}
    if run.store is not None:
        from_store = {"timeline": timeline_from_store, "incidents": incidents_from_store, "daily": daily_from_store}
        result = from_store[name](run.store, run.now, **where, **run.keywords)
    else:
        assert run.inputs is not None
        inputs = run.inputs
        compute = {"timeline": timeline, "incidents": incidents, "daily": daily}[name]
        result = compute(
            inputs.polls, inputs.hours, inputs.timezones, run.now, special=inputs.special, **where, **run.keywords
        )
    _finish(run, result, what, params, started)


@cli.command(name="timeline")
@_input_options("timeline", "timeline.csv")
@_range_options
def timeline_command(**params: Any) -> None:
    """Each store's status over a range: the longest stretches of constant (business, status).

    Inputs as for 'report'. The range is [--start, --end), by default the
    week before --now; --store-id limits it to those stores. Instants are
    UTC, in the CSV as ISO 8601 with a fraction only when there is one.
    """
    _range_command("timeline", params, "segments", {})


@cli.command(name="incidents")
@_input_options("incidents", "incidents.csv")
@_range_options
@option("--min-minutes", type=click.FloatRange(min=0), default=0.0, help="Keep incidents at least this long.")
def incidents_command(min_minutes: float, **params: Any) -> None:
    """Each store's incidents over a range: business time not known to be active.

    Inputs and range as for 'timeline'; --min-minutes keeps the longer
    incidents only.
    """
    _range_command("incidents", params, "incidents", {"min_minutes": min_minutes})


@cli.command(name="daily")
@_input_options("daily", "daily.csv")
@_range_options
def daily_command(**params: Any) -> None:
    """Business, up and down hours per store and local calendar day, over a range.

    Inputs and range as for 'timeline'. The CSV rounds the hours and the
    ratio to four decimals for display; Parquet and JSON lines are exact.
    """
    _range_command("daily", params, "store-days", {})


def _write_outputs(
    result: pl.DataFrame, output: str, rejects: pl.DataFrame | None, rejects_file: str | None, fmt: str | None
) -> str:
    """Write the result (``-``: stdout) and, when asked, the rejects; say where the result went.

    CSV rounds for display (the report as :func:`display_report`, other
    results as :func:`display_table`); Parquet and JSON lines are exact.
    """
    if rejects_file and rejects is not None:
        write_table(rejects, rejects_file, fmt)
    is_report = result.columns == ["store_id", *REPORT_COLUMNS]
    if output != "-":
        if is_report:
            return str(write_report(result, output, fmt))
        shown = display_table(result) if output_format(output, fmt) == "csv" else result
        return str(write_table(shown, output, fmt))
    kind = output_format(None, fmt)
    sys.stdout.flush()
    stream = sys.stdout.buffer
    if kind == "parquet" and stream.isatty():
        raise ConfigError("refusing to write Parquet to a terminal: give -o FILE or redirect stdout")
    buffer = io.BytesIO()
    if kind == "parquet":
        result.write_parquet(buffer)
    elif kind == "jsonl":
        result.write_ndjson(buffer)
    else:
        csv_ready(display_report(result) if is_report else display_table(result)).write_csv(buffer)
    stream.write(buffer.getvalue())
    stream.flush()
    return "stdout"


def _print_rejects_summary(inputs: Inputs, rejects_file: str | None) -> None:
    if inputs.rejects.is_empty():
        return
    for file, reason, rows in inputs.reject_counts().select("file", "reason", "rows").rows():
        _note(f"rejected {rows} rows in {file}: {reason}")
    if rejects_file:
        _note(f"every rejected row written to {rejects_file}")
    else:
        _note("use --rejects FILE to list each rejected row")


@cli.command()
@click.argument("out", metavar="OUT", type=click.Path(path_type=Path))
@option("--stores", type=int, default=100, help="Number of stores.")
@option("--days", type=float, default=11.0, help="Days of polls.")
@option("--seed", type=int, default=0, help="Random seed (the same seed gives the same bytes).")
@option("--format", "fmt", type=click.Choice(["2023", "2024"]), default="2024", help="File names and columns.")
@option("--end", type=INSTANT, show_default=format_instant(DEFAULT_END), help="End of the polled period (excluded).")
def generate(out: Path, stores: int, days: float, seed: int, fmt: str, end: datetime | None) -> None:
    """Write a synthetic data set shaped like the Loop files into directory OUT."""
    started = time.perf_counter()
    try:
        files = generate_dataset(out, stores=stores, days=days, seed=seed, fmt=fmt, end=end)
    except ConfigError as exc:
        if isinstance(exc.__cause__, OSError):  # the arguments were fine; the directory is not writable
            raise _IOFailure(str(exc)) from exc
        raise
    _note(f"generated {files} in {time.perf_counter() - started:.2f} s")


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="DATA_DIR|FILE...", type=click.Path(path_type=str))
@option("--store", metavar="DIR", help="The store directory (created if missing).")
@option("--strict", is_flag=True, help="Stop at the first invalid row (nothing is ingested).")
def ingest(paths: tuple[str, ...], store: str | None, strict: bool) -> None:
    """Validate input files and add them to a data store.

    Each DATA_DIR contributes the input files it holds (2024 or 2023 names);
    a FILE is a polls, hours or time-zone file. Polls are appended (the same
    file twice is a no-op); hours and time zones replace the current version.
    """
    if not store:
        raise ConfigError("give --store DIR (or set STOREMON_STORE)")
    started = time.perf_counter()
    results = ingest_paths(_open_store(store, create=True), list(paths), strict=strict)
    for result in results:
        _note(result.describe())
        if not result.skipped and result.rows_rejected:
            reasons = result.rejects.unique(["file", "line"], keep="first").group_by("reason").len().sort("reason")
            for reason, count in reasons.rows():
                _note(f"  rejected {count} × {reason}")
    new = sum(not result.skipped for result in results)
    _note(f"{new} of {len(results)} sources ingested into {store} ({time.perf_counter() - started:.2f} s)")


@cli.command(name="compact")
@option("--store", metavar="DIR", help="The store directory.")
def compact_command(store: str | None) -> None:
    """Merge each date's poll part files into one and delete unreferenced files."""
    if not store:
        raise ConfigError("give --store DIR (or set STOREMON_STORE)")
    started = time.perf_counter()
    result = compact(_open_store(store))
    _note(f"{store}: {result.describe()} ({time.perf_counter() - started:.2f} s)")


@cli.command()
@click.argument("directory", required=False, metavar="[DIR]", type=click.Path(path_type=Path))
def sample(directory: Path | None) -> None:
    """Print the bundled sample data set's directory, or copy its three CSVs into DIR.

    The copy never replaces a file: if any of the three names exists in DIR,
    nothing is copied (exit 2).
    """
    source = sample_dir()
    if directory is None:
        click.echo(str(source))
        return
    files = sorted(source.glob("*.csv"))
    taken = [directory / file.name for file in files if os.path.lexists(directory / file.name)]
    if taken:
        raise ConfigError(f"{', '.join(map(str, taken))}: already there; not overwriting (give an empty directory)")
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        _copy_new(file, directory / file.name)
    _note(f"copied {', '.join(file.name for file in files)} into {directory}")


def _copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically, never replacing a file that appeared meanwhile."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o644)
        os.link(tmp, target)  # fails if target exists: a hard link never replaces
    except FileExistsError:
        raise ConfigError(f"{target}: already there; not overwriting") from None
    finally:
        tmp.unlink(missing_ok=True)


# --- environment variables ------------------------------------------------------------------


def _wire_envvars(group: click.Group) -> None:
    """Give each option its two variables (see the module docstring) and show them in ``--help``."""
    for command_name, command in group.commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.name is None or param.envvar is not None:
                continue
            long = max(param.opts, key=len).lstrip("-")  # ``--format``, not its parameter name ``fmt``
            option = long.upper().replace("-", "_")
            own = f"{ENV_PREFIX}_{command_name.upper()}_{option}"
            shared = f"{ENV_PREFIX}_{option}"
            param.envvar = [own] if (command_name, long) in _COMMAND_ONLY_ENVVARS else [own, shared]
            param.show_envvar = True


_wire_envvars(cli)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
