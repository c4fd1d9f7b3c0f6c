"""The ``storemon`` command line.

Thin by design: it parses options, calls the library and prints. Every option
also reads an environment variable, ``STOREMON_`` + the option name in upper
case with dashes as underscores (``--now`` ← ``STOREMON_NOW``); a flag given on
the command line wins. Exit status: 0 success, 1 a file could not be read
or written, 2 bad input or usage (with a message, never a traceback).

Subcommands are registered by one ``_add_<name>`` function each, and run by
one ``_run_<name>`` function.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE, ENV_PREFIX
from storemon.exceptions import ConfigError, StoremonError

__all__ = ["main", "parse_horizon", "parse_now"]

EXIT_OK = 0
EXIT_OS = 1
EXIT_INPUT = 2

_HORIZON_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms]?)\s*$")
_HORIZON_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "hours"}


def parse_horizon(text: str) -> timedelta | None:
    """``8d``, ``36h``, ``90m``, ``2w``, ``45s`` or a bare number of hours; ``inf`` for no limit."""
    if text.strip().lower() in {"inf", "infinite", "none"}:
        return None
    match = _HORIZON_RE.match(text)
    if not match:
        raise ConfigError(f"bad horizon {text!r}: use e.g. 8d, 36h, 90m or inf")
    number, unit = match.groups()
    return timedelta(**{_HORIZON_UNITS[unit]: float(number)})


def parse_now(text: str) -> datetime:
    """An ISO 8601 instant (``2024-10-14T12:00:00Z``, ``… UTC``, offsets); naive is UTC."""
    from dateutil.parser import isoparse

    cleaned = text.strip()
    if cleaned.endswith(" UTC"):
        cleaned = cleaned[: -len(" UTC")]
    try:
        moment = isoparse(cleaned)
    except (ValueError, OverflowError):
        raise ConfigError(f"bad --now {text!r}: expected ISO 8601, e.g. 2024-10-14T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also used by the console script)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return args.run(args)
    except StoremonError as exc:
        print(f"storemon: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        print(f"storemon: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_OS
    except KeyboardInterrupt:
        return 130


# --- the parser ----------------------------------------------------------------


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + "_" + name.upper().replace("-", "_"), default)


def _env_flag(name: str) -> bool:
    return (_env(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storemon",
        description="Exact store uptime/downtime over business hours.",
        epilog=f"Every option also reads {ENV_PREFIX}_<OPTION> from the environment.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_report, _add_generate, _add_ingest, _add_compact):
        add(commands)
    return parser


def _command(commands, name: str, run: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help, description=help)
    sub.set_defaults(run=run)
    return sub


# --- storemon report --------------------------------------------------------------


def _add_report(commands) -> None:
    sub = _command(commands, "report", _run_report, "Compute the uptime/downtime report as CSV.")
    sub.add_argument(
        "data_dir",
        nargs="?",
        default=_env("data-dir"),
        metavar="DATA_DIR",
        help="directory holding the three input files (2024 or 2023 names)",
    )
    sub.add_argument("--polls", default=_env("polls"), help="status polls file (CSV or Parquet)")
    sub.add_argument("--hours", default=_env("hours"), help="business hours file")
    sub.add_argument("--timezones", default=_env("timezones"), help="time zones file")
    sub.add_argument("--now", default=_env("now"), help="report instant, ISO 8601 (default: latest poll)")
    sub.add_argument(
        "--horizon", default=_env("horizon", "8d"), help="how far a poll's status reaches (default 8d; inf = no limit)"
    )
    sub.add_argument(
        "--default-timezone",
        default=_env("default-timezone", DEFAULT_TIMEZONE),
        help=f"zone for stores without one (default {DEFAULT_TIMEZONE})",
    )
    sub.add_argument("--strict", action="store_true", default=_env_flag("strict"), help="stop at the first invalid row")
    sub.add_argument(
        "-o", "--output", default=_env("output", "report.csv"), help="CSV to write ('-' for stdout; default report.csv)"
    )
    sub.add_argument("--rejects", default=_env("rejects"), help="also write every rejected input row to this CSV")
    sub.add_argument(
        "--store",
        default=_env("store"),
        metavar="DIR",
        help="report from this data store (see 'storemon ingest') instead of input files",
    )


def _run_report(args: argparse.Namespace) -> int:
    from storemon._core.report import compute_report, resolve_now
    from storemon._load import load_dir, load_inputs

    started = time.perf_counter()
    horizon = parse_horizon(args.horizon) if args.horizon else DEFAULT_HORIZON
    now = parse_now(args.now) if args.now else None
    explicit = [args.polls, args.hours, args.timezones]
    if args.store:
        if args.data_dir or any(explicit):
            raise ConfigError("give either --store or input files (DATA_DIR, --polls/--hours/--timezones), not both")
        return _run_report_from_store(args, now, horizon, started)
    if args.data_dir and any(explicit):
        raise ConfigError("give either DATA_DIR or --polls/--hours/--timezones, not both")
    if args.data_dir:
        inputs = load_dir(args.data_dir, strict=args.strict)
    elif all(explicit):
        inputs = load_inputs(args.polls, args.hours, args.timezones, strict=args.strict)
    else:
        raise ConfigError("give DATA_DIR, or all three of --polls, --hours and --timezones")

    now = resolve_now(inputs.polls, now)
    report = compute_report(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        now,
        horizon=horizon,
        default_timezone=args.default_timezone,
    )
    where = _write_outputs(report, args.output, inputs.rejects, args.rejects)

    elapsed = time.perf_counter() - started
    print(
        f"storemon: {report.height} stores, now {now.isoformat().replace('+00:00', 'Z')}, "
        f"horizon {args.horizon}, {inputs.rows_rejected} rejected rows → {where} ({elapsed:.2f} s)",
        file=sys.stderr,
    )
    _print_rejects_summary(inputs, args.rejects)
    return EXIT_OK


def _run_report_from_store(
    args: argparse.Namespace, now: datetime | None, horizon: timedelta | None, started: float
) -> int:
    from storemon.store import latest_poll, open_store, read_rejects, report_from_store

    store = open_store(args.store)
    now = now or latest_poll(store)
    if now is None:
        raise ConfigError(f"store {args.store} holds no polls yet: pass --now or ingest polls first")
    report = report_from_store(store, now, horizon=horizon, default_timezone=args.default_timezone)
    where = _write_outputs(report, args.output, read_rejects(store) if args.rejects else None, args.rejects)
    print(
        f"storemon: {report.height} stores from store {args.store}, now {now.isoformat().replace('+00:00', 'Z')}, "
        f"horizon {args.horizon} → {where} ({time.perf_counter() - started:.2f} s)",
        file=sys.stderr,
    )
    return EXIT_OK


def _write_outputs(report, output: str, rejects, rejects_file: str | None) -> str:
    """Write the report CSV (``-``: stdout) and, when asked, the rejects; say where the report went."""
    from storemon._output import display_report
    from storemon._output import write_report as write_report_csv
    from storemon._output import write_table as write_csv_atomic

    if output == "-":
        display_report(report).write_csv(sys.stdout)
        where = "stdout"
    else:
        where = str(write_report_csv(report, output))
    if rejects_file:
        write_csv_atomic(rejects, rejects_file)
    return where


def _print_rejects_summary(inputs, rejects_file: str | None) -> None:
    if inputs.rejects.is_empty():
        return
    for file, reason, rows in inputs.reject_counts().select("file", "reason", "rows").rows():
        print(f"storemon: rejected {rows} rows in {file}: {reason}", file=sys.stderr)
    if rejects_file:
        print(f"storemon: every rejected row written to {rejects_file}", file=sys.stderr)
    else:
        print("storemon: use --rejects FILE to list each rejected row", file=sys.stderr)


# --- storemon generate --------------------------------------------------------------


def _add_generate(commands) -> None:
    sub = _command(commands, "generate", _run_generate, "Write a synthetic data set shaped like the Loop files.")
    sub.add_argument("out", metavar="OUT", help="directory to write the three files into")
    sub.add_argument("--stores", type=int, default=int(_env("stores", "100")), help="number of stores (default 100)")
    sub.add_argument("--days", type=float, default=float(_env("days", "11")), help="days of polls (default 11)")
    sub.add_argument("--seed", type=int, default=int(_env("seed", "0")), help="random seed (default 0)")
    sub.add_argument(
        "--format", choices=["2023", "2024"], default=_env("format", "2024"), help="file names and column order"
    )
    sub.add_argument("--end", default=_env("end"), help="end of the polled period, ISO 8601")


def _run_generate(args: argparse.Namespace) -> int:
    from storemon._generate import generate_dataset

    started = time.perf_counter()
    end = parse_now(args.end) if args.end else None
    files = generate_dataset(
        Path(args.out), stores=args.stores, days=args.days, seed=args.seed, fmt=args.format, end=end
    )
    print(f"storemon: generated {files} in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return EXIT_OK


# --- storemon ingest -------------------------------------------------------------------


def _add_ingest(commands) -> None:
    sub = _command(
        commands, "ingest", _run_ingest, "Validate input files and add them to a data store (created if missing)."
    )
    sub.add_argument(
        "paths",
        nargs="+",
        metavar="DATA_DIR|FILE",
        help="data directories (2024 or 2023 file names) or single polls/hours/time-zone files",
    )
    sub.add_argument("--store", default=_env("store"), metavar="DIR", help="the store directory")
    sub.add_argument(
        "--strict",
        action="store_true",
        default=_env_flag("strict"),
        help="stop at the first invalid row (nothing is ingested)",
    )


def _run_ingest(args: argparse.Namespace) -> int:
    from storemon.store import ingest_paths

    if not args.store:
        raise ConfigError("give --store DIR (or set STOREMON_STORE)")
    started = time.perf_counter()
    results = ingest_paths(args.store, args.paths, strict=args.strict)
    for result in results:
        print(f"storemon: {result.describe()}", file=sys.stderr)
        if not result.skipped and result.rows_rejected:
            reasons = result.rejects.unique(["file", "line"], keep="first").group_by("reason").len().sort("reason")
            for reason, count in reasons.rows():
                print(f"storemon:   rejected {count} × {reason}", file=sys.stderr)
    new = sum(not result.skipped for result in results)
    print(
        f"storemon: {new} of {len(results)} sources ingested into {args.store} ({time.perf_counter() - started:.2f} s)",
        file=sys.stderr,
    )
    return EXIT_OK


# --- storemon compact ------------------------------------------------------------------


def _add_compact(commands) -> None:
    sub = _command(
        commands, "compact", _run_compact, "Merge each date's poll part files into one and delete unreferenced files."
    )
    sub.add_argument("--store", default=_env("store"), metavar="DIR", help="the store directory")


def _run_compact(args: argparse.Namespace) -> int:
    from storemon.store._compact import compact

    if not args.store:
        raise ConfigError("give --store DIR (or set STOREMON_STORE)")
    started = time.perf_counter()
    result = compact(args.store)
    print(f"storemon: {args.store}: {result.describe()} ({time.perf_counter() - started:.2f} s)", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
