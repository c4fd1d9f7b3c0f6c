"""The web console: server-rendered pages over the reports directory, behind the API's tokens.

``init_app(app, settings)`` registers the blueprint (:mod:`webapp.console.views`).
A person logs in by pasting a token (``/login``); the token's role and name
(never the token) are kept in Flask's signed session cookie (HttpOnly,
SameSite=Lax), signed with ``STOREMON_SECRET_KEY``. Every form is CSRF-checked
(Flask-WTF's :class:`~flask_wtf.csrf.CSRFProtect`, applied to the console's
views only: the API's bearer-token endpoints need no CSRF token). Without a
secret key the console is off — its pages answer 503 and say why — unless the
app is ``TESTING`` (a random key then). Charts use Plotly's bundled
``plotly.min.js`` and ``/api/docs`` Swagger UI's files from
``flask-swagger-ui``, both served from here: nothing comes from a CDN.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, Response, request

from webapp.config import Settings

__all__ = ["init_app", "DISABLED"]

DISABLED = (
    "The storemon console is off: STOREMON_SECRET_KEY is not set (it signs the login cookie). "
    "Set it to a random string of at least 32 characters, the same in every web process; "
    "the API works without it."
)

#: How long a console login lasts.
SESSION_LIFETIME = timedelta(hours=12)


def init_app(app: Flask, settings: Settings) -> None:
    """Register the console, or a stand-in answering 503 when there is no secret key."""
    key = settings.secret_key or (secrets.token_urlsafe(32) if app.testing else None)
    if key is None:
        app.logger.warning("console off: STOREMON_SECRET_KEY is not set")
        app.before_request(_console_off)
        return
    from webapp.console.views import bp, csrf

    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="storemon_session",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in the console's own before_request
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    csrf.init_app(app)
    app.register_blueprint(bp)


#: The console's entry points, answered 503 while it is off (no routes are added: the API's stay all there is).
_ENTRY_POINTS = frozenset({"/", "/login", "/api/docs"})


def _console_off() -> Response | None:
    if request.path in _ENTRY_POINTS or request.path.startswith("/reports"):
        return Response(DISABLED + "\n", status=503, mimetype="text/plain")
    return None
