"""Appended audio and server VAD of the fake service (:class:`InputAudio`, owned by its
connection).

An energy detector on 20 ms windows stands for the service's VAD: `speech_started` after
`SPEECH_ONSET_MS` of speech, `speech_stopped` after the session's `silence_duration_ms`, then
the buffer is committed and its (scripted) transcription sent.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from testing.fake_realtime.connection import FakeRealtimeConnection

SPEECH_DBFS = -40.0  # louder 20 ms windows count as speech
SPEECH_ONSET_MS = 60
DEFAULT_SILENCE_MS = 500


class InputAudio:
    """The input audio buffer and the energy VAD over it."""

    def __init__(self, conn: FakeRealtimeConnection) -> None:
        self.conn = conn
        self.buffer = bytearray()
        self._vad_pos = 0
        self._current_item = ""
        self._speech_ms = 0
        self._silence_ms = 0
        self._in_speech = False
        self._utterance_start_ms = 0
        self._audio_ms = 0

    def clear(self) -> None:
        self.buffer.clear()

    async def append(self, pcm: bytes) -> None:
        self.buffer.extend(pcm)
        td = self.conn.turn_detection
        if not td:
            return
        window = self.conn.input_rate_hz // 50 * 2
        while len(self.buffer) - self._vad_pos >= window:
            frame = bytes(self.buffer[self._vad_pos : self._vad_pos + window])
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
        conn = self.conn
        self._in_speech = True
        self._utterance_start_ms = max(0, self._audio_ms - SPEECH_ONSET_MS)
        self._current_item = f"item_{uuid.uuid4().hex[:12]}"
        await conn.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": self._utterance_start_ms,
                "item_id": self._current_item,
            }
        )
        td = conn.turn_detection or {}
        if td.get("interrupt_response", True):
            await conn.responses.cancel()

    async def speech_stopped(self) -> None:
        """Server VAD end of speech (also a test hook): commit and answer."""
        conn = self.conn
        self._in_speech = False
        self._silence_ms = 0
        await conn.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._audio_ms,
                "item_id": self._current_item,
            }
        )
        await self.commit(item_id=self._current_item)
        td = conn.turn_detection or {}
        if td.get("create_response", True):
            conn.pending_instructions = ""
            if not conn.responses.running:
                conn.responses.start()

    async def commit(self, item_id: str | None = None) -> None:
        """Commit the buffer as a user item and send its (scripted) transcription."""
        conn = self.conn
        pcm = bytes(self.buffer)
        self.buffer.clear()
        self._vad_pos = 0
        item_id = item_id or f"item_{uuid.uuid4().hex[:12]}"
        await conn.send(
            {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None}
        )
        content = [{"type": "input_audio"}]
        item = {"id": item_id, "type": "message", "role": "user", "content": content}
        conn.items[item_id] = item
        await conn.send({"type": conn.name("conversation.item.created"), "item": item})
        text = conn.server.transcribe(conn, pcm)
        conn.last_user_text = text
        if conn.transcription_enabled:
            await conn.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": text,
                }
            )
            await conn.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                }
            )
