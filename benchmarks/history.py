"""History-length check: does a report from the store cost the same with 15 or 120 days of polls?

Builds two stores with the same stores (same generator seed and store count)
but 15 and 120 days of history, times ``report_from_store`` on each (median
of ``--repeat`` runs after a warm-up; runs alternate between the two stores
so that load from other processes affects both alike) and prints both and
their ratio. The
target is a ratio ≤ 1.3: a report reads only the partitions that overlap
``[now − 7 d − horizon, now]``, so history beyond that must not cost anything.

    .venv/bin/python benchmarks/history.py [--stores 1000] [--repeat 7] [--workdir DIR]

Not a test: timings depend on the machine. Exit status 1 when the ratio is
above ``--target`` so that it can be scripted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from storemon._generate import generate_dataset
from storemon.defaults import DEFAULT_HORIZON, WEEK
from storemon.store import ingest_paths, report_from_store
from storemon.store._manifest import read_manifest

HISTORIES = (15, 120)


def main() -> int:
    """Build the stores, time the reports, print the figures."""
    options = _options()
    workdir = Path(options.workdir) if options.workdir else Path(tempfile.mkdtemp(prefix="storemon-history-"))
    try:
        stores = {days: _build(workdir, days, options) for days in HISTORIES}
        timings = _time_alternately(stores, options.repeat)
    finally:
        if not options.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    short, long = (timings[days] for days in HISTORIES)
    ratio = long / short
    print(f"report_from_store, {options.stores} stores, median of {options.repeat}:")
    for days in HISTORIES:
        print(f"  {days:4d} days of history: {timings[days] * 1000:8.1f} ms")
    verdict = "OK" if ratio <= options.target else "ABOVE TARGET"
    print(f"  ratio {HISTORIES[1]} d / {HISTORIES[0]} d: {ratio:.2f} (target ≤ {options.target}) {verdict}")
    return 0 if ratio <= options.target else 1


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1000, help="stores in both data sets (default 1000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per store, after one warm-up (default 7)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--target", type=float, default=1.3, help="largest acceptable ratio (default 1.3)")
    parser.add_argument("--workdir", help="keep the generated data and stores here (default: a temp dir, removed)")
    return parser.parse_args()


def _build(workdir: Path, days: int, options: argparse.Namespace) -> Path:
    """A store holding ``days`` of polls (reused from ``workdir`` when already there)."""
    data = workdir / f"data-{days}d"
    store = workdir / f"store-{days}d"
    started = time.perf_counter()
    if not (data / "store_status.csv").exists():
        generate_dataset(data, stores=options.stores, days=days, seed=options.seed)
    if not (store / "manifest.json").exists():
        ingest_paths(store, [data])
    manifest = read_manifest(store)
    rows = sum(part.rows for part in manifest.parts)
    # The parts a default report reads: those reaching [now − 7 d − 8 d, now].
    lowest = manifest.max_timestamp_us - (DEFAULT_HORIZON + WEEK) // timedelta(microseconds=1)
    read = [part for part in manifest.parts if part.max_us >= lowest]
    print(
        f"{days:4d} days: {rows:,} polls in {len(manifest.parts)} parts, a report reads "
        f"{sum(part.rows for part in read):,} polls in {len(read)} parts "
        f"(built in {time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    return store


def _time_alternately(stores: dict[int, Path], repeat: int) -> dict[int, float]:
    """Median seconds of ``report_from_store`` per store, runs interleaved."""
    for store in stores.values():
        report_from_store(store)  # warm-up: page cache, imports, time-zone tables
    runs: dict[int, list[float]] = {days: [] for days in stores}
    for _ in range(repeat):
        for days, store in stores.items():
            started = time.perf_counter()
            report_from_store(store)
            runs[days].append(time.perf_counter() - started)
    return {days: statistics.median(times) for days, times in runs.items()}


if __name__ == "__main__":
    sys.exit(main())
