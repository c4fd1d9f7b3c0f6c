"""Sharded reports: one plan job, N shard jobs and one fan-in job on RQ (docs/scaling.md).

A report over a data store may run as several RQ jobs, so that no worker
holds the whole fleet in memory and several workers (on several hosts)
share one report:

1. The **plan** job (:func:`plan_report`, enqueued by the web app under the
   report's id) pins one committed state of the store
   (:func:`storemon.store.pin_snapshot`), fixes ``now`` (the trigger's, else
   the pinned state's latest poll) and the number of shards ``N`` (the
   trigger's ``shards``, else ``ceil(stores / STOREMON_SHARD_STORES)``).
   With ``N == 1`` it releases the pin and runs the unsharded job
   (:func:`webapp.jobs.build_report`) in place. Otherwise it writes the
   report's ``Queued`` record with a ``plan`` (token, ``now``, ``N``, job
   ids) and enqueues the shard jobs (each with :class:`rq.Retry`) and the
   fan-in job, which depends on all of them through
   ``rq.job.Dependency(..., allow_failure=True)``: RQ runs it once every
   shard has finished *or failed for good*, so it can always write the
   report's final record.
2. **Shard** job ``i`` (:func:`build_shard`) computes the report and its
   views over the stores with ``storemon.shard_of(store_id, N) == i`` from
   the pinned state only (``shard=(i, N), snapshot=token``: the library
   reads only those stores' polls) and writes them, each atomically, to the
   report's private directory ``<reports>/.shards/<id>/<token>/`` as
   Parquet files in row groups (dtypes exact; a scan of them streams, where
   a merge over Arrow IPC files maps them whole), and last ``<i>.json`` (rows, timings), the
   mark that the shard is done. A shard that raises writes ``<i>.error``
   (the reason, for a person) and is retried by RQ; a shard whose work
   horse or worker was killed is retried by RQ too (work horse: by its
   worker; worker: by ``StartedJobRegistry.cleanup``).
   Each shard also writes its stores' polls of the report's week (read
   with the same shard and pinned state). One more job, **inputs**
   (:func:`build_inputs`), writes the small tables (zones, hours, special
   hours) of the pinned state beside the shards, in parallel with them.
3. The **fan-in** job (:func:`fan_in_report`) checks that every shard is
   done — else the report is ``Failed`` naming the first missing shard and
   its reason, and no file of the report remains — then merges each kind of
   output by ``store_id`` (``merge_sorted`` over scans of the shards'
   files): each store's rows come from one shard, in the unsharded order,
   so the result *is* the unsharded frame. It streams each merge into the
   report's file with the unsharded writer
   (:func:`webapp.jobs.write_report_file`, one file at a time), so only the
   report itself (one row per store) is held whole; the fleet summary reads
   what it needs of the timeline and the daily series from the same scans.
   The record comes last; then the fan-in releases the pin and removes the
   shard directory.

A job of a plan that is no longer the report's (the report finished, or
was planned again after Redis lost its jobs) does nothing. Progress while
the shards run is finished shards / shards (:mod:`webapp.status`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Dependency, Job, JobStatus

import storemon
import storemon.store
from webapp.jobs import (
    DAILY_DAYS,
    RESULT_TTL_SECONDS,
    VIEW_RANGE,
    _prune_quietly,
    _wait_while_held,
    build_report,
    describe_error,
    failed_record,
    inputs_tables,
    remove_report_files,
    week_of,
    write_report_file,
)
from webapp.params import MAX_SHARDS, ReportParams
from webapp.records import COMPLETE, QUEUED, is_final, read_record, report_files, utc_now_iso, write_record

__all__ = [
    "SHARDS_DIR",
    "SHARD_RETRIES",
    "shard_count",
    "shard_dir",
    "plan_report",
    "build_shard",
    "build_inputs",
    "fan_in_report",
    "discard_plan",
    "ShardFailed",
]

log = logging.getLogger(__name__)

#: The reports directory's private sub-directory for shard outputs (``.shards/<id>/<token>/``).
SHARDS_DIR = ".shards"

#: How often RQ runs a failed shard again before the report fails (a killed worker counts as a failure).
SHARD_RETRIES = 2

#: The frames the inputs job writes (``inputs.<kind>.parquet``).
INPUT_KINDS = ("timezones", "hours", "special")

#: The kinds of frame each shard writes (each sorted by store), in the report's file order.
SHARD_KINDS = ("parquet", "timeline", "incidents", "daily", "polls")

#: Rows per row group of a shard's files. A merge holds a few row groups of every
#: shard at once, so its memory grows with N × this: merging 8 files of 36 M polls
#: peaked at 788 MiB with 65,536 rows, 359 MiB with 16,384, 208 MiB (but 1.7× slower) with 4,096.
SHARD_ROW_GROUP_ROWS = 16_384


class ShardFailed(storemon.StoremonError):
    """A shard of a sharded report that failed for good; ``str()`` names it and says why."""


def shard_count(stores: int, shard_stores: int) -> int:
    """``ceil(stores / shard_stores)`` shards, within ``[1, MAX_SHARDS]``."""
    return max(1, min(MAX_SHARDS, math.ceil(stores / shard_stores)))


def shard_dir(reports_dir: Path, report_id: str, token: str | None = None) -> Path:
    """The report's private shard directory (of one plan, with ``token``)."""
    base = Path(reports_dir) / SHARDS_DIR / report_id
    return base if token is None else base / token


