"""Speculative end of turn (a mixin of :class:`~media.engine.session.ConversationSession`).

After `speculative_silence_ms` of silence the STT is asked for the final the utterance would
have now (:meth:`~media.providers.base.STT.peek_final`) and its answer is computed by a held
:class:`~media.engine.turn.Turn`. At `end_of_turn_silence_ms` the turn is confirmed: the
user's final transcript is emitted and the held turn released, its first audio frame leaving
in the same tick. If the caller speaks first, the held turn is cancelled silently (no event,
no history entry, no tool run) and the STT resumes the same utterance.

Each peek is answered by exactly one speculative STT result, in order, so the session keeps
one slot per unanswered peek saying what its answer is for by the time it arrives:
`SPECULATE` (the silence goes on: answer it, held; the slot becomes `ANSWERED`), `FINAL` (the
end of turn came first: it is the utterance's final) or `STALE` (the caller resumed, or the
final timed out: drop it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media.engine.events import UserTranscript
from media.engine.turn import Turn

if TYPE_CHECKING:
    from media.engine.session import ConversationSession

SPECULATE, ANSWERED, FINAL, STALE = "speculate", "answered", "final", "stale"

# Audio kept to restart an utterance after a peek that ended it: beyond this (30 s) the
# utterance is not speculated on any more (memory per session stays bounded).
MAX_RESUME_FRAMES = 1500


class SpeculationMixin:
    def _can_peek(self: ConversationSession) -> bool:
        stt = self.providers.stt
        return (
            self._peek is None
            and not stt.continuous
            and (not stt.peek_ends_utterance or self._utt_audio is not None)
        )

    def _start_peek(self: ConversationSession) -> None:
        self._peek = [SPECULATE]
        self._peeks.append(self._peek)
        self.providers.stt.peek_final()

    def _on_peek_result(self: ConversationSession, text: str, definitive: bool = True) -> None:
        if not definitive:
            # A first pass (its peek is the oldest unanswered one): start on it; the
            # definitive answer that follows keeps or replaces what it started.
            if self._peeks and self._peeks[0][0] in (SPECULATE, FINAL):
                self._speculate(text)
            return
        slot = self._peeks.popleft() if self._peeks else [STALE]
        purpose = slot[0]
        if purpose == STALE:
            return
        if purpose == FINAL:
            self._take_final(text)
            return
        slot[0] = ANSWERED
        self._peek_text = text
        self._speculate(text)

    def _speculate(self: ConversationSession, text: str) -> None:
        """Prepare the answer to `text`, held (unless already prepared for the same text).

        A caller talking over the agent is answered only once the end of turn is confirmed
        (the barge-in path deals with the agent first).
        """
        parts = " ".join([*self._final_parts, text]).strip()
        turn = self._spec_turn
        if turn is not None:
            if turn.user_text == parts:
                return
            self._cancel_speculation()
        if not parts or self.agent_speaking:
            return
        eos = self.utterance.speech_end_at
        now = self.loop.time()
        turn = Turn(
            self,
            self._next_turn_id(),
            parts,
            started_at=eos,
            stt_final_ms=(now - eos) * 1000,
            speculative=True,
        )
        self._spec_turn = turn
        turn.start()

    def _resume_after_peek(self: ConversationSession) -> None:
        """The caller spoke again during the pause: forget the speculation, go on listening."""
        peek, self._peek = self._peek, None
        if peek[0] == SPECULATE:  # its answer is still to come
            peek[0] = STALE
        self._cancel_speculation()
        stt = self.providers.stt
        stt.resume_utterance(b"".join(self._utt_audio) if stt.peek_ends_utterance else b"")

    def _confirm_peek(self: ConversationSession) -> None:
        """End of turn after a peek: the peek's answer is the final (now or when it comes)."""
        peek, self._peek = self._peek, None
        self._utt_audio = None
        self.providers.stt.commit_utterance()
        if peek[0] == SPECULATE:  # not answered yet: it will be the final
            peek[0] = FINAL
            self._await_final()
            return
        self._awaiting_final = True
        self._take_final(self._peek_text)

    def _take_final(self: ConversationSession, text: str) -> None:
        """The final of an utterance whose end was confirmed: release its held answer if it
        was prepared for exactly this text, else answer it the usual way."""
        parts = " ".join([*self._final_parts, text]).strip()
        turn, self._spec_turn = self._spec_turn, None
        if (
            turn is None
            or not self._awaiting_final
            or turn.user_text != parts
            or turn.turn_id != self._next_turn_id()
            or self.agent_speaking
        ):
            if turn is not None:
                self._cancel_turn_quietly(turn)
            if text:
                self._final_parts.append(text)
            if self._awaiting_final:
                self._end_of_turn()
            return
        if self._final_timer is not None:
            self._final_timer.cancel()
            self._final_timer = None
        self._final_parts = []
        self._last_partial = ""
        self._awaiting_final = False
        self._turn_id = turn.turn_id
        self._turn_used = True
        self.emitter(UserTranscript(self.session_id, turn.turn_id, parts, True, "voice"))
        self._turn = turn
        turn.release()

    def _cancel_speculation(self: ConversationSession) -> None:
        turn, self._spec_turn = self._spec_turn, None
        if turn is not None:
            self._cancel_turn_quietly(turn)

    def _cancel_turn_quietly(self: ConversationSession, turn: Turn) -> None:
        turn.cancel_tasks()
        self.providers.llm.cancel()
        self.providers.tts.cancel()
