"""The measured stages; each runs in a process of its own.

Run as ``python benchmarks/stages.py STAGE [options]`` (by :mod:`workers`);
the last line on stdout is one JSON object with the timings. A fresh process
per stage keeps one stage's memory out of the next one's peak RSS.

Inside the process a stage runs ``--warmup`` times unmeasured, then ``--runs``
times measured with :func:`time.perf_counter` around the call alone; the
process's peak RSS (``VmHWM``) is read right after the last measured run.

Stages (see ``docs/performance.md``):

``limit``       ``pl.read_csv`` of the polls file and parsing its timestamps: the floor
``load``        :func:`storemon.load_dir` on the CSV files (validation included);
                afterwards the typed frames are written to ``--frames`` (Arrow IPC)
                for the stages below, outside the measurement
``compute``     :func:`storemon.compute_report` on the frames ``load`` left
``from_store``  one report from the data store in this *cold* process: the import
                of storemon is timed apart, then one ``report_from_store`` call
``profile``     ``compute_report`` stage by stage (:mod:`compute_profile`)
``reference``   ``compute_report`` vs the plain-Python reference of the tests on a
                subset of ``--subset`` stores: reference run once, figures compared

Stages of the DuckDB baseline (:mod:`duckdb_report`; orchestrated by :mod:`versus`):

``load_parquet``         :func:`storemon.load_dir` on the typed Parquet copies in ``--data``
``duckdb_load``          DuckDB reading the input files in ``--data`` into its tables
``duckdb_compute``       the report query on tables already loaded (from the Parquet
                         copies in ``--data``, outside the measurement), fetched as Polars
``duckdb_from_store``    one report from the store's Parquet files in this cold process,
                         the import of duckdb, Polars and the baseline timed apart
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The format of ``timestamp_utc`` in generated (and 2024 Loop) polls files.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f UTC"
POLLS_FILE = "store_status.csv"
FRAME_NAMES = ("polls", "hours", "timezones")

Result = dict[str, Any]


def main(argv: list[str] | None = None) -> int:
    """Run one stage and print its result as JSON on the last line of stdout."""
    args = _parser().parse_args(argv)
    try:
        result = STAGES[args.stage](args)
    except Exception as exc:  # reported to the parent, which goes on with other stages
        traceback.print_exc()
        print(json.dumps({"stage": args.stage, "error": f"{type(exc).__name__}: {exc}".strip()[:2000]}))
        return 1
    print(json.dumps({"stage": args.stage, **result}))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--data", type=Path, help="directory with the three CSV files")
    parser.add_argument("--frames", type=Path, help="directory of the typed frames (written by load)")
    parser.add_argument("--store", type=Path, help="data store directory")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--subset", type=int, default=400, help="stores in the reference comparison")
    return parser


# --- measurement helpers --------------------------------------------------------------


def measure(call: Callable[[], Any], runs: int, warmup: int) -> tuple[Any, list[float]]:
    """Run ``call`` ``warmup`` times, then ``runs`` times timed; the last result and the times."""
    result = None
    for _ in range(warmup):
        result = call()
        del result  # free it before the next run, as the measured runs do
    times = []
    for _ in range(max(runs, 1)):
        result = None
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return result, times


def timing(times: list[float], warmup: int) -> Result:
    """The JSON fields every timed stage reports."""
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "times_s": times,
        "runs": len(times),
        "warmup": warmup,
    }


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digest(report: Any) -> Result:
    """A small fingerprint of a report frame, to check that stages computed the same thing."""
    sums = report.drop("store_id").sum().row(0, named=True)
    return {"rows": report.height, "sums": {name: float(value) for name, value in sums.items()}}


def read_frames(directory: Path) -> dict[str, Any]:
    """The typed frames the ``load`` stage wrote."""
    import polars as pl

    return {name: pl.read_ipc(directory / f"{name}.arrow") for name in FRAME_NAMES}


def write_frames(directory: Path, frames: dict[str, Any]) -> None:
    """Write frames as Arrow IPC, each to a temporary name renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        final = directory / f"{name}.arrow"
        partial = directory / f".{name}.arrow.tmp"
        frame.write_ipc(partial)
        partial.replace(final)


# --- stages -------------------------------------------------------------------------------


def stage_limit(args: argparse.Namespace) -> Result:
    """Read the polls CSV and parse its timestamps: the floor every loader pays."""
    import polars as pl

    path = args.data / POLLS_FILE

    def read() -> pl.DataFrame:
        frame = pl.read_csv(path, schema_overrides={"store_id": pl.String})
        return frame.with_columns(
            pl.col("timestamp_utc").str.to_datetime(TIMESTAMP_FORMAT, time_unit="us", time_zone="UTC")
        )

    frame, times = measure(read, args.runs, args.warmup)
    return {**timing(times, args.warmup), "peak_rss_mib": peak_rss_mib(), "rows": frame.height}


def stage_load(args: argparse.Namespace) -> Result:
    """``load_dir`` on the CSV files; then leave the frames for the later stages."""
    from storemon import load_dir

    inputs, times = measure(lambda: load_dir(args.data), args.runs, args.warmup)
    rss = peak_rss_mib()  # before writing the frames, which is not part of the stage
    write_frames(args.frames, {"polls": inputs.polls, "hours": inputs.hours, "timezones": inputs.timezones})
    return {
        **timing(times, args.warmup),
        "peak_rss_mib": rss,
        "rows": {name: getattr(inputs, name).height for name in FRAME_NAMES},
        "rows_rejected": inputs.rows_rejected,
    }


