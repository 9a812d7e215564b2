"""Real-time pacing of a session's outbound audio."""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from media.engine.audio import FRAME_MS, FrameSplitter, frame_bytes


@dataclass(slots=True)
class SpokenSegment:
    """One synthesized piece of an answer, to know how much of its text was heard."""

    turn_id: int
    text: str
    frames_total: int = 0
    # Play spans of the frames sent so far: [play_start_time, frame_count] in loop time.
    spans: list[list[float]] = field(default_factory=list)

    def frames_played(self, now: float, frame_s: float) -> int:
        played = 0
        for start, count in self.spans:
            if now <= start:
                break
            played += min(int(count), int((now - start) / frame_s))
        return played

    def text_played(self, now: float, frame_s: float) -> str:
        """The words heard so far, proportional to the frames played (whole words)."""
        if not self.frames_total:
            return ""
        played = self.frames_played(now, frame_s)
        if played >= self.frames_total:
            return self.text
        words = self.text.split()
        heard = round(len(words) * played / self.frames_total)
        return " ".join(words[:heard])


class PacingClock:
    """Wakes the output pacers of one loop on a shared grid of `step_s` (a quarter frame).

    A timer per frame per session would wake the loop once per frame of every call that is
    speaking (a loop iteration and a heap entry each, about 30 µs); on the grid, all pacers due
    at the same step share one timer and one loop iteration. A run of a pacer is shifted onto
    the grid once, when it starts (by less than a step, never earlier): its frames then leave
    on steps, evenly spaced.

    Invariants: loop thread only; a pacer waits on at most one step (its `_wake_step`); a
    pacer whose wait was cancelled (its `_wake_step` changed) is skipped when the step fires.
    """

    __slots__ = ("loop", "step_s", "_due")

    _clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, PacingClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, step_s: float) -> None:
        self.loop = loop
        self.step_s = step_s
        self._due: dict[int, list[OutputPacer]] = {}

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop, step_s: float) -> PacingClock:
        """The loop's clock with this step (one per loop and pacing speed)."""
        clocks = cls._clocks.setdefault(loop, {})
        clock = clocks.get(step_s)
        if clock is None:
            clock = clocks[step_s] = cls(loop, step_s)
        return clock

    def delay_to_step(self, when: float) -> float:
        """How long after `when` the next step comes (0 on a step)."""
        return max(0.0, math.ceil(when / self.step_s - _STEP_EPSILON) * self.step_s - when)

    def wake(self, pacer: OutputPacer, when: float) -> int:
        """Call `pacer._tick()` at the first step at or after `when`; returns that step."""
        step = math.ceil(when / self.step_s - _STEP_EPSILON)
        waiting = self._due.get(step)
        if waiting is None:
            self._due[step] = [pacer]
            self.loop.call_at(step * self.step_s, self._fire, step)
        else:
            waiting.append(pacer)
        return step

    def _fire(self, step: int) -> None:
        for pacer in self._due.pop(step, ()):
            if pacer._wake_step == step:
                pacer._wake_step = None
                pacer._tick()


# Float slack when mapping a time to its step (a time on the grid maps to that step).
_STEP_EPSILON = 1e-6
# A frame due this close after the clock's step leaves at that step (float rounding of times).
_DUE_SLACK_S = 1e-6


