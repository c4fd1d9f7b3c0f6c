"""Shared test configuration.

Hypothesis: the built-in ``ci`` profile (derandomized) is loaded when ``CI`` is
set; locally a ``dev`` profile keeps example counts modest so the suite stays fast.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# --- Flask test clients read every response to the end and close it -------------
#
# A downloaded report is served with send_file, which holds the file open until
# the response is closed; with filterwarnings = error an unclosed one fails the
# test that happened to be running when it is collected. Buffered responses are
# read and closed at once, so every test client of every app is buffered.

import flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402


class BufferedClient(FlaskClient):
    """A buffered test client; ``app.test_client(token=T)`` sends ``Authorization: Bearer T`` on every request."""

    def __init__(self, *args, token: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if token is not None:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


flask.Flask.test_client_class = BufferedClient


# --- the report service's fixtures: a real, private redis-server -------------
#
# Service tests run against redis-server processes the suite starts itself on
# free loopback ports (never the machine's 6379, never a fake). One session
# server is flushed before every test that asks for ``redis_url``; tests that
# stop and restart Redis get a ``private_redis`` of their own.

import csv  # noqa: E402

# --- bearer tokens: one per role, fixed for the whole session -------------------------
import secrets  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from rq import SimpleWorker  # noqa: E402

#: A token of each role (``STOREMON_TOKENS`` below holds exactly these).
TOKENS: dict[str, str] = {role: f"test-{role}-{secrets.token_urlsafe(24)}" for role in ("read", "write", "admin")}

#: The ``STOREMON_TOKENS`` value that configures :data:`TOKENS`.
TOKENS_ENV: str = ",".join(f"{role}:{token}" for role, token in TOKENS.items())


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    """A bearer token of each role: ``tokens["read"]``, ``["write"]``, ``["admin"]``."""
    return TOKENS


@pytest.fixture(scope="session")
def auth_env() -> dict[str, str]:
    """The settings (environment / ``create_app`` overrides) that configure :data:`TOKENS`."""
    return {"STOREMON_TOKENS": TOKENS_ENV}


def bearer(role: str) -> dict[str, str]:
    """The ``Authorization`` header of the ``role`` token."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def if_match(client, path: str) -> dict[str, str]:
    """The ``If-Match`` header naming the current version of the table ``path`` replaces (``/api/hours`` …)."""
    table = path.rstrip("/").rsplit("/", 1)[-1]
    response = client.get(f"/api/tables/{table}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"If-Match": response.headers["ETag"]}


REDIS_INSTALL_HINT = "redis-server not found: install it (Debian/Ubuntu: apt-get install -y redis-server)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server on a loopback port, without persistence, that can be stopped and restarted."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        """A fresh redis-py client (short timeouts) for this server."""
        from redis import Redis

        return Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (or restart, on the same port) and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(REDIS_INSTALL_HINT)
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}; see {self.directory / 'redis.log'}")
            try:
                if self.client().ping():
                    return self
            except Exception:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"redis-server on port {self.port} did not answer within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (its data is gone: it never persists)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """One private redis-server for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session redis-server, flushed for this test."""
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path):
    """A redis-server of this test's own, free to be stopped and restarted."""
    server = RedisServer(tmp_path / "private-redis").start()
    yield server
    server.stop()


#: The instant the service test data ends (polls cover the 9 days before it).
SERVICE_DATA_END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)


def write_service_data(directory: Path) -> Path:
    """Write a tiny data set in the 2024 format to ``directory``; return it.

    Four stores (24/7, weekday hours, overnight hours without a zone row, one
    gone stale three days before the end), half-hourly polls with outages,
    and two invalid rows (an unknown status, an unknown zone).
    """
    directory.mkdir(parents=True, exist_ok=True)
    start = SERVICE_DATA_END - timedelta(days=9)
    polls = []
    for offset, store in enumerate(["1001", "2002", "3003", "8c1e6e1a-2f4b-4c7e-9a51-0d3f5c2b7e11"]):
        moment, i = start + timedelta(minutes=7 * offset), 0
        stale_after = SERVICE_DATA_END - timedelta(days=3) if offset == 3 else SERVICE_DATA_END
        while moment < stale_after:
            status = "inactive" if (i // 5 + offset) % 6 == 2 else "active"
            stamp = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{(i * 7919) % 1_000_000:06d}".rstrip("0")
            polls.append([store, stamp.rstrip(".") + " UTC", status])
            moment, i = moment + timedelta(minutes=30, seconds=(i * 37) % 120), i + 1
    polls.insert(7, ["2002", "2024-10-10 10:00:00 UTC", "maybe"])
    hours = [["2002", str(day), "09:00:00", "17:00:00"] for day in range(5)]
    hours += [["3003", str(day), "22:00:00", "02:00:00"] for day in range(7)]
    zones = [
        ["1001", "America/New_York"],
        ["2002", "America/Los_Angeles"],
        ["8c1e6e1a-2f4b-4c7e-9a51-0d3f5c2b7e11", "Mars/Base"],
    ]
    tables = {
        "store_status.csv": (["store_id", "timestamp_utc", "status"], polls),
        "menu_hours.csv": (["store_id", "dayOfWeek", "start_time_local", "end_time_local"], hours),
        "timezones.csv": (["store_id", "timezone_str"], zones),
    }
    for name, (header, rows) in tables.items():
        with open(directory / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    return directory


@pytest.fixture
def service_data_dir(tmp_path: Path) -> Path:
    """A tiny input data set for service tests (see :func:`write_service_data`)."""
    return write_service_data(tmp_path / "data")


# --- the app ladder (flaskr's): app_config → make_app → app → client ---------------
#
# Every in-process service test builds its app the one way there is,
# ``create_app(config)``. ``app_config`` holds what they all share; a test file
# that serves a data store or a data directory overrides ``app_config`` (asking
# for this one) to add its source, and one that wants another role overrides
# ``client``.


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    return tmp_path / "reports"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Where a test's data store goes (created by its first ingest)."""
    return tmp_path / "store"


@pytest.fixture
def app_config(redis_url: str, reports_dir: Path) -> dict[str, object]:
    """The settings every test app starts from: the test's Redis, reports directory and tokens."""
    return {
        "TESTING": True,
        "REDIS_URL": redis_url,
        "STOREMON_REPORTS_DIR": str(reports_dir),
        "STOREMON_TOKENS": TOKENS_ENV,
    }


@pytest.fixture
def make_app(app_config: dict[str, object]):
    """``make_app(**overrides)``: an app of ``app_config`` with some settings changed."""
    from webapp import create_app

    def make(**overrides: str):
        return create_app({**app_config, **overrides})

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client(token=TOKENS["admin"])


def run_jobs(app) -> None:
    """Run every queued job in this process, then return."""
    from webapp.resources import get_queue

    with app.app_context():
        queue = get_queue()
        SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")
