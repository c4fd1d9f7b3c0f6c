"""Every error the service returns is JSON: ``{"error": "<for a person>"}``.

HTTP errors keep their status and headers (405 keeps ``Allow``); Redis being
unreachable is 503 with ``Retry-After``; a full disk (``ENOSPC``, ``EDQUOT``)
is 507; anything unexpected is a logged 500 that shows no internals.

A body the client sent can break a parser in ways nobody listed (a
``UnicodeError`` or ``ValueError`` from deep inside a decoder). Code that
parses a body runs it inside :func:`client_body`, which turns exactly those
two, raised there, into :class:`ClientBodyError` — answered **400** and
logged with its traceback as a warning. The same exceptions anywhere else
(the store, the queue, the views' own logic) stay 500s: they are bugs.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app, jsonify
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from storemon import StoremonError

__all__ = ["init_app", "json_error", "client_body", "is_disk_full", "ClientBodyError", "REDIS_DOWN", "DISK_FULL"]

REDIS_DOWN = "the job queue (Redis) is unreachable; try again in a few seconds"
DISK_FULL = "the service's disk is full: nothing was stored; try again once space has been freed"
RETRY_AFTER_SECONDS = 5

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class ClientBodyError(Exception):
    """A request body that a parser could not handle (see :func:`client_body`); answered 400."""


@contextmanager
def client_body(what: str) -> Iterator[None]:
    """Inside: a ``UnicodeError``/``ValueError`` is the body's fault (:class:`ClientBodyError`).

    storemon's own errors pass through untouched (callers answer them with
    their own messages).
    """
    try:
        yield
    except (UnicodeError, ValueError) as exc:
        if isinstance(exc, StoremonError):
            raise
        current_app.logger.warning("unreadable request body (%s)", what, exc_info=exc)
        raise ClientBodyError(f"{what}: the request body cannot be read ({type(exc).__name__}: {exc})") from exc


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or the quota is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def json_error(status: int, message: str) -> Response:
    """A JSON error response."""
    response = jsonify(error=message)
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register the JSON error handlers on ``app``."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RedisConnectionError, _redis_down)
    app.register_error_handler(RedisTimeoutError, _redis_down)
    app.register_error_handler(ClientBodyError, _client_body)
    app.register_error_handler(Exception, _unexpected)


def _http_error(exc: HTTPException) -> WerkzeugResponse:
    response = exc.get_response()
    response.set_data(jsonify(error=exc.description or exc.name).get_data())
    response.content_type = "application/json"
    return response


def _redis_down(exc: Exception) -> Response:
    current_app.logger.warning("Redis unreachable: %s", exc)
    response = json_error(503, REDIS_DOWN)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _client_body(exc: ClientBodyError) -> Response:
    return json_error(400, str(exc))


def _unexpected(exc: Exception) -> Response:
    if is_disk_full(exc):
        current_app.logger.error("disk full: %s", exc)
        return json_error(507, DISK_FULL)
    current_app.logger.exception("unexpected error", exc_info=exc)
    return json_error(500, "internal server error; the service log has the details")
