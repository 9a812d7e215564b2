"""What the fake model says and what the fake recogniser hears (scripted)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testing.fake_realtime.connection import FakeRealtimeConnection


@dataclass(slots=True)
class Reply:
    """What the fake model answers: spoken text, or a tool call followed by `after_tool`."""

    text: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


Responder = Callable[["FakeRealtimeConnection", str], Reply]
Transcriber = Callable[["FakeRealtimeConnection", bytes], str]

_QUOTED = re.compile(r"[\"“]([^\"”]+)[\"”]")


def default_respond(conn: FakeRealtimeConnection, user_text: str) -> Reply:
    if conn.pending_instructions:
        quoted = _QUOTED.search(conn.pending_instructions)
        if quoted:
            return Reply(text=quoted.group(1))
    if conn.last_tool_output is not None:
        output, conn.last_tool_output = conn.last_tool_output, None
        return Reply(text=f"The tool answered: {output[:120]}")
    words = set(re.findall(r"[a-z]+", user_text.lower()))
    for tool in conn.session.get("tools") or ():
        name = str(tool.get("name", ""))
        if name and set(name.lower().split("_")) <= words:
            return Reply(tool=name, arguments={"utterance": user_text})
    return Reply(text=f"You said: {user_text}" if user_text else "I am listening.")


def default_transcribe(conn: FakeRealtimeConnection, pcm: bytes) -> str:
    if conn.server.transcripts:
        return conn.server.transcripts.pop(0)
    return f"audio of {len(pcm) // 2 * 1000 // conn.input_rate_hz} milliseconds"
