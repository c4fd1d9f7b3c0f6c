"""Sharded reports on real RQ workers: wall time, peak memory per worker, bytes read per shard.

Run as ``.venv/bin/python benchmarks/shards.py [--size S10] [--shards 1,2,4,8] [--workers 1,2]``;
``--s30`` adds S30 (run it alone on the machine: about
8 GiB at one shard). On the size's cached data store (:mod:`sizes`), with a
private ``redis-server`` on a free loopback port:

1. **Service runs.** For each worker count W and shard count N: W fresh
   ``python -m webapp.worker`` processes (each in its own working
   directory, as on separate hosts), one report submitted as the web app
   does (:func:`webapp.jobs.submit_report`, ``shards=N``; N = 1 is the
   unsharded job), timed from submission to its final record. While it
   runs, every work horse's ``VmHWM`` (its peak resident set) is sampled
   from ``/proc`` every 50 ms (the kernel keeps the high-water mark, so a
   sample misses at most the growth of a horse's last 50 ms); the figure
   per worker is the largest over its horses. The fixed cost is an idle
   worker's resident set (what every horse starts with, forked from it).
2. **Bytes read.** For each N, :func:`storemon.report_views_from_store`
   with ``shard=(i, N)`` on one pinned snapshot, each shard in a fresh
   process: ``rchar`` of ``/proc/self/io`` (bytes through read(2); Polars
   reads Parquet with read(2), not mmap) before and after.

Prints one table per size and the issue's targets as ratios measured side
by side in this run: the largest worker's peak with N = 4 against
``1.3 × (unsharded peak / 4) + fixed``; the largest shard's bytes against
``1.3 × (unsharded bytes / 4)``; 4 shards on 2 workers against 1.2 × the
unsharded wall time. Timings are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sizes import SIZES, prepare_data, prepare_store  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"
SAMPLE_SECONDS = 0.05
REPORT_TIMEOUT = 3600.0


def _vm(pid: int, field: str) -> int:
    """``field`` (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status`` in KiB, 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    from conftest import free_port

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis

    for _ in range(200):
        try:
            if Redis.from_url(url).ping():
                return server, url
        except Exception:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


def service_run(store: Path, root: Path, redis_url: str, workers: int, shards: int) -> dict[str, Any]:
    """One report with ``shards`` shards on ``workers`` fresh workers: wall time and each worker's peak."""
    from redis import Redis
    from rq import Queue

    from webapp.config import Settings
    from webapp.jobs import submit_report
    from webapp.params import ReportParams
    from webapp.records import is_final, new_report_id, read_record

    Redis.from_url(redis_url).flushall()
    reports = root / "reports"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "STOREMON_STORE": str(store),
        "STOREMON_REPORTS_DIR": str(reports),
        "STOREMON_JOB_TIMEOUT": str(int(REPORT_TIMEOUT)),
        "STOREMON_AUTH": "off",
        "STOREMON_REPORT_RETENTION_DAYS": "1",
    }
    procs = []
    for w in range(workers):
        host = root / f"host-{w}"
        host.mkdir(parents=True, exist_ok=True)
        log = open(host / "worker.log", "ab")  # noqa: SIM115 - owned by the process
        command = [sys.executable, "-m", "webapp.worker", "--log-level", "WARNING"]
        host_env = {**env, "HOME": str(host)}
        procs.append(subprocess.Popen(command, cwd=host, env=host_env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    try:
        time.sleep(3.0)  # the workers import storemon and register
        fixed = max(_vm(p.pid, "VmRSS") for p in procs)
        settings = Settings.from_env(env)
        queue = Queue(settings.queue, connection=Redis.from_url(redis_url))
        report_id = new_report_id()
        peaks = [0] * workers
        started = time.perf_counter()
        submit_report(queue, settings, report_id, ReportParams(now=None, horizon_hours=192.0, shards=shards))
        record: dict[str, Any] | None = None
        while time.perf_counter() - started < REPORT_TIMEOUT:
            for w, proc in enumerate(procs):
                for horse in _children(proc.pid):
                    peaks[w] = max(peaks[w], _vm(horse, "VmHWM"))
            record = read_record(reports, report_id)
            if is_final(record):
                break
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    if not record or record.get("status") != "Complete":
        return {"error": (record or {}).get("error", "timed out")}
    shards_info = record.get("shards") or {}
    per_shard = shards_info.get("per_shard") or []
    return {
        "shard_peak_mib": [s["peak_rss_mib"] for s in per_shard],
        "inputs_peak_mib": (shards_info.get("inputs") or {}).get("peak_rss_mib"),
        "wall_s": wall,
        "peak_mib": [p / 1024 for p in peaks],
        "fixed_mib": fixed / 1024,
        "shard_seconds": [s["seconds"] for s in per_shard],
        "fan_in_s": record["timings"].get("fan_in"),
        "fan_in_peak_mib": (shards_info.get("fan_in") or {}).get("peak_rss_mib"),
        "csv": (reports / f"{report_id}.csv").read_bytes(),
    }


_BYTES_CHILD = """
import json, sys
from datetime import datetime
import storemon, storemon.store
store = storemon.open_store(sys.argv[1]); token, i, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
now = datetime.fromisoformat(sys.argv[5])
def rchar():
    return next(int(l.split()[1]) for l in open('/proc/self/io') if l.startswith('rchar:'))
before = rchar()
views = storemon.report_views_from_store(store, now, days=30, shard=None if n == 1 else (i, n), snapshot=token)
print(json.dumps({"bytes": rchar() - before, "rows": views.report.height}))
"""


def bytes_read(store: Path, shards: int) -> list[int]:
    """Bytes each shard's library read takes (one fresh process per shard, one pinned snapshot)."""
    import storemon
    import storemon.store

    handle = storemon.open_store(store)
    snapshot = storemon.store.pin_snapshot(handle)
    try:
        now = snapshot.latest_poll
        assert now is not None
        out = []
        for i in range(shards):
            done = subprocess.run(
                [sys.executable, "-c", _BYTES_CHILD, str(store), snapshot.token, str(i), str(shards), now.isoformat()],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            out.append(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])
        return out
    finally:
        storemon.store.release_snapshot(handle, snapshot.token)


def run_size(name: str, shard_counts: list[int], worker_counts: list[int], cache: Path, rebuild: bool) -> None:
    size = SIZES[name]
    prepared = prepare_data(size, cache)
    ingest = prepare_store(prepared, rebuild=rebuild)
    built = f"built in {ingest:.0f} s" if ingest else "cached"
    print(f"\n== {name}: {size.stores} stores; store {built}", flush=True)
    root = Path(tempfile.mkdtemp(prefix=f"shards-{name}-"))
    server, url = _redis(root)
    try:
        runs: dict[tuple[int, int], dict[str, Any]] = {}
        print(f"{'workers':>7} {'shards':>6} {'wall s':>8} {'peak MiB per worker':>20} {'fixed':>6} {'fan-in s':>8}"
              f" {'fan-in MiB':>10} {'max shard MiB':>13} {'inputs MiB':>10} {'max shard s':>11}")  # fmt: skip
        for workers in worker_counts:
            for shards in shard_counts:
                run = service_run(prepared.store, root / f"run-{workers}-{shards}", url, workers, shards)
                runs[(workers, shards)] = run
                if "error" in run:
                    print(f"{workers:>7} {shards:>6}  error: {run['error']}", flush=True)
                    continue
                peaks = "/".join(f"{p:.0f}" for p in run["peak_mib"])
                fan_in = f"{run['fan_in_s']:.1f}" if run["fan_in_s"] is not None else "-"
                fan_in_peak = f"{run['fan_in_peak_mib']:.0f}" if run["fan_in_peak_mib"] else "-"
                shard_peak = f"{max(run['shard_peak_mib']):.0f}" if run["shard_peak_mib"] else "-"
                inputs_peak = f"{run['inputs_peak_mib']:.0f}" if run["inputs_peak_mib"] else "-"
                shard_s = f"{max(run['shard_seconds']):.1f}" if run["shard_seconds"] else "-"
                print(f"{workers:>7} {shards:>6} {run['wall_s']:>8.1f} {peaks:>20} {run['fixed_mib']:>6.0f} {fan_in:>8}"
                      f" {fan_in_peak:>10} {shard_peak:>13} {inputs_peak:>10} {shard_s:>11}", flush=True)  # fmt: skip
                shutil.rmtree(root / f"run-{workers}-{shards}" / "reports", ignore_errors=True)
        csvs = {run["csv"] for run in runs.values() if "csv" in run}
        print(f"identical CSV across every run: {len(csvs) == 1}")
        print(f"{'shards':>6} {'bytes read per shard (MiB)':>40}")
        read: dict[int, list[int]] = {}
        for shards in shard_counts:
            read[shards] = bytes_read(prepared.store, shards)
            print(f"{shards:>6} {' '.join(f'{b / 2**20:.1f}' for b in read[shards]):>40}", flush=True)
        _targets(runs, read, worker_counts)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _targets(runs: dict[tuple[int, int], dict[str, Any]], read: dict[int, list[int]], worker_counts: list[int]) -> None:
    one = runs.get((1, 1)) or runs.get((max(worker_counts), 1))
    four = runs.get((max(worker_counts), 4)) or runs.get((1, 4))
    if one and four and "error" not in one and "error" not in four:
        unsharded, largest, fixed = max(one["peak_mib"]), max(four["peak_mib"]), one["fixed_mib"]
        bound = 1.3 * (unsharded / 4) + fixed
        print(f"peak RSS, N=4 largest worker: {largest:.0f} MiB vs bound 1.3 × {unsharded:.0f}/4 + {fixed:.0f} = "
              f"{bound:.0f} MiB → ratio {largest / bound:.2f} (target ≤ 1)")  # fmt: skip
        if four["shard_peak_mib"]:
            shard = max(four["shard_peak_mib"])
            print(f"peak RSS, N=4 largest shard job: {shard:.0f} MiB → ratio {shard / bound:.2f}; the inputs job "
                  f"{four['inputs_peak_mib']:.0f} MiB; the fan-in {four['fan_in_peak_mib'] or 0:.0f} MiB")  # fmt: skip
    if 1 in read and 4 in read:
        bound_bytes = 1.3 * read[1][0] / 4
        print(f"bytes read, largest of 4 shards: {max(read[4]) / 2**20:.1f} MiB vs 1.3 × unsharded/4 = "
              f"{bound_bytes / 2**20:.1f} MiB → ratio {max(read[4]) / bound_bytes:.2f} (target ≤ 1)")  # fmt: skip
    two = runs.get((2, 4))
    base = runs.get((2, 1)) or one
    if two and base and "error" not in two and "error" not in base:
        print(f"wall, 4 shards on 2 workers vs unsharded: {two['wall_s']:.1f} s vs {base['wall_s']:.1f} s → "
              f"ratio {two['wall_s'] / base['wall_s']:.2f} (target ≤ 1.2)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S10", help="S1, S3, S10 (default); S30 only with --s30")
    parser.add_argument("--s30", action="store_true", help="also S30 (about 8 GiB at one shard: run it alone)")
    parser.add_argument("--shards", default="1,2,4,8")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--rebuild-store", action="store_true", help="ingest the size's store again")
    args = parser.parse_args()
    shard_counts = [int(x) for x in args.shards.split(",")]
    worker_counts = [int(x) for x in args.workers.split(",")]
    if 1 not in shard_counts:
        shard_counts.insert(0, 1)
    sizes = [args.size] + (["S30"] if args.s30 and args.size != "S30" else [])
    for name in sizes:
        if name == "S30" and not args.s30:
            parser.error("S30 needs --s30")
        run_size(name, shard_counts, worker_counts, args.cache, args.rebuild_store)


if __name__ == "__main__":
    main()
