"""Schemathesis over the whole OpenAPI schema, in-process: signed in with a token, then anonymous.

Every operation gets cases that fit the schema and cases that do not (a fixed seed, so a run
is repeatable). Not one may answer a server error, a status the schema does not declare, a
body the schema does not describe, or a success for data the schema rules out; anonymous,
no write may succeed outside the documented anonymous paths. `bench/schema_fuzz.py` runs the
same with more cases.
"""

from __future__ import annotations

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.schema_fuzz import UNLIMITED, fuzz, fuzz_world, schema_load

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 20260312
# Cases per operation and generation mode (positive, negative, and valid cases on known
# objects): about 1,300 cases over both runs.
MAX_EXAMPLES = 15


@pytest.fixture
def app(settings):
    """Django's WSGI handler, keeping the test's database connection across requests."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {  # the answers are under test, not the rate limits
            scope: UNLIMITED for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        },
    }
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_whole_schema_holds_under_fuzzing_signed_in_and_anonymous(app):
    token, known = fuzz_world()
    schema = schema_load(app)

    signed_in = fuzz(
        schema,
        max_examples=MAX_EXAMPLES,
        fuzz_seed=SEED,
        headers={"Authorization": f"Token {token}"},
        known=known,
    )
    anonymous = fuzz(schema, max_examples=MAX_EXAMPLES, fuzz_seed=SEED, anonymous=True, known=known)

    assert signed_in.operations == anonymous.operations >= 30
    assert signed_in.cases + anonymous.cases >= 1000
    # Both runs reached past validation and authentication.
    assert signed_in.statuses[200] and signed_in.statuses[201] and signed_in.statuses[400]
    assert anonymous.statuses[401] and anonymous.statuses[200]
    failures = [str(f) for f in signed_in.failures + anonymous.failures]
    assert signed_in.server_errors == anonymous.server_errors == 0, failures
    assert failures == []
