"""storemon's benchmark suite (issue 5): ``make bench`` runs this file.

For each size (S1 = 3,700 stores × 11 days ≈ the real data set, S3, S10) it
measures, each stage in a fresh process (see :mod:`stages`):

* ``limit`` — ``pl.read_csv`` of the polls file plus parsing its timestamps,
  the floor any CSV loader pays;
* ``load`` — :func:`storemon.load_dir` (validation included);
* ``compute`` — :func:`storemon.compute_report` on the loaded frames;
* ``from_store`` — a report from the Parquet data store in a cold process;

and, at the sizes of ``--duckdb-sizes`` (S1 and S10 by default), storemon side
by side with the DuckDB baseline (:mod:`versus`: whole CLI from CSV and from
Parquet, load of Parquet, compute only, report from the store);

then prints medians, peak RSS, the ratios and targets of issue 5, and writes
everything to ``benchmarks/results/<date>.json``. On S1 it also compares
``compute_report`` with the reference implementation of the tests on a
400-store subset; ``--profile`` adds the per-step compute profile.

Usage::

    make bench                                  # S1, S3, S10; 5 runs each; DuckDB at S1, S10
    make bench BENCH_ARGS=--s30                 # also S30 (111,000 stores, ~56 M polls): long
    make bench BENCH_ARGS="--sizes S1 --no-duckdb"
    make bench BENCH_ARGS="--sizes S1 --profile"
    .venv/bin/python benchmarks/run.py --quick  # S1 only, 3 runs

Only a full run (every default size, ≥ 5 runs) writes to
``benchmarks/results/``; other runs write to ``benchmarks/cache/results/``
unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import compileall
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import describe, load_average, machine_info
from sizes import DEFAULT_SIZES, SIZES, Prepared, Size, parse_sizes, prepare_data, prepare_store
from summary import consistency, format_profile, format_table, ratios, scaling, targets, write_results
from versus import duckdb_version, measure_versus
from workers import run_cold, run_stage

HERE = Path(__file__).resolve().parent
MIN_RUNS_FOR_RESULTS = 5
REFERENCE_STORES = 400
PROFILE_RUNS = 3  # the profile is a diagnosis; fewer runs keep S10 within the time budget

METHOD = {
    "limit": "pl.read_csv(store_status.csv, schema_overrides={'store_id': String}) + "
    "str.to_datetime('%Y-%m-%d %H:%M:%S%.f UTC', time_unit='us', time_zone='UTC'); "
    "median of the runs after the warm-up, in one process",
    "load": "storemon.load_dir(DATA) on the three CSV files; median of the runs after the warm-up, in one process",
    "compute": "storemon.compute_report on the typed frames load produced (read back from Arrow IPC); "
    "median of the runs after the warm-up, in one process",
    "from_store": "storemon.store.report_from_store(STORE) once per fresh process, import of storemon "
    "timed apart (import_s); median over the measured processes after warm-up processes",
    "peak_rss": "VmHWM of the stage's process, read right after its last measured run "
    "(process_peak_rss_mib: ru_maxrss of the whole process from wait4)",
    "reference": "compute_report median vs one run of tests/reference.py's reference_report "
    f"on {REFERENCE_STORES} stores of S1 (every k-th store id; --reference-size changes the size)",
    "duckdb": "versus.py: each comparison's two sides in fresh processes taking turns (storemon first, then "
    "DuckDB first, ...); cli_*: wall time of the whole command per process; load_parquet, compute: "
    "two processes per side, each with its warm-up; from_store: a cold process per run, imports apart; "
    "ratio = storemon median / DuckDB median",
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the results JSON."""
    args = _parser().parse_args(argv)
    try:
        sizes = [SIZES["S1"]] if args.quick else parse_sizes(args.sizes)
        versus_sizes = set() if args.no_duckdb else {size.name for size in parse_sizes(args.duckdb_sizes)}
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.s30:
        sizes += [SIZES["S30"]] if SIZES["S30"] not in sizes else []
        versus_sizes |= set() if args.no_duckdb else {"S30"}
    runs = 3 if args.quick else args.runs
    if runs < 1 or args.warmup < 0:
        print("bench: --runs must be at least 1 and --warmup not negative", file=sys.stderr)
        return 2

    # Every stage is a fresh process. An installed package has its bytecode; an
    # editable one where PYTHONDONTWRITEBYTECODE is set (our CI machines) would
    # compile storemon anew in each of them (the Makefile's ``bytecode`` target).
    compileall.compile_dir(HERE.parent / "src", quiet=1, workers=0)
    compileall.compile_dir(HERE, quiet=1, workers=0, maxlevels=0)
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    info = machine_info()
    load_at_start = load_average()
    print(f"storemon benchmark, {started_at:%Y-%m-%d}: {describe(info)}", file=sys.stderr)
    print(f"load average {load_at_start} (timings are noisy on a busy machine)", file=sys.stderr)

    measured: dict[str, Any] = {}
    prepared: dict[str, Prepared] = {}
    for size in sizes:
        prepared[size.name] = _prepare(size, args.cache)
        measured[size.name] = _measure_size(prepared[size.name], runs, args.warmup, args.profile)
        if size.name in versus_sizes:
            _progress(f"{size.name}: storemon vs DuckDB")
            measured[size.name]["duckdb"] = measure_versus(prepared[size.name], runs, args.warmup, _progress)

    reference = None
    base = args.reference_size
    if base in prepared and not args.no_reference and "error" not in measured[base]["stages"]["load"]:
        _progress(f"{base}: reference comparison (the reference runs once, and slowly)")
        reference = run_stage(
            "reference", frames=prepared[base].frames, runs=runs, warmup=args.warmup, subset=REFERENCE_STORES
        )
        reference["size"] = base
        _report_stage(base, "reference", reference)

    results = {
        "schema": 1,
        "date": f"{started_at.astimezone():%Y-%m-%d}",
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": None,
        "command": " ".join(["benchmarks/run.py", *map(shlex.quote, argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "duckdb_version": duckdb_version(),
        "load_average": {"start": load_at_start, "end": load_average()},
        "method": {"runs": runs, "warmup": args.warmup, **METHOD},
        "sizes": measured,
        "scaling": scaling(measured),
        "reference": reference,
        "consistency": consistency(measured),
    }
    results["targets"] = targets(measured, reference)
    results["elapsed_s"] = time.perf_counter() - started

    print()
    print(format_table(results))
    for name, entry in measured.items():
        if entry.get("profile"):
            print()
            print(format_profile(name, entry["profile"], entry["stages"].get("compute", {}).get("median_s")))
    path = _results_path(args, sizes, runs, results["date"])
    write_results(results, path)
    print(f"\nresults written to {path} (benchmark took {results['elapsed_s']:.0f} s)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark storemon (issue 5): load, compute, from_store vs the read_csv floor.",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(DEFAULT_SIZES),
        help=f"comma-separated sizes out of {', '.join(SIZES)} (default {','.join(DEFAULT_SIZES)})",
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per stage after the warm-up (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs before them (default 1)")
    parser.add_argument("--quick", action="store_true", help="S1 only, 3 runs (for development)")
    parser.add_argument("--profile", action="store_true", help="also print where compute time goes, per step")
    parser.add_argument("--no-reference", action="store_true", help="skip the comparison with the reference")
    parser.add_argument(
        "--duckdb-sizes",
        default="S1,S10",
        help="sizes (among those measured) compared with the DuckDB baseline (default S1,S10)",
    )
    parser.add_argument("--no-duckdb", action="store_true", help="skip the comparison with the DuckDB baseline")
    parser.add_argument(
        "--s30",
        action="store_true",
        help="also measure S30 (111,000 stores, ~56 M polls; long: generation, ingest and CSV loads take minutes)",
    )
    parser.add_argument(
        "--reference-size",
        default="S1",
        choices=sorted(SIZES),
        help="size whose subset is compared with the reference (default S1)",
    )
    parser.add_argument("--cache", type=Path, default=HERE / "cache", help="where data sets are cached")
    parser.add_argument("--output", type=Path, help="results JSON (default: see the module docstring)")
    return parser


def _prepare(size: Size, cache: Path) -> Prepared:
    _progress(f"{size.name}: data set ({size.stores:,} stores x {size.days} days)")
    prepared = prepare_data(size, cache)
    if prepared.generated_s is not None:
        _progress(f"{size.name}: generated in {prepared.generated_s:.1f} s")
    return prepared


def _measure_size(prepared: Prepared, runs: int, warmup: int, profile: bool) -> dict[str, Any]:
    """Every stage of one size, each in its own process(es)."""
    size = prepared.size
    csv_runs = min(runs, size.csv_runs) if size.csv_runs else runs
    stages: dict[str, Any] = {}
    stages["limit"] = _stage(size, "limit", data=prepared.data, runs=csv_runs, warmup=warmup)
    shutil.rmtree(prepared.frames, ignore_errors=True)  # compute must use this run's load
    stages["load"] = _stage(size, "load", data=prepared.data, frames=prepared.frames, runs=csv_runs, warmup=warmup)
    loaded = "error" not in stages["load"]
    if loaded:
        stages["compute"] = _stage(size, "compute", frames=prepared.frames, runs=runs, warmup=warmup)
    ingest_s, stages["from_store"] = _from_store(prepared, runs, warmup)
    entry: dict[str, Any] = {
        "stores": size.stores,
        "days": size.days,
        "seed": size.seed,
        "polls": stages["load"]["rows"]["polls"] if loaded else stages["limit"].get("rows"),
        "polls_read": stages["limit"].get("rows"),
        "generated_s": prepared.generated_s,
        "ingest_s": ingest_s,
        "csv_runs_capped": csv_runs < runs,
        "stages": stages,
        "ratios": ratios(stages),
    }
    if profile and loaded:
        _progress(f"{size.name}: profile")
        entry["profile"] = run_stage("profile", frames=prepared.frames, runs=min(runs, PROFILE_RUNS), warmup=warmup)
    return entry


def _from_store(prepared: Prepared, runs: int, warmup: int) -> tuple[float | None, dict[str, Any]]:
    """Ingest if needed, then time cold reports; a store that fails is rebuilt once."""
    name = prepared.size.name
    for rebuild in (False, True):
        try:
            ingest_s = prepare_store(prepared, rebuild=rebuild)
        except RuntimeError as exc:
            return None, {"error": f"store not available: {exc}"}
        if ingest_s is not None:
            _progress(f"{name}: ingested into the store in {ingest_s:.1f} s")
        result = run_cold("from_store", runs, max(warmup, 1), store=prepared.store)
        _report_stage(name, "from_store", result)
        if "error" not in result or ingest_s is not None:
            return ingest_s, result
    return ingest_s, result


def _stage(size: Size, stage: str, **options: Any) -> dict[str, Any]:
    result = run_stage(stage, **options)
    _report_stage(size.name, stage, result)
    return result


def _report_stage(size: str, stage: str, result: dict[str, Any]) -> None:
    if "error" in result:
        _progress(f"{size}: {stage} FAILED: {result['error']}")
        return
    line = (
        f"{size}: {stage} {result['median_s']:.3f} s (median of {result['runs']}), "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB"
    )
    if "reference_s" in result:
        line += f"; reference {result['reference_s']:.1f} s"
    _progress(line)


def _results_path(args: argparse.Namespace, sizes: list[Size], runs: int, date: str) -> Path:
    if args.output:
        return args.output
    full = not args.quick and runs >= MIN_RUNS_FOR_RESULTS and set(DEFAULT_SIZES) <= {size.name for size in sizes}
    return HERE / "results" / f"{date}.json" if full else args.cache / "results" / f"{date}-partial.json"


_CLOCK_STARTED = time.perf_counter()


def _progress(message: str) -> None:
    elapsed = time.perf_counter() - _CLOCK_STARTED
    print(f"  [{elapsed:4.0f} s] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
