"""Name hints: when a transcript seems to have misheard a known name, and which names."""

from __future__ import annotations

from media.providers.name_hints import NameHints, edit_distance, name_words

CUSTOMERS = ["Sarah Wilson", "David Brown", "Thomas Moore", "Ana María O'Brien"]


def test_words_are_plain_lowercase_ascii():
    assert name_words("Ana María O'Brien-Núñez") == ["ana", "maria", "obrien", "nunez"]
    assert edit_distance("david drown", "david brown") == 1
    assert edit_distance("", "abc") == 3


def test_a_known_last_name_with_another_first_name_asks_for_a_second_pass():
    hints = NameHints(CUSTOMERS)
    assert hints.candidates("My name is air Wilson and the last four are one nine") == [
        "Sarah Wilson"
    ]
    assert hints.candidates("Hi, my name is game with brown.") == ["David Brown"]


def test_a_near_miss_of_a_whole_name_asks_for_a_second_pass():
    hints = NameHints(CUSTOMERS)
    assert hints.candidates("Hi, my name is David Drown and the last four") == ["David Brown"]
    assert hints.candidates("this is ana maria obrian") == ["Ana María O'Brien"]


def test_known_names_and_unrelated_text_are_left_alone():
    hints = NameHints(CUSTOMERS)
    assert hints.candidates("My name is Sarah Wilson, last four one nine six four.") == []
    assert (
        hints.candidates("Hi, this is Thomas Anderson and my last four are six oh one nine") == []
    )
    assert hints.candidates("I'd like more information about my debit card") == []
    assert hints.candidates("") == []
    assert hints.heard("it's david BROWN") and not hints.heard("david")


def test_names_of_one_word_are_not_hints_and_candidates_are_capped():
    assert not NameHints(["Cher", "  "])
    many = NameHints([f"{first} Brown" for first in ("Amy", "Ben", "Cal", "Dee", "Eve")])
    assert many.candidates("my name is Bo Brown") == ["Amy Brown", "Ben Brown", "Cal Brown"]
