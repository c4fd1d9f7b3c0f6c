"""CPU per single-poll ``POST /api/polls``, in process: where a request's CPU goes, without gunicorn or sockets.

Copies the cached S1 store (:mod:`sizes`, as ``benchmarks/intake.py`` does),
builds the app (``STOREMON_AUTH=off``) and sends ``--requests`` one-poll JSON
bodies (an existing store, an instant after the data set's end, ISO 8601 as
Python writes it) through Flask's test client, after ``--warmup`` such
requests. Prints the process CPU time per request (``time.process_time``:
every thread, Polars' included) and the shares of validating the body
(``webapp.bodies.read_body``), of the commit (``storemon.append_polls``)
and, inside the commit, of the checkpoints (every 32 records) and upkeep
(every 64).

    .venv/bin/python benchmarks/intake_cpu.py [--requests 640] [--warmup 20] [--size S1]

CPU time still depends on the load (caches, other processes); for a
load-independent figure count instructions: run it under
``valgrind --tool=callgrind`` with ``--requests N`` and with ``--requests 0``
and divide the difference of the two totals by N. The store's checkpoint
and upkeep cadence (32 and 64 records) makes N = 128 a whole number of both.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import polars as pl  # noqa: E402

import storemon  # noqa: E402
import storemon.store._ingest as ingest_module  # noqa: E402
import webapp.intake as intake_module  # noqa: E402
from sizes import SIZES, prepare_data, prepare_store  # noqa: E402
from storemon.store import latest_poll  # noqa: E402
from webapp import create_app  # noqa: E402

CACHE = Path(__file__).parent / "cache"


def main() -> int:
    """Prepare, send, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640, help="measured requests (default 640)")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring (default 20)")
    parser.add_argument("--size", default="S1", choices=sorted(SIZES), help="data set in the store (default S1)")
    options = parser.parse_args()
    prepared = prepare_data(SIZES[options.size], CACHE)
    prepare_store(prepared)
    with tempfile.TemporaryDirectory(prefix="storemon-intake-cpu-") as scratch:
        store = Path(scratch) / "store"
        shutil.copytree(prepared.store, store)
        return _measure(store, Path(scratch), options.requests, options.warmup)


def _measure(store: Path, scratch: Path, requests: int, warmup: int) -> int:
    app = create_app(
        {
            "STOREMON_STORE": str(store),
            "STOREMON_REPORTS_DIR": str(scratch / "reports"),
            "STOREMON_AUTH": "off",
            "REDIS_URL": "redis://127.0.0.1:1/0",  # never contacted: intake does not enqueue
        }
    )
    client = app.test_client()
    latest = latest_poll(store)
    assert latest is not None
    start = latest + timedelta(seconds=1)
    stores = pl.read_parquet(next((store / "tables").glob("poll-stores-*.parquet")))["store_id"].to_list()

    def post(n: int) -> None:
        poll = {
            "store_id": stores[n % len(stores)],
            "timestamp_utc": (start + timedelta(milliseconds=n)).isoformat(),
            "status": "active",
        }
        response = client.post("/api/polls", data=json.dumps([poll]), content_type="application/json")
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/polls answered {response.status_code}: {response.get_data(as_text=True)}")

    spent: Counter[str] = Counter()
    _time(spent, "validating the body (read_body)", intake_module, "read_body")
    _time(spent, "the commit (append_polls)", storemon, "append_polls")
    _time(spent, "  of which checkpoints", ingest_module, "checkpoint")
    _time(spent, "  of which upkeep", ingest_module, "_upkeep_after")
    for n in range(warmup):
        post(n)
    spent.clear()
    began = time.process_time()
    for n in range(warmup, warmup + requests):
        post(n)
    total = time.process_time() - began
    if not requests:
        return 0
    print(f"{requests} single-poll POSTs: CPU {total / requests * 1000:.2f} ms per request")
    for name, seconds in spent.items():
        print(f"  {name}: {seconds / requests * 1000:.2f} ms per request ({seconds / total:.0%})")
    return 0


def _time(spent: Counter[str], name: str, module: Any, attribute: str) -> None:
    """Replace ``module.attribute`` by a wrapper adding its CPU time to ``spent[name]``."""
    inner: Callable[..., Any] = getattr(module, attribute)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - began

    setattr(module, attribute, timed)


if __name__ == "__main__":
    sys.exit(main())
