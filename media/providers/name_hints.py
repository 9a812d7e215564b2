"""Names a conversation is likely to hear, and when a transcript seems to have misheard one.

A recognizer biased with every known name at once writes them where they were not said
(Whisper prompted with the customers' names heard "my debit card" as "my David card"). The
hints are used in a narrower way: only when a transcript holds a known last name with another
first name ("air Wilson", "game with brown") or a near miss of a whole known name ("David
Drown") are the names it may be named, and only those, offered to a second pass. Names the
hints do not know ("Thomas Anderson") are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A two-word stretch this close to a known name (Levenshtein distance over its length) is a
# near miss of it: "david drown" is 1/11 from "david brown"; "thomas anderson" and "thomas
# moore" are far apart.
NEAR_MISS_RATIO = 0.2
MAX_CANDIDATES = 3


def name_words(text: str) -> list[str]:
    """Lowercase ASCII words: "O'Brien-Núñez" -> ["obrien", "nunez"]."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z]+", plain.replace("'", ""))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: letters inserted, deleted or replaced."""
    previous = list(range(len(b) + 1))
    for i, letter in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (letter != other))
            )
        previous = current
    return previous[-1]


class NameHints:
    """Full names (first and last) to look for in transcripts."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: dict[tuple[str, ...], str] = {}
        for name in names:
            words = tuple(name_words(name))
            if len(words) >= 2:
                self.names.setdefault(words, " ".join(name.split()))
        self._by_last: dict[str, list[str]] = {}
        for words, name in self.names.items():
            self._by_last.setdefault(words[-1], []).append(name)

    def __bool__(self) -> bool:
        return bool(self.names)

    def heard(self, text: str) -> bool:
        """Some known name is in `text`, word for word."""
        words = name_words(text)
        return any(_contains(words, known) for known in self.names)

    def candidates(self, text: str) -> list[str]:
        """The known names `text` may have misheard, most likely first; [] when it holds a
        known name already or looks like none."""
        words = name_words(text)
        if not words or self.heard(text):
            return []
        found: list[str] = []
        for i, word in enumerate(words):
            found.extend(self._by_last.get(word, ()))
            if i + 1 < len(words):
                pair = f"{word} {words[i + 1]}"
                for known, name in self.names.items():
                    target = " ".join(known[-2:])
                    if edit_distance(pair, target) <= NEAR_MISS_RATIO * len(target):
                        found.append(name)
        return list(dict.fromkeys(found))[:MAX_CANDIDATES]


def _contains(words: list[str], known: tuple[str, ...]) -> bool:
    size = len(known)
    return any(tuple(words[i : i + size]) == known for i in range(len(words) - size + 1))
