"""``make run`` (scripts/run.py): serves the bundled sample from a data store, its printed curl
commands work (the POSTed poll reaches the next report), SIGINT stops everything, and a missing
redis-server is a clear message with the install command."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import free_port

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, str(ROOT / "scripts" / "run.py")]


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_text(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        assert process.poll() is None, f"run.py exited with {process.returncode}:\n{output}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log.read_text(errors='replace')}")


def _sh(command: str) -> str:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True).stdout


def _fetch(fetch_cmd: str, report_id: str) -> str:
    """Run the printed fetch command until the report is no longer Running; return the body."""
    deadline, body = time.monotonic() + 30, ""
    while time.monotonic() < deadline:
        body = _sh(fetch_cmd.replace("REPORT_ID", report_id))
        if body.startswith("store_id,"):
            break
        assert json.loads(body)["status"] == "Running"
        time.sleep(0.2)
    return body


def test_make_run_serves_the_sample_and_the_printed_commands_work(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL" and not key.startswith("STOREMON_")}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*RUN, "--run-dir", str(tmp_path / "run")],
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        output = _wait_for_text(log, "Ctrl-C stops everything", process)
        redis_port = int(re.search(r"redis:\s+redis://127\.0\.0\.1:(\d+)/0", output).group(1))
        trigger_cmd = re.search(r"^\s+(curl -s -H '[^']+' -X POST \S+/api/trigger_report/)$", output, re.M).group(1)
        fetch_cmd = re.search(r"^\s+(curl -s -H '[^']+' \S+/REPORT_ID/)$", output, re.M).group(1)
        assert f"127.0.0.1:{port}" in trigger_cmd and redis_port != 6379
        token_file = tmp_path / "run" / "tokens"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        tokens = dict(line.split(":", 1) for line in token_file.read_text().split())
        assert set(tokens) == {"read", "write", "admin"}
        assert f"Bearer {tokens['write']}" in trigger_cmd and f"Bearer {tokens['read']}" in fetch_cmd
        unauthenticated = _sh(f"curl -s -o /dev/null -w '%{{http_code}}' -X POST {trigger_cmd.split()[-1]}")
        assert unauthenticated == "401"

        report_id = json.loads(_sh(trigger_cmd))["report_id"]
        body = _fetch(fetch_cmd, report_id)
        assert body.startswith("store_id,uptime_last_hour,"), body
        assert (tmp_path / "run" / "reports" / f"{report_id}.csv").is_file()
        assert (tmp_path / "run" / "store" / "manifest.json").is_file()

        post_cmd = re.search(r"^\s+(curl -s -H '[^']+' -X POST \S+/api/polls .+)$", output, re.M).group(1)
        posted = json.loads(_sh(post_cmd))
        assert (posted["accepted"], posted["rejected"]) == (1, 0), posted
        assert json.loads(_sh(post_cmd))["duplicate_of"] == posted["ingest_id"]  # idempotent
        poll_time = json.loads(shlex.split(post_cmd)[-1])[0]["timestamp_utc"]
        after_id = json.loads(_sh(trigger_cmd))["report_id"]
        _fetch(fetch_cmd, after_id)
        record = json.loads((tmp_path / "run" / "reports" / f"{after_id}.json").read_text())
        assert datetime.fromisoformat(record["now"]) == datetime.fromisoformat(poll_time)  # the new latest poll

        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert process.wait(30) == 0
        assert not _accepts(port), "the web server should be stopped"
        assert not _accepts(redis_port), "the private redis-server should be stopped"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_make_run_without_redis_server_says_how_to_install_it(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with python but no redis-server
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env["PATH"] = str(bin_dir)
    assert shutil.which("redis-server", path=env["PATH"]) is None

    result = subprocess.run(
        [*RUN, "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 1
    assert "redis-server not found" in result.stderr
    assert "apt-get install -y redis-server" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_run_keeps_its_tokens_between_runs(tmp_path):
    """The token file is made once (mode 0600) and then reused; a broken one is a clear error."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_script", ROOT / "scripts" / "run.py")
    run_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_script)
    path = tmp_path / "run" / "tokens"

    first = run_script._tokens(path)
    path.chmod(0o644)
    again = run_script._tokens(path)

    assert first == again and set(first) == {"read", "write", "admin"}
    assert len({*first.values()}) == 3 and all(len(token) >= 32 for token in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("read:only-one-token-here\n")
    with pytest.raises(RuntimeError, match="delete it"):
        run_script._tokens(path)
