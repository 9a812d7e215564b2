"""Responses of the fake service (:class:`Responses`, owned by its connection): spoken text or
a tool call."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from media.realtime.protocol import REALTIME_SAMPLE_RATE_HZ
from testing.fake_realtime.replies import Reply

if TYPE_CHECKING:
    from testing.fake_realtime.connection import FakeRealtimeConnection

AUDIO_CHUNK_MS = 100  # audio per response.audio.delta
SPEECH_MS_PER_CHAR = 55  # length of the tone standing for the spoken text


class Responses:
    """The connection's response in progress (one at a time), streamed event by event."""

    def __init__(self, conn: FakeRealtimeConnection) -> None:
        self.conn = conn
        self.task: asyncio.Task | None = None
        self.response_id: str | None = None
        self.awaiting_tool_output = False

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        self.response_id = f"resp_{uuid.uuid4().hex[:12]}"
        self.task = asyncio.ensure_future(self._respond_quietly(self.response_id))

    async def _respond_quietly(self, response_id: str) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._respond(response_id)

    async def cancel(self) -> bool:
        """Cancel the response in progress; False when there is none."""
        task = self.task
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def _respond(self, response_id: str) -> None:
        conn = self.conn
        reply = conn.server.respond(conn, conn.last_user_text)
        output: list[dict[str, Any]] = []
        status = "completed"
        await conn.send(
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
        await conn.send(
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
                        "input_tokens": 20 + len(conn.last_user_text) // 4,
                        "output_tokens": 10 + len(reply.text) // 4,
                        "total_tokens": 30 + (len(conn.last_user_text) + len(reply.text)) // 4,
                    },
                },
            }
        )
        if status == "cancelled":
            raise asyncio.CancelledError

    async def _function_call(self, response_id: str, reply: Reply) -> dict[str, Any]:
        conn = self.conn
        item_id = f"item_{uuid.uuid4().hex[:12]}"
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        arguments = json.dumps(reply.arguments)
        item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": reply.tool}
        conn.items[item_id] = item
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        await conn.send(
            {"type": "response.output_item.added", "response_id": response_id, "item": item}
        )
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            await conn.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **base,
                    "call_id": call_id,
                    "delta": piece,
                }
            )
        await conn.send(
            {
                "type": "response.function_call_arguments.done",
                **base,
                "call_id": call_id,
                "name": reply.tool,
                "arguments": arguments,
            }
        )
        done = {**item, "arguments": arguments, "status": "completed"}
        await conn.send(
            {"type": "response.output_item.done", "response_id": response_id, "item": done}
        )
        self.awaiting_tool_output = True
        return done

    async def _speak(self, response_id: str, text: str) -> dict[str, Any]:
        conn = self.conn
        item_id = f"item_{uuid.uuid4().hex[:12]}"
        item = {"id": item_id, "type": "message", "role": "assistant", "content": []}
        conn.items[item_id] = item
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        await conn.send(
            {"type": "response.output_item.added", "response_id": response_id, "item": item}
        )
        await conn.send(
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
        tone = (np.sin(2 * np.pi * conn.server.tone_hz * t) * 0.3 * 32767).astype(np.int16)
        chunk_b64 = base64.b64encode(tone.tobytes()).decode("ascii")
        for i in range(chunks):
            piece = " ".join(words[i * per_chunk : (i + 1) * per_chunk])
            if piece:
                await conn.send(
                    {
                        "type": conn.name("response.audio_transcript.delta"),
                        **base,
                        "content_index": 0,
                        "delta": piece if i == 0 else " " + piece,
                    }
                )
            await conn.send(
                {
                    "type": conn.name("response.audio.delta"),
                    **base,
                    "content_index": 0,
                    "delta": chunk_b64,
                }
            )
            await asyncio.sleep(conn.server.chunk_interval_s)
        await conn.send({"type": conn.name("response.audio.done"), **base, "content_index": 0})
        await conn.send(
            {
                "type": conn.name("response.audio_transcript.done"),
                **base,
                "content_index": 0,
                "transcript": text,
            }
        )
        part = {"type": "audio", "transcript": text}
        await conn.send(
            {"type": "response.content_part.done", **base, "content_index": 0, "part": part}
        )
        item["content"] = [part]
        done = {**item, "status": "completed"}
        await conn.send(
            {"type": "response.output_item.done", "response_id": response_id, "item": done}
        )
        return done
