"""What the speech stack plugs into metrics at start-up, so that metrics imports none of it.

`media` registers a :class:`SpeechStack` in `MediaConfig.ready`: the readiness checks of its
components (run with metrics' own by `metrics.checks.registered_checks`), the reports of the
process's TTS pool and phrase cache (`metrics.selectors`), and how a live conversation is
ended from outside its socket (`metrics.services.sessions.session_end`).

Nothing registered (a process without `media`): no speech checks, no pool, and no
conversation live anywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from metrics.checks import Check


class ConversationEnd(Protocol):
    def __call__(self, *, session_id: str, reason: str, timeout_s: float) -> Awaitable[bool]:
        """Ask the socket hosting `session_id` to store and close it; True once it has."""


@dataclass(frozen=True, slots=True)
class SpeechStack:
    """The speech stack's parts metrics reports on or drives.

    - `checks()`: readiness checks of the speech components, built per readiness run (the
      settings decide which apply);
    - `tts_pool_snapshot()`: the TTS pool's state (a `PoolSnapshot`), None when not set up;
    - `phrase_cache_counts()`: phrases, bytes, hits of the phrase cache, None when it is off;
    - `conversation_end`: see :class:`ConversationEnd`.
    """

    checks: Callable[[], list[Check]]
    tts_pool_snapshot: Callable[[], Any]
    phrase_cache_counts: Callable[[], dict[str, int] | None]
    conversation_end: ConversationEnd


async def _no_conversation(*, session_id: str, reason: str, timeout_s: float) -> bool:
    return False


_NOTHING = SpeechStack(
    checks=list,
    tts_pool_snapshot=lambda: None,
    phrase_cache_counts=lambda: None,
    conversation_end=_no_conversation,
)
_stack = _NOTHING


def speech_stack_register(stack: SpeechStack) -> None:
    """Set the process's speech stack (once, at start-up; a later call replaces it)."""
    global _stack
    _stack = stack


def speech_stack() -> SpeechStack:
    """The registered speech stack (one that has nothing, before any registration)."""
    return _stack
