import logging

import pytest

from agentbuilder.models import DemoUser, SecretCode

pytestmark = pytest.mark.django_db

URL = "/api/v1/demo-env/temporary-user"
BODY = {"full_name": "Ada Lovelace", "email": "Ada@Example.com", "session_id": "sess-ada-1"}


def test_create_returns_the_profile_and_its_codes_once(api_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = api_client.post(URL, BODY, format="json")
    assert response.status_code == 201, response.json()
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    profile = body["profile"]
    assert profile["client_id"].startswith("ada_lovelace_")
    assert profile["email"] == "ada@example.com"
    assert body["session_id"] == "sess-ada-1"
    assert body["entry_id"].startswith("demo-entry-")
    assert len(body["transactions"]) == 5
    codes = profile["verification_codes"]
    assert len(codes["ssn4"]) == 4 and len(codes["mfa_code"]) == 6
    user = DemoUser.objects.get(client_id=profile["client_id"])
    assert SecretCode.objects.get(demo_user=user, purpose="ssn4").matches(codes["ssn4"])
    assert user.accounts.count() == 2 and user.cards.count() == 2
    # Codes never reach the logs.
    assert codes["mfa_code"] not in caplog.text and codes["esignature_code"] not in caplog.text

    lookup = api_client.get(URL, {"email": "ada@example.com", "session_id": "sess-ada-1"})
    assert lookup.status_code == 200
    looked_up = lookup.json()
    assert looked_up["profile"]["client_id"] == profile["client_id"]
    assert "verification_codes" not in looked_up["profile"]
    assert codes["mfa_code"] not in lookup.content.decode()


def test_the_same_name_twice_gets_two_profiles(auth_client):
    first = auth_client.post(URL, BODY, format="json").json()["profile"]["client_id"]
    second = auth_client.post(URL, BODY, format="json").json()["profile"]["client_id"]
    assert first != second


def test_anonymous_lookup_needs_the_session_authenticated_does_not(api_client, auth_client):
    api_client.post(URL, BODY, format="json")
    assert api_client.get(URL, {"email": "ada@example.com"}).status_code == 404
    assert api_client.get(
        URL, {"email": "ada@example.com", "session_id": "other-1"}
    ).status_code == (404)
    assert auth_client.get(URL, {"email": "ADA@example.com"}).status_code == 200


def test_unknown_email_is_404(api_client):
    response = api_client.get(URL, {"email": "nobody@example.com", "session_id": "sess-ada-1"})
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "x" * 121}, "full_name"),
        ({"phone_number": "555-1234"}, "phone_number"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"session_id": "abc"}, "session_id"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(api_client, change, field):
    response = api_client.post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not DemoUser.objects.exists()


def test_lookup_requires_a_valid_email(api_client):
    response = api_client.get(URL)
    assert response.status_code == 400 and "email" in response.json()["fields"]


def test_anonymous_creation_is_rate_limited_signed_in_is_not(api_client, auth_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "demo_create": "1/hour"},
    }
    assert api_client.post(URL, BODY, format="json").status_code == 201
    assert api_client.post(URL, BODY, format="json").status_code == 429
    assert auth_client.post(URL, BODY, format="json").status_code == 201
    assert auth_client.post(URL, BODY, format="json").status_code == 201
    created_by_user = DemoUser.objects.filter(created_by__isnull=False).count()
    assert created_by_user == 2
