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

    # The profile started the session: its token, shown once, is what proves it is this client's.
    token = body["session_token"]
    lookup = api_client.get(
        URL, {"email": "ada@example.com", "session_id": "sess-ada-1"}, HTTP_X_SESSION_TOKEN=token
    )
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
    # A signed-in user finds their own profiles by email alone; not a visitor's.
    assert auth_client.get(URL, {"email": "ADA@example.com"}).status_code == 403
    auth_client.post(URL, {**BODY, "session_id": "sess-ada-2"}, format="json")
    assert auth_client.get(URL, {"email": "ADA@example.com"}).json()["session_id"] == "sess-ada-2"


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
    signed_in = {**BODY, "session_id": "sess-ada-signed-in"}
    assert auth_client.post(URL, signed_in, format="json").status_code == 201
    assert auth_client.post(URL, signed_in, format="json").status_code == 201
    created_by_user = DemoUser.objects.filter(created_by__isnull=False).count()
    assert created_by_user == 2


def _other_user_client():
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    other = get_user_model().objects.create_user(username="other", password="a-long-passphrase")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client


VICTIM = {"full_name": "Victim Person", "email": "victim@example.com", "session_id": "sess-victim"}
ATTACKER = {**VICTIM, "full_name": "Attacker Person"}


def test_an_anonymous_visitors_profile_cannot_be_replaced_or_read_by_another(api_client):
    """The probe: the same POST with the victim's email and session, then the lookup."""
    created = api_client.post(URL, VICTIM, format="json")
    assert created.status_code == 201
    token = created.json()["session_token"]  # the profile started the session: it is theirs
    mine = {"HTTP_X_SESSION_TOKEN": token}
    lookup = {"email": "victim@example.com", "session_id": "sess-victim"}

    for headers in ({}, {"HTTP_X_SESSION_TOKEN": "guessed"}):
        replaced = api_client.post(URL, ATTACKER, format="json", **headers)
        assert replaced.status_code == 403, replaced.content
        assert "another visitor" in replaced.json()["detail"]
        read = api_client.get(URL, lookup, **headers)
        assert read.status_code == 403 and "Victim" not in read.content.decode()
    assert not DemoUser.objects.filter(full_name="Attacker Person").exists()

    assert api_client.get(URL, lookup, **mine).json()["profile"]["full_name"] == "Victim Person"


def test_a_signed_in_users_profile_is_theirs_alone(auth_client, api_client):
    """Another user, or an anonymous client knowing the email and session, gets nothing."""
    assert auth_client.post(URL, VICTIM, format="json").status_code == 201
    lookup = {"email": "victim@example.com", "session_id": "sess-victim"}
    other = _other_user_client()

    for client in (api_client, other):
        read = client.get(URL, lookup)
        assert read.status_code == 403, read.content
        assert "Victim" not in read.content.decode()
        replaced = client.post(URL, ATTACKER, format="json")
        assert replaced.status_code == 403
        assert replaced.json()["detail"] == "This session belongs to another user."
    by_email = other.get(URL, {"email": "victim@example.com"})
    assert by_email.status_code == 403
    assert by_email.json()["detail"] == "This demo profile belongs to another client."
    assert auth_client.get(URL, lookup).json()["profile"]["full_name"] == "Victim Person"


def test_a_profile_another_client_made_in_the_session_is_a_conflict(api_client, auth_client):
    from browser.services import session_claim

    # Made (before sessions were bound to their creator) by a user, in what is now a visitor's.
    auth_client.post(URL, VICTIM, format="json")
    DemoUser.objects.update(session_id="sess-visitor-3")
    token = session_claim(session_id="sess-visitor-3")
    body = {**ATTACKER, "session_id": "sess-visitor-3"}
    clash = api_client.post(URL, body, format="json", HTTP_X_SESSION_TOKEN=token)
    assert clash.status_code == 409, clash.content
    assert "another client" in clash.json()["detail"]
    assert DemoUser.objects.count() == 1
