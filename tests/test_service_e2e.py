"""The service end to end over real HTTP: gunicorn + ``python -m webapp.worker`` subprocesses.

Covers what only real processes show: the Procfile commands serve and work,
the CSV equals ``storemon report`` on the same data and ``now`` (also after
live intake into a data store), a worker
SIGKILLed mid-job leaves a Failed report and no CSV, Redis restarting under a
running service, and 20 triggers at once. Every wait is bounded; every
process started here is killed at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

import storemon
from conftest import SERVICE_DATA_END, RedisServer, free_port
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
        victims = [(p.pid, _children(p.pid)) for p in self.processes if p.poll() is None]
        for pid, children in victims:
            for target in (pid, *children):
                _kill_group(target)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kernel that ignores SIGKILL
                pass

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 15.0) -> Response:
        request = urllib.request.Request(self.base + path, data=body, method=method)
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
        answers.append(service.request(method, path, items))
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