def _job_id(report_id: str, token: str, what: str) -> str:
    """An RQ job id for a plan's job: unique per plan, so a re-planned report never reuses one."""
    return f"{report_id}-{token}-{what}"


def plan_report(
    report_id: str,
    params: dict[str, Any],
    source: dict[str, str],
    reports_dir: str,
    created: str,
    hold_file: str | None = None,
    requested_by: str | None = None,
    retention_days: int | None = None,
    shard_stores: int = 20_000,
    timeout: int = 600,
) -> dict[str, Any]:
    """Plan a report over a data store (on an RQ worker): one job, or N shard jobs and a fan-in job.

    Arguments as :func:`webapp.jobs.build_report`; ``shard_stores`` is
    ``STOREMON_SHARD_STORES``, ``timeout`` each job's (``STOREMON_JOB_TIMEOUT``).
    Returns the final record (one job) or the ``Queued`` record with its ``plan``.
    """
    reports = Path(reports_dir)
    job_kwargs: dict[str, Any] = {
        "report_id": report_id,
        "params": params,
        "source": source,
        "reports_dir": reports_dir,
        "created": created,
        "hold_file": hold_file,
        "requested_by": requested_by,
        "retention_days": retention_days,
    }
    queued = read_record(reports, report_id)
    if is_final(queued):
        return queued or {}
    if queued is not None and "plan" in queued:  # planned before, and Redis lost that plan's jobs
        discard_plan(reports, report_id, queued["plan"], source)
    wanted = ReportParams.from_json(params)
    if wanted.shards == 1:
        return build_report(**job_kwargs)
    started = utc_now_iso()
    store_path = source["store"]
    token: str | None = None
    try:
        store = storemon.open_store(store_path)
        snapshot = storemon.store.pin_snapshot(store)
        token = snapshot.token
        now = wanted.now or snapshot.latest_poll
        count = wanted.shards or shard_count(snapshot.stores, shard_stores)
        if count == 1 or now is None:  # one job; without polls it fails there with the usual message
            storemon.store.release_snapshot(store, token)
            return build_report(**job_kwargs)
        now = storemon.utc_instant(now)
        plan = {
            "token": token,
            "seq": snapshot.seq,
            "stores": snapshot.stores,
            "now": now.isoformat(),
            "shards": count,
            "started": started,
            "rejects": storemon.rows_rejected(store),
            "shard_jobs": [_job_id(report_id, token, f"shard{i}") for i in range(count)],
            "inputs_job": _job_id(report_id, token, "inputs"),
            "fan_in_job": _job_id(report_id, token, "fanin"),
        }
        record = {**(queued or {}), "report_id": report_id, "status": QUEUED, "plan": plan}
        write_record(reports, record)
        _enqueue_plan(report_id, plan, job_kwargs, timeout)
        return record
    except Exception as exc:
        log.exception("planning report %s failed", report_id)
        failed = failed_record(
            report_id, params=params, source=source, created=created, started=started, error=describe_error(exc)
        )
        failed["requested_by"] = requested_by
        if token is not None:
            _release_quietly(store_path, token)
        write_record(reports, failed)
        raise


