import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_profile_passes_check_deploy():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="k3y-" + "x9Q!a7Zp" * 8,
        DJANGO_ALLOWED_HOSTS="voice.example.com",
        BASE_URL="https://voice.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_profile_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="voice.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_an_azure_provider_without_credentials_names_the_missing_variable():
    result = _manage("check", LLM_PROVIDER="azure_openai", AZURE_OPENAI_ENDPOINT="")
    assert result.returncode != 0
    assert "AZURE_OPENAI_ENDPOINT" in result.stderr


def test_a_trusted_proxy_that_is_not_an_address_stops_start_up():
    result = _manage("check", TRUSTED_PROXIES="10.0.0.0/8,proxy.internal")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr and "proxy.internal" in result.stderr
