"""Property-based fuzzing of every operation in our OpenAPI schema: no input gives a 5xx.

Schemathesis generates the inputs from the schema (valid and invalid ones); each case is sent
to the real WSGI application on the test database, as a staff user.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.generation.modes import GenerationMode

from mediaserver.wsgi import application
from tests.helpers import make_operator

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def staff_headers(db, django_user_model, make_library):
    make_library(name="Fuzzed")
    token = Token.objects.create(user=make_operator("fuzz")).key
    return {"Authorization": f"Token {token}"}


@pytest.fixture
def api_schema(staff_headers):
    # Requests go straight to the WSGI app: keep Django from closing the test's connection
    # at the end of each one, as its own test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=staff_headers)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_no_input_gives_a_server_error(api_schema, staff_headers):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    for operation in operations:

        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call(headers=staff_headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> "
                                f"{response.status_code}: {response.text[:300]}")

        fuzz()
    assert failures == []
