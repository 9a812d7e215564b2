"""The fake ACS as users run it: `python -m testing.fake_acs` and `manage.py acs_urls`."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from calls import acs_client
from testing.fake_acs.__main__ import main as fake_acs_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_acs_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.fake_acs", "serve", "--port", "0", "--no-media"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = {}
    for line in process.stdout:
        if line.startswith("fake ACS"):
            lines["endpoint"] = line.rsplit(" ", 1)[1].strip()
        if line.startswith("ACS_CONNECTION_STRING="):
            lines["connection_string"] = line.split("=", 1)[1].strip()
            break
    yield lines
    process.terminate()
    process.wait(timeout=10)


def test_standalone_fake_serves_the_sdk_and_rings_the_app(settings, fake_acs_process, capsys):
    settings.ACS_CONNECTION_STRING = fake_acs_process["connection_string"]
    settings.ACS_ENDPOINT = ""

    props = acs_client.create_call(
        target_number="+14255550123",
        source_number="+14255550100",
        operation_context="op-1",
        streaming_mode="media",
    )
    fake_acs_cli(["calls", "--fake", fake_acs_process["endpoint"]])
    listed = json.loads(capsys.readouterr().out)

    assert props.call_connection_state == "connecting"
    assert [c["callConnectionId"] for c in listed["calls"]] == [props.call_connection_id]
    assert acs_client.hang_up(props.call_connection_id) is True
    assert acs_client.hang_up(props.call_connection_id) is False


def test_acs_urls_prints_the_urls_with_the_secret(settings):
    settings.BASE_URL = "https://voice.example.com"
    settings.ACS_CALLBACK_SECRET = "s3cret"
    out = StringIO()

    call_command("acs_urls", "--event-grid", stdout=out)

    assert out.getvalue().strip() == "https://voice.example.com/api/v1/calls/answer?token=s3cret"


def test_half_configured_jwt_verification_is_a_startup_error(settings):
    from calls.checks import acs_settings_check

    settings.ACS_JWKS_URL = "https://acscallautomation.communication.azure.com/calling/keys"
    settings.ACS_JWT_AUDIENCE = ""
    settings.BASE_URL = "https://voice.example.com"

    assert [p.id for p in acs_settings_check()] == ["calls.E001"]
