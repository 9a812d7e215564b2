"""A local realtime server speaking the Voice Live / OpenAI realtime event protocol.

It stands in for Azure Voice Live (`/voice-live/realtime`, preview event names), the Azure
OpenAI realtime preview (`/openai/realtime`) and GA (`/openai/v1/realtime`, GA names) on
loopback, so that the realtime provider is exercised over a real WebSocket with real events:

- `session.created` on connect; `session.update` is validated against the dialect's session
  shape (GA needs `session.type` and nested `audio`; preview is flat) and echoed as
  `session.updated`, or answered with an `error`.
- Appended audio is buffered; an energy detector on 20 ms windows emits
  `input_audio_buffer.speech_started` / `speech_stopped`, then `committed`, the user item and
  its transcription (scripted: there is no recogniser), then a response when
  `turn_detection.create_response` is on. Speech during a response cancels it when
  `interrupt_response` is on, as the service does.
- A response is `response.created`, an assistant item, audio deltas (a tone whose length
  follows the text) interleaved with transcript deltas, `…done` events and `response.done`
  with usage. Scripted tool calls are `function_call` items with argument deltas; the server
  then waits for `function_call_output` + `response.create`.
- `response.cancel` stops the response (`response.done` status `cancelled`) or answers the
  `response_cancel_not_active` error; `conversation.item.truncate` is recorded and answered
  with `conversation.item.truncated`.

What the model says is scripted by a `respond(connection, user_text)` callable returning a
:class:`Reply`; the default says the quoted text of response instructions (greetings) and
otherwise calls a tool whose name appears in the user's words, or answers "You said: …".
Run it standalone with `python -m media.realtime.fake_server --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from media.realtime.protocol import (
    REALTIME_SAMPLE_RATE_HZ,
    Dialect,
    dialect_for_path,
    event_type_for,
)

logger = logging.getLogger(__name__)

SPEECH_DBFS = -40.0  # louder 20 ms windows count as speech
SPEECH_ONSET_MS = 60
DEFAULT_SILENCE_MS = 500
AUDIO_CHUNK_MS = 100  # audio per response.audio.delta
SPEECH_MS_PER_CHAR = 55  # length of the tone standing for the spoken text


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
        self._buffer = bytearray()
        self._vad_pos = 0
        self._current_item = ""
        self._speech_ms = 0
        self._silence_ms = 0
        self._in_speech = False
        self._utterance_start_ms = 0
        self._audio_ms = 0
        self._response: asyncio.Task | None = None
        self._response_id: str | None = None
        self._awaiting_tool_output = False
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
            if self._response is not None:
                self._response.cancel()

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
            await self._append(pcm)
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "input_audio_buffer.clear":
            self._buffer.clear()
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            await self._item_create(event.get("item") or {}, eid)
        elif kind == "response.create":
            response = event.get("response") or {}
            self.pending_instructions = str(response.get("instructions") or "")
            if self._response is not None and not self._response.done():
                await self.error(
                    "a response is already in progress",
                    code="conversation_already_has_active_response",
                    event_id=eid,
                )
                return
            self._start_response()
        elif kind == "response.cancel":
            self.cancels += 1
            if not await self._cancel_response():
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

    # -- input audio and server VAD ---------------------------------------------------------

    async def _append(self, pcm: bytes) -> None:
        self._buffer.extend(pcm)
        td = self.turn_detection
        if not td:
            return
        window = self.input_rate_hz // 50 * 2
        while len(self._buffer) - self._vad_pos >= window:
            frame = bytes(self._buffer[self._vad_pos : self._vad_pos + window])
            self._vad_pos += window
            self._audio_ms += 20
            await self._vad_frame(frame, td)

    async def _vad_frame(self, frame: bytes, td: dict[str, Any]) -> None:
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
        power = float(np.dot(samples, samples)) / max(1, samples.size)
        dbfs = 10 * np.log10(power / 32768.0**2) if power > 0 else -120.0
        silence_ms = int(td.get("silence_duration_ms") or DEFAULT_SILENCE_MS)
        if dbfs > SPEECH_DBFS:
            self._speech_ms += 20
            self._silence_ms = 0
            if not self._in_speech and self._speech_ms >= SPEECH_ONSET_MS:
                await self.speech_started()
        else:
            self._speech_ms = 0
            if self._in_speech:
                self._silence_ms += 20
                if self._silence_ms >= silence_ms:
                    await self.speech_stopped()

    async def speech_started(self) -> None:
        """Server VAD onset (also a test hook)."""
        self._in_speech = True
        self._utterance_start_ms = max(0, self._audio_ms - SPEECH_ONSET_MS)
        self._current_item = f"item_{uuid.uuid4().hex[:12]}"
        await self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": self._utterance_start_ms,
                "item_id": self._current_item,
            }
        )
        td = self.turn_detection or {}
        if td.get("interrupt_response", True):
            await self._cancel_response()

    async def speech_stopped(self) -> None:
        """Server VAD end of speech (also a test hook): commit and answer."""
        self._in_speech = False
        self._silence_ms = 0
        await self.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._audio_ms,
                "item_id": self._current_item,
            }
        )
        await self._commit(item_id=self._current_item)
        td = self.turn_detection or {}
        if td.get("create_response", True):
            self.pending_instructions = ""
            if self._response is None or self._response.done():
                self._start_response()

    async def _commit(self, item_id: str | None = None) -> None:
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._vad_pos = 0
        item_id = item_id or f"item_{uuid.uuid4().hex[:12]}"
        await self.send(
            {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None}
        )
        content = [{"type": "input_audio"}]
        item = {"id": item_id, "type": "message", "role": "user", "content": content}
        self.items[item_id] = item
        await self.send({"type": self.name("conversation.item.created"), "item": item})
        text = self.server.transcribe(self, pcm)
        self.last_user_text = text
        if self.transcription_enabled:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": text,
                }
            )
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                }
            )

    async def _item_create(self, item: dict[str, Any], eid: str | None) -> None:
        item_type = item.get("type")
        item = {**item, "id": item.get("id") or f"item_{uuid.uuid4().hex[:12]}"}
        if item_type == "function_call_output":
            if not item.get("call_id"):
                await self.error("call_id is required", code="missing_required_parameter")
                return
            self.function_outputs.append(item)
            self.last_tool_output = str(item.get("output", ""))
            self._awaiting_tool_output = False
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

    # -- responses --------------------------------------------------------------------------

    def _start_response(self) -> None:
        self._response_id = f"resp_{uuid.uuid4().hex[:12]}"
        self._response = asyncio.ensure_future(self._respond_quietly(self._response_id))

    async def _respond_quietly(self, response_id: str) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._respond(response_id)

    async def _cancel_response(self) -> bool:
        task = self._response
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def _respond(self, response_id: str) -> None:
        reply = self.server.respond(self, self.last_user_text)
        output: list[dict[str, Any]] = []
        status = "completed"
        await self.send(
            {
                "type": "response.created",
                "response": {"id": response_id, "status": "in_progress", "output": []},
            }
        )
        try:
            if reply.tool:
                output.append(await self._function_call(response_id, reply))
            else:
                output.append(await self._speak(response_id, reply.text))
        except asyncio.CancelledError:
            status = "cancelled"
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "status": status,
                    "status_details": {"type": "cancelled", "reason": "turn_detected"}
                    if status == "cancelled"
                    else None,
                    "output": output,
                    "usage": {
                        "input_tokens": 20 + len(self.last_user_text) // 4,
                        "output_tokens": 10 + len(reply.text) // 4,
                        "total_tokens": 30 + (len(self.last_user_text) + len(reply.text)) // 4,
                    },
                },
            }
        )
        if status == "cancelled":
            raise asyncio.CancelledError

    async def _function_call(self, response_id: str, reply: Reply) -> dict[str, Any]:
        item_id = f"item_{uuid.uuid4().hex[:12]}"
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        arguments = json.dumps(reply.arguments)
        item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": reply.tool}
        self.items[item_id] = item
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        await self.send(
            {"type": "response.output_item.added", "response_id": response_id, "item": item}
        )
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **base,
                    "call_id": call_id,
                    "delta": piece,
                }
            )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                **base,
                "call_id": call_id,
                "name": reply.tool,
                "arguments": arguments,
            }
        )
        done = {**item, "arguments": arguments, "status": "completed"}
        await self.send(
            {"type": "response.output_item.done", "response_id": response_id, "item": done}
        )
        self._awaiting_tool_output = True
        return done

    async def _speak(self, response_id: str, text: str) -> dict[str, Any]:
        item_id = f"item_{uuid.uuid4().hex[:12]}"
        item = {"id": item_id, "type": "message", "role": "assistant", "content": []}
        self.items[item_id] = item
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        await self.send(
            {"type": "response.output_item.added", "response_id": response_id, "item": item}
        )
        await self.send(
            {
                "type": "response.content_part.added",
                **base,
                "content_index": 0,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        rate = REALTIME_SAMPLE_RATE_HZ
        total_ms = max(200, len(text) * SPEECH_MS_PER_CHAR)
        chunks = max(1, total_ms // AUDIO_CHUNK_MS)
        words = text.split()
        per_chunk = max(1, -(-len(words) // chunks))
        t = np.arange(rate * AUDIO_CHUNK_MS // 1000, dtype=np.float32) / rate
        tone = (np.sin(2 * np.pi * self.server.tone_hz * t) * 0.3 * 32767).astype(np.int16)
        chunk_b64 = base64.b64encode(tone.tobytes()).decode("ascii")
        for i in range(chunks):
            piece = " ".join(words[i * per_chunk : (i + 1) * per_chunk])
            if piece:
                await self.send(
                    {
                        "type": self.name("response.audio_transcript.delta"),
                        **base,
                        "content_index": 0,
                        "delta": piece if i == 0 else " " + piece,
                    }
                )
            await self.send(
                {
                    "type": self.name("response.audio.delta"),
                    **base,
                    "content_index": 0,
                    "delta": chunk_b64,
                }
            )
            await asyncio.sleep(self.server.chunk_interval_s)
        await self.send({"type": self.name("response.audio.done"), **base, "content_index": 0})
        await self.send(
            {
                "type": self.name("response.audio_transcript.done"),
                **base,
                "content_index": 0,
                "transcript": text,
            }
        )
        part = {"type": "audio", "transcript": text}
        await self.send(
            {"type": "response.content_part.done", **base, "content_index": 0, "part": part}
        )
        item["content"] = [part]
        done = {**item, "status": "completed"}
        await self.send(
            {"type": "response.output_item.done", "response_id": response_id, "item": done}
        )
        return done


class FakeRealtimeServer:
    """The fake realtime service on 127.0.0.1 (port 0 picks a free one).

    Args:
        respond: scripts the model's replies (see :func:`default_respond`).
        transcribe: scripts the transcription of a committed utterance; the default pops
            `transcripts` in order.
        api_key: when set, the `api-key` header or `Authorization: Bearer` must carry it.
        chunk_interval_s: pause between 100 ms audio deltas (the service sends faster than
            real time; 0.02 s is five times real time).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        respond: Responder = default_respond,
        transcribe: Transcriber = default_transcribe,
        transcripts: list[str] | None = None,
        api_key: str = "",
        chunk_interval_s: float = 0.02,
        tone_hz: float = 330.0,
    ) -> None:
        self.host = host
        self.port = port
        self.respond = respond
        self.transcribe = transcribe
        self.transcripts = list(transcripts or [])
        self.api_key = api_key
        self.chunk_interval_s = chunk_interval_s
        self.tone_hz = tone_hz
        self.connections: list[FakeRealtimeConnection] = []
        self.connected = asyncio.Event()
        self._server: Any = None

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The endpoint as configured for Azure (`http` is mapped to `ws` by the client)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeRealtimeServer:
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._check, compression=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeRealtimeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _check(self, connection: Any, request: Any) -> Any:
        if dialect_for_path(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no realtime endpoint here\n")
        if self.api_key:
            given = request.headers.get("api-key") or ""
            auth = request.headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if given != self.api_key:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    async def _handler(self, ws: Any) -> None:
        path, _, query = ws.request.path.partition("?")
        conn = FakeRealtimeConnection(self, ws, dialect_for_path(path) or Dialect.PREVIEW, path)
        conn.query = dict(parse_qsl(query))
        conn.headers = dict(ws.request.headers.raw_items())
        self.connections.append(conn)
        self.connected.set()
        try:
            await conn.run()
        except Exception as exc:  # noqa: BLE001 - a closed socket ends the session
            logger.debug("fake realtime connection ended: %r", exc)

    async def wait_for_connection(self, timeout_s: float = 5.0) -> FakeRealtimeConnection:
        await asyncio.wait_for(self.connected.wait(), timeout_s)
        return self.connections[-1]


async def _serve_forever(port: int) -> None:
    server = await FakeRealtimeServer(port=port).start()
    print(f"fake realtime server on {server.base_url} (/voice-live/realtime, /openai/v1/realtime)")
    await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port))


if __name__ == "__main__":
    main()
