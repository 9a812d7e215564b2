"""Azure Speech providers: configuration, auth, errors, and the real SDK against a USP fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from media.engine.snapshot import VoiceSpec
from media.providers import build_providers
from media.providers.azure_speech import AzureSTT, AzureTTS
from media.providers.base import MissingCredentialError

ROOT = Path(__file__).resolve().parents[2]


def test_check_names_the_missing_variable():
    assert AzureSTT.check().detail == (
        "the Azure Speech provider is selected but AZURE_SPEECH_REGION is not set"
    )
    assert "AZURE_SPEECH_KEY" in AzureTTS.check(region="westeurope").detail
    ok = AzureSTT.check(region="westeurope", key="k")
    assert ok.ok and ok.detail == "westeurope (key)"
    entra = AzureTTS.check(endpoint="https://my.cognitiveservices.azure.com", resource_id="/sub/x")
    assert entra.ok and "Entra ID" in entra.detail


async def test_start_without_credentials_fails_clearly():
    from media.engine.session import SessionStartError
    from tests.media.conftest import Harness

    h = Harness(stt=AzureSTT(region="westeurope"))
    with pytest.raises(SessionStartError, match="AZURE_SPEECH_KEY is not set"):
        await h.session.start()


def test_speech_config_key_and_entra_token(monkeypatch):
    stt = AzureSTT(region="westeurope", key="k1")
    config = stt._speech_config()
    assert config.region == "westeurope" and config.subscription_key == "k1"

    class Token:
        token = "entra-token"

    class Credential:
        def get_token(self, scope):
            assert scope == "https://cognitiveservices.azure.com/.default"
            return Token()

    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Credential)
    tts = AzureTTS(region="westeurope", resource_id="/subscriptions/s/rg/speech")
    config = tts._speech_config()
    assert config.authorization_token == "aad#/subscriptions/s/rg/speech#entra-token"
    with pytest.raises(MissingCredentialError):
        AzureTTS()._speech_config()


def test_ssml_carries_voice_style_and_rate_escaped():
    ssml = AzureTTS(region="r", key="k").ssml(
        "Tom & Jerry <3", VoiceSpec("en-US-Jenny", "chat", "+5%")
    )
    assert '<voice name="en-US-Jenny">' in ssml
    assert '<mstts:express-as style="chat"><prosody rate="+5%">Tom &amp; Jerry &lt;3' in ssml


def test_factory_builds_azure_providers_from_settings_shape():
    options = {"key": "k", "region": "westeurope", "endpoint": "", "resource_id": ""}
    factory = build_providers(
        {
            "stt": {"BACKEND": "media.providers.azure_speech.AzureSTT", "OPTIONS": options},
            "tts": {"BACKEND": "media.providers.azure_speech.AzureTTS", "OPTIONS": options},
            "llm": {"BACKEND": "media.providers.fakes.ScriptedLLM"},
            "vad": {"BACKEND": "media.providers.fakes.EnergyVAD"},
        }
    )
    report = factory.check()
    assert report["stt"]["ok"] and report["tts"]["ok"]
    providers = factory.create()
    assert isinstance(providers.stt, AzureSTT) and providers.stt.continuous


def test_real_sdk_against_usp_fake():
    """The Speech SDK itself streams TTS audio and recognizes from a push stream (subprocess:
    the SDK may abort an interpreter that exits with native objects alive)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests/media/azure_usp_probe.py")],
        capture_output=True, text=True, timeout=90, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tts_bytes"] == 6400 and out["tts_rate"] == 16000
    assert out["stt_results"] == [["check my", False], ["Check my balance.", True]]
    server = out["server"]
    assert server["paths"] == [
        "/cognitiveservices/websocket/v1",
        "/speech/recognition/conversation/cognitiveservices/v1",
    ]
    assert server["auth"] == ["test-key", "test-key"]
    assert 'style="chat"' in server["ssml"][0] and "Hello &amp; welcome." in server["ssml"][0]
    assert server["audio_bytes"][0] >= 16000
    # the customers' names go out as the recognizer's phrase list, in its speech.context
    groups = server["contexts"][0]["dgi"]["Groups"]
    assert groups == [
        {"Type": "Generic", "Items": [{"Text": "Sarah Wilson"}, {"Text": "David Brown"}]}
    ]
