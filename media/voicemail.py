"""Who answered an outbound call: a person, a voicemail greeting, or a call-screening service.

`AnsweringMachineDetector` reads the callee's first seconds, 20 ms frames of 16 kHz PCM16, and
decides from three kinds of evidence:

- a beep (one pure tone held for 160 ms or more): a voicemail box ready to record;
- what was said: the recognizer's text of the first utterance, matched against what greetings
  ("you've reached", "leave a message", "not available") and screening services ("say your
  name and why you're calling") say;
- how it was said: a short utterance followed by silence ("Hello?") is a person at once; one
  that ends, or is still going after 2.6 s, without a recording's words is a person too (a
  receptionist's "Good morning, thank you for calling ..."): recorded greetings say what they
  are within their first seconds, and the agent talking to a greeting costs less than a
  message left to a person.

The detector is a pure state machine on audio time (frames pushed, 20 ms each): `push` returns
a `Transcribe` request when it wants the text of the speech so far, which the driver answers
with `heard`. `VoicemailScreen` is that driver on the event loop, with the recognizer run off
it. After a `machine` verdict the detector keeps listening for where to start the message: the
beep, or the greeting's end (1.5 s of silence), or `message_cue_max_ms`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

logger = logging.getLogger(__name__)

FRAME_MS = 20
SAMPLE_RATE_HZ = 16000
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000


class Verdict(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    SCREENING = "screening"
    SILENCE = "silence"  # nobody spoke: the agent speaks first, as with a person


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    at_ms: int  # audio time of the decision, from the first frame
    onset_ms: int | None  # where the callee started speaking
    reason: str  # "beep", "words", "short answer", "no recording words", "no speech"
    text: str = ""

    @property
    def after_onset_ms(self) -> int | None:
        return None if self.onset_ms is None else self.at_ms - self.onset_ms


@dataclass(frozen=True, slots=True)
class Transcribe:
    """The detector wants the text of `pcm` (the callee's speech so far)."""

    pcm: bytes
    at_ms: int


# What recordings say. Matched on the recognizer's lowercased text; apostrophes optional
# because recognizers drop them ("youve reached"). "The person you're calling" is said by
# carriers' voicemail and by screening services alike, so it tells neither.
_MACHINE = re.compile(
    r"\b(?:you(?:'?ve| have)? reached|leave (?:me |us )?(?:a |your )?(?:message|voice ?mail)|"
    r"(?:not|isn'?t|is un) ?available|unavailable|can'?t (?:take|get to|come to)|"
    r"(?:after|at) the (?:tone|beep|signal)|voice ?mail|mailbox|record your message|"
    r"sorry (?:i|we) missed|(?:i'?m|we'?re) (?:not|away)|get back to you|call you back)\b"
)
_SCREENING = re.compile(
    r"\b(?:screen(?:ing|ed)?|(?:say|state|record) your name|who(?:'?s| is) calling|"
    r"(?:reason|why) (?:for )?(?:your call|you(?:'?re| are) calling)|"
    r"before (?:i|we) (?:try to )?connect you|may i ask who)\b"
)

SPEECH_PROBABILITY = 0.5
ONSET_MS = 60  # speech this long starts the callee's first utterance
END_SILENCE_MS = 700  # silence that ends an utterance
QUICK_ANSWER_MS = 1000  # an utterance this short, then silence, is a person's "hello?"
LAST_CHECK_MS = 2600  # speech this long without a recording's words: a person
CHECK_AT_MS = (1200, 2000, LAST_CHECK_MS)  # speech lengths at which the words are read
NO_SPEECH_MS = 5000
GREETING_END_MS = 1500  # silence after a recorded greeting without a beep: record from here
MESSAGE_CUE_MAX_MS = 30000
TONE_MIN_MS = 160
TONE_PURITY = 0.6  # share of the frame's energy within ±2 bins of its peak
TONE_MIN_RMS = 300.0  # about -40 dBFS
TONE_HZ = (300.0, 3000.0)
_FFT_SIZE = 1024


def words_verdict(text: str) -> Verdict | None:
    """A screening service or a recording, by what it says; None when the words do not tell."""
    lowered = text.lower().replace("\u2019", "'")
    if _SCREENING.search(lowered):
        return Verdict.SCREENING
    if _MACHINE.search(lowered):
        return Verdict.MACHINE
    return None


class ToneDetector:
    """A beep: consecutive frames whose energy sits in one narrow band (speech spreads its
    energy over harmonics; a voicemail beep is a single sine, 400-2,000 Hz)."""

    def __init__(self) -> None:
        self._window = np.hanning(FRAME_SAMPLES).astype(np.float32)
        self._freqs = np.fft.rfftfreq(_FFT_SIZE, 1 / SAMPLE_RATE_HZ)
        self._run_ms = 0
        self._run_hz = 0.0

    def tone_hz(self, frame: bytes) -> float | None:
        """The frame's tone frequency, or None when it is not a tone."""
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
        if len(samples) != FRAME_SAMPLES or float(np.sqrt(np.mean(samples**2))) < TONE_MIN_RMS:
            return None
        power = np.abs(np.fft.rfft(samples * self._window, _FFT_SIZE)) ** 2
        peak = int(np.argmax(power))
        hz = float(self._freqs[peak])
        if not TONE_HZ[0] <= hz <= TONE_HZ[1]:
            return None
        around = float(power[max(0, peak - 2) : peak + 3].sum())
        return hz if around >= TONE_PURITY * float(power.sum()) else None

    def push(self, frame: bytes) -> bool:
        """Whether a beep has just lasted `TONE_MIN_MS` (true once per beep)."""
        hz = self.tone_hz(frame)
        if hz is None or (self._run_ms and abs(hz - self._run_hz) > 40.0):
            self._run_ms, self._run_hz = (FRAME_MS, hz) if hz is not None else (0, 0.0)
            return False
        self._run_ms += FRAME_MS
        self._run_hz = hz
        return self._run_ms == TONE_MIN_MS


class AnsweringMachineDetector:
    """Decides who answered from frames pushed in audio order (see the module docstring).

    Not thread-safe: one owner pushes frames and answers its `Transcribe` requests, one at a
    time (a request not yet answered holds the next ones back; frames keep coming meanwhile).
    """

    def __init__(self, speech_probability: Callable[[bytes], float]) -> None:
        self._speech_probability = speech_probability
        self._tone = ToneDetector()
        self.position_ms = 0
        self.decision: Decision | None = None
        self.message_cue_ms: int | None = None  # where a message may start (after `machine`)
        self.message_cue_reason = ""
        self._speech = bytearray()  # the first utterance, from just before its onset
        self._preroll: list[bytes] = []
        self._speech_run_ms = 0
        self._onset_ms: int | None = None
        self._silence_ms = 0
        self._utterance_over = False
        self._asked: set[int] = set()
        self._waiting = False

    def push(self, frame: bytes) -> Transcribe | None:
        self.position_ms += FRAME_MS
        beep = self._tone.push(frame)
        if self.decision is not None:
            self._after_decision(frame, beep)
            return None
        if beep:
            self._decide(Verdict.MACHINE, "beep")
            self._cue("beep")
            return None
        speaking = self._speech_probability(frame) >= SPEECH_PROBABILITY
        if self._onset_ms is None:
            return self._before_onset(frame, speaking)
        if not self._utterance_over:
            self._speech += frame
        if speaking:
            self._silence_ms = 0
        else:
            self._silence_ms += FRAME_MS
        if self._silence_ms >= END_SILENCE_MS and not self._utterance_over:
            self._utterance_over = True
            if self._utterance_ms <= QUICK_ANSWER_MS:
                self._decide(Verdict.HUMAN, "short answer")
                return None
            return self._ask(final=True)
        for mark in CHECK_AT_MS:
            if self._utterance_ms >= mark and mark not in self._asked and not self._utterance_over:
                return self._ask(final=False, mark=mark)
        return None

    def heard(self, request: Transcribe, text: str) -> Decision | None:
        """The recognizer's text for `request`; the decision if it makes one."""
        self._waiting = False
        if self.decision is not None:
            return self.decision
        by_words = words_verdict(text)
        if by_words is not None:
            return self._decide(by_words, "words", text)
        if self._utterance_over or self._utterance_ms >= LAST_CHECK_MS:
            return self._decide(Verdict.HUMAN, "no recording words", text)
        return None

    # --- internals ----------------------------------------------------------------------

    @property
    def _utterance_ms(self) -> int:
        """The first utterance from its onset to its last speech so far (pauses included)."""
        return self.position_ms - (self._onset_ms or 0) - self._silence_ms

    def _before_onset(self, frame: bytes, speaking: bool) -> None:
        self._preroll = [*self._preroll[-9:], frame]
        self._speech_run_ms = self._speech_run_ms + FRAME_MS if speaking else 0
        if self._speech_run_ms >= ONSET_MS:
            self._onset_ms = self.position_ms - self._speech_run_ms
            self._speech += b"".join(self._preroll)
        elif self.position_ms >= NO_SPEECH_MS:
            self._decide(Verdict.SILENCE, "no speech")
        return None

    def _ask(self, *, final: bool, mark: int | None = None) -> Transcribe | None:
        if mark is not None:
            self._asked.add(mark)
        if self._waiting and not final:
            return None
        self._waiting = True
        return Transcribe(bytes(self._speech), self.position_ms)

    def _decide(self, verdict: Verdict, reason: str, text: str = "") -> Decision:
        self.decision = Decision(verdict, self.position_ms, self._onset_ms, reason, text)
        return self.decision

    def _cue(self, reason: str) -> None:
        if self.message_cue_ms is None:
            self.message_cue_ms, self.message_cue_reason = self.position_ms, reason

    def _after_decision(self, frame: bytes, beep: bool) -> None:
        if self.decision is None or self.decision.verdict is not Verdict.MACHINE:
            return
        if self.message_cue_ms is not None:
            return
        if beep:
            self._cue("beep")
            return
        if self._speech_probability(frame) >= SPEECH_PROBABILITY:
            self._silence_ms = 0
        else:
            self._silence_ms += FRAME_MS
        if self._silence_ms >= GREETING_END_MS:
            self._cue("greeting over")
        elif self.position_ms - self.decision.at_ms >= MESSAGE_CUE_MAX_MS:
            self._cue("waited long enough")


class VoicemailScreen:
    """`AnsweringMachineDetector` on the event loop: frames pushed as they arrive, the
    recognizer (`transcribe`, a coroutine that runs it off the loop) asked at most once at a
    time. `decided` is set with the decision; `cued` when a message may start."""

    def __init__(
        self,
        speech_probability: Callable[[bytes], float],
        transcribe: Callable[[bytes], Awaitable[str]],
    ) -> None:
        self.detector = AnsweringMachineDetector(speech_probability)
        self._transcribe = transcribe
        self.decided = asyncio.Event()
        self.cued = asyncio.Event()
        self._task: asyncio.Task | None = None

    def push(self, frame: bytes) -> None:
        request = self.detector.push(frame)
        if request is not None:
            self._task = asyncio.ensure_future(self._read(request))
        self._update()

    async def _read(self, request: Transcribe) -> None:
        try:
            text = await self._transcribe(request.pcm)
        except Exception:  # a failed recognizer must not leave the call undecided
            logger.exception("voicemail screening: the recognizer failed")
            text = ""
        self.detector.heard(request, text)
        self._update()

    def _update(self) -> None:
        if self.detector.decision is not None:
            self.decided.set()
        if self.detector.message_cue_ms is not None:
            self.cued.set()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
