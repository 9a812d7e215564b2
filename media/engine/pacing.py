"""Real-time pacing of a session's outbound audio."""

from __future__ import annotations

import asyncio
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


class OutputPacer:
    """Sends TTS audio as 20 ms frames at real time, `lead_ms` ahead of the playback clock.

    The first `lead_ms` of a run leave at once (so the transport's jitter buffer is primed);
    every later frame leaves when the frame `lead_ms` before it would finish playing. With the
    default 60 ms lead, a stop discards at most 60 ms of audio already at the client, and the
    engine never holds more than that in any buffer it does not control.

    Invariants: runs on the event loop only (one `call_at` timer, no task); frames leave in
    order; after :meth:`clear` no frame queued before it is sent. The first frame of a run is
    sent synchronously inside :meth:`enqueue`.
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
        self._timer: asyncio.TimerHandle | None = None
        self._run_start = 0.0  # loop time at which frame 0 of the current run plays
        self._run_sent = 0
        self._turn_index: dict[int, int] = {}
        self.frames_sent = 0

    @property
    def playing_until(self) -> float:
        """Loop time at which the client finishes playing what was sent."""
        return self._run_start + self._run_sent * self.frame_s

    def is_playing(self) -> bool:
        return bool(self._queue) or self.loop.time() < self.playing_until

    def enqueue(self, turn_id: int, pcm: bytes, segment: SpokenSegment | None) -> None:
        """Queue PCM16 audio at the transport rate for `turn_id`."""
        frames = self._splitter.push(pcm)
        if not frames:
            return
        if segment is not None:
            segment.frames_total += len(frames)
        queue = self._queue
        for f in frames:
            queue.append((turn_id, segment, f))
        if self._timer is None:
            self._tick()

    def end_turn(self, turn_id: int, segment: SpokenSegment | None = None) -> None:
        """No more audio for `turn_id`: pad the last partial frame and report when it is sent."""
        rest = self._splitter.flush(pad=True)
        if rest is not None:
            if segment is not None:
                segment.frames_total += 1
            self._queue.append((turn_id, segment, rest))
        self._queue.append((turn_id, None, b""))  # end-of-turn marker
        if self._timer is None:
            self._tick()

    def clear(self) -> int:
        """Drop all queued audio now; returns the number of frames dropped."""
        dropped = sum(1 for _, _, f in self._queue if f)
        self._queue.clear()
        self._splitter.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # What was sent is discarded by the transport's stop: playback ends now.
        now = self.loop.time()
        if self.playing_until > now:
            self._run_sent = max(0, int((now - self._run_start) / self.frame_s))
        return dropped

    def _tick(self) -> None:
        self._timer = None
        queue = self._queue
        if not queue:
            return
        loop = self.loop
        now = loop.time()
        frame_s = self.frame_s
        # The client ran dry (allowing half a frame of timer lateness): new run, fresh lead.
        if now - self.playing_until > frame_s / 2:
            self._run_start = now
            self._run_sent = 0
        while queue:
            turn_id, segment, frame = queue[0]
            if not frame:  # end-of-turn marker
                queue.popleft()
                self._turn_index.pop(turn_id, None)
                self._on_turn_end(turn_id)
                continue
            due = self._run_start + (self._run_sent - self.lead_frames) * frame_s
            if due > now:
                self._timer = loop.call_at(due, self._tick)
                return
            queue.popleft()
            play_at = self._run_start + self._run_sent * frame_s
            self._run_sent += 1
            self.frames_sent += 1
            if segment is not None:
                spans = segment.spans
                if spans and abs(spans[-1][0] + spans[-1][1] * frame_s - play_at) < 1e-6:
                    spans[-1][1] += 1
                else:
                    spans.append([play_at, 1])
            index = self._turn_index.get(turn_id, 0)
            self._turn_index[turn_id] = index + 1
            is_last = bool(queue) and queue[0][0] == turn_id and not queue[0][2]
            # A barge-in inside send_frame clears the queue, which ends this loop.
            self._send_frame(turn_id, frame, index, is_last)