def _enqueue_plan(report_id: str, plan: dict[str, Any], job_kwargs: dict[str, Any], timeout: int) -> None:
    """Enqueue the plan's shard jobs (with retries) and its fan-in job (after all of them, failed or not)."""
    current = get_current_job()
    if current is None:
        raise RuntimeError("plan_report runs on an RQ worker (it enqueues the shard jobs on its own queue)")
    queue = Queue(current.origin, connection=current.connection)
    common = {k: job_kwargs[k] for k in ("report_id", "params", "source", "reports_dir", "created", "requested_by")}
    shard_jobs = []
    for index, job_id in enumerate(plan["shard_jobs"]):
        shard_jobs.append(
            queue.enqueue_call(
                build_shard,
                kwargs={
                    **common,
                    "index": index,
                    "shards": plan["shards"],
                    "token": plan["token"],
                    "now": plan["now"],
                    "hold_file": job_kwargs["hold_file"],
                },
                job_id=job_id,
                timeout=timeout,
                result_ttl=RESULT_TTL_SECONDS,
                retry=Retry(max=SHARD_RETRIES),
                description=f"storemon report {report_id} shard {index}/{plan['shards']}",
            )
        )
    shard_jobs.append(
        queue.enqueue_call(
            build_inputs,
            kwargs={**common, "token": plan["token"], "now": plan["now"]},
            job_id=plan["inputs_job"],
            timeout=timeout,
            result_ttl=RESULT_TTL_SECONDS,
            retry=Retry(max=SHARD_RETRIES),
            description=f"storemon report {report_id} input files",
        )
    )
    queue.enqueue_call(
        fan_in_report,
        kwargs={
            **common,
            "retention_days": job_kwargs["retention_days"],
            "plan": plan,
            "hold_file": job_kwargs["hold_file"],
        },
        job_id=plan["fan_in_job"],
        timeout=timeout,
        result_ttl=RESULT_TTL_SECONDS,
        depends_on=Dependency(jobs=shard_jobs, allow_failure=True, enqueue_at_front=True),
        description=f"storemon report {report_id} fan-in of {plan['shards']} shards",
    )


def _current_plan(reports: Path, report_id: str, token: str) -> bool:
    """Whether the report still waits for the plan ``token`` (not finished, not planned again)."""
    record = read_record(reports, report_id)
    return not is_final(record) and (record or {}).get("plan", {}).get("token") == token


