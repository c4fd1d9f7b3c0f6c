"""The report's views and the report job's outputs, timed against the report itself.

Run as ``.venv/bin/python benchmarks/views.py [--size S1] [--runs 5]`` (not
part of ``run.py``). On the size's cached data set (:mod:`sizes`), in this one
process:

1. :func:`storemon.compute_report`, :func:`storemon.timeline`,
   :func:`storemon.incidents` (the week) and :func:`storemon.daily` (30 days)
   on the loaded frames, interleaved (one run of each in turn, the order
   rotated every round), after one unmeasured warm-up each;
2. the report job (:func:`webapp.jobs.build_report` on the data directory,
   writing every file and the record) against the same job writing only the
   CSV and its record (load + ``compute_report`` + ``write_report``, as the
   job did before it wrote the views), interleaved the same way.

Prints each median and its ratio: each view against ``compute_report``
(target ≤ 2), the whole job against the CSV-only job (target ≤ 2.5). Times
are wall-clock on whatever else the machine is doing: read them as such.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import storemon  # noqa: E402
from sizes import SIZES, prepare_data  # noqa: E402
from webapp.jobs import build_report  # noqa: E402
from webapp.params import ReportParams  # noqa: E402
from webapp.records import new_report_id, utc_now_iso, write_record  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"
VIEW_TARGET, JOB_TARGET = 2.0, 2.5


def interleaved(tasks: dict[str, Callable[[], object]], runs: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each task, run in turn (order rotated each round) after ``warmup`` unmeasured rounds."""
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            tasks[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S1", choices=sorted(SIZES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)

    data = prepare_data(SIZES[args.size], args.cache).data
    inputs = storemon.load_dir(data)
    frames = (inputs.polls, inputs.hours, inputs.timezones)
    now = storemon.resolve_now(inputs.polls)
    kw = {"special": inputs.special}
    computations = interleaved(
        {
            "compute_report": lambda: storemon.compute_report(*frames, now, **kw),
            "timeline": lambda: storemon.timeline(*frames, now, **kw),
            "incidents": lambda: storemon.incidents(*frames, now, **kw),
            "daily_30d": lambda: storemon.daily(*frames, now, start=now - timedelta(days=30), **kw),
        },
        args.runs,
    )

    reports = Path(tempfile.mkdtemp(prefix="storemon-views-bench-"))
    params = ReportParams(now=None, horizon_hours=192.0).to_json()
    source = {"data_dir": str(data)}

    def whole_job() -> None:
        build_report(new_report_id(), params, source, str(reports), utc_now_iso())

    def csv_only_job() -> None:
        report_id = new_report_id()
        loaded = storemon.load_dir(data)
        report = storemon.compute_report(loaded.polls, loaded.hours, loaded.timezones, special=loaded.special)
        storemon.write_report(report, reports / f"{report_id}.csv")
        write_record(reports, {"report_id": report_id, "status": "Complete", "rows": report.height})

    try:
        jobs = interleaved({"job_all_outputs": whole_job, "job_csv_only": csv_only_job}, args.runs)
    finally:
        shutil.rmtree(reports, ignore_errors=True)

    base = computations["compute_report"]
    result = {
        "size": args.size,
        "runs": args.runs,
        "polls": inputs.polls.height,
        "median_s": {**computations, **jobs},
        "ratio_to_compute_report": {name: value / base for name, value in computations.items()},
        "job_ratio_all_to_csv_only": jobs["job_all_outputs"] / jobs["job_csv_only"],
    }
    for name, value in result["ratio_to_compute_report"].items():
        if name != "compute_report":
            print(f"{name:>16}: {computations[name]:.3f} s = {value:.2f} × compute_report "
                  f"({computations['compute_report']:.3f} s; target ≤ {VIEW_TARGET})")  # fmt: skip
    ratio = result["job_ratio_all_to_csv_only"]
    print(f"{'job, all outputs':>16}: {jobs['job_all_outputs']:.3f} s = {ratio:.2f} × the CSV-only job "
          f"({jobs['job_csv_only']:.3f} s; target ≤ {JOB_TARGET})")  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
