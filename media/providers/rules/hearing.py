"""Reading what the speech recognizer wrote: digits, names, emails, yes and no.

Whisper writes numbers as digits, splits and punctuates them freely ("481 7.", "4-8-1-7",
"2,095"), writes words that sound like digits ("for ate one seven") and mishears a few
banking phrases ("the melon song my checking account"). Everything here is plain string work:
it runs on the event loop for every turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Phrases the recognizer is known to mishear in a banking call, and what was said.
_MISHEARD = [
    (re.compile(r"\bwhat'?s up\W+you'?re\b", re.I), "what are your"),
    (re.compile(r"\byou'?re (?=open|hours|balance|account|card|branch|bank|fees?\b)", re.I),
     "your "),
    (re.compile(r"\b(open|opening|closing) (?:our|ours|hour) month\b", re.I), r"\1 hours on"),
    (re.compile(r"\b(open|opening|closing) (?:our|ours|hour)\b", re.I), r"\1 hours"),
    (re.compile(r"\bmelon song\b", re.I), "balance on"),
    (re.compile(r"\bmelon\b", re.I), "balance"),
    (re.compile(r"\bmy current (?=was|is|got|has)", re.I), "my card "),
    (re.compile(r"\bcredit cart\b", re.I), "credit card"),
    # "Thank you, goodbye" heard as "thank you, don't buy": a last word sounding like "bye".
    (re.compile(r"\b(thank you|thanks|okay|ok|all right)\W+(?:(?:don'?t|do|good) )?(?:buy|by)\b"
                r"(?=\W*$)", re.I), r"\1, goodbye"),
]  # fmt: skip

UNITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
}  # fmt: skip
# Words that sound like a digit but usually are not one: read only next to other digits, and
# a number read with them is confirmed with the caller.
# Whisper writes these for digits said by flat or fast voices ("six, so one nine", "three one
# four row", "oh five five made").
_SOUNDS_LIKE = {
    "won": "1", "to": "2", "too": "2", "free": "3", "tree": "3", "for": "4", "fore": "4",
    "fine": "5", "sick": "6", "sex": "6", "ate": "8", "made": "8", "mate": "8", "high": "9",
    "nein": "9", "so": "0", "row": "0", "owe": "0",
}  # fmt: skip
# The recognizer's usual spelling of a first digit said before the rest ("for 817"): the number
# is taken as said when it then has just the digits wanted.
_LEADING_SOUNDS = frozenset(("to", "too", "for", "fore"))
_REPEAT = {"double": 2, "triple": 3}
# Between digits these join one number: "4-8-1-7", "4, 8, 1, 7", "2,095".
_JOINERS = frozenset("-,./")
# "the last four digits": a count, not the number itself.
_COUNT_BEFORE = frozenset(("last", "first"))
_COUNT_AFTER = frozenset(("digit", "digits", "numbers"))
# "the one ending in ...": a pronoun, not a digit.
_ONE_AFTER = frozenset(("the", "this", "that", "which", "each", "every", "any", "no", "other"))
_YEAR = re.compile(r"19\d\d|20[0-3]\d")  # a number written like a recent year

_TOKENS = re.compile(r"\d+|[a-z]+(?:'[a-z]+)?|[^\s\w]")

YES = frozenset((
    "yes", "yeah", "yep", "yup", "sure", "correct", "right", "ok", "okay", "affirmative",
    "exactly", "absolutely", "definitely", "uh-huh",
))  # fmt: skip
NO = frozenset(("no", "nope", "not", "don't", "negative", "wrong", "incorrect", "nah"))

_GREETINGS = frozenset(("hello", "hi", "hey", "morning", "afternoon", "evening", "there"))
_THANKS = frozenset(("thanks", "thank", "you", "much", "great", "that's", "all", "bye", "goodbye"))
_POLITE = frozenset(("good", "so", "very", "oh", "ok", "okay", "well"))

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

_FILLERS = frozenset(("uh", "um", "er", "erm", "ah", "hmm", "well", "so", "oh", "yeah", "yes",
                      "sure", "okay", "ok", "hi", "hello", "hey"))  # fmt: skip
# Words that end a name or show that what follows "I am" is not one.
_NOT_NAME_WORDS = (
    "a an and are as at be by can could do for from get give have help i i'd i'm is it its "
    "me my of on or our please the their them this to up us want we what when where which "
    "who why with would you your yes no hi hello hey thanks thank just like need some "
    "any about tell know not sure here fine good well sorry calling looking trying still "
    "very really having going wondering afraid worried interested locked out unable able "
    "also so because but if then there that that's it's social security ssn number "
    "digits digit last first ending card account balance checking savings code name full "
    "uh um er erm ah hmm okay ok yeah yep nope don't can't didn't call phone again same "
    "zero oh one two three four five six seven eight nine ten"
)
_NOT_NAME = frozenset(_NOT_NAME_WORDS.split(" "))
_NAME_CUE = re.compile(
    r"\b(my name is|my name's|the name is|name is|call me|this is|i am|i'm|it's|it is)\b", re.I
)
_STRONG_CUES = frozenset(("my name is", "my name's", "the name is", "name is", "call me"))
_NAME_TOKENS = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+|[^\sA-Za-z\d]")


def repaired(text: str) -> str:
    """`text` with the banking phrases the recognizer is known to mishear put right."""
    for pattern, replacement in _MISHEARD:
        text = pattern.sub(replacement, text)
    return text


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("_", " "))


def small_talk(text: str) -> str:
    """What `text` is when it is only small talk: "greeting", "thanks", or "" otherwise."""
    said = [w for w in words(text) if w not in _POLITE]
    if not said:
        return ""
    if all(w in _GREETINGS for w in said):
        return "greeting"
    if all(w in _THANKS for w in said):
        return "thanks"
    return ""


# Goodbyes. A closing phrase counts unless a word just before it in its clause turns it
# around ("don't hang up", "before I say goodbye"). Strong phrases end the call beside any words
# that ask for nothing else; weak ones only among polite closing words ("no, that's all,
# thanks"), never with more ("that's all wrong", "I'm done with that, now my balance").
_BYE = re.compile(
    r"\b(?:good[- ]?bye|bye(?:[- ]bye)?(?![- ]the\b)|hang up|end (?:the|this|my) call|"
    r"talk to you later)\b"
)
_DONE = re.compile(
    r"\b(?:that(?:'s| is|'ll be| will be) (?:all|everything|it for (?:now|today))|"
    r"nothing else|no more questions|(?:i'm|i am|we're|we are) (?:all )?done|"
    r"(?:i'm|i am|we're|we are) all set|see you|"
    r"have a (?:good|nice|great|lovely) (?:day|one|night|evening|weekend))\b"
)
_TURNS_AROUND = frozenset((
    "not", "don't", "dont", "can't", "cannot", "won't", "didn't", "before",
    "until", "till", "if", "when", "after", "without",
))  # fmt: skip
_CLOSING_WORDS = (
    "i i'd i've it it's that that's this is was for now today all right alright really very "
    "much so thank thanks you your help appreciate appreciated it great perfect wonderful "
    "awesome lovely cheers fine then and have a nice good day evening everything else needed "
    "need wanted want just actually okay ok oh well no nope nah yes yeah yep sure bye goodbye "
    "uh um er hmm the again can please never mind forget"
)
_CLOSING = frozenset(_CLOSING_WORDS.split(" "))


def goodbye(text: str) -> str | None:
    """Whether `text` says goodbye ("No, that's everything. Thank you, goodbye.").

    Returns None when it does not ("good morning", "bye the way", "thanks", "don't hang up");
    otherwise the words said besides the goodbye and polite closing words ("" when there
    are none), so that the caller can check they ask for nothing else.
    """
    lowered = text.lower().replace("\u2019", "'")
    found: set[bool] = set()

    def drop(match: re.Match, strong: bool) -> str:
        clause = re.split(r"[.,!?;:]", match.string[: match.start()])[-1]
        if set(words(clause)[-3:]) & _TURNS_AROUND:
            return match.group(0)
        found.add(strong)
        return " . "

    rest = _BYE.sub(lambda m: drop(m, True), lowered)
    rest = _DONE.sub(lambda m: drop(m, False), rest)
    if not found:
        return None
    others = [w for w in words(rest) if w not in _CLOSING]
    if others and True not in found:
        return None
    return " ".join(others)


def is_yes(text: str) -> bool:
    said = set(words(text))
    return bool(said & YES) and not said & NO


def is_no(text: str) -> bool:
    return bool(set(words(text)) & NO)


def spaced(digits: str) -> str:
    """'4817' -> '4 8 1 7', how a number is read back to the caller."""
    return " ".join(digits)


@dataclass(frozen=True, slots=True)
class DigitRun:
    """Digits said together. `doubtful`: read from a homophone or written like a year."""

    digits: str
    doubtful: bool
    start: int  # index of its first token in `token_list(text)`: what was said before it
    whole: bool = True  # False: the same number read without the homophones at its edges
    end: int = 0  # index of the token after it
    led_by_homophone: bool = False  # doubtful only for one "for"/"to" before clean digits


@dataclass(slots=True)
class _Piece:
    digits: str
    weak: bool = False
    tens: bool = False  # "forty": a following unit joins it ("forty eight" -> "48")
    word: str = ""  # the word a weak piece was read from


def digit_runs(text: str) -> list[DigitRun]:
    """Every number in `text`, read the ways the recognizer writes them.

    A run with homophones at its edges ("ending to 2095") is also offered without them.
    """
    tokens = token_list(text)
    runs: list[DigitRun] = []
    pieces: list[_Piece] = []
    start = 0
    repeat = 1
    i = 0

    def close(end: int) -> None:
        nonlocal pieces, start
        if _counted_first(tokens, start, pieces):  # "last four 1234": the count, then the number
            pieces = pieces[1:]
            start += 1
        if pieces and _is_number(pieces) and not _is_count(tokens, start, end):
            _add_readings(runs, pieces, start, end, single=end - start == 1)
        pieces = []

    while i < len(tokens):
        token = tokens[i]
        piece = _piece(token, tokens[i + 1] if i + 1 < len(tokens) else "", bool(pieces))
        if piece is not None:
            if not pieces:
                start = i
            if pieces and pieces[-1].tens and len(piece.digits) == 1 and not piece.weak:
                pieces[-1] = _Piece(pieces[-1].digits[0] + piece.digits)
            else:
                pieces.append(_Piece(piece.digits * repeat, piece.weak, piece.tens, piece.word))
            repeat = 1
        elif token in _REPEAT:
            repeat = _REPEAT[token]
            if not pieces:
                start = i
        elif not (pieces and token in _JOINERS and _next_is_digit(tokens, i + 1)):
            close(i)
            repeat = 1
        i += 1
    close(len(tokens))
    return runs


def token_list(text: str) -> list[str]:
    """The words, numbers and punctuation of `text`, as `digit_runs` counts them."""
    return _TOKENS.findall(text.lower())


def _piece(token: str, following: str, in_run: bool) -> _Piece | None:
    if token.isdigit():
        return _Piece(token)
    if token in UNITS:
        return _Piece(UNITS[token])
    if token in TEENS:
        return _Piece(TEENS[token])
    if token in TENS:
        return _Piece(TENS[token] + "0", tens=True)
    if token in _SOUNDS_LIKE:
        return _Piece(_SOUNDS_LIKE[token], weak=True, word=token)
    if token == "into" and not in_run and _is_digit_token(following):
        # "ending in two oh nine five" heard as "into 095"
        return _Piece("2", weak=True, word=token)
    return None


def _is_digit_token(token: str) -> bool:
    return token.isdigit() or token in UNITS or token in TEENS or token in TENS


def _next_is_digit(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and (_is_digit_token(tokens[i]) or tokens[i] in _SOUNDS_LIKE)


def _is_number(pieces: list[_Piece]) -> bool:
    """One "oh", "to" or "for" on its own is a word; next to other digits it is a digit.
    Words that only sound like digits are no number on their own ("fine, so")."""
    if len(pieces) >= 2:
        return not all(p.weak for p in pieces)
    return not pieces[0].weak and pieces[0].digits != "0"


def _counted_first(tokens: list[str], start: int, pieces: list[_Piece]) -> bool:
    """The run opens with a count after "last"/"first" and the rest has that many digits."""
    if len(pieces) < 2 or not start or tokens[start - 1] not in _COUNT_BEFORE:
        return False
    count = pieces[0].digits
    return len(count) == 1 and len("".join(p.digits for p in pieces[1:])) == int(count)


def _is_count(tokens: list[str], start: int, end: int) -> bool:
    if end - start != 1:
        return False
    before = tokens[start - 1] if start else ""
    after = next((t for t in tokens[end:] if t not in _JOINERS), "")
    pronoun = tokens[start] == "one" and before in _ONE_AFTER
    return pronoun or before in _COUNT_BEFORE or after in _COUNT_AFTER


def _add_readings(
    runs: list[DigitRun], pieces: list[_Piece], start: int, end: int, *, single: bool
) -> None:
    full = "".join(p.digits for p in pieces)
    weak = any(p.weak for p in pieces)
    year = single and bool(_YEAR.fullmatch(full))
    led = (
        len(pieces) >= 2
        and pieces[0].word in _LEADING_SOUNDS
        and not any(p.weak for p in pieces[1:])
    )
    lo, hi = 0, len(pieces)
    while lo < hi and pieces[lo].weak:
        lo += 1
    while hi > lo and pieces[hi - 1].weak:
        hi -= 1
    if weak and hi > lo and (lo or hi < len(pieces)):
        inner = pieces[lo:hi]
        trimmed = "".join(p.digits for p in inner)
        runs.append(DigitRun(trimmed, any(p.weak for p in inner), start + lo, whole=False, end=end))
    runs.append(DigitRun(full, weak or year, start, end=end, led_by_homophone=led))


def email(text: str) -> str | None:
    found = _EMAIL.search(text)
    if found:
        return found.group(0).lower()
    spoken = re.sub(r"\s+at\s+", "@", text.lower())
    spoken = re.sub(r"\s+dot\s+", ".", spoken)
    found = _EMAIL.search(spoken)
    return found.group(0) if found else None


def name(text: str, *, asked: bool) -> str | None:
    """A person's name after "my name is", "I am" and the like; a bare one if `asked`.

    Whisper capitalizes names and punctuates freely ("I am Robert Garcia, social security
    ..."): the name ends at punctuation, a digit or a word that is not a name.
    """
    mixed_case = text != text.lower()
    for cue in _NAME_CUE.finditer(text):
        strong = cue.group(1).lower() in _STRONG_CUES
        found = _name_after(text[cue.end() :], strong=strong, mixed_case=mixed_case)
        if found:
            return found
    if asked:
        return _name_after(text, strong=True, mixed_case=mixed_case, bare=True)
    return None


def _name_after(text: str, *, strong: bool, mixed_case: bool, bare: bool = False) -> str | None:
    tokens = _NAME_TOKENS.findall(text)
    i = 0
    # "my name is, uh, Alice Johnson"
    while i < len(tokens) and (tokens[i].lower() in _FILLERS or not tokens[i][0].isalnum()):
        i += 1
    parts: list[str] = []
    while i < len(tokens) and len(parts) < 3 and _name_like(tokens[i]):
        parts.append(tokens[i])
        i += 1
    if not parts:
        return None
    first = parts[0]
    if not strong and (
        (mixed_case and not first[0].isupper()) or (not mixed_case and first.endswith("ing"))
    ):
        return None  # "I'm calling about ..." is not a name
    following = tokens[i] if i < len(tokens) else ""
    if bare and following and following[0].isalpha() and following.lower() != "and":
        return None  # a sentence, not a name on its own
    return " ".join(_titled(p) for p in parts)


def _name_like(token: str) -> bool:
    lowered = token.lower().removesuffix("'s")
    return token[0].isalpha() and lowered not in _NOT_NAME and len(lowered) >= 2


def _titled(part: str) -> str:
    part = part.removesuffix("'s")
    return part if part[:1].isupper() and not part.isupper() else part.title()
