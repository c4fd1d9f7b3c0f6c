"""Live-intake benchmark: single-poll ``POST /api/polls`` through real gunicorn into an S1 store.

Copies the cached S1 store (3,700 stores × 11 days, :mod:`sizes`) to a
scratch directory, serves it with gunicorn as the Procfile does (loopback
only, a private redis-server without persistence), then

1. ``--sequential`` (10,000) single-poll POSTs, one after the other;
2. ``--clients`` (4) parallel clients × ``--per-client`` (2,500) POSTs;

and prints p50/p95 latency per ``--every`` (1,000) requests, the metadata
bytes and file counts as they go, requests/s of both phases, and the time of
``report_from_store`` at the start and at the end (no manual command in
between: upkeep is automatic). Each body is one poll of an existing store,
at an instant after the data set's end, so no body is a duplicate.

    .venv/bin/python benchmarks/intake.py [--sequential 10000] [--clients 4] [--per-client 2500]
                                          [--workers 2] [--size S1] [--workdir DIR]

Targets (ratios from one run): p50 of the last block ≤ 1.5 × the first;
parallel throughput ≥ 2 × sequential; report at the end ≤ 1.5 × at the
start. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sizes import SIZES, prepare_data, prepare_store  # noqa: E402
from storemon.exceptions import StoreError  # noqa: E402
from storemon.store import latest_poll, open_store, report_from_store  # noqa: E402

CACHE = Path(__file__).parent / "cache"
VENV_BIN = Path(sys.executable).parent
METADATA = ("log", "checkpoints", "queue")


def main() -> int:
    """Prepare, serve, measure, print."""
    options = _options()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops the service
    size = SIZES[options.size]
    prepared = prepare_data(size, CACHE)
    prepare_store(prepared)
    try:
        open_store(prepared.store)
    except StoreError:  # a cached store of an older layout: build it again
        prepare_store(prepared, rebuild=True)
    workdir = Path(options.workdir) if options.workdir else Path(tempfile.mkdtemp(prefix="storemon-intake-"))
    store = workdir / "store"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(prepared.store, store)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis_port, web_port = _free_port(), _free_port()
        processes.append(_redis(workdir, redis_port))
        processes.append(_gunicorn(workdir, store, redis_port, web_port, options.workers))
        base = f"http://127.0.0.1:{web_port}"
        _wait_for(base)
        return _measure(base, store, options, processes[-1].pid)
    finally:
        for process in processes:
            _stop(process)
        if not options.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=10_000, help="sequential POSTs (default 10000)")
    parser.add_argument("--clients", type=int, default=4, help="parallel clients (default 4)")
    parser.add_argument("--per-client", type=int, default=2_500, help="POSTs per parallel client (default 2500)")
    parser.add_argument("--every", type=int, default=1_000, help="requests per reported block (default 1000)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: webapp.gunicorn_conf)")
    parser.add_argument("--size", default="S1", choices=sorted(SIZES), help="data set in the store (default S1)")
    parser.add_argument("--workdir", help="keep the store and logs here (default: a temporary directory)")
    parser.add_argument(
        "--stream-batches",
        default="1,10,100,1000,10000",
        help="then, polls per chunked application/x-ndjson POST to compare (default 1,10,100,1000,10000; '' skips)",
    )
    parser.add_argument("--stream-polls", type=int, default=20_000, help="polls sent per batch size (default 20000)")
    return parser.parse_args()


# --- the requests ------------------------------------------------------------------------


class Bodies:
    """Unique one-poll JSON bodies: existing stores, instants after the data set's end (thread-safe)."""

    def __init__(self, store: Path) -> None:
        latest = latest_poll(store)
        assert latest is not None
        self.start = latest + timedelta(seconds=1)
        frame = __import__("polars").read_parquet(next((store / "tables").glob("poll-stores-*.parquet")))
        self.stores = frame["store_id"].to_list()
        self.count = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            n = self.count
            self.count += 1
        moment = self.start + timedelta(milliseconds=n)
        poll = {"store_id": self.stores[n % len(self.stores)], "timestamp_utc": moment.isoformat(), "status": "active"}
        return json.dumps([poll]).encode()


