"""What the benchmark ran on: CPU, cores, memory, versions, commit, load."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["machine_info", "load_average", "describe"]

_REPO = Path(__file__).resolve().parent.parent


def machine_info() -> dict[str, Any]:
    """CPU model (``/proc/cpuinfo``), cores, memory, Python/Polars/storemon versions, git commit."""
    import polars as pl

    import storemon

    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "polars_threads": pl.thread_pool_size(),
        "storemon": storemon.__version__,
        "commit": _git("rev-parse", "HEAD"),
        "dirty_files": _dirty_files(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages: a busy machine makes timings noisy."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def describe(info: dict[str, Any]) -> str:
    """One line for people."""
    return (
        f"{info['cpu_model']} ({info['usable_cores']} cores, {info['memory_gib']:.1f} GiB), "
        f"Python {info['python']}, Polars {info['polars']}, commit {(info['commit'] or '?')[:10]}"
        + (f" + {info['dirty_files']} uncommitted changes" if info["dirty_files"] else "")
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _dirty_files() -> int | None:
    """Tracked files changed but not committed under src/ (what would make the commit misleading)."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return None if status is None else len(status.splitlines())
