"""PII redaction for one conversation (`media.redaction`), applied where the glue hands data on.

- `store` and `llm`: turns and state before they are stored (and so traced), errors, and every
  envelope relayed to dashboards. The caller's own socket gets what they said.
- `llm`: also the LLM's messages, through :class:`RedactingLLM` (numbered placeholders out,
  values put back in its spoken text) and :class:`RestoringToolRunner` (values put back in the
  tools' arguments): tools verify what the caller really said.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from media.engine.events import TurnMetrics
from media.engine.snapshot import ToolContext, ToolRunner
from media.providers.base import LLM, LLMEvent, LLMRequest, ProviderContext, TextDelta
from media.redaction import LLM as LLM_MODE
from media.redaction import OFF, PiiVault, redact, redact_value


class ConversationRedaction:
    """The redaction a conversation applies, by its mode (`off`, `store` or `llm`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.vault = PiiVault() if mode == LLM_MODE else None

    @property
    def active(self) -> bool:
        return self.mode != OFF

    def turn(self, event: TurnMetrics) -> TurnMetrics:
        if not self.active:
            return event
        return dataclasses.replace(
            event, user_text=redact(event.user_text), assistant_text=redact(event.assistant_text)
        )

    def text(self, text: str) -> str:
        return redact(text) if self.active else text

    def value(self, value: Any) -> Any:
        """A relayed envelope, the saved history: every string in it."""
        return redact_value(value) if self.active else value

    def llm(self, llm: LLM) -> LLM:
        return RedactingLLM(llm, self.vault) if self.vault is not None else llm

    def tool_runner(self, runner: ToolRunner) -> ToolRunner:
        return RestoringToolRunner(runner, self.vault) if self.vault is not None else runner


class RedactingLLM(LLM):
    """An LLM that is sent placeholders for the caller's personal data."""

    def __init__(self, inner: LLM, vault: PiiVault) -> None:
        super().__init__()
        self.inner = inner
        self.vault = vault

    @property
    def backend(self) -> str:
        return self.inner.backend

    async def start(self, context: ProviderContext) -> None:
        self.context = context
        await self.inner.start(context)

    def cancel(self) -> None:
        self.inner.cancel()

    async def close(self) -> None:
        await self.inner.close()

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        messages = [self.vault.redact_value(message) for message in request.messages]
        request = dataclasses.replace(request, messages=messages)
        spoken = _PlaceholderJoiner(self.vault)
        async for event in self.inner.stream(request):
            if type(event) is TextDelta:
                text = spoken.push(event.text)
                if text:
                    yield TextDelta(text)
            else:
                yield event
        rest = spoken.flush()
        if rest:
            yield TextDelta(rest)


class _PlaceholderJoiner:
    """Puts values back into streamed text, holding a placeholder split across deltas."""

    _OPEN_TAIL = re.compile(r"\[[^\]]{0,20}$")

    def __init__(self, vault: PiiVault) -> None:
        self.vault = vault
        self.held = ""

    def push(self, text: str) -> str:
        text = self.held + text
        tail = self._OPEN_TAIL.search(text)
        self.held = tail.group() if tail else ""
        ready = text[: tail.start()] if tail else text
        return self.vault.restore(ready)

    def flush(self) -> str:
        rest, self.held = self.held, ""
        return self.vault.restore(rest)


class RestoringToolRunner:
    """Runs tools with the caller's values in place of the LLM's placeholders."""

    def __init__(self, inner: ToolRunner, vault: PiiVault) -> None:
        self.inner = inner
        self.vault = vault

    def run(self, name: str, arguments: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        return self.inner.run(name, self.vault.restore(dict(arguments)), context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
