"""One client session on the fake realtime service: its settings, I/O and client events."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import TYPE_CHECKING, Any

from media.realtime.protocol import REALTIME_SAMPLE_RATE_HZ, Dialect, event_type_for
from testing.fake_realtime.input_audio import InputAudio
from testing.fake_realtime.responses import Responses

if TYPE_CHECKING:
    from testing.fake_realtime.server import FakeRealtimeServer


class FakeRealtimeConnection:
    """One client session on the fake server. Runs on the server's loop only."""

    def __init__(self, server: FakeRealtimeServer, ws: Any, dialect: Dialect, path: str) -> None:
        self.server = server
        self.ws = ws
        self.dialect = dialect
        self.path = path
        self.query: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        self.session: dict[str, Any] = {}
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.truncations: list[dict[str, Any]] = []
        self.cancels = 0
        self.function_outputs: list[dict[str, Any]] = []
        self.items: dict[str, dict[str, Any]] = {}
        self.last_tool_output: str | None = None
        self.pending_instructions = ""
        self.last_user_text = ""
        self.input = InputAudio(self)
        self.responses = Responses(self)
        self._send_lock = asyncio.Lock()

    # -- session settings -------------------------------------------------------------------

    @property
    def input_rate_hz(self) -> int:
        if self.dialect is Dialect.GA:
            fmt = ((self.session.get("audio") or {}).get("input") or {}).get("format") or {}
            return int(fmt.get("rate") or REALTIME_SAMPLE_RATE_HZ)
        return int(self.session.get("input_audio_sampling_rate") or REALTIME_SAMPLE_RATE_HZ)

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        if self.dialect is Dialect.GA:
            audio_in = (self.session.get("audio") or {}).get("input") or {}
            td = audio_in.get("turn_detection", {"type": "server_vad"})
        else:
            td = self.session.get("turn_detection", {"type": "server_vad"})
        return td

    @property
    def transcription_enabled(self) -> bool:
        if self.dialect is Dialect.GA:
            return bool(((self.session.get("audio") or {}).get("input") or {}).get("transcription"))
        return bool(self.session.get("input_audio_transcription"))

    def name(self, preview_name: str) -> str:
        return event_type_for(self.dialect, preview_name)

    # -- I/O --------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", f"event_{uuid.uuid4().hex[:12]}")
        self.sent.append(event)
        async with self._send_lock:
            await self.ws.send(json.dumps(event))

    async def error(self, message: str, *, code: str = "", event_id: str | None = None) -> None:
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code or None,
                    "message": message,
                    "param": None,
                    "event_id": event_id,
                },
            }
        )

    async def run(self) -> None:
        await self.send(
            {"type": "session.created", "session": {"id": f"sess_{uuid.uuid4().hex[:12]}"}}
        )
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    await self.error("binary frames are not supported", code="invalid_frame")
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    await self.error("the event is not JSON", code="invalid_json")
                    continue
                self.received.append(event)
                await self.handle(event)
        finally:
            if self.responses.task is not None:
                self.responses.task.cancel()

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        eid = event.get("event_id")
        if kind == "session.update":
            await self._session_update(event.get("session") or {}, eid)
        elif kind == "input_audio_buffer.append":
            try:
                pcm = base64.b64decode(event.get("audio") or "", validate=True)
            except ValueError:
                await self.error("audio is not base64", code="invalid_value", event_id=eid)
                return
            await self.input.append(pcm)
        elif kind == "input_audio_buffer.commit":
            await self.input.commit()
        elif kind == "input_audio_buffer.clear":
            self.input.clear()
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            await self._item_create(event.get("item") or {}, eid)
        elif kind == "response.create":
            response = event.get("response") or {}
            self.pending_instructions = str(response.get("instructions") or "")
            if self.responses.running:
                await self.error(
                    "a response is already in progress",
                    code="conversation_already_has_active_response",
                    event_id=eid,
                )
                return
            self.responses.start()
        elif kind == "response.cancel":
            self.cancels += 1
            if not await self.responses.cancel():
                await self.error(
                    "there is no active response to cancel",
                    code="response_cancel_not_active",
                    event_id=eid,
                )
        elif kind == "conversation.item.truncate":
            item_id = event.get("item_id")
            if item_id not in self.items:
                await self.error(f"item {item_id} not found", code="item_not_found", event_id=eid)
                return
            self.truncations.append(event)
            await self.send(
                {
                    "type": "conversation.item.truncated",
                    "item_id": item_id,
                    "content_index": event.get("content_index", 0),
                    "audio_end_ms": event.get("audio_end_ms", 0),
                }
            )
        else:
            await self.error(f"unknown event type {kind!r}", code="unknown_event", event_id=eid)

    async def _session_update(self, session: dict[str, Any], eid: str | None) -> None:
        flat_keys = {"modalities", "voice", "input_audio_format", "turn_detection"}
        if self.dialect is Dialect.GA:
            if session.get("type") not in ("realtime", "transcription"):
                await self.error(
                    "Missing required parameter: 'session.type'.",
                    code="missing_required_parameter",
                    event_id=eid,
                )
                return
            unknown = flat_keys & session.keys()
            if unknown:
                await self.error(
                    f"Unknown parameter: 'session.{sorted(unknown)[0]}'.",
                    code="unknown_parameter",
                    event_id=eid,
                )
                return
            audio_in = (session.get("audio") or {}).get("input") or {}
            td_type = (audio_in.get("turn_detection") or {}).get("type", "server_vad")
            model = str((audio_in.get("transcription") or {}).get("model", "whisper-1"))
            if td_type not in ("server_vad", "semantic_vad") or model.startswith("azure"):
                await self.error(
                    f"Invalid value in 'session.audio.input': {td_type}, {model}.",
                    code="invalid_value",
                    event_id=eid,
                )
                return
        elif "audio" in session or "type" in session:
            await self.error(
                "Unknown parameter: 'session.audio'.", code="unknown_parameter", event_id=eid
            )
            return
        self.session.update(session)
        await self.send({"type": "session.updated", "session": self.session})

    async def _item_create(self, item: dict[str, Any], eid: str | None) -> None:
        item_type = item.get("type")
        item = {**item, "id": item.get("id") or f"item_{uuid.uuid4().hex[:12]}"}
        if item_type == "function_call_output":
            if not item.get("call_id"):
                await self.error("call_id is required", code="missing_required_parameter")
                return
            self.function_outputs.append(item)
            self.last_tool_output = str(item.get("output", ""))
            self.responses.awaiting_tool_output = False
        elif item_type == "message":
            role = item.get("role")
            content = item.get("content") or []
            expected = {"user": "input_text", "system": "input_text"}.get(
                role, "output_text" if self.dialect is Dialect.GA else "text"
            )
            for part in content:
                if part.get("type") not in (expected, "input_audio", "audio"):
                    await self.error(
                        f"Invalid value: '{part.get('type')}' for a {role} message",
                        code="invalid_value",
                        event_id=eid,
                    )
                    return
            if role == "user":
                self.last_user_text = " ".join(str(p.get("text", "")) for p in content)
        elif item_type != "function_call":
            await self.error(f"unknown item type {item_type!r}", code="invalid_value")
            return
        self.items[item["id"]] = item
        await self.send({"type": self.name("conversation.item.created"), "item": item})
