"""DTMF tones gathered into one message for the agent (both session kinds use it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class DtmfCollector:
    """Buffers DTMF digits and hands them on as one string.

    Flush rules: the buffered digits are sent to `on_digits` when a '#' arrives (the '#' itself
    is not part of the message) or after `flush_ms` with no new digit; every push restarts that
    pause. Nothing is sent for an empty buffer, nor after :meth:`close`.

    Threading: runs on the event loop that calls :meth:`push` (the pause is a loop timer);
    `on_digits` is called on that loop.
    """

    def __init__(self, on_digits: Callable[[str], None], *, flush_ms: int) -> None:
        self.on_digits = on_digits
        self.flush_ms = flush_ms
        self._digits: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def push(self, digits: str) -> None:
        for digit in digits:
            if digit == "#":
                self.flush()
            else:
                self._digits.append(digit)
        self._cancel_timer()
        if self._digits:
            self._timer = asyncio.get_running_loop().call_later(self.flush_ms / 1000, self.flush)

    def flush(self) -> None:
        """Send the buffered digits now (if any)."""
        self._cancel_timer()
        digits, self._digits = "".join(self._digits), []
        if digits and not self._closed:
            self.on_digits(digits)

    def close(self) -> None:
        """Stop the pause timer; nothing is sent from now on."""
        self._closed = True
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
