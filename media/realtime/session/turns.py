"""Turns, barge-in, metrics and history.

A mixin of :class:`~media.realtime.session.RealtimeSession`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from media.engine.audio import FRAME_MS
from media.engine.events import AssistantFinal, AudioFrame, BargeIn, TurnMetrics, UserTranscript
from media.engine.history import trim_history
from media.realtime.protocol import message_item
from media.realtime.session.state import TurnState

if TYPE_CHECKING:
    from media.realtime.session.core import RealtimeSession

logger = logging.getLogger(__name__)


class TurnsMixin:
    def _next_turn_id(self: RealtimeSession) -> int:
        if self._user_turn_id is not None:
            return self._user_turn_id
        return self._turn_id + 1

    def _new_turn(
        self: RealtimeSession, user_text: str, *, started_at: float, turn_id: int | None = None
    ) -> TurnState:
        self._turn_id = max(self._turn_id + 1, turn_id or 0)
        turn = TurnState(self._turn_id, user_text, started_at)
        self._turn = turn
        return turn

    def _user_message(self: RealtimeSession, text: str, *, source: str) -> None:
        now = self.loop.time()
        self._barge_in(f"user_{source}", now)
        turn = self._new_turn(text, started_at=now)
        self.emitter(UserTranscript(self.session_id, turn.turn_id, text, True, source))
        self._append_history({"role": "user", "content": text})
        self._ws_send(
            {
                "type": "conversation.item.create",
                "item": message_item(self.endpoint.dialect, "user", text),
            }
        )
        self._ws_send({"type": "response.create"})

    def _on_dtmf(self: RealtimeSession, digits: str) -> None:
        self._user_message(digits, source="dtmf")

    def _append_history(self: RealtimeSession, message: dict[str, Any]) -> None:
        self.history.append(message)
        trim_history(self.history, self.config.max_history_messages)

    def _send_frame(
        self: RealtimeSession, turn_id: int, pcm: bytes, index: int, is_last: bool
    ) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id and turn.first_audio_at is None:
            turn.first_audio_at = self.loop.time()
        self.emitter(
            AudioFrame(self.session_id, turn_id, pcm, self.output_sample_rate_hz, index, is_last)
        )

    def _on_turn_audio_end(self: RealtimeSession, turn_id: int) -> None:
        turn = self._turn
        if turn is None or turn.turn_id != turn_id or turn.finished:
            return
        turn.finished = True
        self._finish_turn(turn, interrupted=False, now=None, barge_in_ms=None)

    def _finish_turn(
        self: RealtimeSession,
        turn: TurnState,
        *,
        interrupted: bool,
        now: float | None,
        barge_in_ms: float | None,
    ) -> None:
        frame_s = self.pacer.frame_s
        spoken: list[tuple[str, str]] = []
        for response in turn.responses:
            if response.segment is not None and now is not None:
                text = response.segment.text_played(now, frame_s)
            elif now is not None and response.segment is None:
                text = ""
            else:
                text = response.text
            if response.text or response.segment is not None:
                spoken.append((response.agent, text))
        if not spoken:
            spoken = [(self.active_agent, "")]
        for i, (agent, text) in enumerate(spoken):
            if text:
                self._append_history({"role": "assistant", "content": text})
            self.emitter(
                AssistantFinal(
                    self.session_id, turn.turn_id, agent=agent, text=text,
                    interrupted=interrupted and i == len(spoken) - 1,
                    is_greeting=turn.is_greeting,
                )
            )  # fmt: skip

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else (b - a) * 1000.0

        self.emitter(
            TurnMetrics(
                self.session_id,
                turn.turn_id,
                agent=self.active_agent,
                user_text=turn.user_text,
                assistant_text=" ".join(r.text for r in turn.responses if r.text),
                interrupted=interrupted,
                stt_final_ms=turn.stt_final_ms,
                llm_ttft_ms=ms(turn.response_created_at, turn.first_delta_at),
                first_audio_ms=ms(turn.started_at, turn.first_audio_at),
                barge_in_ms=barge_in_ms,
                tokens_in=turn.tokens_in,
                tokens_out=turn.tokens_out,
                tool_calls=list(turn.tools),
            )
        )

    def _barge_in(self: RealtimeSession, reason: str, decided_at: float) -> bool:
        """Cancel the agent's answer now. Synchronous: nothing can interleave."""
        turn = self._turn
        playing = self.pacer is not None and self.pacer.is_playing()
        if (turn is None or turn.finished) and not playing:
            return False
        now = self.loop.time()
        cancelled = turn.turn_id if turn is not None else self._turn_id
        # Frames played before the stop, per item, for the truncate (sent - discarded).
        self.pacer.clear()
        self.emitter.drop_audio_before(cancelled + 1)
        active = self._active_response
        if active is not None and not active.done:
            self._cancelled_responses.add(active.id)
            self._ws_send({"type": "response.cancel"})
        if turn is not None:
            for response in turn.responses:
                self._cancelled_responses.add(response.id)
                for job in response.tool_jobs.values():
                    job.cancel()
                if response.segment is not None and response.item_id:
                    played = response.segment.frames_played(now, self.pacer.frame_s)
                    audio_end_ms = played * FRAME_MS
                    if played < response.segment.frames_total or not response.done:
                        self.truncations.append((response.item_id, audio_end_ms))
                        self._ws_send(
                            {
                                "type": "conversation.item.truncate",
                                "item_id": response.item_id,
                                "content_index": 0,
                                "audio_end_ms": audio_end_ms,
                            }
                        )
        reaction_ms = (self.loop.time() - decided_at) * 1000.0
        self.emitter(BargeIn(self.session_id, cancelled, reason=reason, reaction_ms=reaction_ms))
        if turn is not None and not turn.finished:
            turn.finished = True
            self._finish_turn(turn, interrupted=True, now=now, barge_in_ms=reaction_ms)
        self._turn = None
        logger.info(
            "session %s: barge-in (%s) cancelled turn %s", self.session_id, reason, cancelled
        )
        return True
