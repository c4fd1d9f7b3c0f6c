"""The service end to end over real HTTP: gunicorn + ``python -m webapp.worker`` subprocesses.

Covers what only real processes show: the Procfile commands serve and work,
the CSV equals ``storemon report`` on the same data and ``now`` (also after
live intake into a data store), a worker
SIGKILLed mid-job leaves a Failed report and no CSV, Redis restarting under a
running service, and 20 triggers at once. Every wait is bounded; every
process started here is killed at teardown.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

import storemon
import storemon.store
from conftest import SERVICE_DATA_END, TOKENS, TOKENS_ENV, RedisServer, free_port
from storemon import write_report
from webapp.jobs import PROGRESS_COMPUTED
from webapp.status import ABANDONED, HORSE_DIED

pytestmark = pytest.mark.service

VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
REPORT_TIMEOUT = 60.0


class Response:
    """What came back from one HTTP request."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Service:
    """A web server and any number of workers, as the Procfile runs them."""

    def __init__(self, tmp_path: Path, redis_url: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.reports_dir = tmp_path / "reports"
        self.env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": redis_url,
            "STOREMON_REPORTS_DIR": str(self.reports_dir),
            "STOREMON_WORKER_HEARTBEAT": "1",
            "STOREMON_TOKENS": TOKENS_ENV,
            **env,
        }
        self.port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"{name}-{len(self.processes)}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def start_web(self) -> Service:
        """gunicorn as in the Procfile; wait until it answers HTTP."""
        self._spawn(
            "web",
            [
                str(VENV_BIN / "gunicorn"),
                "--config",
                "python:webapp.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.port}",
                "webapp:create_app()",
            ],
        )
        self._wait_for(lambda: self.get("/api/health").status in (200, 503), "web server to answer")
        return self

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A worker as in the Procfile."""
        return self._spawn("worker", [sys.executable, "-m", "webapp.worker"])

    def wait_healthy(self) -> None:
        self._wait_for(lambda: self.get("/api/health").status == 200, "/api/health to say 200")

    def stop(self) -> None:
        """Kill every process started here, their work horses included."""
        kill_all(self.processes)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        timeout: float = 15.0,
        role: str | None = "admin",
        headers: dict[str, str] | None = None,
    ) -> Response:
        """One request with the ``role`` token (``None``: no ``Authorization`` header)."""
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        if role is not None:
            request.add_header("Authorization", f"Bearer {TOKENS[role]}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return Response(0, {}, b"")

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def trigger(self, params: dict | None = None) -> str:
        body = json.dumps(params).encode() if params is not None else None
        response = self.request("POST", "/api/trigger_report/", body)
        assert response.status == 202, response.body
        return response.json()["report_id"]

    def wait_report(self, report_id: str, timeout: float = REPORT_TIMEOUT) -> Response:
        """Poll until the report is no longer Running; return the final response."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.get(f"/api/get_report/{report_id}/")
            if response.status not in (0, 503) and self._status(response) != "Running":
                return response
            time.sleep(0.1)
        raise AssertionError(f"report {report_id} still not finished after {timeout} s")

    def progress(self, report_id: str) -> float | None:
        """The report's progress while it runs (``None`` otherwise or when unreachable)."""
        response = self.get(f"/api/get_report/{report_id}/")
        return response.json().get("progress") if self._status(response) == "Running" else None

    @staticmethod
    def _status(response: Response) -> str | None:
        if response.status != 200 or not response.headers.get("Content-Type", "").startswith("application/json"):
            return None
        return response.json()["status"]

    def _wait_for(self, condition, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None and process.returncode not in (0, -signal.SIGKILL):
                    raise AssertionError(f"a service process exited with {process.returncode}; logs in {self.tmp_path}")
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.tmp_path}")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (an RQ work horse runs in a process group of its own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def kill_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL each running process, its process group and its children's (work horses), then reap them."""
    victims = [(p.pid, _children(p.pid)) for p in processes if p.poll() is None]
    for pid, children in victims:
        for target in (pid, *children):
            _kill_group(target)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kernel that ignores SIGKILL
            pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def service_factory(tmp_path: Path):
    started: list[Service] = []

    def make(redis_url: str, **env: str) -> Service:
        service = Service(tmp_path / f"service-{len(started)}", redis_url, **env)
        service.tmp_path.mkdir(parents=True)
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


def library_csv(tmp_path: Path, data_dir: Path, now=None) -> bytes:
    inputs = storemon.load_dir(data_dir)
    report = storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones, now)
    return write_report(report, tmp_path / "library.csv").read_bytes()


