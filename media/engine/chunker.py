"""Cuts streaming LLM text into speakable pieces for TTS.

The first piece of an answer is cut at the first clause boundary (comma, semicolon, colon,
dash) once it has a few words, so the first audio leaves after the first clause; later pieces
are cut at sentence boundaries, or at a clause boundary once they grow long, or at a space
once they are very long. A boundary only counts when whitespace follows the punctuation, so
"3.5", "e.g." inside words and URLs are not cut; known abbreviations ("Mr.", "Dr.") never end
a sentence.
"""

from __future__ import annotations

import re

_SENTENCE_END = ".!?…"
_CLAUSE_END = ",;:—–"
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "approx", "inc"}
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")


class TextChunker:
    """Accumulates text deltas and returns the pieces ready to synthesize.

    Args:
        first_min_chars: a clause boundary cuts the first piece once it has this many characters.
        min_chars: a sentence boundary cuts a piece once it has this many characters.
        clause_max_chars: past this length a clause boundary cuts any piece.
        hard_max_chars: past this length the piece is cut at the last space.
    """

    __slots__ = (
        "first_min_chars",
        "min_chars",
        "clause_max_chars",
        "hard_max_chars",
        "_buf",
        "_first",
    )

    def __init__(
        self,
        first_min_chars: int = 12,
        min_chars: int = 4,
        clause_max_chars: int = 80,
        hard_max_chars: int = 200,
    ) -> None:
        self.first_min_chars = first_min_chars
        self.min_chars = min_chars
        self.clause_max_chars = clause_max_chars
        self.hard_max_chars = hard_max_chars
        self._buf = ""
        self._first = True

    def push(self, delta: str) -> list[str]:
        """Add a delta; return the pieces completed by it (possibly none)."""
        if not delta:
            return []
        self._buf += delta
        pieces: list[str] = []
        while True:
            cut = self._find_cut()
            if cut <= 0:
                break
            piece = self._buf[:cut].strip()
            self._buf = self._buf[cut:].lstrip()
            if piece:
                pieces.append(piece)
                self._first = False
        return pieces

    def flush(self) -> str | None:
        """The rest of the text at the end of the stream."""
        piece = self._buf.strip()
        self._buf = ""
        self._first = True
        return piece or None

    def reset(self) -> None:
        self._buf = ""
        self._first = True

    def _find_cut(self) -> int:
        buf = self._buf
        n = len(buf)
        clause_min = self.first_min_chars if self._first else self.clause_max_chars
        # Scan boundaries: punctuation followed by whitespace.
        for i in range(n - 1):
            ch = buf[i]
            if ch == "\n":
                if i >= self.min_chars:
                    return i + 1
                continue
            if not buf[i + 1].isspace():
                continue
            if ch in _SENTENCE_END:
                if i + 1 >= self.min_chars and not self._is_abbreviation(i):
                    return i + 1
            elif ch in _CLAUSE_END and i + 1 >= clause_min:
                return i + 1
        if n >= self.hard_max_chars:
            space = buf.rfind(" ", 0, self.hard_max_chars)
            return space if space > 0 else self.hard_max_chars
        return 0

    def _is_abbreviation(self, dot_index: int) -> bool:
        if self._buf[dot_index] != ".":
            return False
        match = _WORD_BEFORE.search(self._buf, 0, dot_index)
        if not match:
            return False
        raw = match.group(1)
        return raw.lower() in _ABBREVIATIONS or (len(raw) == 1 and raw.isupper())
