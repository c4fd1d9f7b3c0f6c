"""Start a stage of :mod:`stages` in a fresh process and collect its result.

The parent reaps the child with :func:`os.wait4`, which returns the resource
usage of *that* child alone (``RUSAGE_CHILDREN`` would be the maximum over
every child so far, so one stage's peak would hide the next one's).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_stage", "run_cold", "run_command"]

_STAGES_PY = Path(__file__).resolve().with_name("stages.py")


def run_stage(stage: str, **options: Any) -> dict[str, Any]:
    """Run ``stages.py STAGE`` with ``--option value`` flags; its JSON result plus process figures.

    Adds ``process_wall_s`` (the whole process, interpreter start included)
    and ``process_peak_rss_mib`` (``ru_maxrss`` from ``wait4``). A failed
    stage yields ``{"stage": ..., "error": ...}`` instead of raising, so one
    broken stage does not stop the benchmark.
    """
    command = [sys.executable, str(_STAGES_PY), stage]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name}", str(value)]
    with tempfile.TemporaryFile(mode="w+") as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        if child.stdout:
            child.stdout.close()
        errors.seek(0)
        stderr = errors.read()
    result = _last_json(output)
    if child.returncode != 0 or result is None:
        sys.stderr.write(stderr)
        reason = (result or {}).get("error") or _last_line(stderr) or f"exit status {child.returncode}"
        return {"stage": stage, "error": reason}
    result["process_wall_s"] = wall
    result["process_peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def run_cold(stage: str, runs: int, warmup: int, **options: Any) -> dict[str, Any]:
    """Run a one-shot stage in ``warmup + runs`` fresh processes; medians over the measured ones.

    The warm-up processes only warm the page cache. The result keeps the
    per-process ``times_s``, the medians of ``median_s``, ``import_s`` and
    ``process_wall_s``, and the largest peak RSS seen.
    """
    for _ in range(warmup):
        first = run_stage(stage, **options)
        if "error" in first:
            return first
    results = []
    for _ in range(max(runs, 1)):
        result = run_stage(stage, **options)
        if "error" in result:
            return result
        results.append(result)
    times = [result["median_s"] for result in results]
    merged = dict(results[-1])
    merged.update(
        median_s=statistics.median(times),
        min_s=min(times),
        times_s=times,
        runs=len(results),
        warmup=warmup,
        import_s=statistics.median(result["import_s"] for result in results),
        process_wall_s=statistics.median(result["process_wall_s"] for result in results),
        peak_rss_mib=max(result["peak_rss_mib"] for result in results),
        process_peak_rss_mib=max(result["process_peak_rss_mib"] for result in results),
    )
    return merged


# Runs a command as its own child and reports that child's wall time and ru_maxrss. The
# detour keeps the figure honest: a child's ru_maxrss is at least the high-water RSS of
# the process that forked it (Linux keeps it across exec), and the harness may have
# grown large (generating a data set); this small, fresh interpreter has not.
_MEASURE_CHILD = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
print(json.dumps({"wall_s": wall, "maxrss_kib": usage.ru_maxrss, "exit": os.waitstatus_to_exitcode(status)}))
"""


def run_command(command: list[str]) -> dict[str, Any]:
    """Run a whole command (a CLI) once as a child process: its wall time and peak RSS.

    Returns ``median_s`` (this one run's wall time, interpreter start and
    imports included) and ``peak_rss_mib`` (the command's ``ru_maxrss``, taken
    through a small intermediate process: see ``_MEASURE_CHILD``), or
    ``{"error": ...}`` when it exits with a non-zero status.
    """
    with tempfile.TemporaryFile(mode="w+") as errors:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE_CHILD, *command], stdout=subprocess.PIPE, stderr=errors, text=True
        )
        errors.seek(0)
        stderr = errors.read()
    measured = _last_json(done.stdout)
    if done.returncode != 0 or measured is None or measured["exit"] != 0:
        sys.stderr.write(stderr)
        return {"error": _last_line(stderr) or f"exit status {measured['exit'] if measured else done.returncode}"}
    return {"median_s": measured["wall_s"], "peak_rss_mib": measured["maxrss_kib"] / 1024}


def _last_json(output: str) -> dict[str, Any] | None:
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
