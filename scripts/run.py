"""``make run``: serve the bundled sample — private Redis, web and worker, until Ctrl-C.

Steps: start a private ``redis-server`` on a free loopback port (data
directory ``run/redis``) unless ``REDIS_URL`` is set; ingest the data
directory into a data store (``storemon ingest data/sample --store
run/store``: idempotent, so a second run adds nothing); run the Procfile with
honcho (web on ``$PORT``, default 8000 or the next free port) serving from
the store; wait for ``/api/health``; print the curl commands to try. Ctrl-C
(or SIGTERM) stops honcho's processes, then Redis.

API tokens: unless ``STOREMON_TOKENS`` is set, one token per role (read,
write, admin) is generated on the first run into ``<run dir>/tokens`` (mode
0600, one ``role:token`` per line) and reused on later runs; the printed
commands send them (``-H 'Authorization: Bearer …'``). The web console's
cookie key ``STOREMON_SECRET_KEY`` is generated the same way into
``<run dir>/secret_key`` unless set; the banner prints the console's URL and
the write token to paste into its login form.

Environment: ``REDIS_URL``, ``PORT`` and every ``STOREMON_*`` variable of the
service are honoured; ``STOREMON_DATA_DIR`` defaults to ``data/sample``,
``STOREMON_STORE`` to ``<run dir>/store`` and ``STOREMON_REPORTS_DIR`` to
``<run dir>/reports``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from storemon.store import read_polls

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
INSTALL_HINT = (
    "redis-server not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; "
    "macOS: brew install redis), or set REDIS_URL to a Redis you already run."
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class Stop(Exception):
    """Raised by the SIGTERM/SIGHUP handler so that clean-up runs as for Ctrl-C."""


def main(argv: list[str] | None = None) -> int:
    """Run the service in the foreground; return the exit status."""
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "run", help="state directory (default: run/)")
    parser.add_argument("--workers", type=int, default=1, help="number of RQ workers (default 1)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)

    run_dir = args.run_dir.resolve()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
    env.setdefault("STOREMON_DATA_DIR", str(ROOT / "data" / "sample"))
    env.setdefault("STOREMON_STORE", str(run_dir / "store"))
    env.setdefault("STOREMON_REPORTS_DIR", str(run_dir / "reports"))
    token_source = "from STOREMON_TOKENS"
    redis: subprocess.Popen[bytes] | None = None
    honcho: subprocess.Popen[bytes] | None = None
    try:
        if not env.get("STOREMON_TOKENS"):
            tokens = _tokens(run_dir / "tokens")
            env["STOREMON_TOKENS"] = ",".join(f"{role}:{token}" for role, token in tokens.items())
            token_source = str(run_dir / "tokens")
        if not env.get("STOREMON_SECRET_KEY"):
            env["STOREMON_SECRET_KEY"] = _secret_key(run_dir / "secret_key")
        if not env.get("REDIS_URL"):
            redis, env["REDIS_URL"] = _start_redis(run_dir / "redis")
        _ingest(env)
        port = int(env.get("PORT") or 0) or _port(8000)
        honcho = subprocess.Popen(
            [
                str(VENV_BIN / "honcho"),
                "start",
                "-f",
                str(ROOT / "Procfile"),
                "-d",
                str(ROOT),
                "-p",
                str(port),
                "-c",
                f"web=1,worker={args.workers}",
            ],
            env=env,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, honcho)
        _banner(base, env, token_source)
        # Not a blocking honcho.wait(): reading the store started Polars' thread pool,
        # and a Ctrl-C delivered to one of those threads would not interrupt it.
        while honcho.poll() is None:
            time.sleep(0.2)
        return honcho.returncode
    except (KeyboardInterrupt, Stop):
        return 0
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop(honcho, signal.SIGINT)
        _stop(redis, signal.SIGTERM)


ROLES = ("read", "write", "admin")


def _tokens(path: Path) -> dict[str, str]:
    """The API token of each role: read from ``path``, or generated into it (mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        found = dict(line.split(":", 1) for line in path.read_text(encoding="utf-8").split() if ":" in line)
        if set(found) >= set(ROLES):
            return {role: found[role] for role in ROLES}
        raise RuntimeError(
            f"{path} does not hold a read:, write: and admin: token; delete it to make new ones"
        ) from None
    tokens = {role: secrets.token_urlsafe(32) for role in ROLES}
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(f"{role}:{token}\n" for role, token in tokens.items()))
    return tokens


