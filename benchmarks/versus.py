"""storemon side by side with the DuckDB baseline (:mod:`duckdb_report`).

For one prepared size, five comparisons; each side runs in fresh processes
(as every stage of :mod:`stages`), and the two sides take turns, the order
alternating (storemon first, then DuckDB first, …) so that a change in the
machine's load hits both alike:

``cli_csv``       the whole CLI on the CSV files, one process per run, wall time:
                  ``storemon report DATA -o out.csv`` vs
                  ``python benchmarks/duckdb_report.py DATA -o out.csv``
``cli_parquet``   the same on typed Parquet copies of the CSV files (written once, cached)
``load_parquet``  in-process load of the Parquet copies: ``storemon.load_dir`` (validation
                  included) vs DuckDB reading them into its tables (validation in SQL)
``compute``       compute only, data already in memory: ``compute_report`` on the Polars
                  frames ``load`` produced vs the report query on DuckDB tables
``from_store``    one report from the data store in a cold process, imports timed apart:
                  ``report_from_store`` vs DuckDB reading the store's Parquet files
                  (current ones from the checkpoint + commit records, parts pruned the same way)

Each comparison is ``{"storemon": {...}, "duckdb": {...}, "ratio": ...}`` with
``ratio`` = storemon's median / DuckDB's (above 1: DuckDB is faster), plus
whether both computed the same report (``same_report``: row count and column
sums, or for the CLIs the CSV files up to their rounding; for ``load_parquet``
the same number of valid rows of each input).

Run as a script it measures a chosen few comparisons of one data set without
building a store (for S30, where the whole benchmark takes long; run it
alone on the machine)::

    python benchmarks/versus.py DATA --frames FRAMES --parquet PARQUET \
        [--only cli_csv,cli_parquet,load_parquet,compute,limit] [--runs 3] [--warmup 1]

``DATA`` holds the CSV files, ``FRAMES`` the typed frames of the ``load``
stage (``stages.py load`` writes them; only ``compute`` reads them),
``PARQUET`` the Parquet copies; ``limit`` is the CSV-parse floor of
:mod:`stages`, storemon's side only.
It prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from sizes import Prepared, prepare_parquet
from workers import run_command, run_stage

__all__ = ["COMPARISONS", "SIDES", "measure_versus", "duckdb_version"]

HERE = Path(__file__).resolve().parent
COMPARISONS = ("cli_csv", "cli_parquet", "load_parquet", "compute", "from_store")
SIDES = ("storemon", "duckdb")
#: CSV figures are rounded to two decimals, half-way cases possibly each its own way.
CSV_TOLERANCE = 0.01 + 1e-9

Result = dict[str, Any]


def duckdb_version() -> str | None:
    """The installed duckdb's version (without importing it), or None."""
    try:
        return metadata.version("duckdb")
    except metadata.PackageNotFoundError:
        return None


