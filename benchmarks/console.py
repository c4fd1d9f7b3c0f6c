"""Server-side render time of the console's report and store pages on a benchmark size.

``python benchmarks/console.py [--size S10] [--runs 20]``: generates (or reuses)
the size's data set (:mod:`sizes`, cached under ``benchmarks/cache/``), writes a
complete report's files with the test fixture :func:`console_reports.write_console_report`
(cached next to it), then renders through the Flask test client, logged in:

* the report page, sorted by week downtime, descending (page 1), and a store-id search;
* the last page of the report sorted by week uptime %;
* the store pages of the store with the most week downtime and of the one with the most incidents.

Prints the median and max of ``--runs`` renders each; exits 1 when a median exceeds
``--budget-ms`` (300 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import polars as pl  # noqa: E402

import storemon  # noqa: E402
from console_reports import write_console_report  # noqa: E402
from sizes import SIZES, prepare_data  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.auth import SESSION_KEY  # noqa: E402
from webapp.config import token_name  # noqa: E402

TOKEN = "bench-read-token-0123456789"


def _report(root: Path) -> tuple[Path, dict[str, object]]:
    reports = root / "console-reports"
    for record_path in sorted(reports.glob("*.json")) if reports.is_dir() else []:
        return reports, json.loads(record_path.read_text())
    started = time.perf_counter()
    inputs = storemon.load_dir(root / "data")
    record = write_console_report(reports, inputs)
    print(f"computed and wrote the report files in {time.perf_counter() - started:.1f} s", flush=True)
    return reports, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S10", choices=sorted(SIZES))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    args = parser.parse_args(argv)
    prepared = prepare_data(SIZES[args.size], HERE / "cache")
    if prepared.generated_s is not None:
        print(f"generated {args.size} in {prepared.generated_s:.1f} s", flush=True)
    reports, record = _report(prepared.root)
    app = create_app(
        {
            "TESTING": True,
            "STOREMON_DATA_DIR": str(prepared.data),
            "STOREMON_REPORTS_DIR": str(reports),
            "STOREMON_TOKENS": f"read:{TOKEN}",
            "STOREMON_SECRET_KEY": "bench-" + "k" * 40,
        }
    )
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_KEY] = {"role": "read", "name": token_name("read", TOKEN)}
    rid = record["report_id"]
    fleet = record["fleet"]
    assert isinstance(fleet, dict)
    worst = fleet["top_downtime"][0]["store_id"]
    stores = int(fleet["stores"])
    last = -(-stores // 50)
    incidents = pl.read_parquet(reports / str(record["files"]["incidents"]))  # type: ignore[index]
    busiest = incidents.group_by("store_id").len().sort(["len", "store_id"], descending=[True, False])["store_id"][0]
    pages = {
        "report, sorted by week downtime desc": f"/reports/{rid}?sort=downtime_last_week&order=desc",
        "report, store-id search": f"/reports/{rid}?q={worst[2:6]}",
        f"report, last page ({last}) by week uptime %": f"/reports/{rid}?sort=uptime_pct_week&page={last}",
        "store page (most week downtime)": f"/reports/{rid}/stores/{worst}",
        "store page (most incidents)": f"/reports/{rid}/stores/{busiest}",
        "fleet": "/",
    }
    print(f"{args.size}: {stores} stores; median / max of {args.runs} server-side renders (Flask test client)")
    over = False
    for name, path in pages.items():
        times = []
        for _ in range(args.runs + 1):  # the first one warms caches and is not counted
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                print(f"  {name}: HTTP {response.status_code}", file=sys.stderr)
                return 1
        median, worst_ms = statistics.median(times[1:]), max(times[1:])
        over |= median > args.budget_ms and name != "fleet"
        print(f"  {name:<44} {median:7.1f} ms  (max {worst_ms:.1f} ms)")
    print(f"budget: median ≤ {args.budget_ms:.0f} ms for the report and store pages: {'FAILED' if over else 'met'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
