"""storemon's report service: a thin Flask API in front of RQ workers.

Build the app with :func:`create_app` (gunicorn: ``'webapp:create_app()'``);
run workers with ``python -m webapp.worker``. Configuration comes from the
environment (:mod:`webapp.config`); the API is in :mod:`webapp.api`, live
intake into the data store in :mod:`webapp.intake`; the job the workers run
is :func:`webapp.jobs.build_report`. Nothing here computes a report: the job
calls :func:`storemon.report_views` or :func:`storemon.report_views_from_store`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp import auth, console, errors, intake, openapi, resources
from webapp.api import bp
from webapp.config import VARIABLES, Settings
from webapp.limits import TRIGGER_BODY_BYTES

__all__ = ["create_app", "MAX_BODY_BYTES"]

#: Largest accepted request body; a trigger body is a few dozen bytes. The
#: intake endpoints have their own limit (``STOREMON_MAX_INTAKE_BYTES``).
#: Bodies are read through :func:`webapp.limits.read_limited`, which holds the
#: limit for chunked bodies too.
MAX_BODY_BYTES = TRIGGER_BODY_BYTES


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask app, configured from the environment.

    ``test_config`` overrides: keys named like the environment variables
    (``REDIS_URL``, ``STOREMON_REPORTS_DIR`` …, see
    :data:`webapp.config.VARIABLES`) replace those variables; every key also
    goes into ``app.config`` (so ``TESTING`` etc. work as usual). Raises
    :class:`storemon.ConfigError` for a bad setting. Creates the data store
    (``STOREMON_STORE``) when one is configured and missing.
    """
    overrides = dict(test_config or {})
    environ = {**os.environ, **{name: str(value) for name, value in overrides.items() if name in VARIABLES}}
    settings = Settings.from_env(environ)

    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.config.from_mapping(overrides)
    resources.init_app(app, settings)
    auth.init_app(app, settings)
    errors.init_app(app)
    app.register_blueprint(bp)
    intake.init_app(app, settings)
    openapi.init_app(app)
    console.init_app(app, settings)  # the web console (off without STOREMON_SECRET_KEY)
    return app