def measure_versus(
    prepared: Prepared, runs: int, warmup: int, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Every comparison of one size; the store must be ingested and ``load`` must have left the frames."""
    size = prepared.size
    cli_runs = min(runs, size.csv_runs) if size.csv_runs else runs
    written = prepare_parquet(prepared)
    if written is not None:
        progress(f"{size.name}: Parquet copies of the CSV files written in {written:.1f} s")
    out = prepared.root / "out"
    out.mkdir(exist_ok=True)
    storemon = str(Path(sys.executable).with_name("storemon"))
    baseline = [sys.executable, str(HERE / "duckdb_report.py")]
    comparisons: dict[str, Any] = {}
    for kind, data in (("csv", prepared.data), ("parquet", prepared.parquet)):
        outputs = {side: out / f"{side}-{kind}.csv" for side in SIDES}
        for path in outputs.values():
            path.unlink(missing_ok=True)
        commands = {
            "storemon": [storemon, "report", str(data), "-o", str(outputs["storemon"])],
            "duckdb": [*baseline, str(data), "-o", str(outputs["duckdb"])],
        }
        entry = _commands(commands, cli_runs, warmup)
        entry["same_report"] = _same_csv(outputs) if "error" not in entry else None
        comparisons[f"cli_{kind}"] = _report(size.name, f"cli_{kind}", entry, progress)
    parquet = prepared.parquet
    in_process = {
        "load_parquet": {"storemon": ("load_parquet", {"data": parquet}), "duckdb": ("duckdb_load", {"data": parquet})},
        "compute": {
            "storemon": ("compute", {"frames": prepared.frames}),
            "duckdb": ("duckdb_compute", {"data": parquet}),
        },
    }
    load_runs = {"load_parquet": cli_runs, "compute": runs}
    for name, sides in in_process.items():
        entry = _in_process(sides, load_runs[name], warmup)
        comparisons[name] = _report(size.name, name, entry, progress)
    store = {"store": prepared.store}
    entry = _cold({"storemon": ("from_store", store), "duckdb": ("duckdb_from_store", store)}, runs, max(warmup, 1))
    comparisons["from_store"] = _report(size.name, "from_store", entry, progress)
    return comparisons


# --- interleaving -------------------------------------------------------------------------


def _orders(count: int) -> list[tuple[str, ...]]:
    """Side order of each turn: storemon first, then DuckDB first, and so on."""
    return [SIDES if turn % 2 == 0 else SIDES[::-1] for turn in range(count)]


def _commands(commands: dict[str, list[str]], runs: int, warmup: int) -> Result:
    """Each command ``warmup`` times unmeasured, then ``runs`` times measured, the sides taking turns."""
    for order in _orders(warmup):
        for side in order:
            result = run_command(commands[side])
            if "error" in result:
                return {"error": f"{side}: {result['error']}"}
    results: dict[str, list[Result]] = {side: [] for side in SIDES}
    for order in _orders(max(runs, 1)):
        for side in order:
            result = run_command(commands[side])
            if "error" in result:
                return {"error": f"{side}: {result['error']}"}
            results[side].append(result)
    return {side: _merge(results[side], warmup, command=" ".join(commands[side])) for side in SIDES}


def _in_process(sides: dict[str, tuple[str, dict[str, Any]]], runs: int, warmup: int) -> Result:
    """In-process stages: two turns per side (when ``runs`` ≥ 2), each a fresh process with its warm-up."""
    turns = 2 if runs >= 2 else 1
    shares = [runs // turns + (1 if turn < runs % turns else 0) for turn in range(turns)]
    results: dict[str, list[Result]] = {side: [] for side in SIDES}
    for share, order in zip(shares, _orders(turns), strict=True):
        for side in order:
            stage, options = sides[side]
            result = run_stage(stage, runs=share, warmup=warmup, **options)
            if "error" in result:
                return {"error": f"{side} ({stage}): {result['error']}"}
            results[side].append(result)
    return {side: _merge(results[side], warmup, stage=sides[side][0]) for side in SIDES}


def _cold(sides: dict[str, tuple[str, dict[str, Any]]], runs: int, warmup: int) -> Result:
    """One-shot stages: a fresh process per run, the sides taking turns; warm-up processes first."""
    results: dict[str, list[Result]] = {side: [] for side in SIDES}
    for measured, order in [(False, order) for order in _orders(warmup)] + [(True, o) for o in _orders(max(runs, 1))]:
        for side in order:
            stage, options = sides[side]
            result = run_stage(stage, runs=1, warmup=0, **options)
            if "error" in result:
                return {"error": f"{side} ({stage}): {result['error']}"}
            if measured:
                results[side].append(result)
    merged = {side: _merge(results[side], warmup, stage=sides[side][0]) for side in SIDES}
    for side in SIDES:
        merged[side]["import_s"] = statistics.median(result["import_s"] for result in results[side])
        merged[side]["process_wall_s"] = statistics.median(result["process_wall_s"] for result in results[side])
    return merged


def _merge(results: list[Result], warmup: int, **extra: Any) -> Result:
    """One side's runs (from one or more processes) as one stage result."""
    times = [time for result in results for time in result.get("times_s", [result["median_s"]])]
    merged: Result = {
        **extra,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "times_s": times,
        "runs": len(times),
        "warmup": warmup,
        "processes": len(results),
        "peak_rss_mib": max(result["peak_rss_mib"] for result in results),
    }
    for key in ("digest", "rows"):
        if key in results[-1]:
            merged[key] = results[-1][key]
    return merged


# --- checks and progress --------------------------------------------------------------------


def _report(size: str, name: str, entry: Result, progress: Callable[[str], None]) -> Result:
    if "error" in entry:
        progress(f"{size}: duckdb {name} FAILED: {entry['error']}")
        return entry
    entry["ratio"] = entry["storemon"]["median_s"] / entry["duckdb"]["median_s"]
    if "same_report" not in entry:
        digests = [entry[side].get("digest") for side in SIDES]
        rows = [entry[side].get("rows") for side in SIDES]
        if None not in digests:
            entry["same_report"] = _same_digest(*digests)
        else:  # a load: the same valid rows of each input
            entry["same_report"] = None if None in rows else rows[0] == rows[1]
    progress(
        f"{size}: {name} storemon {entry['storemon']['median_s']:.3f} s, duckdb {entry['duckdb']['median_s']:.3f} s "
        f"(storemon/duckdb {entry['ratio']:.2f}; same report: {entry['same_report']})"
    )
    return entry


def _same_digest(a: Result, b: Result) -> bool:
    return a["rows"] == b["rows"] and all(
        abs(a["sums"][column] - b["sums"].get(column, float("nan"))) <= 1e-6 * max(1.0, abs(a["sums"][column]))
        for column in a["sums"]
    )


def _same_csv(outputs: dict[str, Path]) -> bool:
    """Both CLIs wrote the same stores in the same order, figures equal up to the rounding to 2 decimals."""
    import polars as pl

    frames = [pl.read_csv(outputs[side], schema_overrides={"store_id": pl.String}) for side in SIDES]
    if frames[0].columns != frames[1].columns or frames[0]["store_id"].to_list() != frames[1]["store_id"].to_list():
        return False
    worst = max((frames[0][c] - frames[1][c]).abs().max() or 0.0 for c in frames[0].columns[1:])
    return worst <= CSV_TOLERANCE


# --- a few comparisons, as a script -----------------------------------------------------------

_STANDALONE = ("cli_csv", "cli_parquet", "load_parquet", "compute", "limit")


def measure_some(
    data: Path, frames: Path, parquet: Path, only: list[str], runs: int, warmup: int, out: Path
) -> dict[str, Any]:
    """The comparisons ``only`` names (out of :data:`_STANDALONE`), measured as :func:`measure_versus` does."""
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    name = data.resolve().parent.name
    results: dict[str, Any] = {}
    if "limit" in only:
        results["limit"] = run_stage("limit", data=data, runs=runs, warmup=warmup)
        progress(f"{name}: limit {results['limit'].get('median_s')} s")
    if "compute" in only:
        sides = {"storemon": ("compute", {"frames": frames}), "duckdb": ("duckdb_compute", {"data": parquet})}
        results["compute"] = _report(name, "compute", _in_process(sides, runs, warmup), progress)
    if "load_parquet" in only:
        sides = {"storemon": ("load_parquet", {"data": parquet}), "duckdb": ("duckdb_load", {"data": parquet})}
        results["load_parquet"] = _report(name, "load_parquet", _in_process(sides, runs, warmup), progress)
    for kind, inputs in (("csv", data), ("parquet", parquet)):
        if f"cli_{kind}" not in only:
            continue
        out.mkdir(parents=True, exist_ok=True)
        outputs = {side: out / f"{side}-{kind}.csv" for side in SIDES}
        storemon = str(Path(sys.executable).with_name("storemon"))
        commands = {
            "storemon": [storemon, "report", str(inputs), "-o", str(outputs["storemon"])],
            "duckdb": [sys.executable, str(HERE / "duckdb_report.py"), str(inputs), "-o", str(outputs["duckdb"])],
        }
        entry = _commands(commands, runs, warmup)
        entry["same_report"] = _same_csv(outputs) if "error" not in entry else None
        results[f"cli_{kind}"] = _report(name, f"cli_{kind}", entry, progress)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A few storemon vs DuckDB comparisons of one data set.")
    parser.add_argument("data", type=Path, help="directory of the three CSV files")
    parser.add_argument("--frames", type=Path, required=True, help="typed frames written by the load stage")
    parser.add_argument("--parquet", type=Path, required=True, help="typed Parquet copies of the CSV files")
    parser.add_argument("--only", default=",".join(_STANDALONE), help=f"comma-separated, out of {_STANDALONE}")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, help="where the CLIs write their reports (default: FRAMES/../out)")
    args = parser.parse_args(argv)
    only = [item for item in args.only.split(",") if item]
    unknown = sorted(set(only) - set(_STANDALONE))
    if unknown:
        parser.error(f"unknown comparison(s): {', '.join(unknown)}")
    out = args.out or args.frames.resolve().parent / "out"
    print(json.dumps(measure_some(args.data, args.frames, args.parquet, only, args.runs, args.warmup, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
