"""What the PII detector finds, as callers say it and recognizers write it."""

from __future__ import annotations

import logging

import pytest

from media.redaction import (
    PiiVault,
    find_pii,
    install_log_redaction,
    luhn_valid,
    redact,
    redact_value,
)


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("my card is 4111 1111 1111 1111", "card number"),
        ("card 4111-1111-1111-1111 please", "card number"),
        ("four one one one one one one one one one one one one one one one", "card number"),
        ("my social is 123-45-6789", "SSN"),
        ("the last four digits of my social are 4817.", "SSN"),
        ("my social ends in 4-8-1-7", "SSN"),
        ("social security ending in 48 17.", "SSN"),
        ("social security ending in two oh nine five", "SSN"),
        ("my account number is 98765432105", "account number"),
        ("account 4 4 0 0 1 2 3", "account number"),
        ("call me at (425) 555-0123", "phone number"),
        ("+1 425 555 0123", "phone number"),
        ("four two five five five five oh one two three", "phone number"),
        ("write to jane.doe@example.com", "email"),
        ("it's jane dot doe at example dot com", "email"),
        ("the code is 4 8 1 7", "number"),
        ("four, eight, one, seven", "number"),
    ],
)
def test_each_kind_is_found_however_it_is_written(said, kind):
    assert [f.kind for f in find_pii(said)] == [kind]
    assert f"[{kind}]" in redact(said)


@pytest.mark.parametrize(
    "said",
    [
        "I paid $1,234.56 in 2019, for example",
        "the balance is 12345.67 dollars",
        "I want to report 2 cards stolen at 10 pm",
        "4817 for my account",  # four digits at once, no SSN named: a card's last four
        "call 3a5e8c1b-1234-5678-9abc-def012345678 started",  # ids stay readable in logs
        "session sim-12345678 open",
        "turn 12 took 340.5 ms",
        "one moment, oh I see",
    ],
)
def test_amounts_ids_and_ordinary_numbers_are_left_alone(said):
    assert find_pii(said) == []
    assert redact(said) == said


def test_a_sixteen_digit_number_failing_luhn_is_still_redacted_but_not_as_a_card():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert [f.kind for f in find_pii("number 4111 1111 1111 1112")] == ["account number"]


def test_the_vault_numbers_values_and_puts_them_back():
    vault = PiiVault()
    text = vault.redact("card 4111 1111 1111 1111, again 4111 1111 1111 1111, ssn 123-45-6789")
    assert text == "card [card number 1], again [card number 1], ssn [SSN 1]"
    assert vault.restore({"card": "[card number 1]", "n": ["[SSN 1]"], "x": 3}) == {
        "card": "4111111111111111",
        "n": ["123456789"],
        "x": 3,
    }
    # Said another way, the same number: the same placeholder; tools get the digits.
    assert vault.redact("social four one one one") == "social [SSN 2]"
    assert vault.redact("it is jane dot doe at example dot com") == "it is [email 1]"
    assert vault.restore("[SSN 2] [email 1]") == "4111 jane.doe@example.com"
    assert vault.restore("[SSN 7]") == "[SSN 7]"  # never handed out: left as it is


def test_log_records_are_redacted_while_the_mode_is_not_off(caplog):
    mode = {"value": "store"}
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        install_log_redaction(lambda: mode["value"])
        log = logging.getLogger("tests.redaction")
        with caplog.at_level(logging.INFO, logger="tests.redaction"):
            log.info("caller said %s", "my social is 123-45-6789")
            mode["value"] = "off"
            log.info("caller said %s", "my social is 123-45-6789")
    finally:
        logging.setLogRecordFactory(previous)
    assert caplog.messages == [
        "caller said my social is [SSN]",
        "caller said my social is 123-45-6789",
    ]


def test_a_fields_name_is_the_context_of_its_value():
    arguments = {"full_name": "Alice Johnson", "ssn_last_4": "4817", "pin": 4, "count": 4817}
    assert redact_value({"arguments": arguments}) == {
        "arguments": {"full_name": "Alice Johnson", "ssn_last_4": "[SSN]", "pin": 4, "count": 4817}
    }