def build_shard(
    report_id: str,
    index: int,
    shards: int,
    token: str,
    now: str,
    params: dict[str, Any],
    source: dict[str, str],
    reports_dir: str,
    created: str,
    requested_by: str | None = None,
    hold_file: str | None = None,
) -> dict[str, Any]:
    """Compute shard ``index`` of ``shards`` of a report from the pinned state ``token``; write its outputs.

    Returns what ``<index>.json`` holds (rows, seconds, timings), or
    ``{"skipped": …}`` when the plan is no longer the report's.
    ``hold_file`` is TEST ONLY (see ``STOREMON_TEST_HOLD_FILE``).
    """
    reports = Path(reports_dir)
    if not _current_plan(reports, report_id, token):
        return {"skipped": "the report no longer waits for this plan"}
    directory = shard_dir(reports, report_id, token)
    started, read_before = time.perf_counter(), _bytes_read()
    try:
        _test_hooks(hold_file, index)
        wanted = ReportParams.from_json(params)
        instant = datetime.fromisoformat(now)
        store = storemon.open_store(source["store"])
        views = storemon.report_views_from_store(
            store, instant, days=DAILY_DAYS, shard=(index, shards), snapshot=token, **wanted.horizons
        )
        computed = time.perf_counter()
        week = storemon.read_polls(
            store, start=instant - VIEW_RANGE, end=instant, shard=(index, shards), snapshot=token
        )
        frames = {
            "parquet": views.report,
            "timeline": views.timeline,
            "incidents": views.incidents,
            "daily": views.daily,
            "polls": week_of(week, instant),
        }
        directory.mkdir(parents=True, exist_ok=True)
        for kind, frame in frames.items():
            _write_shard_file(directory / f"{index}.{kind}.parquet", frame)
        done = {
            "index": index,
            "rows": views.report.height,
            "seconds": round(time.perf_counter() - started, 6),
            "timings": {"report": round(computed - started, 6), "write": round(time.perf_counter() - computed, 6)},
            "worker": _worker_name(),
            "bytes_read": _bytes_read() - read_before,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        _write_json(directory / f"{index}.json", done)
        return done
    except Exception as exc:
        log.exception("report %s shard %d/%d failed", report_id, index, shards)
        _write_error(directory / f"{index}.error", exc)
        raise


def _write_shard_file(path: Path, frame: pl.DataFrame) -> None:
    """One output of a shard job, atomically: Parquet, uncompressed (it is read once, soon, nearby)."""
    with storemon.atomic_path(path) as tmp:
        frame.write_parquet(tmp, compression="uncompressed", row_group_size=SHARD_ROW_GROUP_ROWS, statistics=False)


def _write_error(path: Path, exc: Exception) -> None:
    """Leave why a job failed beside its outputs, for the fan-in to name (best effort)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with storemon.atomic_path(path) as tmp:
            tmp.write_text(describe_error(exc), encoding="utf-8")
    except OSError:  # the reason is a courtesy; RQ keeps the traceback too
        pass


def build_inputs(
    report_id: str,
    token: str,
    now: str,
    params: dict[str, Any],
    source: dict[str, str],
    reports_dir: str,
    created: str,
    requested_by: str | None = None,
) -> dict[str, Any]:
    """The report's small input tables (stores' zones, hours, special hours), beside the shards.

    Runs as one more job of the plan, in parallel with the shards, on the
    plan's pinned state (the versions current in it), so every file of the
    report comes from one snapshot; each shard writes its own stores' week
    of polls. Writes ``inputs.<kind>.parquet`` and
    ``inputs.json`` last. ``params``, ``created`` and ``requested_by`` are
    there for :mod:`webapp.status` (a failed job's record).
    """
    del params, created, requested_by
    reports = Path(reports_dir)
    if not _current_plan(reports, report_id, token):
        return {"skipped": "the report no longer waits for this plan"}
    directory = shard_dir(reports, report_id, token)
    started, read_before = time.perf_counter(), _bytes_read()
    try:
        store = storemon.open_store(source["store"])
        hours, timezones, special = (
            storemon.current_table(store, t, snapshot=token)[0] for t in ("hours", "timezones", "special")
        )
        frames = {"timezones": timezones, "hours": hours, "special": special}
        directory.mkdir(parents=True, exist_ok=True)
        for kind, frame in frames.items():
            _write_shard_file(directory / f"inputs.{kind}.parquet", frame)
        done = {
            "seconds": round(time.perf_counter() - started, 6),
            "worker": _worker_name(),
            "bytes_read": _bytes_read() - read_before,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        _write_json(directory / "inputs.json", done)
        return done
    except Exception as exc:
        log.exception("report %s: reading its input files failed", report_id)
        _write_error(directory / "inputs.error", exc)
        raise


def fan_in_report(
    report_id: str,
    params: dict[str, Any],
    source: dict[str, str],
    reports_dir: str,
    created: str,
    plan: dict[str, Any],
    requested_by: str | None = None,
    retention_days: int | None = None,
    hold_file: str | None = None,
) -> dict[str, Any]:
    """Join the shards of ``plan`` into the report's files and record (on an RQ worker); return the record.

    Every shard missing its outputs makes the report ``Failed`` (named, with
    its reason); otherwise the files equal the unsharded report's byte for byte.
    ``hold_file`` is TEST ONLY: the fan-in waits while ``<hold_file>.fanin`` exists.
    """
    reports = Path(reports_dir)
    token, count = plan["token"], int(plan["shards"])
    if not _current_plan(reports, report_id, token):
        return {"skipped": "the report no longer waits for this plan"}
    directory = shard_dir(reports, report_id, token)
    started_clock = time.perf_counter()
    try:
        _wait_while_held(f"{hold_file}.fanin" if hold_file else None)
        done = [_shard_done(directory, plan, i) for i in range(count)]
        inputs_done = _inputs_done(directory, plan)
        timings: dict[str, float] = {}
        now = datetime.fromisoformat(plan["now"])
        # One kind at a time, in the one-job report's file order, each merge streamed
        # into its file; only the report (a row per store) is held whole.
        # A store per row: sorting again costs little and does not lean on collect() keeping order.
        report = _merged(directory, count, "parquet").collect().sort("store_id")
        write_report_file(reports, report_id, "csv", report, timings)
        write_report_file(reports, report_id, "parquet", report, timings)
        for kind in SHARD_KINDS:
            if kind != "parquet":
                write_report_file(reports, report_id, kind, _merged(directory, count, kind), timings)
        lap = time.perf_counter()
        inputs = {kind: pl.read_parquet(directory / f"inputs.{kind}.parquet") for kind in INPUT_KINDS}
        tables = inputs_tables(report, inputs["timezones"], inputs["hours"], inputs["special"])
        timings["inputs"] = round(time.perf_counter() - lap, 6)
        for kind, table in tables.items():
            write_report_file(reports, report_id, kind, table, timings)
        lap = time.perf_counter()
        timeline, daily = (_merged(directory, count, kind) for kind in ("timeline", "daily"))
        fleet = storemon.fleet_summary(report, timeline, daily, now=now)
        timings["fleet"] = round(time.perf_counter() - lap, 6)
        timings["fan_in"] = round(time.perf_counter() - started_clock, 6)
        finished = utc_now_iso()
        record = {
            "report_id": report_id,
            "status": COMPLETE,
            "parameters": params,
            "source": source,
            "now": now.isoformat(),
            "created": created,
            "started": plan["started"],
            "finished": finished,
            "duration_seconds": _seconds_between(plan["started"], finished),
            "rows": report.height,
            "rejects": int(plan["rejects"]),
            "requested_by": requested_by,
            "files": report_files(report_id),
            "timings": timings,
            "fleet": fleet,
            "shards": {
                "count": count,
                "snapshot_seq": plan["seq"],
                "per_shard": done,
                "inputs": inputs_done,
                "fan_in": {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
            },
        }
        write_record(reports, record)
        discard_plan(reports, report_id, plan, source)
        _prune_quietly(reports, retention_days, keep=report_id)
        return record
    except Exception as exc:
        log.exception("fan-in of report %s failed", report_id)
        failed = failed_record(
            report_id,
            params=params,
            source=source,
            created=created,
            started=plan.get("started"),
            error=describe_error(exc),
        )
        failed["requested_by"] = requested_by
        failed["shards"] = {"count": count, "snapshot_seq": plan.get("seq")}
        remove_report_files(reports, report_id)
        write_record(reports, failed)
        discard_plan(reports, report_id, plan, source)
        _prune_quietly(reports, retention_days, keep=report_id)
        raise


def _merged(directory: Path, count: int, kind: str) -> pl.LazyFrame:
    """The ``count`` shards' frames of ``kind`` merged in ``store_id`` order: the one-job report's frame, lazily.

    Each shard's frame is sorted by store (then its time key) and holds all
    rows of its stores, so merging the sorted frames (ties keep shard order
    and each frame's order) gives exactly the unsharded order. The shards'
    files are scanned: whoever runs the query streams it.
    """
    merged = pl.scan_parquet(directory / f"0.{kind}.parquet")
    for i in range(1, count):
        merged = merged.merge_sorted(pl.scan_parquet(directory / f"{i}.{kind}.parquet"), key="store_id")
    return merged


def _shard_done(directory: Path, plan: dict[str, Any], index: int) -> dict[str, Any]:
    """What shard ``index`` recorded when it finished, or :class:`ShardFailed` naming it and why it did not."""
    mark = directory / f"{index}.json"
    try:
        return dict(json.loads(mark.read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    error = directory / f"{index}.error"
    reason = error.read_text(encoding="utf-8") if error.is_file() else _rq_reason(plan["shard_jobs"][index])
    raise ShardFailed(f"shard {index} of {plan['shards']} (shards 0–{plan['shards'] - 1}) failed: {reason}")


def _inputs_done(directory: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """What the inputs job recorded, or :class:`ShardFailed` saying why it did not finish."""
    try:
        return dict(json.loads((directory / "inputs.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    error = directory / "inputs.error"
    reason = error.read_text(encoding="utf-8") if error.is_file() else _rq_reason(plan["inputs_job"])
    raise ShardFailed(f"reading the report's input files failed: {reason}")


def _rq_reason(job_id: str) -> str:
    """Why RQ says shard job ``job_id`` ended without its outputs."""
    from webapp.status import rq_error  # status imports this module's neighbours; imported late

    current = get_current_job()
    if current is None:
        return "no outputs were written"
    try:
        job = Job.fetch(job_id, connection=current.connection)
    except NoSuchJobError:
        return "the job queue (Redis) lost its job"
    status = job.get_status(refresh=True)
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return rq_error(job, status)
    return f"it ended without its outputs (RQ status {status})"


def discard_plan(reports_dir: Path, report_id: str, plan: dict[str, Any], source: dict[str, str] | None) -> None:
    """Release the plan's pin and remove its shard outputs (best effort: a failure is logged, not raised)."""
    if source and "store" in source:
        _release_quietly(source["store"], str(plan["token"]))
    directory = shard_dir(Path(reports_dir), report_id)
    try:
        shutil.rmtree(directory / str(plan["token"]), ignore_errors=False)
        directory.rmdir()  # only once no other plan of the report left files
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.info("shard files of report %s not (all) removed: %s", report_id, exc)


def _release_quietly(store: str, token: str) -> None:
    try:
        storemon.store.release_snapshot(storemon.open_store(store), token)
    except (storemon.StoremonError, OSError) as exc:  # the pin expires by itself
        log.warning("could not release snapshot %s of %s: %s", token, store, exc)


def _test_hooks(hold_file: str | None, index: int) -> None:
    """TEST ONLY: shard ``index`` fails while ``<hold_file>.fail<index>`` exists, waits while ``.shard<index>`` does."""
    if not hold_file:
        return
    if os.path.exists(f"{hold_file}.fail{index}"):
        raise RuntimeError(f"test hook: shard {index} fails ({hold_file}.fail{index} exists)")
    while os.path.exists(f"{hold_file}.shard{index}"):
        time.sleep(0.05)


def _bytes_read() -> int:
    """Bytes this process read so far through read(2) (``rchar`` of ``/proc/self/io``; 0 where there is none)."""
    try:
        with open("/proc/self/io", encoding="ascii") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _worker_name() -> str | None:
    """The RQ worker running this job (the record shows which host ran which shard)."""
    current = get_current_job()
    return current.worker_name if current is not None else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with storemon.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")


def _seconds_between(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 6)
