"""The OpenAPI document matches the API: schemathesis against the app in-process (WSGI).

Every operation gets at most 25 generated requests (derandomized when ``CI`` is set),
sent with an admin token to an app on the suite's real redis-server with a data store.
Each response must not be a 5xx and must conform to the document: a documented status
code, content type, headers and body schema.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rq import SimpleWorker
from schemathesis import checks

import storemon
from conftest import TOKENS, TOKENS_ENV
from webapp import create_app
from webapp.openapi import document
from webapp.resources import get_queue

pytestmark = pytest.mark.service

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]

SAMPLE = str(storemon.sample_dir())


@schemathesis.serializer("application/x-ndjson")
def _json_lines(ctx, value):
    """JSON lines: each item of the generated array on a line of its own."""
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@pytest.fixture
def app(make_app, store, service_data_dir):
    """The app with a data store and one live (registered, heart-beating) worker, so health is 200."""
    app = make_app(STOREMON_STORE=str(store), STOREMON_DATA_DIR=str(service_data_dir))
    with app.app_context():
        queue = get_queue()
        worker = SimpleWorker([queue], connection=queue.connection)
    worker.register_birth()
    yield app
    worker.register_death()


# The document itself, not fetched from an app: schemathesis.pytest.from_fixture does not work
# with this pytest; test_the_document_is_served_without_a_token checks the app serves this dict.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=bool(os.environ.get("CI")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
def test_the_api_conforms_to_its_openapi_document(app, case):
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {TOKENS['admin']}"}, checks=CHECKS)


def test_the_document_is_openapi_3_1_and_covers_every_route():
    from webapp import create_app as make

    app = make({"STOREMON_AUTH": "off", "REDIS_URL": "redis://127.0.0.1:1/0", "STOREMON_DATA_DIR": SAMPLE})
    routes = {
        (
            rule.rule.replace("<report_id>", "{report_id}")
            .replace("<name>", "{name}")
            .replace("<version>", "{version}"),
            method,
        )
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint != "static"
    }
    doc = document()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}

    assert doc["openapi"].startswith("3.1")
    assert documented == routes


def test_the_document_is_served_without_a_token(redis_url):
    app = create_app(
        {"TESTING": True, "REDIS_URL": redis_url, "STOREMON_TOKENS": TOKENS_ENV, "STOREMON_DATA_DIR": SAMPLE}
    )
    response = app.test_client().get("/api/openapi.json")

    assert response.status_code == 200 and response.get_json() == document()