class OutputPacer:
    """Sends TTS audio as 20 ms frames at real time, `lead_ms` ahead of the playback clock.

    The first `lead_ms` of a run leave at once (so the transport's jitter buffer is primed);
    every later frame leaves when the frame `lead_ms` before it would finish playing, shifted
    onto the loop's :class:`PacingClock` (later by less than a quarter frame, the same shift for
    every frame of a run). With the default 60 ms lead, a stop discards at most 60 ms of audio
    already at the client, and the engine never holds more than that in any buffer it does not
    control.

    :meth:`pause` stops sending and takes back the frames sent but not yet played (the
    transport's stop discards them); :meth:`resume` sends them again, then the rest, as a new
    run. Nothing is lost in between: audio queued while paused waits.

    Invariants: runs on the event loop only (woken by the shared clock, no task); frames leave
    in order; after :meth:`clear` no frame queued before it is sent; nothing is sent while
    paused. The first frame of a run is sent synchronously inside :meth:`enqueue`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sample_rate_hz: int,
        send_frame: Callable[[int, bytes, int, bool], None],
        on_turn_end: Callable[[int], None],
        lead_ms: int = 60,
        speed: float = 1.0,
    ) -> None:
        self.loop = loop
        self.sample_rate_hz = sample_rate_hz
        self.frame_size = frame_bytes(sample_rate_hz)
        self.frame_s = FRAME_MS / 1000.0 / speed
        self.lead_frames = max(0, lead_ms // FRAME_MS)
        self._send_frame = send_frame
        self._on_turn_end = on_turn_end
        self._splitter = FrameSplitter(self.frame_size)
        self._queue: deque[tuple[int, SpokenSegment | None, bytes]] = deque()
        self._clock = PacingClock.for_loop(loop, self.frame_s / 4)
        self._wake_step: int | None = None  # the clock step this pacer waits for
        self._run_start = 0.0  # loop time at which frame 0 of the current run plays
        self._run_shift = 0.0  # frames of the run leave this much after their time (grid)
        self._run_sent = 0
        self._turn_index: dict[int, int] = {}
        # The frames sent that may not have been played yet (at most the lead, and one more).
        self._sent: deque[tuple[int, SpokenSegment | None, bytes, int]] = deque(
            maxlen=self.lead_frames + 2
        )
        self._paused = False
        self.frames_sent = 0

    @property
    def playing_until(self) -> float:
        """Loop time at which the client finishes playing what was sent."""
        return self._run_start + self._run_sent * self.frame_s

    def is_playing(self) -> bool:
        return bool(self._queue) or self.loop.time() < self.playing_until

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> int:
        """Stop sending; the frames sent but not played yet go back to the head of the queue.

        Returns how many frames were taken back. Call it when the transport is told to stop
        playback, so that :meth:`resume` can play on from where the listener stopped hearing.
        """
        if self._paused:
            return 0
        self._paused = True
        self._wake_step = None  # a pending wake-up of the clock is skipped
        now = self.loop.time()
        played = max(0, int((now - self._run_start) / self.frame_s)) if self._run_sent else 0
        unplayed = max(0, min(self._run_sent - played, len(self._sent)))
        for _ in range(unplayed):
            turn_id, segment, frame, index = self._sent.pop()
            self._queue.appendleft((turn_id, segment, frame))
            self._turn_index[turn_id] = index
            if segment is not None and segment.spans:
                last = segment.spans[-1]
                last[1] -= 1
                if last[1] <= 0:
                    segment.spans.pop()
        self._run_sent -= unplayed
        self._sent.clear()
        return unplayed

    def resume(self) -> None:
        """Send again after :meth:`pause`, as a new run (the lead goes out at once)."""
        if not self._paused:
            return
        self._paused = False
        self._tick()  # the pause dropped any pending wake-up

    def enqueue(self, turn_id: int, pcm: bytes, segment: SpokenSegment | None) -> None:
        """Queue PCM16 audio at the transport rate for `turn_id`."""
        frames = self._splitter.push(pcm)
        if not frames:
            return
        if segment is not None:
            segment.frames_total += len(frames)
        queue = self._queue
        queue.extend([(turn_id, segment, f) for f in frames])
        if self._wake_step is None:
            self._tick()

    def end_turn(self, turn_id: int, segment: SpokenSegment | None = None) -> None:
        """No more audio for `turn_id`: pad the last partial frame and report when it is sent."""
        rest = self._splitter.flush(pad=True)
        if rest is not None:
            if segment is not None:
                segment.frames_total += 1
            self._queue.append((turn_id, segment, rest))
        self._queue.append((turn_id, None, b""))  # end-of-turn marker
        if self._wake_step is None:
            self._tick()

    def clear(self) -> int:
        """Drop all queued audio now; returns the number of frames dropped."""
        dropped = sum(1 for _, _, f in self._queue if f)
        self._queue.clear()
        self._sent.clear()
        self._turn_index.clear()
        self._paused = False
        self._splitter.clear()
        self._wake_step = None  # a pending wake-up of the clock is skipped
        # What was sent is discarded by the transport's stop: playback ends now.
        now = self.loop.time()
        if self.playing_until > now:
            self._run_sent = max(0, int((now - self._run_start) / self.frame_s))
        return dropped

    def _tick(self) -> None:
        queue = self._queue
        if not queue or self._paused:
            return
        now = self.loop.time()
        frame_s = self.frame_s
        run_start = self._run_start
        sent = self._run_sent
        # The client ran dry (allowing half a frame of timer lateness): new run, fresh lead.
        if now - (run_start + sent * frame_s) > frame_s / 2:
            self._run_start = run_start = now
            self._run_sent = sent = 0
            self._run_shift = self._clock.delay_to_step(now)
        # Frame k leaves at run_start + (k - lead) * frame_s + shift: on a step of the clock.
        first_due = run_start - self.lead_frames * frame_s + self._run_shift
        turn_index = self._turn_index
        while queue:
            turn_id, segment, frame = queue[0]
            if not frame:  # end-of-turn marker
                queue.popleft()
                turn_index.pop(turn_id, None)
                self._on_turn_end(turn_id)
                continue
            due = first_due + sent * frame_s
            if due - now > _DUE_SLACK_S:
                self._wake_step = self._clock.wake(self, due)
                return
            queue.popleft()
            play_at = run_start + sent * frame_s
            sent += 1
            self._run_sent = sent
            self.frames_sent += 1
            if segment is not None:
                spans = segment.spans
                if spans and abs(spans[-1][0] + spans[-1][1] * frame_s - play_at) < 1e-6:
                    spans[-1][1] += 1
                else:
                    spans.append([play_at, 1])
            index = turn_index.get(turn_id, 0)
            turn_index[turn_id] = index + 1
            self._sent.append((turn_id, segment, frame, index))
            is_last = bool(queue) and queue[0][0] == turn_id and not queue[0][2]
            # A barge-in inside send_frame clears the queue, which ends this loop.
            self._send_frame(turn_id, frame, index, is_last)
            if self._paused or self._run_sent != sent or self._run_start != run_start:
                return  # paused or cleared inside send_frame; a refill ticked on its own