def _post(base: str, body: bytes) -> float:
    request = urllib.request.Request(f"{base}/api/polls", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        if response.status != 201:
            raise RuntimeError(f"POST /api/polls answered {response.status}")
    return time.perf_counter() - started


def _measure(base: str, store: Path, options: argparse.Namespace, group: int) -> int:
    bodies = Bodies(store)
    report_start = _time_report(store)
    print(f"store: {options.size}, gunicorn workers: {options.workers or 'webapp.gunicorn_conf'}")
    print(f"report_from_store at the start: {report_start * 1000:.0f} ms; {_layout(store)}")
    print(f"\n{options.sequential} sequential single-poll POSTs")
    latencies: list[float] = []
    cpu, processes = _cpu_times(), _process_ticks(group)
    started = time.perf_counter()
    blocks: list[float] = []
    for n in range(1, options.sequential + 1):
        latencies.append(_post(base, bodies.next()))
        if n % options.every == 0 or n == options.sequential:
            block = latencies[-options.every :]
            blocks.append(statistics.median(block))
            print(f"  {n:6d}: {_percentiles(block)}; {_layout(store)}", flush=True)
    sequential_rps = options.sequential / (time.perf_counter() - started)
    print(f"  sequential: {sequential_rps:.1f} requests/s; {_cpu_use(cpu, processes, group)}")

    total = options.clients * options.per_client
    print(f"\n{options.clients} parallel clients × {options.per_client} POSTs")
    parallel: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(options.per_client):
                latency = _post(base, bodies.next())
                with lock:
                    parallel.append(latency)
                    done = len(parallel)
                if done % options.every == 0:
                    print(f"  {done:6d}: {_percentiles(parallel[-options.every :])}; {_layout(store)}", flush=True)
        except BaseException as exc:  # reported below; one failed client fails the run
            errors.append(exc)

    cpu, processes = _cpu_times(), _process_ticks(group)
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(options.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parallel_rps = total / (time.perf_counter() - started)
    if errors:
        print(f"  a client failed: {_describe(errors[0])}")
        _print_server_errors(store.parent / "web.log")
        return 1
    usage = _cpu_use(cpu, processes, group)
    print(f"  parallel: {parallel_rps:.1f} requests/s, {_percentiles(parallel)} over all {total}; {usage}")

    report_end = _time_report(store)
    print(f"\nreport_from_store at the end: {report_end * 1000:.0f} ms; {_layout(store)}")
    first, last = blocks[0], blocks[-1]
    print("\ntargets:")
    print(f"  p50 last/first block: {last * 1000:.1f} / {first * 1000:.1f} ms = {last / first:.2f} (≤ 1.5)")
    print(f"  parallel/sequential throughput: {parallel_rps / sequential_rps:.2f} (≥ 2)")
    print(f"  report end/start: {report_end / report_start:.2f} (≤ 1.5)")
    if options.stream_batches:
        _stream(base, bodies, [int(n) for n in options.stream_batches.split(",")], options.stream_polls)
    return 0


def _describe(exc: BaseException) -> str:
    """The failure, with the body of an HTTP error (the service's message)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"{exc.code} {exc.read().decode(errors='replace').strip()}"
    return repr(exc)


def _print_server_errors(log: Path, lines: int = 40) -> None:
    """The end of the server's log: what made it answer an error (the work directory goes after the run)."""
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print(f"  the end of {log.name}:")
    for line in tail:
        print(f"    {line}")


def _stream(base: str, bodies: Bodies, batches: list[int], polls: int) -> None:
    """Chunked ``application/x-ndjson`` bodies of ``batch`` polls each: latency and polls/s per batch size."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    print(f"\nchunked application/x-ndjson POSTs, up to {polls} polls (5 to 200 requests) per batch size, one client")
    for batch in batches:
        requests = max(5, min(200, polls // batch))  # 200 one-poll requests say enough
        latencies = []
        started = time.perf_counter()
        for _ in range(requests):
            lines = [json.loads(bodies.next())[0] for _ in range(batch)]
            chunks = (json.dumps(line).encode() + b"\n" for line in lines)  # a generator: sent chunked
            connection = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
            began = time.perf_counter()
            connection.request(
                "POST", "/api/polls", body=chunks, headers={"Content-Type": "application/x-ndjson"}, encode_chunked=True
            )
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - began)
            connection.close()
            if response.status != 201:
                raise RuntimeError(f"chunked POST of {batch} polls answered {response.status}")
        elapsed = time.perf_counter() - started
        print(f"  {batch:6d} polls/request: {_percentiles(latencies)}, {requests * batch / elapsed:9.0f} polls/s")


def _cpu_times() -> tuple[float, float, float]:
    """(busy, iowait, all) CPU time of the whole machine so far, in clock ticks, from ``/proc/stat``."""
    # user nice system idle iowait irq softirq steal; guest time is counted in user already.
    fields = [float(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, iowait = fields[3], fields[4]
    return sum(fields) - idle - iowait, iowait, sum(fields)


def _process_ticks(group: int) -> tuple[float, float]:
    """CPU clock ticks (user + system) used so far by this process (the clients) and by process group ``group``.

    The group is gunicorn's (its arbiter and workers, started in a session of
    their own); threads are included, exited children are not (none exit).
    """
    own = os.times()
    client = (own.user + own.system) * os.sysconf("SC_CLK_TCK")
    server = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        if int(fields[2]) == group:  # pgrp
            server += float(fields[11]) + float(fields[12])  # utime, stime
    return client, server


def _cpu_use(since: tuple[float, float, float], since_processes: tuple[float, float], group: int) -> str:
    """Cores busy on the machine, in the server and in the clients since ``since``: is a phase CPU-bound, and where?"""
    now = _cpu_times()
    busy, iowait, total = (b - a for a, b in zip(since, now, strict=True))
    client, server = (b - a for a, b in zip(since_processes, _process_ticks(group), strict=True))
    cores = os.cpu_count() or 1
    scale = cores / total
    return (
        f"CPU {busy * scale:.2f} of {cores} cores busy (server {server * scale:.2f}, "
        f"clients {client * scale:.2f}), {iowait * scale:.2f} in I/O wait"
    )


def _percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {p50 * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms"


def _time_report(store: Path) -> float:
    report_from_store(store)  # warm the page cache and Polars
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        report_from_store(store)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def _layout(store: Path) -> str:
    """Metadata bytes (descriptor, log, checkpoints, queue), key markers, and file counts."""
    metadata = (store / "manifest.json").stat().st_size
    files = {"data": 0, "metadata": 1, "keys": 0}
    key_bytes = 0
    for top in os.listdir(store):
        path = store / top
        if not path.is_dir():
            continue
        for directory, _, names in os.walk(path):
            for name in names:
                try:
                    size = os.stat(os.path.join(directory, name)).st_size
                except FileNotFoundError:
                    continue  # removed meanwhile (upkeep)
                if top in METADATA:
                    files["metadata"] += 1
                    metadata += size
                elif top == "keys":
                    files["keys"] += 1
                    key_bytes += size
                else:
                    files["data"] += 1
    return (
        f"metadata {metadata / 1024:.0f} KiB in {files['metadata']} files, "
        f"keys {key_bytes / 1024:.0f} KiB in {files['keys']}, data files {files['data']}"
    )


# --- the service -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed (the app's queue); install it")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir)]
    log = open(workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _gunicorn(workdir: Path, store: Path, redis_port: int, port: int, workers: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "STOREMON_STORE": str(store),
        "STOREMON_REPORTS_DIR": str(workdir / "reports"),
        "STOREMON_AUTH": "off",  # loopback only; a token check is a constant-time compare, not what is measured
    }
    argv = [str(VENV_BIN / "gunicorn"), "--config", "python:webapp.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
    argv += ["--access-logfile", "/dev/null"]  # 20,000 access lines are not the point
    if workers:
        argv += ["--workers", str(workers)]
    log = open(workdir / "web.log", "ab")  # noqa: SIM115 - owned by the process
    argv.append("webapp:create_app()")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # 503 without workers: the web server answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer at {base} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers only
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


if __name__ == "__main__":
    sys.exit(main())
