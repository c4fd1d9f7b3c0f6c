"""Every error the service returns is JSON: ``{"error": "<for a person>"}``.

HTTP errors keep their status and headers (405 keeps ``Allow``); Redis being
unreachable is 503 with ``Retry-After``; anything unexpected is a logged 500
that shows no internals.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = ["init_app", "json_error", "REDIS_DOWN"]

REDIS_DOWN = "the job queue (Redis) is unreachable; try again in a few seconds"
RETRY_AFTER_SECONDS = 5


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


def _unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unexpected error", exc_info=exc)
    return json_error(500, "internal server error; the service log has the details")
