"""Tuning of one conversation session. Defaults suit phone and browser calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Turn-taking, output and failure settings of a :class:`ConversationSession`.

    Times are milliseconds unless the name says seconds.
    """

    # Turn-taking (input frames are 20 ms at 16 kHz)
    vad_start_threshold: float = 0.5  # speech probability that counts as speech
    vad_stop_threshold: float = 0.35  # below this a frame counts as silence (hysteresis)
    speech_onset_ms: int = 60  # consecutive speech before a user utterance starts
    barge_in_min_speech_ms: int = 120  # consecutive speech before it interrupts the agent
    end_of_turn_silence_ms: int = 500  # silence after speech that ends the user's turn
    preroll_ms: int = 300  # audio before the onset decision handed to the STT
    stt_final_timeout_ms: int = 2000  # wait for the STT final after end of speech
    dtmf_flush_ms: int = 1500  # DTMF digits are sent as one message after this pause (or '#')

    # Output
    output_lead_ms: int = 60  # audio sent ahead of real time; what a stop has to discard
    pacing_speed: float = 1.0  # 1.0 = real time; tests and benchmarks may play faster

    # The turn
    max_tool_rounds: int = 5  # LLM calls per user turn (each tool round costs one)
    tool_timeout_s: float = 10.0
    llm_first_token_timeout_s: float = 15.0
    llm_idle_timeout_s: float = 15.0  # longest gap between two streamed chunks
    tts_timeout_s: float = 10.0  # first audio of one piece
    apology_text: str = "Sorry, I ran into a problem. Could you say that again?"
    max_history_messages: int = 200  # oldest turns are dropped past this (system prompt kept)

    # Workers
    max_jobs_in_flight: int = 4  # this session's share of the process worker pool

    @property
    def frame_ms(self) -> int:
        return 20