def _secret_key(path: Path) -> str:
    """The console's cookie key: read from ``path``, or generated into it (mode 0600) the first time."""
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


def _tokens_of(env: dict[str, str]) -> dict[str, str]:
    """role → token from ``STOREMON_TOKENS`` (the first token of each role)."""
    found: dict[str, str] = {}
    for entry in env["STOREMON_TOKENS"].split(","):
        role, _, token = entry.strip().partition(":")
        found.setdefault(role, token)
    return found


def _ingest(env: dict[str, str]) -> None:
    """``storemon ingest DATA_DIR --store STORE``; already ingested files are skipped."""
    command = [str(VENV_BIN / "storemon"), "ingest", env["STOREMON_DATA_DIR"], "--store", env["STOREMON_STORE"]]
    if subprocess.run(command, env=env).returncode != 0:
        raise RuntimeError(f"could not ingest {env['STOREMON_DATA_DIR']} into {env['STOREMON_STORE']} (see above)")


def _start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    directory.mkdir(parents=True, exist_ok=True)
    port = _port(0)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {process.returncode}; see {directory / 'redis.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    _stop(process, signal.SIGTERM)
    raise RuntimeError(f"redis-server did not answer on port {port}; see {directory / 'redis.log'}")


def _port(preferred: int) -> int:
    """``preferred`` if it is free on 127.0.0.1 (0: any), else a free port."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _wait_healthy(base: str, honcho: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if honcho.poll() is not None:
            raise RuntimeError("the service stopped while starting; its log is above")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base}/api/health did not answer 200 within {START_TIMEOUT:.0f} s; the log is above")


def _banner(base: str, env: dict[str, str], token_source: str) -> None:
    extract = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"report_id\"])'"
    poll = json.dumps([_next_poll(env["STOREMON_STORE"])])
    tokens = _tokens_of(env)

    def auth(role: str) -> str:
        token = tokens.get(role) or tokens.get("admin") or "TOKEN"
        return shlex.quote(f"Authorization: Bearer {token}")

    where = f"tokens:  {token_source}"
    print(
        f"""
storemon report service: {base}
  store:   {env["STOREMON_STORE"]} (ingested from {env["STOREMON_DATA_DIR"]})
  reports: {env["STOREMON_REPORTS_DIR"]}
  redis:   {env["REDIS_URL"]}
  {where} (roles: read = fetch reports, write = + trigger and POST polls, admin = + PUT tables)

Web console: {base}/  (API docs: {base}/api/docs)
  log in by pasting this write token (read = view only):
  {tokens.get("write") or tokens.get("admin") or "TOKEN"}

Try it from another terminal — trigger a report, then fetch it with the id it returned:

  curl -s -H {auth("write")} -X POST {base}/api/trigger_report/
  curl -s -H {auth("read")} {base}/api/get_report/REPORT_ID/

or both at once:

  id=$(curl -s -H {auth("write")} -X POST {base}/api/trigger_report/ | {extract}); sleep 2
  curl -s -H {auth("read")} {base}/api/get_report/$id/

Send a new poll (stored durably before the 201; the next report includes it):

  curl -s -H {auth("write")} -X POST {base}/api/polls -H 'Content-Type: application/json' -d {shlex.quote(poll)}

Ctrl-C stops everything.
""",
        flush=True,
    )


def _next_poll(store: str) -> dict[str, str]:
    """A poll one minute after the store's latest, for the store that sent it (an example to POST)."""
    polls = read_polls(store)
    if polls.is_empty():
        store_id, moment = "STORE_ID", datetime.now(UTC)
    else:
        store_id, moment = polls.filter(pl.col("timestamp_utc") == pl.col("timestamp_utc").max()).row(0)[:2]
    stamp = (moment + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return {"store_id": store_id, "timestamp_utc": stamp, "status": "inactive"}


def _stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        process.send_signal(sig)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)
    except (KeyboardInterrupt, Stop):  # a second Ctrl-C: stop waiting politely
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def _raise_stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


if __name__ == "__main__":
    sys.exit(main())
