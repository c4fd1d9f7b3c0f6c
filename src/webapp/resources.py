"""Per-app resources: the settings, the Redis client and the RQ queue.

``init_app(app, settings)`` attaches them; views reach them through
``get_settings()``, ``get_redis()`` and ``get_queue()``. The Redis client owns
a connection pool that drops a connection as soon as it fails and dials again
on the next command, so nothing broken is cached: when Redis comes back the
next request simply works. Short socket timeouts keep a request from hanging
while Redis is away (the error handler answers 503).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from redis import Redis
from rq import Queue

from webapp.config import Settings

__all__ = ["init_app", "get_settings", "get_redis", "get_queue"]

_KEY = "storemon"

#: Seconds to wait for Redis to accept a connection / answer a command.
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_SOCKET_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Resources:
    settings: Settings
    redis: Redis
    queue: Queue


def connect_redis(url: str) -> Redis:
    """A Redis client for ``url`` with the service's timeouts (used by web and worker)."""
    return Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT, socket_timeout=REDIS_SOCKET_TIMEOUT)


def init_app(app: Flask, settings: Settings) -> None:
    """Attach ``settings`` and the Redis client and queue they describe to ``app``.

    Nothing connects here; the first command does, so the app starts even
    while Redis is down.
    """
    redis = connect_redis(settings.redis_url)
    app.extensions[_KEY] = _Resources(settings=settings, redis=redis, queue=Queue(settings.queue, connection=redis))


def get_settings() -> Settings:
    """The current app's :class:`~webapp.config.Settings`."""
    return _resources().settings


def get_redis() -> Redis:
    """The current app's Redis client."""
    return _resources().redis


def get_queue() -> Queue:
    """The current app's RQ queue of report jobs."""
    return _resources().queue


def _resources() -> _Resources:
    resources = current_app.extensions[_KEY]
    assert isinstance(resources, _Resources)
    return resources
