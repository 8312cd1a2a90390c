"""E-mail addresses and the text around them, cleaned and validated in one place (standard library only).

Every part of Tailor that compares, matches or writes an address uses :func:`normalize_address` (a column goes
through ``tailor.identity.normalize.normalize_email_column``, once per distinct value): identity resolution,
consent and suppression matching, the send ledger's per-address guard and the message headers. So a zero-width space
copied into a consent row (``zw.test@example.com\\u200b``) still revokes the customer's consent, and
``probe09@example.com>`` or an address carrying a NUL is no address at all, everywhere at once.

Rules, in order: Unicode NFKC; Unicode format characters (category Cf: zero-width spaces and joiners, the
byte-order mark, bidirectional marks, soft hyphens) removed; surrounding whitespace trimmed; lower-cased. The
result is an address only when it has one ``@``, a local part of at most 64 and a whole of at most 254
characters (RFC 5321), no control character, no space, none of ``<>()[]\\,;:"`` and a dotted domain.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

MAX_ADDRESS_LENGTH = 254  # RFC 5321 4.5.3.1.3 (path of 256 octets minus the angle brackets)
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 4.5.3.1.1

# Characters that never belong in an address we write into a header: specials of RFC 5322 that would need
# quoting, whitespace and controls (C0, DEL, C1). Quoted local parts are not accepted: nobody shops with one.
_ADDRESS = re.compile(
    r"(?P<local>[^@\s<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]+)"
    r"@(?P<domain>[^@\s<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f.]+(?:\.[^@\s<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f.]+)+)"
)


# RFC 2047 encoded-word syntax, case-insensitive, anywhere in a text (readers also decode words glued to other
# text). A mail client decodes it, so in a name or a subject it could carry a line break into a header.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bq]\?[^?\s]*\?=", re.IGNORECASE)


def contains_encoded_word(text: str) -> bool:
    """Whether ``text`` (format characters ignored) holds an RFC 2047 encoded-word (``=?utf-8?q?...?=``)."""
    return bool(_ENCODED_WORD.search(strip_format_characters(text)))


@cache
def format_characters_class() -> str:
    """A regex character class of every Unicode format character (category Cf) this Python knows.

    Built on first use (about 30 ms) rather than at import, so that loading the code location stays fast. Format
    characters live in planes 0, 1 and 14 only (tags and variation selectors); the others are not scanned."""
    ranges: list[str] = []
    start = previous = None
    for code in (*range(0x20000), *range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(code)) != "Cf":
            continue
        if previous is not None and code == previous + 1:
            previous = code
            continue
        if start is not None:
            ranges.append(_range(start, previous))
        start = previous = code
    if start is not None:
        ranges.append(_range(start, previous))
    return "[" + "".join(ranges) + "]"


def _range(first: int, last: int) -> str:
    return re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"


@cache
def _format_characters() -> re.Pattern[str]:
    return re.compile(format_characters_class())


def strip_format_characters(text: str) -> str:
    """``text`` without Unicode format characters (zero-width spaces, BOM, bidi marks, soft hyphens)."""
    return _format_characters().sub("", text)


def address_problem(value: object) -> str | None:
    """Why ``value`` is not a usable address (never quoting it: it is personal data), or None when it is."""
    return _checked(value)[1]


def normalize_address(value: object) -> str | None:
    """The normalised address (see the module docstring), or None when ``value`` is not an address."""
    address, problem = _checked(value)
    return None if problem else address


def _checked(value: object) -> tuple[str | None, str | None]:
    """(the cleaned value, None) for an address, else (None, what is wrong with it). Cleans once."""
    if not isinstance(value, str):
        return None, "not text"
    cleaned = strip_format_characters(unicodedata.normalize("NFKC", value)).strip().lower()
    if not cleaned:
        return None, "empty"
    if len(cleaned) > MAX_ADDRESS_LENGTH:
        return None, f"longer than {MAX_ADDRESS_LENGTH} characters"
    match = _ADDRESS.fullmatch(cleaned)
    if match is None:
        if any(unicodedata.category(c) == "Cc" for c in cleaned):
            return None, "contains a control character"
        if cleaned.count("@") != 1:
            return None, "needs exactly one @"
        return None, "contains a space, one of <>()[]\\,;:\" or a domain without a dot"
    if len(match["local"]) > MAX_LOCAL_PART_LENGTH:
        return None, f"local part longer than {MAX_LOCAL_PART_LENGTH} characters"
    return cleaned, None
