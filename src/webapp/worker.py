"""``python -m webapp.worker``: an RQ worker on the service's queue.

A thin wrapper around :class:`rq.Worker` that reads the same environment as
the web app (``REDIS_URL``, ``STOREMON_QUEUE``, ``STOREMON_WORKER_HEARTBEAT``)
and notices a dead worker sooner than RQ's fixed 60-second grace: while a job
runs the worker heart-beats every ``STOREMON_WORKER_HEARTBEAT`` seconds, and
a job whose worker has been silent for :attr:`Settings.abandon_after` seconds
is abandoned (RQ's ``StartedJobRegistry.cleanup`` marks it failed; the web app
runs that cleanup whenever it is asked about a running report).

RQ's worker quits when Redis vanishes at the wrong moment (between jobs, or
while a job finishes) and then dies on its own clean-up; this wrapper starts
a fresh worker instead, until it is asked to stop. Run as many as you like, on
any machine that reaches the same Redis and sees the data and reports
directories at the same paths.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from types import FrameType

from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Worker, worker_registration
from rq.job import Job

from storemon import ConfigError
from webapp.config import Settings
from webapp.resources import connect_redis

__all__ = ["StoremonWorker", "make_worker", "main"]

log = logging.getLogger("rq.worker")  # RQ sets up its handler; our lines join its log

#: Seconds to wait before replacing a worker whose loop ended on its own.
RESTART_DELAY_SECONDS = 2.0


class StoremonWorker(Worker):
    """:class:`rq.Worker` whose running jobs expire after a configurable silence."""

    #: Seconds of silence (beyond one heartbeat) before a running job counts as abandoned.
    grace_seconds: int = 60

    #: Whether SIGINT/SIGTERM asked this worker to stop (RQ keeps its own flag private).
    stop_requested: bool = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Remember the request, then let RQ stop warmly (after the current job)."""
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # rq leaves it unannotated

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """TTL of the job's entry in the started registry: next heartbeat + grace."""
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(interval, max(1, int(job.timeout - working_time)))
        return int(interval) + self.grace_seconds

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, plus registering again if Redis lost the registration.

        After a Redis restart or flush RQ's worker keeps working but no longer
        appears among the queue's workers (so ``/api/health`` would say there
        are none); the first heartbeat after that puts it back.
        """
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.connection.hexists(self.key, "birth"):
            self.log.warning("Worker %s: registration lost (Redis restarted or flushed?); registering again", self.name)
            with self.connection.pipeline() as again:
                again.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, again)
                again.expire(self.key, timeout or self.worker_ttl + 60)
                again.execute()


def make_worker(settings: Settings) -> StoremonWorker:
    """A worker on ``settings.queue`` with the service's heartbeat settings.

    Idle, it heart-beats every ``STOREMON_WORKER_HEARTBEAT`` seconds too (RQ
    heart-beats once per blocking dequeue, whose timeout is ``worker_ttl −
    15``), so ``/api/health`` stops counting a dead worker within
    :attr:`Settings.worker_stale_after` seconds.
    """
    worker = StoremonWorker(
        [settings.queue],
        connection=connect_redis(settings.redis_url),
        job_monitoring_interval=settings.worker_heartbeat,
        worker_ttl=settings.worker_heartbeat + 15,
    )
    worker.grace_seconds = settings.abandon_after - settings.worker_heartbeat
    return worker


def main(argv: list[str] | None = None) -> int:
    """Run workers until stopped (SIGINT/SIGTERM: after the current job; twice: at once)."""
    parser = argparse.ArgumentParser(prog="python -m webapp.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    parser.add_argument("--log-level", default="INFO", help="INFO (default), DEBUG, WARNING …")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"storemon worker: {exc}", file=sys.stderr)
        return 2
    while True:
        worker = make_worker(settings)
        try:
            worker.work(burst=args.burst, logging_level=args.log_level)
        except RedisError as exc:  # RQ's clean-up after its loop gave up on Redis
            log.warning("worker %s ended with Redis unreachable: %s", worker.name, exc)
        if args.burst or worker.stop_requested:
            return 0
        log.warning("worker %s stopped by itself; starting a new one in %.0f s", worker.name, RESTART_DELAY_SECONDS)
        _pause(RESTART_DELAY_SECONDS)


def _pause(seconds: float) -> None:
    """Sleep, with SIGINT/SIGTERM simply ending the process (no worker is running)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_now)
    time.sleep(seconds)


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
