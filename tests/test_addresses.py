"""One place for addresses: format characters stripped, hostile shapes refused, the column form equal to the value form."""

import sys
import unicodedata

import pytest

from tailor.addresses import (
    MAX_ADDRESS_LENGTH,
    address_problem,
    normalize_address,
    strip_format_characters,
)


@pytest.mark.parametrize("raw, expected", [
    ("zw.test@example.com\u200b", "zw.test@example.com"),       # zero-width space after the address
    ("\ufeffAnna@Example.COM ", "anna@example.com"),             # byte-order mark, case, trailing space
    ("bi\u200edi@example.com", "bidi@example.com"),              # left-to-right mark inside
    ("x\U000E0041@example.com", "x@example.com"),                # a tag character (plane 14)
    ("ｆｕｌｌ@example.com", "full@example.com"),                   # full-width letters (NFKC)
    ("müller@exämple.de", "müller@exämple.de"),                  # international addresses stay
])
def test_addresses_are_cleaned_before_matching(raw, expected):
    assert normalize_address(raw) == expected
    assert address_problem(raw) is None


@pytest.mark.parametrize("raw, reason", [
    ("probe09@example.com>", "contains a space"),
    ("a\x00b@example.com", "control character"),
    ("a\r\nbcc@example.com", "control character"),
    ("Anna <anna@example.com>", "contains a space"),
    ("anna@example", "domain without a dot"),
    ("anna@@example.com", "exactly one @"),
    ("", "empty"),
    ("\u200b", "empty"),
    ("x" * 65 + "@example.com", "local part longer than 64"),
    ("a@" + "b" * MAX_ADDRESS_LENGTH + ".com", f"longer than {MAX_ADDRESS_LENGTH}"),
    (None, "not text"),
])
def test_hostile_or_broken_addresses_are_refused_with_a_reason(raw, reason):
    assert normalize_address(raw) is None
    assert reason in address_problem(raw)


def test_the_scanned_planes_hold_every_format_character_of_this_python():
    outside = [c for c in range(0x20000, sys.maxunicode + 1) if not 0xE0000 <= c < 0xE1000
               and unicodedata.category(chr(c)) == "Cf"]
    assert outside == []
    every = "".join(chr(c) for c in range(0x20000) if unicodedata.category(chr(c)) == "Cf")
    assert strip_format_characters(f"a{every}b") == "ab"


@pytest.mark.parametrize("text, encoded", [
    ("=?utf-8?q?x=0D=0ABcc=3A_attacker=40evil=2Eexample?=", True),
    ("Anna =?UTF-8?B?DQpCY2M6IGFAZXZpbC5leGFtcGxl?=", True),
    ("=\u200b?utf-8?q?x?=", True),  # a zero-width space does not hide it
    ("Anna = ? ok ?=", False),
    ("Renée", False),
])
def test_encoded_words_are_recognised_wherever_they_stand(text, encoded):
    from tailor.addresses import contains_encoded_word

    assert contains_encoded_word(text) is encoded
