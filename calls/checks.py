"""System checks (`manage.py check`) for the ACS settings that only fail at call time."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from media.modes import CALL_MODES, StreamMode


@register("calls")
def acs_settings_check(app_configs=None, **kwargs):
    problems = []
    if bool(settings.ACS_JWKS_URL) != bool(settings.ACS_JWT_AUDIENCE):
        problems.append(
            Error(
                "ACS JWT verification needs both ACS_JWKS_URL and ACS_JWT_AUDIENCE.",
                hint="Set both (the audience is the ACS resource's immutable id), or neither "
                "to check callbacks with the secret in their URL.",
                id="calls.E001",
            )
        )
    if settings.ACS_STREAMING_MODE not in CALL_MODES:
        problems.append(
            Error(
                f"ACS_STREAMING_MODE={settings.ACS_STREAMING_MODE!r} is not one of "
                f"{', '.join(CALL_MODES)}.",
                id="calls.E002",
            )
        )
    if (
        settings.ACS_STREAMING_MODE == StreamMode.TRANSCRIPTION
        and (settings.ACS_CONNECTION_STRING or settings.ACS_ENDPOINT)
        and not settings.ACS_COGNITIVE_SERVICES_ENDPOINT
    ):
        problems.append(
            Warning(
                "Transcription mode asks ACS to transcribe, which needs an Azure AI services "
                "resource.",
                hint="Set ACS_COGNITIVE_SERVICES_ENDPOINT.",
                id="calls.W001",
            )
        )
    container_url = settings.ACS_RECORDING_CONTAINER_URL
    if container_url and not container_url.startswith("https://"):
        problems.append(
            Error(
                "ACS_RECORDING_CONTAINER_URL must be the https URL of a Blob container.",
                hint="e.g. https://<account>.blob.core.windows.net/<container>, or leave it "
                "blank to keep recordings in ACS's own storage.",
                id="calls.E003",
            )
        )
    if not settings.DEBUG and settings.BASE_URL.startswith("http://"):
        problems.append(
            Warning(
                "BASE_URL is not https: ACS only streams media to wss:// URLs.",
                id="calls.W002",
            )
        )
    return problems