def stage_compute(args: argparse.Namespace) -> Result:
    """``compute_report`` on the loaded frames."""
    from storemon import compute_report

    frames = read_frames(args.frames)
    call = lambda: compute_report(frames["polls"], frames["hours"], frames["timezones"])  # noqa: E731
    report, times = measure(call, args.runs, args.warmup)
    return {**timing(times, args.warmup), "peak_rss_mib": peak_rss_mib(), "digest": digest(report)}


def stage_from_store(args: argparse.Namespace) -> Result:
    """One report from the store in this fresh process (the caller repeats the process)."""
    started = time.perf_counter()
    try:
        from storemon.store import report_from_store
    except ImportError:
        from storemon import report_from_store  # type: ignore[attr-defined,no-redef]
    imported = time.perf_counter()
    report = report_from_store(args.store)
    elapsed = time.perf_counter() - imported
    return {
        **timing([elapsed], 0),
        "import_s": imported - started,
        "peak_rss_mib": peak_rss_mib(),
        "digest": digest(report),
    }


def stage_load_parquet(args: argparse.Namespace) -> Result:
    """``load_dir`` on the typed Parquet copies (nothing written afterwards)."""
    from storemon import load_dir

    inputs, times = measure(lambda: load_dir(args.data), args.runs, args.warmup)
    return {
        **timing(times, args.warmup),
        "peak_rss_mib": peak_rss_mib(),
        "rows": {name: getattr(inputs, name).height for name in FRAME_NAMES},
    }


def stage_duckdb_load(args: argparse.Namespace) -> Result:
    """DuckDB reading the three input files into its tables (each run replaces them)."""
    import duckdb_report

    con = duckdb_report.connect()
    files = duckdb_report.find_inputs(args.data)
    rows, times = measure(
        lambda: duckdb_report.load_files(con, files["polls"], files["hours"], files["timezones"]),
        args.runs,
        args.warmup,
    )
    return {**timing(times, args.warmup), "peak_rss_mib": peak_rss_mib(), "rows": rows}


def stage_duckdb_compute(args: argparse.Namespace) -> Result:
    """The report query on tables already in DuckDB, result fetched as a Polars frame."""
    import duckdb_report

    con = duckdb_report.connect()
    files = duckdb_report.find_inputs(args.data)
    duckdb_report.load_files(con, files["polls"], files["hours"], files["timezones"])
    report, times = measure(lambda: duckdb_report.compute(con), args.runs, args.warmup)
    return {**timing(times, args.warmup), "peak_rss_mib": peak_rss_mib(), "digest": digest(report)}


def stage_duckdb_from_store(args: argparse.Namespace) -> Result:
    """One DuckDB report from the store's Parquet files in this fresh process."""
    started = time.perf_counter()
    import duckdb_report

    imported = time.perf_counter()
    report = duckdb_report.duckdb_report_from_store(args.store)
    elapsed = time.perf_counter() - imported
    return {
        **timing([elapsed], 0),
        "import_s": imported - started,
        "peak_rss_mib": peak_rss_mib(),
        "digest": digest(report),
    }


def stage_profile(args: argparse.Namespace) -> Result:
    """Where ``compute_report``'s time goes, stage by stage."""
    from compute_profile import profile_compute

    frames = read_frames(args.frames)
    return profile_compute(frames["polls"], frames["hours"], frames["timezones"], runs=args.runs, warmup=args.warmup)


def stage_reference(args: argparse.Namespace) -> Result:
    """``compute_report`` vs the reference implementation on a subset of stores."""
    import polars as pl

    from storemon import compute_report, resolve_now

    sys.path.insert(0, str(REPO / "tests"))
    from reference import reference_report

    frames = _subset(read_frames(args.frames), args.subset)
    polls, hours, tz = frames["polls"], frames["hours"], frames["timezones"]
    now = resolve_now(polls)
    fast, times = measure(lambda: compute_report(polls, hours, tz, now), args.runs, args.warmup)
    started = time.perf_counter()
    slow = reference_report(polls, hours, tz, now)
    reference_s = time.perf_counter() - started
    joined = fast.join(slow, on="store_id", how="full", suffix="_ref")
    columns = [name for name in fast.columns if name != "store_id"]
    worst = joined.select(pl.max_horizontal((pl.col(c) - pl.col(f"{c}_ref")).abs().max() for c in columns)).item()
    return {
        **timing(times, args.warmup),
        "stores": fast.height,
        "polls": polls.height,
        "reference_s": reference_s,
        "speedup": reference_s / statistics.median(times),
        "same_stores": fast["store_id"].to_list() == slow["store_id"].to_list(),
        "max_abs_diff": worst,
        "peak_rss_mib": peak_rss_mib(),
    }


def _subset(frames: dict[str, Any], stores: int) -> dict[str, Any]:
    """Every k-th store id (sorted) of all three frames, ``stores`` of them, with their rows."""
    import polars as pl

    ids = pl.concat([frame.select("store_id") for frame in frames.values()]).unique().sort("store_id")["store_id"]
    step = max(1, ids.len() // stores)
    chosen = ids.gather_every(step).head(stores)
    return {name: frame.filter(pl.col("store_id").is_in(chosen.implode())) for name, frame in frames.items()}


STAGES: dict[str, Callable[[argparse.Namespace], Result]] = {
    "limit": stage_limit,
    "load": stage_load,
    "compute": stage_compute,
    "from_store": stage_from_store,
    "profile": stage_profile,
    "load_parquet": stage_load_parquet,
    "duckdb_load": stage_duckdb_load,
    "duckdb_compute": stage_duckdb_compute,
    "duckdb_from_store": stage_duckdb_from_store,
    "reference": stage_reference,
}


if __name__ == "__main__":
    sys.exit(main())
