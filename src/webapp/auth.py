"""Who may call the API: bearer tokens and three roles (Flask-HTTPAuth).

Every endpoint except ``GET /api/health`` and ``GET /api/openapi.json``
needs ``Authorization: Bearer <token>``; the tokens come from
``STOREMON_TOKENS`` (``role:token`` pairs, :mod:`webapp.config`).

=========  ===============================================================
``read``   fetch reports, ``GET /api/tables/<name>``
``write``  + trigger reports, ``POST /api/polls``, ``PATCH`` a table
``admin``  + ``PUT /api/hours``, ``PUT /api/timezones`` (replace a table),
           list and restore table versions
=========  ===============================================================

No or an unknown token: **401** with ``WWW-Authenticate: Bearer``; a known
token whose role is too low: **403**; both JSON ``{"error": …}``. A token is
compared with every configured one in constant time
(:func:`hmac.compare_digest`, no early exit), so timing tells nothing about
which or how much of a token matched. Logs and records name a caller by
:attr:`webapp.config.Token.name` (role and a SHA-256 fingerprint), never by
the token.

``init_app`` refuses to build an app without tokens (``ConfigError``) unless
``STOREMON_AUTH=off`` is set explicitly; then every request is let in as
``anonymous`` with every role, and a warning is logged at every start. Views
are guarded with :func:`require` and read the caller with :func:`get_caller`.

The web console (:mod:`webapp.console`) logs a person in with a token once and
keeps its role and name in the signed session cookie. For ``GET``/``HEAD``
requests without an ``Authorization`` header that cookie is accepted as an
alternative to the bearer token (so the console's pages can poll
``GET /api/get_report/<id>/``); anything that changes state still needs a
bearer token (or, in the console, a CSRF-checked form). A session whose token
is no longer configured counts as none (revoking a token logs its sessions out).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request, session
from flask_httpauth import HTTPTokenAuth

from storemon import ConfigError
from webapp.config import ROLES, Settings
from webapp.errors import json_error
from webapp.resources import get_settings

__all__ = [
    "Caller",
    "init_app",
    "require",
    "get_caller",
    "verify_token",
    "session_caller",
    "has_role",
    "NO_TOKENS",
    "AUTH_OFF",
    "SESSION_KEY",
]

NO_TOKENS = (
    "STOREMON_TOKENS is not set: the API needs bearer tokens (e.g. STOREMON_TOKENS='read:<token>,"
    "write:<token>,admin:<token>', each at least 16 characters; python -c 'import secrets; "
    "print(secrets.token_urlsafe(32))' makes one). To run without authentication on purpose, "
    "set STOREMON_AUTH=off."
)
AUTH_OFF = "STOREMON_AUTH=off: the API is open to anyone who can reach it (no tokens are checked)"

_F = TypeVar("_F", bound=Callable[..., Any])

#: Where the console keeps the logged-in caller in the Flask session: ``{"role": …, "name": …}``.
SESSION_KEY = "storemon_caller"

_SAFE_METHODS = frozenset({"GET", "HEAD"})

_auth = HTTPTokenAuth(scheme="Bearer")


@dataclass(frozen=True)
class Caller:
    """Who made a request: a role and a name fit for logs (never the token)."""

    role: str
    name: str


_ANONYMOUS = Caller(role="admin", name="anonymous")


def init_app(app: Flask, settings: Settings) -> None:
    """Refuse to serve without tokens unless authentication is switched off; log who does what."""
    if settings.auth and not settings.tokens:
        raise ConfigError(NO_TOKENS)
    if not settings.auth:
        app.logger.warning(AUTH_OFF)
    app.after_request(_log_caller)


def require(role: str) -> Callable[[_F], _F]:
    """Decorator: the view needs a token of ``role`` or a stronger one."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: _F) -> _F:
        protected = _auth.login_required(role=role)(view)

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not get_settings().auth:
                g.storemon_anonymous = _ANONYMOUS
                return view(*args, **kwargs)
            if request.method in _SAFE_METHODS and "Authorization" not in request.headers:
                caller = session_caller()
                if caller is not None:
                    if not has_role(caller, role):
                        g.storemon_caller = caller
                        return _refused(403)
                    g.storemon_session = caller
                    return view(*args, **kwargs)
            return protected(*args, **kwargs)

        return cast(_F, guarded)

    return decorate


def get_caller() -> Caller | None:
    """The authenticated caller of the current request (``None`` on a public endpoint)."""
    caller = _auth.current_user() or g.get("storemon_session") or g.get("storemon_anonymous")
    return caller if isinstance(caller, Caller) else None


def has_role(caller: Caller, role: str) -> bool:
    """Whether ``caller``'s role is ``role`` or a stronger one."""
    return ROLES.index(caller.role) >= ROLES.index(role)


def session_caller() -> Caller | None:
    """The caller the console's session cookie names, if its token is still configured."""
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return None
    role, name = stored.get("role"), stored.get("name")
    if role not in ROLES or not any(known.name == name and known.role == role for known in get_settings().tokens):
        return None
    return Caller(role=str(role), name=str(name))


def verify_token(token: str) -> Caller | None:
    """The caller ``token`` authenticates (constant-time comparison with every configured token), or ``None``."""
    return _verify(token)


def _verify(token: str) -> Caller | None:
    settings = get_settings()
    offered = token.encode("utf-8", "surrogateescape")
    found: Caller | None = None
    for known in settings.tokens:  # every one, without stopping at a match
        if hmac.compare_digest(offered, known.secret.encode("utf-8")):
            found = Caller(role=known.role, name=known.name)
    g.storemon_caller = found  # also for a 403, which Flask-HTTPAuth's current_user() does not see
    return found


def _roles(caller: Caller) -> list[str]:
    return list(ROLES[: ROLES.index(caller.role) + 1])


def _refused(status: int) -> Response:
    if status == 401:
        message = "authentication required: send Authorization: Bearer <token> with a valid token"
    else:
        caller = getattr(g, "storemon_caller", None)
        role = caller.role if isinstance(caller, Caller) else "?"
        message = f"this token's role ({role}) may not do this; ask for a token with a stronger role"
    g.storemon_refused = status
    response = json_error(status, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="storemon"'
    return response


_auth.verify_token(_verify)
_auth.get_user_roles(_roles)
_auth.error_handler(_refused)


def _log_caller(response: Response) -> Response:
    caller = get_caller()
    if caller is not None:
        current_app.logger.info("%s %s by %s: %s", request.method, request.path, caller.name, response.status_code)
    elif getattr(g, "storemon_refused", None):
        known = getattr(g, "storemon_caller", None)
        who = known.name if isinstance(known, Caller) else "an unknown token"
        current_app.logger.warning("%s %s refused for %s: %s", request.method, request.path, who, response.status_code)
    return response
