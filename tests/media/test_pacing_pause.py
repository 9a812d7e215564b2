"""Pausing the output pacer (the first step of a barge-in) and resuming it, on a virtual clock."""

from __future__ import annotations

from media.engine.audio import tone
from media.engine.pacing import SpokenSegment
from tests.media.test_pacing import FRAME_S, LEAD_FRAMES, VirtualLoop, pacer_on


def test_pause_takes_back_what_was_not_heard_and_resume_plays_on_from_there():
    loop = VirtualLoop()
    pacer, listener = pacer_on(loop)
    segment = SpokenSegment(1, "one two three four five six seven eight nine ten")
    pacer.enqueue(1, tone(1000, 16000), segment)  # 50 frames
    pacer.end_turn(1, segment)
    loop.advance(0.5)  # 25 frames heard, the lead (3 more) sent ahead
    sent = [index for _, _, index, _ in listener.sent]
    heard = int(0.5 / FRAME_S)
    assert sent[-1] >= heard + LEAD_FRAMES - 1

    taken_back = pacer.pause()
    # What was sent and not yet heard (the lead, and the frame playing at most) comes back.
    assert sent[-1] - heard <= taken_back <= LEAD_FRAMES + 1
    assert pacer.paused and pacer.is_playing()
    assert segment.frames_played(loop.now + 10, FRAME_S) == len(sent) - taken_back
    loop.advance(1.0)
    assert len(listener.sent) == len(sent)  # nothing leaves while paused
    assert listener.ended == []

    pacer.resume()
    loop.advance(2.0)
    indices = [index for _, _, index, _ in listener.sent]
    resumed = indices[len(sent) :]
    assert resumed[0] == len(sent) - taken_back  # from the first frame not heard
    assert resumed == list(range(resumed[0], 50))  # then the rest, in order, nothing lost
    assert listener.sent[-1][3] is True and listener.ended == [1]
    assert segment.frames_played(loop.now, FRAME_S) == 50


def test_audio_queued_while_paused_waits_and_clear_ends_the_pause():
    loop = VirtualLoop()
    pacer, listener = pacer_on(loop)
    pacer.enqueue(1, tone(200, 16000), None)
    pacer.pause()
    pacer.enqueue(1, tone(200, 16000), None)  # the answer keeps coming while paused
    pacer.end_turn(1)
    loop.advance(1.0)
    before = len(listener.sent)
    assert listener.ended == []
    assert pacer.clear() > 0  # the barge-in: everything queued is dropped
    assert not pacer.paused and not pacer.is_playing()
    loop.advance(1.0)
    assert len(listener.sent) == before and listener.ended == []
    pacer.enqueue(2, tone(100, 16000), None)  # the next answer plays at once
    assert listener.sent[-1][1] == 2
