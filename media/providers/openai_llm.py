"""Chat-completions LLMs through the `openai` client: Azure OpenAI and OpenAI-compatible servers.

Streaming with tool calls: text deltas are yielded as they arrive; tool-call fragments are
concatenated per `index` and yielded as complete calls when the stream ends.

Retries: transient failures (connection errors, timeouts, 408/409/429/5xx) are retried up to
`max_retries` times with exponential backoff and full jitter (honouring `Retry-After`), but only
while nothing of this response has been yielded and `request.can_retry()` says the turn's audio
has not started: a retry must never make the caller hear something twice. The client (and its
HTTP connection pool) is created once per session and reused across turns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from media.providers.base import (
    LLM,
    LLMEvent,
    LLMRequest,
    MissingCredentialError,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderError,
    TextDelta,
    ToolCallRequest,
    Usage,
)

logger = logging.getLogger(__name__)

_MESSAGE_KEYS = {
    "system": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "tool_calls"),
    "tool": ("role", "content", "tool_call_id"),
}
_AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


def _clean_schema(value: Any) -> Any:
    """Drop vendor extensions (`x-ask`, ...) from a JSON schema before it goes to the API."""
    if isinstance(value, dict):
        return {k: _clean_schema(v) for k, v in value.items() if not str(k).startswith("x-")}
    if isinstance(value, list):
        return [_clean_schema(v) for v in value]
    return value


def _clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        keys = _MESSAGE_KEYS.get(message.get("role", ""), ())
        out.append({k: message[k] for k in keys if k in message})
    return out


class _ChatCompletionsLLM(LLM):
    """Shared streaming, tool-call assembly and retry logic."""

    def __init__(
        self,
        max_retries: int = 2,
        retry_base_delay_s: float = 0.25,
        retry_max_delay_s: float = 4.0,
        timeout_s: float = 30.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.max_retries = max_retries
        self.retry_base_delay_s = retry_base_delay_s
        self.retry_max_delay_s = retry_max_delay_s
        self.timeout_s = timeout_s
        self.client: Any = None
        self._credential: Any = None

    def _model(self, request: LLMRequest) -> str:
        raise NotImplementedError

    def _make_client(self) -> Any:
        raise NotImplementedError

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        if self.client is None:
            self.client = self._make_client()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    def _body(self, request: LLMRequest) -> dict[str, Any]:
        model = request.agent.model
        body: dict[str, Any] = {
            "model": self._model(request),
            "messages": _clean_messages(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": model.temperature,
            "top_p": model.top_p,
            "max_tokens": model.max_tokens,
        }
        if request.tools:
            body["tools"] = [_clean_schema(t.as_openai_tool()) for t in request.tools]
        return body

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        import openai

        if self.client is None:
            self.client = self._make_client()
        body = self._body(request)
        attempt = 0
        while True:
            yielded = False
            try:
                response = await self.client.chat.completions.create(**body)
                calls: dict[int, dict[str, str]] = {}
                async with response:
                    async for chunk in response:
                        usage = getattr(chunk, "usage", None)
                        if usage is not None:
                            yielded = True
                            yield Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0)
                        for choice in chunk.choices or ():
                            delta = choice.delta
                            if delta is None:
                                continue
                            if delta.content:
                                yielded = True
                                yield TextDelta(delta.content)
                            for part in delta.tool_calls or ():
                                call = calls.setdefault(
                                    part.index, {"id": "", "name": "", "args": ""}
                                )
                                if part.id:
                                    call["id"] = part.id
                                if part.function is not None:
                                    call["name"] += part.function.name or ""
                                    call["args"] += part.function.arguments or ""
                for index in sorted(calls):
                    yielded = True
                    yield self._tool_call(calls[index], index)
                return
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                status = getattr(exc, "status_code", None)
                transient = status is None or status in (408, 409, 429) or status >= 500
                if (
                    not transient
                    or yielded
                    or attempt >= self.max_retries
                    or not request.can_retry()
                ):
                    raise ProviderError(_describe(exc), transient=transient) from exc
                delay = self._backoff(attempt, exc)
                attempt += 1
                logger.warning(
                    "session %s: LLM %s, retry %d in %.2f s",
                    request.session_id, _describe(exc), attempt, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int, exc: Exception) -> float:
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(self.retry_max_delay_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        cap = min(self.retry_max_delay_s, self.retry_base_delay_s * (2**attempt))
        return random.uniform(0, cap)  # full jitter

    @staticmethod
    def _tool_call(call: dict[str, str], index: int) -> ToolCallRequest:
        raw = call["args"] or "{}"
        try:
            arguments = json.loads(raw)
        except ValueError:
            logger.warning("tool call %s: arguments are not JSON: %.80s", call["name"], raw)
            arguments = {}
        if not isinstance(arguments, dict):
            arguments = {}
        return ToolCallRequest(call["id"] or f"call_{index}", call["name"], arguments, raw)


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} (HTTP {status})" if status else name


def _import_openai(provider: str) -> Any:
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError("openai", provider) from exc
    return openai


class AzureOpenAILLM(_ChatCompletionsLLM):
    """Azure OpenAI chat completions (a deployment), with an api key or Entra ID.

    Options: `endpoint` (AZURE_OPENAI_ENDPOINT), `deployment` (AZURE_OPENAI_CHAT_DEPLOYMENT),
    `api_version`, `api_key` (AZURE_OPENAI_KEY; without it `DefaultAzureCredential` from
    azure-identity supplies tokens for the Cognitive Services scope and refreshes them).
    An agent's `model.deployment` overrides the deployment.
    """

    def __init__(
        self,
        endpoint: str = "",
        deployment: str = "",
        api_version: str = "2024-10-21",
        api_key: str = "",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.endpoint = endpoint
        self.deployment = deployment
        self.api_version = api_version
        self.api_key = api_key

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        if not options.get("endpoint"):
            return ProviderCheck(False, backend, "AZURE_OPENAI_ENDPOINT is not set")
        if not options.get("deployment"):
            return ProviderCheck(False, backend, "AZURE_OPENAI_CHAT_DEPLOYMENT is not set")
        auth = "api key" if options.get("api_key") else "Entra ID"
        return ProviderCheck(True, backend, f"{options['endpoint']} ({auth})")

    def _model(self, request: LLMRequest) -> str:
        return request.agent.model.deployment or self.deployment

    def _make_client(self) -> Any:
        openai = _import_openai("AzureOpenAILLM")
        if not self.endpoint:
            raise MissingCredentialError("AZURE_OPENAI_ENDPOINT", "AzureOpenAILLM")
        if not self.deployment:
            raise MissingCredentialError("AZURE_OPENAI_CHAT_DEPLOYMENT", "AzureOpenAILLM")
        kwargs: dict[str, Any] = {
            "azure_endpoint": self.endpoint,
            "api_version": self.api_version,
            "max_retries": 0,  # ours: bounded, and never once audio started
            "timeout": self.timeout_s,
        }
        if self.api_key:
            kwargs["api_key"] = self.api_key
        else:
            try:
                from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
            except ImportError as exc:
                raise MissingDependencyError("azure-identity", "AzureOpenAILLM") from exc
            self._credential = DefaultAzureCredential()
            kwargs["azure_ad_token_provider"] = get_bearer_token_provider(
                self._credential, _AZURE_SCOPE
            )
        return openai.AsyncAzureOpenAI(**kwargs)


class OpenAICompatibleLLM(_ChatCompletionsLLM):
    """Any OpenAI-compatible chat-completions server: OpenAI, Ollama, vLLM, llama.cpp server.

    Options: `base_url` (OPENAI_BASE_URL), `api_key` (OPENAI_API_KEY; local servers often need
    none), `model` (OPENAI_MODEL; an agent's `model.deployment` overrides it).
    """

    def __init__(self, base_url: str = "", api_key: str = "", model: str = "", **options: Any):
        super().__init__(**options)
        self.base_url = base_url
        self.api_key = api_key
        self.model = model

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        if not options.get("base_url"):
            return ProviderCheck(False, backend, "OPENAI_BASE_URL is not set")
        return ProviderCheck(True, backend, f"{options['base_url']} ({options.get('model', '')})")

    def _model(self, request: LLMRequest) -> str:
        return request.agent.model.deployment or self.model

    def _make_client(self) -> Any:
        openai = _import_openai("OpenAICompatibleLLM")
        if not self.base_url:
            raise MissingCredentialError("OPENAI_BASE_URL", "OpenAICompatibleLLM")
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",  # the client insists; local servers ignore it
            max_retries=0,
            timeout=self.timeout_s,
        )
