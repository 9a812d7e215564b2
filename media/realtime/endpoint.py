"""Where a realtime service lives and how to authenticate to it."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from media.providers.base import MissingCredentialError, ProviderCheck, ProviderStartError
from media.realtime.protocol import Dialect, dialect_for_path

PROVIDERS = ("azure_voice_live", "openai")
VOICE_LIVE_API_VERSION = "2025-10-01"
ENTRA_SCOPE = "https://ai.azure.com/.default"


def _ws_scheme(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    return url


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in params.items():
        if value:
            query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class RealtimeEndpoint:
    """A configured realtime service: its WebSocket URL, dialect and credentials.

    `api_key` goes in the `api-key` header (Azure) or `Authorization: Bearer` (OpenAI); with
    no key, Azure endpoints get an Entra token from `azure-identity` at connect time.
    """

    provider: str
    url: str
    dialect: Dialect
    api_key: str = ""
    model: str = ""
    azure: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def azure_voices(self) -> bool:
        """Voice Live speaks with Azure neural voices; OpenAI only with its own."""
        return self.provider == "azure_voice_live"

    @property
    def label(self) -> str:
        parts = urlsplit(self.url)
        return f"{self.provider} ({parts.scheme}://{parts.netloc}{parts.path}, {self.dialect})"

    @classmethod
    def from_options(
        cls,
        *,
        provider: str,
        endpoint: str = "",
        url: str = "",
        api_key: str = "",
        model: str = "",
        api_version: str = VOICE_LIVE_API_VERSION,
    ) -> RealtimeEndpoint:
        """Build from the settings' options (see `REALTIME_SPEECH_PROVIDER`)."""
        if provider == "azure_voice_live":
            if not endpoint and not url:
                raise MissingCredentialError("AZURE_VOICE_LIVE_ENDPOINT", "Azure Voice Live")
            base = _ws_scheme((url or endpoint).rstrip("/"))
            if dialect_for_path(urlsplit(base).path) is None:
                base += "/voice-live/realtime"
            full = _with_params(base, {"api-version": api_version, "model": model})
            return cls(provider, full, Dialect.PREVIEW, api_key, model, azure=True)
        if provider == "openai":
            if not url:
                raise MissingCredentialError("OPENAI_REALTIME_URL", "the OpenAI realtime API")
            full = _ws_scheme(url)
            path = urlsplit(full).path
            dialect = dialect_for_path(path) or Dialect.GA
            host = urlsplit(full).hostname or ""
            azure = host.endswith(".azure.com")
            params = {"model": model}
            if dialect is Dialect.PREVIEW and azure:
                params = {"deployment": model, "api-version": "2025-04-01-preview"}
            headers = {"OpenAI-Beta": "realtime=v1"} if dialect is Dialect.PREVIEW else {}
            return cls(
                provider,
                _with_params(full, params),
                dialect,
                api_key,
                model,
                azure=azure,
                extra_headers=headers,
            )
        raise ProviderStartError(
            f"REALTIME_PROVIDER={provider!r} is not one of none, {', '.join(PROVIDERS)}"
        )

    async def headers(self) -> dict[str, str]:
        """Upgrade headers, with an Entra token fetched off the loop when there is no key."""
        headers = dict(self.extra_headers)
        if self.api_key:
            if self.azure:
                headers["api-key"] = self.api_key
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
            return headers
        if not self.azure:
            raise MissingCredentialError("OPENAI_API_KEY", "the OpenAI realtime API")
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise ProviderStartError(
                "Voice Live without a key needs azure-identity: pip install azure-identity"
            ) from exc

        def token() -> str:
            return DefaultAzureCredential().get_token(ENTRA_SCOPE).token

        try:
            headers["Authorization"] = f"Bearer {await asyncio.to_thread(token)}"
        except Exception as exc:
            raise ProviderStartError(
                f"no AZURE_VOICE_LIVE_KEY and no managed identity token: {exc}"
            ) from exc
        return headers

    def check(self) -> ProviderCheck:
        backend = "media.providers.realtime.RealtimeSession"
        if not self.api_key and not self.azure:
            return ProviderCheck(False, backend, "OPENAI_API_KEY is not set")
        return ProviderCheck(True, backend, self.label)
