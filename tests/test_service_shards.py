"""Sharded reports on real RQ workers: identity with the unsharded report, failures, Redis restarts, many hosts.

A report over a data store may run as a plan job, N shard jobs and a
fan-in job (:mod:`webapp.shards`). Whatever N, every file of the report is
byte-identical to the unsharded report's and the record equal but for ids,
times and the ``shards`` it ran as. Service tests here use a real
redis-server, ``python -m webapp.worker`` subprocesses (started as on
another host: their own working directory and HOME, and only ``REDIS_URL``,
``STOREMON_*`` and the shared store and reports paths in common) and real
gunicorn; the property test runs the same jobs in-process on a
``SimpleWorker``. Every wait is bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis import Redis
from rq.job import Job, JobStatus

import storemon
from conftest import TOKENS, TOKENS_ENV, RedisServer, run_jobs
from storemon._generate import generate_dataset
from test_service_e2e import Response, Service, _children, _kill_group, kill_all
from webapp import create_app
from webapp.params import MAX_SHARDS
from webapp.records import REPORT_FILES
from webapp.shards import SHARDS_DIR, shard_count
from webapp.status import ABANDONED

VENV_BIN = Path(sys.executable).parent
WAIT_SECONDS = 90.0

#: Record fields that differ between two runs of the same report (ids, clocks, how it ran).
_RUN_FIELDS = ("report_id", "created", "started", "finished", "duration_seconds", "timings", "files", "shards")


def make_store(root: Path, *, stores: int, seed: int, days: float = 9) -> Path:
    """A data store holding a generated data set of ``stores`` stores over ``days`` days."""
    data = root / f"data-{seed}"
    generate_dataset(data, stores=stores, days=days, seed=seed)
    store = root / f"store-{seed}"
    storemon.ingest_paths(storemon.open_store(store, create=True), [str(data)])
    return store


def report_bytes(reports: Path, report_id: str) -> dict[str, bytes]:
    """Every file of a complete report, by kind."""
    return {kind: (reports / f"{report_id}{suffix}").read_bytes() for kind, suffix in REPORT_FILES.items()}


def assert_same_report(reports: Path, expected_id: str, report_id: str) -> None:
    """Every file of ``report_id`` equals ``expected_id``'s, byte for byte."""
    expected, got = report_bytes(reports, expected_id), report_bytes(reports, report_id)
    for kind in REPORT_FILES:
        assert got[kind] == expected[kind], kind


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without what differs between runs (and without the shards asked for)."""
    kept = {k: v for k, v in record.items() if k not in _RUN_FIELDS}
    kept["parameters"] = {k: v for k, v in record["parameters"].items() if k != "shards"}
    return kept


def read_record(reports: Path, report_id: str) -> dict[str, Any]:
    return dict(json.loads((reports / f"{report_id}.json").read_text()))


# --- the trigger's ``shards`` ----------------------------------------------------------


@pytest.fixture
def data_dir_app(redis_url: str, service_data_dir: Path, tmp_path: Path):
    return create_app({"TESTING": True, "REDIS_URL": redis_url, "STOREMON_DATA_DIR": str(service_data_dir),
                       "STOREMON_REPORTS_DIR": str(tmp_path / "reports"), "STOREMON_TOKENS": TOKENS_ENV})  # fmt: skip


@pytest.mark.parametrize("bad", [0, -1, MAX_SHARDS + 1, 2.0, "2", True, [2]])
def test_a_bad_shards_field_is_400_naming_it(data_dir_app, bad: object):
    client = data_dir_app.test_client(token=TOKENS["write"])
    answer = client.post("/api/trigger_report/", json={"shards": bad})
    assert answer.status_code == 400 and "'shards'" in answer.get_json()["error"]


def test_shards_over_a_data_directory_is_400_and_one_shard_is_the_usual_report(data_dir_app, tmp_path: Path):
    client = data_dir_app.test_client(token=TOKENS["write"])
    refused = client.post("/api/trigger_report/", json={"shards": 2})
    assert refused.status_code == 400 and "STOREMON_STORE" in refused.get_json()["error"]
    one = client.post("/api/trigger_report/", json={"shards": 1}).get_json()["report_id"]
    plain = client.post("/api/trigger_report/").get_json()["report_id"]
    run_jobs(data_dir_app)
    reports = tmp_path / "reports"
    assert report_bytes(reports, one) == report_bytes(reports, plain)
    assert "shards" not in read_record(reports, one)


def test_the_shard_count_is_ceil_of_stores_per_shard_within_bounds():
    # 111,000 stores at 20,000 per shard: 111,000 / 20,000 = 5.55 → 6 shards; 0 stores still 1 shard.
    assert [shard_count(n, 20_000) for n in (0, 1, 20_000, 20_001, 111_000)] == [1, 1, 1, 2, 6]
    assert shard_count(10**9, 1) == MAX_SHARDS


# --- identity, in-process (Hypothesis: random data sets and shard counts) ---------------


@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stores=st.integers(1, 40), seed=st.integers(0, 10_000), shards=st.integers(1, 8))
def test_a_sharded_report_equals_the_unsharded_one_byte_for_byte(redis_server: RedisServer, stores, seed, shards):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis_server.client().flushall()
        store = make_store(root, stores=stores, seed=seed, days=3)
        reports = root / "reports"
        app = create_app({"TESTING": True, "REDIS_URL": redis_server.url, "STOREMON_STORE": str(store),
                          "STOREMON_REPORTS_DIR": str(reports), "STOREMON_TOKENS": TOKENS_ENV})  # fmt: skip
        client = app.test_client(token=TOKENS["write"])
        plain = client.post("/api/trigger_report/", json={"shards": 1}).get_json()["report_id"]
        sharded = client.post("/api/trigger_report/", json={"shards": shards}).get_json()["report_id"]
        run_jobs(app)
        record = read_record(reports, sharded)
        assert record["status"] == "Complete", record.get("error")
        assert_same_report(reports, plain, sharded)
        assert comparable(record) == comparable(read_record(reports, plain))
        if shards > 1:
            assert record["shards"]["count"] == shards
            assert sum(s["rows"] for s in record["shards"]["per_shard"]) == record["rows"]
        assert not (reports / SHARDS_DIR / sharded).exists()


def test_in_process_a_failing_shard_fails_the_report_and_leaves_nothing(redis_url: str, tmp_path: Path):
    store = make_store(tmp_path, stores=12, seed=3, days=3)
    reports, hold = tmp_path / "reports", tmp_path / "hold"
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "STOREMON_STORE": str(store),
                      "STOREMON_REPORTS_DIR": str(reports), "STOREMON_TOKENS": TOKENS_ENV,
                      "STOREMON_TEST_HOLD_FILE": str(hold)})  # fmt: skip
    client = app.test_client(token=TOKENS["write"])
    Path(f"{hold}.fail2").touch()  # shard 2 raises on every attempt (1 + 2 retries)
    report_id = client.post("/api/trigger_report/", json={"shards": 3}).get_json()["report_id"]
    run_jobs(app)
    answer = client.get(f"/api/get_report/{report_id}/").get_json()
    assert answer["status"] == "Failed"
    assert answer["error"].startswith("shard 2 of 3") and "test hook: shard 2 fails" in answer["error"]
    assert sorted(p.name for p in reports.iterdir()) == [SHARDS_DIR, f"{report_id}.json"]
    assert not any((reports / SHARDS_DIR).iterdir())
    assert read_record(reports, report_id)["shards"]["count"] == 3


def test_in_process_progress_is_finished_shards_over_shards(redis_url: str, tmp_path: Path):
    from rq import SimpleWorker

    from webapp.resources import get_queue

    store = make_store(tmp_path, stores=12, seed=4, days=3)
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "STOREMON_STORE": str(store),
                      "STOREMON_REPORTS_DIR": str(tmp_path / "reports"), "STOREMON_TOKENS": TOKENS_ENV})  # fmt: skip
    client = app.test_client(token=TOKENS["write"])
    report_id = client.post("/api/trigger_report/", json={"shards": 2}).get_json()["report_id"]

    def run(jobs: int) -> None:  # the next `jobs` jobs in queue order: plan, shard 0, shard 1, inputs, fan-in
        with app.app_context():
            queue = get_queue()
            SimpleWorker([queue], connection=queue.connection).work(burst=True, max_jobs=jobs, logging_level="WARNING")

    seen = []
    for jobs in (1, 1, 1):
        run(jobs)
        seen.append(client.get(f"/api/get_report/{report_id}/").get_json())
    assert seen == [{"status": "Running", "progress": p} for p in (0.0, 0.5, 1.0)]
    run(2)  # the inputs job, then the fan-in
    assert client.get(f"/api/get_report/{report_id}/").headers["X-Report-Status"] == "Complete"


def test_a_one_store_shard_is_byte_identical_too(redis_url: str, tmp_path: Path):
    # 5 stores (seed 1) in 2 shards: one shard holds a single store, whose figures once differed from the
    # unsharded ones in the last bit (Polars divided a one-row column exactly and a longer one through the
    # reciprocal; storemon._core.units now rounds every division correctly).
    store = make_store(tmp_path, stores=5, seed=1, days=3)
    reports = tmp_path / "reports"
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "STOREMON_STORE": str(store),
                      "STOREMON_REPORTS_DIR": str(reports), "STOREMON_TOKENS": TOKENS_ENV})  # fmt: skip
    client = app.test_client(token=TOKENS["write"])
    plain = client.post("/api/trigger_report/", json={"shards": 1}).get_json()["report_id"]
    sharded = client.post("/api/trigger_report/", json={"shards": 2}).get_json()["report_id"]
    run_jobs(app)
    assert report_bytes(reports, sharded) == report_bytes(reports, plain)
    assert comparable(read_record(reports, sharded)) == comparable(read_record(reports, plain))


# --- the service over real processes ----------------------------------------------------


class Fleet:
    """A web server (gunicorn) and workers each started as on a host of its own."""

    def __init__(self, root: Path, redis_url: str, store: Path, **env: str) -> None:
        self.root = root
        self.reports = root / "shared" / "reports"
        self.store = store
        self.hold = root / "shared" / "hold"
        self.env = {
            "REDIS_URL": redis_url,
            "STOREMON_STORE": str(store),
            "STOREMON_REPORTS_DIR": str(self.reports),
            "STOREMON_WORKER_HEARTBEAT": "1",
            "STOREMON_TOKENS": TOKENS_ENV,
            "STOREMON_TEST_HOLD_FILE": str(self.hold),
            **env,
        }
        self.web = Service(root / "web", redis_url, **{k: v for k, v in self.env.items() if k != "REDIS_URL"})
        self.web.reports_dir = self.reports
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int) -> Fleet:
        (self.root / "web").mkdir(parents=True, exist_ok=True)
        self.hold.parent.mkdir(parents=True, exist_ok=True)
        self.web.start_web()
        for _ in range(workers):
            self.start_worker()
        self.web.wait_healthy()
        return self

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A worker as another host runs it: its own cwd and HOME; only REDIS_URL, STOREMON_* and PATH set."""
        host = self.root / f"host-{len(self.workers)}"
        (host / "home").mkdir(parents=True, exist_ok=True)
        env = {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(host / "home"), "PYTHONUNBUFFERED": "1"}
        env |= self.env
        log = open(host / "worker.log", "ab")  # noqa: SIM115 - owned by the process
        worker = subprocess.Popen(
            [sys.executable, "-m", "webapp.worker"], cwd=host, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        kill_all(self.workers)
        self.web.stop()

    def trigger(self, **body: object) -> str:
        answer = self.web.request("POST", "/api/trigger_report/", json.dumps(body).encode())
        assert answer.status == 202, answer.body
        return str(answer.json()["report_id"])

    def final(self, report_id: str, timeout: float = WAIT_SECONDS) -> Response:
        return self.web.wait_report(report_id, timeout)

    def record(self, report_id: str) -> dict[str, Any]:
        return read_record(self.reports, report_id)

    def plan(self, report_id: str) -> dict[str, Any]:
        """The report's plan, once its plan job wrote it."""
        found: dict[str, Any] = {}

        def planned() -> bool:
            found.update(self.record(report_id).get("plan") or {})
            return bool(found)

        wait_for(planned, "the plan job to write the plan")
        return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def job_status(redis_url: str, job_id: str) -> JobStatus | None:
    """The RQ status of ``job_id`` (``None``: unknown, or Redis unreachable)."""
    with Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5) as connection:
        try:
            return Job.fetch(job_id, connection=connection).get_status(refresh=True)
        except Exception:
            return None


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data store of 60 generated stores, shared by the service tests (read only)."""
    return make_store(tmp_path_factory.mktemp("shop"), stores=60, seed=14)


@pytest.fixture
def fleet_factory(tmp_path: Path):
    started: list[Fleet] = []

    def make(redis_url: str, store: Path, workers: int = 2, **env: str) -> Fleet:
        fleet = Fleet(tmp_path / f"fleet-{len(started)}", redis_url, store, **env)
        started.append(fleet)
        return fleet.start(workers)

    yield make
    for fleet in started:
        fleet.stop()


pytestmark = pytest.mark.service


def test_on_two_hosts_shards_1_2_3_5_give_the_same_files_and_record(fleet_factory, redis_url: str, shop: Path):
    fleet = fleet_factory(redis_url, shop, workers=2)
    plain = fleet.trigger(shards=1)
    assert fleet.final(plain).headers["X-Report-Status"] == "Complete"
    expected_record = comparable(fleet.record(plain))
    for shards in (2, 3, 5):
        report_id = fleet.trigger(shards=shards)
        assert fleet.final(report_id).headers["X-Report-Status"] == "Complete"
        assert_same_report(fleet.reports, plain, report_id)
        record = fleet.record(report_id)
        assert comparable(record) == expected_record
        assert record["shards"]["count"] == shards and len(record["shards"]["per_shard"]) == shards
    # The fan-in removes the shard files just after writing the record.
    wait_for(lambda: not any((fleet.reports / SHARDS_DIR).rglob("*")), "the shard files to be removed", timeout=10)


def test_both_hosts_work_on_one_report_and_progress_counts_finished_shards(fleet_factory, redis_url: str, shop: Path):
    fleet = fleet_factory(redis_url, shop, workers=2)
    held = Path(f"{fleet.hold}.shard0")
    held.touch()  # shard 0 keeps one worker busy: the other host must take shards 1-3
    report_id = fleet.trigger(shards=4)
    plan = fleet.plan(report_id)
    wait_for(lambda: fleet.web.progress(report_id) == 0.75, "shards 1-3 to finish (progress 3/4)")
    held.unlink()
    assert fleet.final(report_id).headers["X-Report-Status"] == "Complete"
    workers = {shard["worker"] for shard in fleet.record(report_id)["shards"]["per_shard"]}
    assert len(workers) == 2, workers  # the held shard ran on one host, the others on the other
    wait_for(lambda: job_status(redis_url, plan["fan_in_job"]) == JobStatus.FINISHED, "RQ to mark the fan-in done", 10)


def test_a_shard_whose_work_horse_is_killed_is_retried_and_the_report_is_identical(
    fleet_factory, redis_url: str, shop: Path
):
    fleet = fleet_factory(redis_url, shop, workers=1)
    plain = fleet.trigger(shards=1)
    assert fleet.final(plain).headers["X-Report-Status"] == "Complete"
    held = Path(f"{fleet.hold}.shard0")
    held.touch()
    report_id = fleet.trigger(shards=3)
    plan = fleet.plan(report_id)
    wait_for(lambda: job_status(redis_url, plan["shard_jobs"][0]) == JobStatus.STARTED, "shard 0 to start")
    horses = _children(fleet.workers[0].pid)
    assert horses, "the worker should have forked a work horse for shard 0"
    for horse in horses:  # as the OOM killer would
        os.kill(horse, signal.SIGKILL)
    wait_for(lambda: job_status(redis_url, plan["shard_jobs"][0]) != JobStatus.STARTED, "RQ to see the horse die")
    held.unlink()
    assert fleet.final(report_id).headers["X-Report-Status"] == "Complete"
    assert_same_report(fleet.reports, plain, report_id)
    with Redis.from_url(redis_url) as connection:
        job = Job.fetch(plan["shard_jobs"][0], connection=connection)
        assert job.retries_left is not None and job.retries_left < 2  # it did run again


def test_a_shard_that_always_fails_fails_the_report_naming_it_and_leaves_no_files(
    fleet_factory, redis_url: str, shop: Path
):
    fleet = fleet_factory(redis_url, shop, workers=2)
    Path(f"{fleet.hold}.fail1").touch()
    report_id = fleet.trigger(shards=3)
    answer = fleet.final(report_id)
    error = answer.json()["error"]
    assert answer.json()["status"] == "Failed"
    assert "shard 1 of 3" in error and "test hook: shard 1 fails" in error
    assert sorted(p.name for p in fleet.reports.iterdir() if not p.name.startswith(".")) == [f"{report_id}.json"]
    wait_for(lambda: not (fleet.reports / SHARDS_DIR / report_id).exists(), "the shard files to be removed", 10)
    assert fleet.record(report_id)["status"] == "Failed"


def test_a_fan_in_whose_host_is_lost_fails_the_report_instead_of_hanging(fleet_factory, redis_url: str, shop: Path):
    fleet = fleet_factory(redis_url, shop, workers=1)
    held = Path(f"{fleet.hold}.fanin")
    held.touch()
    report_id = fleet.trigger(shards=2)
    plan = fleet.plan(report_id)
    wait_for(lambda: job_status(redis_url, plan["fan_in_job"]) == JobStatus.STARTED, "the fan-in to start")
    for pid in (fleet.workers[0].pid, *_children(fleet.workers[0].pid)):
        _kill_group(pid)  # the whole worker, as when its machine dies
    fleet.workers[0].wait(10)
    answer = fleet.final(report_id)  # each poll runs RQ's abandoned-job cleanup
    assert answer.json() == {"status": "Failed", "error": ABANDONED}
    held.unlink()
    assert sorted(p.name for p in fleet.reports.iterdir() if not p.name.startswith(".")) == [f"{report_id}.json"]
    assert not (fleet.reports / SHARDS_DIR / report_id).exists()


def test_redis_restarting_during_the_fan_out_ends_complete_or_failed_never_partial(
    fleet_factory, private_redis: RedisServer, shop: Path
):
    fleet = fleet_factory(private_redis.url, shop, workers=2)
    plain = fleet.trigger(shards=1)
    assert fleet.final(plain).headers["X-Report-Status"] == "Complete"
    held = Path(f"{fleet.hold}.shard1")
    held.touch()
    report_id = fleet.trigger(shards=3)
    plan = fleet.plan(report_id)
    wait_for(lambda: job_status(private_redis.url, plan["shard_jobs"][1]) == JobStatus.STARTED, "shard 1 to start")
    private_redis.stop()
    private_redis.start()  # empty: every job of the plan is gone
    held.unlink()
    answer = fleet.final(report_id)
    if answer.headers.get("X-Report-Status") == "Complete":
        assert_same_report(fleet.reports, plain, report_id)
    else:
        body = answer.json()
        assert body["status"] == "Failed" and body["error"]
        assert not (fleet.reports / f"{report_id}.csv").exists()
    assert fleet.record(report_id)["status"] in ("Complete", "Failed")
