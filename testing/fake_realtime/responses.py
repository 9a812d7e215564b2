"""Responses of the fake service (a mixin of its connection): spoken text or a tool call."""

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


class ResponsesMixin:
    def _start_response(self: FakeRealtimeConnection) -> None:
        self._response_id = f"resp_{uuid.uuid4().hex[:12]}"
        self._response = asyncio.ensure_future(self._respond_quietly(self._response_id))

    async def _respond_quietly(self: FakeRealtimeConnection, response_id: str) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._respond(response_id)

    async def _cancel_response(self: FakeRealtimeConnection) -> bool:
        task = self._response
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def _respond(self: FakeRealtimeConnection, response_id: str) -> None:
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

    async def _function_call(
        self: FakeRealtimeConnection, response_id: str, reply: Reply
    ) -> dict[str, Any]:
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

    async def _speak(self: FakeRealtimeConnection, response_id: str, text: str) -> dict[str, Any]:
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
