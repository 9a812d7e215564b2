"""Tuning of one conversation session. Defaults suit phone and browser calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Turn-taking, output and failure settings of a :class:`ConversationSession`.

    Times are milliseconds unless the name says seconds.

    End of turn. "End of speech" is the arrival of the last 20 ms frame the VAD counted as
    speech (not the moment a silence timer fires); every latency of a turn is measured from
    it. After `speculative_silence_ms` of silence the STT is asked for the final the utterance
    would have now, and the answer is computed (LLM, first TTS pieces) but held: nothing of it
    is emitted. When the silence reaches `end_of_turn_silence_ms` the turn is confirmed and
    the held audio leaves at once; if the caller speaks again first, the speculative answer
    is dropped without a trace and the utterance goes on.

    Why 400 ms for `end_of_turn_silence_ms`: the product promises "true end of speech → first
    agent audio ≤ 500 ms" on the offline stack. Silero's hangover puts the last speech frame
    30-80 ms (median 50) after the true end of speech on the benchmark's utterances, so a
    confirmed end of turn at 400 ms of VAD silence is about 450 ms of real silence: the "about
    500 ms" pause a caller may take mid-sentence without being cut off, and, with the answer
    precomputed during the silence, first audio about 450 ms after the true end, leaving
    ~50 ms for frame timing and scheduling. 500 ms of VAD silence would put even a fully
    precomputed answer at ~550 ms. Lower values answer faster but cut off callers who pause.
    `speculative_silence_ms` (120) leaves the pipeline 280 ms to have audio ready: pocketsphinx's
    final pass (100-200 ms on a shared core), the rules engine (~1 ms) and piper's first piece
    (60-150 ms); at 200 ms the answer was ready in time for only a few utterances (p50 565 ms
    against 470-490 ms at 120). The cost of an earlier peek is CPU, never correctness: a caller
    who pauses 120 ms mid-sentence costs one dropped, silent speculation. Set it to 0 to disable
    speculation. Continuous STT providers (Azure) end utterances themselves and
    are not speculated on.
    """

    # Turn-taking (input frames are 20 ms at 16 kHz)
    vad_start_threshold: float = 0.5  # speech probability that counts as speech
    vad_stop_threshold: float = 0.35  # below this a frame counts as silence (hysteresis)
    speech_onset_ms: int = 60  # consecutive speech before a user utterance starts
    # Barge-in is pause first, then cancel: after `barge_in_pause_ms` of speech over the agent
    # its playback stops (the stop goes on the wire, nothing is lost); after
    # `barge_in_min_speech_ms` the answer is cancelled; if instead `barge_in_resume_ms` of
    # silence come first, playback resumes where the listener stopped hearing. 0 disables the
    # pause (the stop then waits for `barge_in_min_speech_ms`).
    barge_in_pause_ms: int = 40
    barge_in_min_speech_ms: int = 120  # consecutive speech before it interrupts the agent
    barge_in_resume_ms: int = 200
    end_of_turn_silence_ms: int = 400  # silence after speech that ends the user's turn
    speculative_silence_ms: int = 120  # silence after which the answer is prepared, held
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
    unheard_text: str = "Sorry, I didn't catch that. Could you say it again?"
    max_history_messages: int = 200  # oldest turns are dropped past this (system prompt kept)

    # Workers
    max_jobs_in_flight: int = 4  # this session's share of the process worker pool

    @property
    def frame_ms(self) -> int:
        return 20
