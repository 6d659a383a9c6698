"""The API against its own OpenAPI schema: generated requests, good and bad,
never get a 5xx, and every answer matches what the schema promises."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # After each request Django closes database connections it deems old; in
    # the test's transaction that is the test's own. The test client stops it
    # the same way.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(params=[False, True], ids=["debug off", "debug on"])
def debug(request, settings) -> bool:
    # `make run` serves with DEBUG on, production with it off: no 5xx under either.
    settings.DEBUG = request.param
    return request.param


@schema.parametrize()
# Random generation only, a bounded number per operation. Schemathesis' full
# coverage phase (`phases` left out) takes minutes here; run it by hand.
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],
)
def test_api_answers_as_its_schema_says(case, debug):
    case.call_and_validate(
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
    )
