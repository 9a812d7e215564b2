"""The end of a turn as both engines report it: the answer as heard, and the latencies."""

from __future__ import annotations

from collections.abc import Callable

from media.engine.events import AssistantFinal, Event


def span_ms(start: float | None, end: float | None) -> float | None:
    """Milliseconds from `start` to `end` (loop times); None when either was not reached."""
    return None if start is None or end is None else (end - start) * 1000.0


def emit_answer(
    emit: Callable[[Event], None],
    session_id: str,
    turn_id: int,
    spoken: list[tuple[str, str]],
    *,
    interrupted: bool,
    is_greeting: bool,
) -> None:
    """Emit one `AssistantFinal` per `(agent, text)` said in the turn, in order.

    Only the last one is marked `interrupted`: what the earlier agents said was heard whole.
    """
    last = len(spoken) - 1
    for i, (agent, text) in enumerate(spoken):
        emit(
            AssistantFinal(
                session_id,
                turn_id,
                agent=agent,
                text=text,
                interrupted=interrupted and i == last,
                is_greeting=is_greeting,
            )
        )
