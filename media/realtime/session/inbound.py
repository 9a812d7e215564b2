"""The service's events (a mixin of :class:`~media.realtime.session.RealtimeSession`).

Speech start and stop, the caller's transcription, and the responses: their audio is paced
out, their transcript streamed as `AssistantDelta`; events of a cancelled response are dropped.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

from media.engine.audio import StreamResampler
from media.engine.events import AssistantDelta, SessionError, UserTranscript
from media.engine.pacing import SpokenSegment
from media.realtime.protocol import REALTIME_SAMPLE_RATE_HZ
from media.realtime.session.state import ResponseState

if TYPE_CHECKING:
    from media.realtime.session.core import RealtimeSession

logger = logging.getLogger(__name__)

# Errors the service reports for a cancel or truncate that raced its own cancellation.
_BENIGN_ERRORS = frozenset({"response_cancel_not_active", "item_truncate_invalid_item_id"})


class InboundEventsMixin:
    def _on_speech_started(self: RealtimeSession, event: dict[str, Any]) -> None:
        now = self.loop.time()
        self._barge_in("barge_in", now)
        self._user_turn_id = self._next_turn_id()
        self._speech_stopped_at = None

    def _on_speech_stopped(self: RealtimeSession, event: dict[str, Any]) -> None:
        self._speech_stopped_at = self.loop.time()

    def _on_transcription_delta(self: RealtimeSession, event: dict[str, Any]) -> None:
        delta = str(event.get("delta") or "").strip()
        if delta:
            self.emitter(UserTranscript(self.session_id, self._next_turn_id(), delta, False))

    def _on_transcription_done(self: RealtimeSession, event: dict[str, Any]) -> None:
        text = str(event.get("transcript") or "").strip()
        if not text:
            return
        now = self.loop.time()
        turn_id = self._next_turn_id()
        self._user_turn_id = None
        self.emitter(UserTranscript(self.session_id, turn_id, text, True, "voice"))
        self._append_history({"role": "user", "content": text})
        eos = self._speech_stopped_at if self._speech_stopped_at is not None else now
        turn = self._turn
        if turn is None or turn.turn_id != turn_id:
            turn = self._new_turn(text, started_at=eos, turn_id=turn_id)
        else:
            turn.user_text = text
        turn.stt_final_ms = (now - eos) * 1000.0

    def _on_response_created(self: RealtimeSession, event: dict[str, Any]) -> None:
        response_id = str((event.get("response") or {}).get("id") or "")
        turn = self._turn
        now = self.loop.time()
        if turn is None or turn.finished:
            # A response the service started on its own (server VAD before any transcript).
            turn = self._new_turn(
                "", started_at=self._speech_stopped_at or now, turn_id=self._user_turn_id
            )
        if turn.response_created_at is None:
            turn.response_created_at = now
        response = ResponseState(response_id, turn.turn_id, self.active_agent)
        self._responses[response_id] = response
        self._active_response = response
        turn.responses.append(response)

    def _response_for(self: RealtimeSession, event: dict[str, Any]) -> ResponseState | None:
        response_id = str(event.get("response_id") or "")
        if response_id in self._cancelled_responses:
            return None
        response = self._responses.get(response_id)
        return response

    def _mark_first_delta(self: RealtimeSession, response: ResponseState) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == response.turn_id and turn.first_delta_at is None:
            turn.first_delta_at = self.loop.time()

    def _on_audio_delta(self: RealtimeSession, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        if response is None:
            return
        try:
            pcm = base64.b64decode(event.get("delta") or "", validate=True)
        except (binascii.Error, ValueError):
            logger.warning("session %s: realtime audio delta is not base64", self.session_id)
            return
        self._mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        if response.segment is None:
            response.segment = SpokenSegment(response.turn_id, response.text)
        if self.output_sample_rate_hz != REALTIME_SAMPLE_RATE_HZ:
            if response.resampler is None:
                response.resampler = StreamResampler(
                    REALTIME_SAMPLE_RATE_HZ, self.output_sample_rate_hz
                )
            pcm = response.resampler.process(pcm)
        if pcm:
            self.pacer.enqueue(response.turn_id, pcm, response.segment)

    def _on_transcript_delta(self: RealtimeSession, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        delta = str(event.get("delta") or "")
        if response is None or not delta:
            return
        self._mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        response.text += delta
        if response.segment is not None:
            response.segment.text = response.text
        self.emitter(AssistantDelta(self.session_id, response.turn_id, response.agent, delta))

    def _on_transcript_done(self: RealtimeSession, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        transcript = str(event.get("transcript") or "")
        if response is not None and transcript and not response.text:
            response.text = transcript
            self.emitter(
                AssistantDelta(self.session_id, response.turn_id, response.agent, transcript)
            )
        if response is not None and response.segment is not None:
            response.segment.text = response.text

    def _on_response_done(self: RealtimeSession, event: dict[str, Any]) -> None:
        body = event.get("response") or {}
        response_id = str(body.get("id") or "")
        response = self._responses.get(response_id)
        if response is None:
            return
        response.done = True
        if self._active_response is response:
            self._active_response = None
        turn = self._turn
        usage = body.get("usage") or {}
        if turn is not None and turn.turn_id == response.turn_id:
            turn.tokens_in += int(usage.get("input_tokens") or 0)
            turn.tokens_out += int(usage.get("output_tokens") or 0)
        if response_id in self._cancelled_responses:
            return
        if turn is None or turn.turn_id != response.turn_id:
            return
        status = body.get("status")
        if status == "failed" or status == "incomplete":
            details = body.get("status_details") or {}
            message = str((details.get("error") or {}).get("message") or details or status)
            self.emitter(
                SessionError(self.session_id, response.turn_id, stage="llm", message=message)
            )
        if status == "cancelled":
            return
        if response.calls:
            self.loop.create_task(self._finish_tools(response, turn))
            return
        self.pacer.end_turn(response.turn_id)

    def _on_error(self: RealtimeSession, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        code = str(error.get("code") or "")
        if code in _BENIGN_ERRORS:
            return
        message = str(error.get("message") or error)
        logger.warning("session %s: realtime error %s: %s", self.session_id, code, message)
        self.emitter(
            SessionError(self.session_id, self._turn_id, stage="realtime", message=message)
        )
