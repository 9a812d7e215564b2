"""The output pacer on the shared pacing clock, driven by a virtual clock (no wall time)."""

from __future__ import annotations

import heapq
import itertools

from media.engine.audio import tone
from media.engine.pacing import OutputPacer, SpokenSegment

FRAME_S = 0.02
LEAD_FRAMES = 3


class VirtualLoop:
    """The two loop methods the pacer uses, on a clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.timers: list = []
        self.scheduled = 0
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback, *args) -> None:
        self.scheduled += 1
        heapq.heappush(self.timers, (when, next(self._order), callback, args))

    def advance(self, seconds: float) -> None:
        """Run the timers due in the next `seconds`, each at its exact time, in order."""
        end = self.now + seconds
        while self.timers and self.timers[0][0] <= end:
            when, _, callback, args = heapq.heappop(self.timers)
            self.now = max(self.now, when)
            callback(*args)
        self.now = end


class Listener:
    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, int, int, bool]] = []  # (time, turn, index, is_last)
        self.ended: list[int] = []

    def send(self, turn_id: int, pcm: bytes, index: int, is_last: bool) -> None:
        assert len(pcm) == 640
        self.sent.append((self.loop.now, turn_id, index, is_last))


def pacer_on(loop: VirtualLoop) -> tuple[OutputPacer, Listener]:
    listener = Listener(loop)
    pacer = OutputPacer(loop, 16000, listener.send, listener.ended.append, lead_ms=60)  # type: ignore[arg-type]
    return pacer, listener


def test_frames_leave_at_real_time_never_early_and_evenly_spaced():
    loop = VirtualLoop()
    started: list[float] = []
    listeners = []
    for i in range(12):  # answers starting at arbitrary phases of the 20 ms frame
        loop.advance(0.0037 * (i + 1))
        pacer, listener = pacer_on(loop)
        started.append(loop.now)
        pacer.enqueue(1, tone(1000, 16000), SpokenSegment(1, "one second of audio"))
        pacer.end_turn(1)
        listeners.append(listener)
    loop.advance(1.5)
    for start, listener in zip(started, listeners, strict=True):
        times = [t for t, *_ in listener.sent]
        assert len(times) == 50 and [i for _, _, i, _ in listener.sent] == list(range(50))
        assert times[:LEAD_FRAMES] == [start] * LEAD_FRAMES  # the lead leaves at once
        for k, sent_at in enumerate(times[LEAD_FRAMES:], start=LEAD_FRAMES):
            due = start + (k - LEAD_FRAMES) * FRAME_S
            # Never before its time, so a stop never discards more than the 60 ms lead; less
            # than one clock step (a quarter frame) after it.
            assert due - 1e-6 <= sent_at < due + FRAME_S / 4
        gaps = [b - a for a, b in zip(times[LEAD_FRAMES:], times[LEAD_FRAMES + 1 :], strict=False)]
        assert max(abs(g - FRAME_S) for g in gaps) < 1e-6  # the same offset for every frame
        assert listener.sent[-1][3] and listener.ended == [1]


def test_speaking_sessions_share_the_clock_wake_ups():
    loop = VirtualLoop()
    pacers = []
    for i in range(40):
        loop.advance(0.0005 * (i + 1))
        pacer, _ = pacer_on(loop)
        pacer.enqueue(1, tone(1000, 16000), None)
        pacers.append(pacer)
    before = loop.scheduled
    loop.advance(0.5)
    frames = sum(p.frames_sent for p in pacers) - 40 * LEAD_FRAMES
    # One timer per clock step with a frame due (at most 4 per frame time), not one per frame.
    assert frames > 40 * 20
    assert loop.scheduled - before <= 0.5 / (FRAME_S / 4) + 1


def test_clear_stops_the_frames_and_a_new_answer_starts_a_fresh_run():
    loop = VirtualLoop()
    pacer, listener = pacer_on(loop)
    pacer.enqueue(1, tone(1000, 16000), None)
    loop.advance(0.2)
    sent = len(listener.sent)
    assert pacer.clear() == 50 - sent
    loop.advance(0.3)
    assert len(listener.sent) == sent  # nothing queued before the stop leaves after it
    restart = loop.now
    pacer.enqueue(2, tone(200, 16000), None)
    loop.advance(0.3)
    second = [(t, i) for t, turn, i, _ in listener.sent if turn == 2]
    assert [i for _, i in second] == list(range(10))
    assert [t for t, _ in second[:LEAD_FRAMES]] == [restart] * LEAD_FRAMES


def stopping_pacer(
    loop: VirtualLoop, at_index: int, stop: str, lead_ms: int
) -> tuple[OutputPacer, list[int]]:
    """A pacer whose transport calls `pacer.<stop>()` while delivering frame `at_index`, once."""
    sent: list[int] = []

    def send(turn_id: int, pcm: bytes, index: int, is_last: bool) -> None:
        sent.append(index)
        if index == at_index and sent.count(index) == 1:
            getattr(pacer, stop)()

    pacer = OutputPacer(loop, 16000, send, lambda turn_id: None, lead_ms=lead_ms)  # type: ignore[arg-type]
    return pacer, sent


def test_a_barge_in_inside_send_frame_ends_the_run():
    loop = VirtualLoop()
    pacer, sent = stopping_pacer(loop, 5, "clear", lead_ms=60)
    pacer.enqueue(1, tone(1000, 16000), None)
    loop.advance(1.0)
    assert sent == list(range(6))
    assert not pacer.is_playing()


def test_a_pause_inside_send_frame_sends_nothing_more_and_resume_plays_on():
    loop = VirtualLoop()
    pacer, sent = stopping_pacer(loop, 8, "pause", lead_ms=0)
    pacer.enqueue(1, tone(400, 16000), None)
    loop.advance(0.5)
    assert sent[-1] == 8 and pacer.paused  # nothing after the pause
    pacer.resume()
    loop.advance(0.5)
    after = sent[sent.index(8) + 1 :]  # from where the listener stopped hearing, to the end
    assert after == list(range(after[0], 20)) and after[0] <= 9