def test_bundled_sample_over_http_equals_the_cli_and_survives_a_flush(
    service_factory, redis_url, redis_server, tmp_path
):
    service = service_factory(redis_url, STOREMON_DATA_DIR=str(storemon.sample_dir()))
    service.start_web()
    service.start_worker()
    service.wait_healthy()
    now = "2024-10-13T08:30:00Z"

    report_id = service.trigger({"now": now})
    response = service.wait_report(report_id)

    cli_out = tmp_path / "cli.csv"
    subprocess.run(
        [str(VENV_BIN / "storemon"), "report", str(storemon.sample_dir()), "--now", now, "-o", str(cli_out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert response.status == 200
    assert response.headers["X-Report-Status"] == "Complete"
    assert response.headers["Content-Disposition"] == f'attachment; filename="report_{report_id}.csv"'
    assert response.body == cli_out.read_bytes()

    redis_server.client().flushall()
    assert service.get(f"/api/get_report/{report_id}/").body == response.body
    assert service.get(f"/get_report?report_id={report_id}").body == response.body


def test_twenty_parallel_triggers_complete_with_distinct_ids_and_identical_contents(
    service_factory, redis_url, service_data_dir, tmp_path
):
    service = service_factory(redis_url, STOREMON_DATA_DIR=str(service_data_dir))
    service.start_web()
    service.start_worker()
    service.start_worker()
    service.wait_healthy()

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda _: service.trigger(), range(20)))
    bodies = {service.wait_report(report_id).body for report_id in ids}

    assert len(set(ids)) == 20
    assert bodies == {library_csv(tmp_path, service_data_dir)}


def _job_held_before_writing(service_factory, redis_url, service_data_dir):
    """A running service whose one report job waits (test-only hold file) just before writing its CSV."""
    hold = service_data_dir.parent / "hold"
    hold.touch()
    service = service_factory(redis_url, STOREMON_DATA_DIR=str(service_data_dir), STOREMON_TEST_HOLD_FILE=str(hold))
    service.start_web()
    worker = service.start_worker()
    service.wait_healthy()
    report_id = service.trigger()
    service._wait_for(
        lambda: service.progress(report_id) == PROGRESS_COMPUTED,
        "the job to reach the hold point",
    )
    return service, worker, report_id, hold


def test_a_worker_killed_mid_job_leaves_a_failed_report_and_no_csv(service_factory, redis_url, service_data_dir):
    service, worker, report_id, hold = _job_held_before_writing(service_factory, redis_url, service_data_dir)

    horses = _children(worker.pid)
    assert horses, "the worker should have forked a work horse"
    for pid in (worker.pid, *horses):  # the whole worker, as when its machine dies
        _kill_group(pid)
    worker.wait(10)
    failed = service.wait_report(report_id)  # each poll runs RQ's abandoned-job cleanup

    assert failed.json() == {"status": "Failed", "error": ABANDONED}
    hold.unlink()
    time.sleep(0.5)  # nothing is left that could still write the CSV
    assert not (service.reports_dir / f"{report_id}.csv").exists()
    assert [p.name for p in service.reports_dir.iterdir()] == [f"{report_id}.json"]

    service.start_worker()
    retry = service.wait_report(service.trigger())
    assert retry.headers["X-Report-Status"] == "Complete"


def test_a_work_horse_killed_mid_job_leaves_a_failed_report(service_factory, redis_url, service_data_dir):
    service, worker, report_id, hold = _job_held_before_writing(service_factory, redis_url, service_data_dir)

    for horse in _children(worker.pid):  # as the OOM killer would
        os.kill(horse, signal.SIGKILL)
    failed = service.wait_report(report_id)

    assert failed.json() == {"status": "Failed", "error": HORSE_DIED}
    assert not (service.reports_dir / f"{report_id}.csv").exists()
    hold.unlink()
    assert service.wait_report(service.trigger()).headers["X-Report-Status"] == "Complete"  # same worker, still up


def test_redis_restart_under_a_running_service(service_factory, private_redis: RedisServer, service_data_dir, tmp_path):
    service = service_factory(private_redis.url, STOREMON_DATA_DIR=str(service_data_dir))
    service.start_web()
    service.start_worker()
    service.wait_healthy()
    before = service.wait_report(service.trigger({"now": (SERVICE_DATA_END - timedelta(days=1)).isoformat()}))

    private_redis.stop()
    refused = service.request("POST", "/api/trigger_report/")
    health = service.get("/api/health")

    assert refused.status == 503 and "Redis" in refused.json()["error"]
    assert health.status == 503 and health.json()["redis"] is False

    private_redis.start()
    service.wait_healthy()  # the worker registers again by itself
    after = service.wait_report(service.trigger({"now": (SERVICE_DATA_END - timedelta(days=1)).isoformat()}))

    assert after.headers["X-Report-Status"] == "Complete"
    assert after.body == before.body


def test_redis_lost_while_a_job_runs_the_report_completes_and_the_worker_carries_on(
    service_factory, private_redis: RedisServer, service_data_dir
):
    hold = service_data_dir.parent / "hold"
    hold.touch()
    service = service_factory(
        private_redis.url, STOREMON_DATA_DIR=str(service_data_dir), STOREMON_TEST_HOLD_FILE=str(hold)
    )
    service.start_web()
    worker = service.start_worker()
    service.wait_healthy()
    report_id = service.trigger()
    service._wait_for(lambda: service.progress(report_id) == PROGRESS_COMPUTED, "the job to reach the hold point")

    private_redis.stop()
    hold.unlink()  # the job finishes while Redis is away: its files need no Redis
    done = service.wait_report(report_id)

    assert done.status == 200 and done.headers["X-Report-Status"] == "Complete"
    private_redis.start()
    service.wait_healthy()
    assert worker.poll() is None, "the worker process should have survived"
    assert service.wait_report(service.trigger()).headers["X-Report-Status"] == "Complete"


def test_intake_over_http_into_a_store_then_the_report_equals_the_library(
    service_factory, redis_url, service_data_dir, tmp_path
):
    store = tmp_path / "store"
    service = service_factory(redis_url, STOREMON_STORE=str(store), STOREMON_DATA_DIR=str(tmp_path / "unused"))
    service.start_web()
    service.start_worker()
    service.wait_healthy()  # the web app created the empty store

    answers = []
    for method, path, file in [
        ("POST", "/api/polls", "store_status.csv"),
        ("PUT", "/api/hours", "menu_hours.csv"),
        ("PUT", "/api/timezones", "timezones.csv"),
    ]:
        items = json.dumps(pl.read_csv(service_data_dir / file, infer_schema=False).to_dicts()).encode()
        headers = {}
        if method == "PUT":  # a replace names the version it replaces
            headers["If-Match"] = service.get(f"/api/tables/{path.rsplit('/', 1)[-1]}").headers["ETag"]
        answers.append(service.request(method, path, items, headers=headers))
    report_id = service.trigger()
    report = service.wait_report(report_id)

    assert [a.status for a in answers] == [201, 201, 201], [a.body for a in answers]
    assert answers[0].json()["rejects"] == [
        {"index": 8, "column": "status", "value": "maybe", "reason": "unknown status"}
    ]
    assert report.headers["X-Report-Status"] == "Complete"
    assert report.body == library_csv(tmp_path, service_data_dir)
    record = json.loads((service.reports_dir / f"{report_id}.json").read_text())
    assert record["source"] == {"store": str(store)}


# --- bounded input over real HTTP: chunked bodies ---------------------------------------------


def send_chunked(port: int, method: str, path: str, body: bytes, content_type: str, role: str = "admin") -> Response:
    """One request with ``Transfer-Encoding: chunked`` (no Content-Length), 64 KiB per chunk."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Authorization", f"Bearer {TOKENS[role]}")
        connection.endheaders()
        try:
            for start in range(0, len(body), 64 * 1024):
                part = body[start : start + 64 * 1024]
                connection.send(b"%x\r\n%s\r\n" % (len(part), part))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and stop reading before the end; the answer is what counts
        answer = connection.getresponse()
        return Response(answer.status, dict(answer.headers), answer.read())
    finally:
        connection.close()


def test_chunked_bodies_cannot_pass_the_limits(service_factory, redis_url, tmp_path):
    limit = 256 * 1024
    store = tmp_path / "store"
    service = service_factory(redis_url, STOREMON_STORE=str(store), STOREMON_MAX_INTAKE_BYTES=str(limit))
    service.start_web()
    header, row = b"store_id,timestamp_utc,status\n", b"1001,2024-10-14 12:05:00 UTC,active\n"
    over = header + row * (limit // len(row) + 10)
    at_limit = (header + row * (limit // len(row)))[:limit]
    at_limit = at_limit[: at_limit.rindex(b"\n") + 1]

    trigger = send_chunked(service.port, "POST", "/api/trigger_report/", b" " * (1024 * 1024), "application/json")
    too_large = send_chunked(service.port, "POST", "/api/polls", over, "text/csv")

    assert trigger.status == 413 and "report_id" not in trigger.json()
    assert too_large.status == 413 and "STOREMON_MAX_INTAKE_BYTES" in too_large.json()["error"]
    assert storemon.store.read_polls(store).is_empty()  # nothing of the cut body was stored

    accepted = send_chunked(service.port, "POST", "/api/polls", at_limit, "text/csv")
    assert accepted.status == 201, accepted.body
    assert accepted.json()["rejected"] == 0 and accepted.json()["rows"] == at_limit.count(b"\n") - 1


# --- staying up: slow clients, dead workers, Redis losing queued jobs ------------------------------


def _slowloris(port: int, payload: bytes, stop: threading.Event, deadline: float, sent: list[int]) -> None:
    """Send ``payload`` one byte at a time (every 50 ms) until ``stop`` or ``deadline``; then hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for byte in payload:
            if stop.is_set() or time.monotonic() > deadline:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # the server gave up on us: fine
            sent.append(1)
            time.sleep(0.05)


def test_twenty_slow_clients_do_not_starve_the_service(service_factory, redis_url, service_data_dir):
    service = service_factory(redis_url, STOREMON_DATA_DIR=str(service_data_dir))
    service.start_web()
    service.start_worker()
    service.wait_healthy()
    headers_forever = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 4000
    body_forever = (
        b"POST /api/polls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        + f"Authorization: Bearer {TOKENS['write']}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b"store_id,timestamp_utc,status\n" * 2000
    )
    stop, sent = threading.Event(), []
    deadline = time.monotonic() + 20  # bounded even if the assertions below hang
    clients = [
        threading.Thread(
            target=_slowloris, args=(service.port, headers_forever if i % 2 else body_forever, stop, deadline, sent)
        )
        for i in range(20)
    ]
    for client in clients:
        client.start()
    try:
        wait_until = time.monotonic() + 5
        while len(sent) < 20 * 10 and time.monotonic() < wait_until:  # every client is well under way
            time.sleep(0.05)
        assert len(sent) >= 20 * 10, "the slow clients did not get going"

        started = time.monotonic()
        health = service.request("GET", "/api/health", timeout=2)
        health_seconds = time.monotonic() - started
        started = time.monotonic()
        trigger = service.request("POST", "/api/trigger_report/", timeout=2)
        trigger_seconds = time.monotonic() - started
        assert all(client.is_alive() for client in clients), "the slow clients should still be trickling"
    finally:
        stop.set()
        for client in clients:
            client.join(10)

    assert health.status == 200 and health_seconds < 2, (health.status, health_seconds)
    assert trigger.status == 202 and trigger_seconds < 2, (trigger.status, trigger_seconds)
    assert service.wait_report(trigger.json()["report_id"]).headers["X-Report-Status"] == "Complete"


def test_health_stops_counting_a_killed_worker_within_30_seconds(service_factory, redis_url, service_data_dir):
    service = service_factory(redis_url, STOREMON_DATA_DIR=str(service_data_dir))
    service.start_web()
    worker = service.start_worker()
    service.wait_healthy()
    assert service.get("/api/health").json()["workers"] == 1

    for pid in (worker.pid, *_children(worker.pid)):
        _kill_group(pid)
    worker.wait(10)
    killed = time.monotonic()
    deadline, health = killed + 30, service.get("/api/health")
    while health.json()["workers"] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        health = service.get("/api/health")

    assert health.status == 503 and health.json()["workers"] == 0, "a dead worker still counted after 30 s"
    service.start_worker()
    service.wait_healthy()


def test_a_report_queued_when_redis_restarts_is_requeued_and_completes(
    service_factory, private_redis: RedisServer, service_data_dir
):
    service = service_factory(private_redis.url, STOREMON_DATA_DIR=str(service_data_dir))
    service.start_web()
    report_id = service.trigger()  # no worker yet: the job waits in Redis
    record = json.loads((service.reports_dir / f"{report_id}.json").read_text())
    assert record["status"] == "Queued"

    private_redis.stop()
    private_redis.start()  # empty: the queued job is gone
    running = service.get(f"/api/get_report/{report_id}/")
    assert running.status == 200 and running.json() == {"status": "Running", "progress": 0.0}

    service.start_worker()
    done = service.wait_report(report_id)
    assert done.headers["X-Report-Status"] == "Complete"
    assert done.body == library_csv(service.tmp_path, service_data_dir)
