"""Header lines of the outgoing .eml, written here and never by the standard library's folder, and the cleaned
text both providers send (names, subject, addresses).

Why by hand: ``email.policy.SMTP``'s folder *decodes* RFC 2047 encoded-words it finds in a value and writes the
decoded CR/LF back, so a CRM first name ``=?utf-8?q?x=0D=0ABcc=3A_attacker=40evil=2Eexample?=`` became a real
``Bcc:`` header (issue 11). Nothing here decodes anything: text that is not plain printable ASCII is written as
base64 encoded-words of its exact UTF-8, so what a reader decodes is exactly the text we were given.

Rules (docs/delivery.md, "Header safety"):

- names and subjects holding a control character, a line or paragraph separator, or an RFC 2047 encoded-word
  are refused (:func:`text_problem`): a mail client or SendGrid could decode the encoded-word into a line break,
  and neither provider may carry one; Unicode format characters (zero-width, bidi overrides, BOM) are removed,
  from subjects except the joiner and tag characters that emoji sequences need;
- a display name is cut to :data:`MAX_NAME_CHARS`; a subject longer than :data:`MAX_SUBJECT_CHARS` is refused;
- every line this module writes is at most 78 octets (RFC 5322's SHOULD; 998 is the MUST), except an address
  header whose bare address alone is longer (an addr-spec cannot be folded; at most 254 + 8 octets);
- addresses are normalised by :mod:`tailor.addresses`, IDN domains written as IDNA (``xn--``); a non-ASCII
  local part would need SMTPUTF8 and is refused.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from functools import lru_cache

from tailor.addresses import address_problem, contains_encoded_word, normalize_address, strip_format_characters

#: Longest display name written (characters, after cleaning); longer names are cut, not refused.
MAX_NAME_CHARS = 100
#: Longest subject accepted (characters, after cleaning); a longer one is refused. (It is folded either way.)
MAX_SUBJECT_CHARS = 998
MAX_LINE = 78
CRLF = "\r\n"

_WORD_MAX = 75  # RFC 2047: an encoded-word is at most 75 characters
_WORD_OVERHEAD = len("=?utf-8?b??=")
_PLAIN_VALUE = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII words, single spaces
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")  # atoms, no = ?
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# C0, DEL, C1 (NEL among them) and the Unicode line / paragraph separators.
_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Format characters a subject keeps: the zero-width joiner and tag characters of emoji sequences.
_EMOJI_FORMAT = re.compile("[\u200d\U000e0020-\U000e007f]")


def text_problem(value: str) -> str | None:
    """Why ``value`` may not go into a name, subject or id header, or None. Never quotes the value."""
    if _BREAKING.search(value):
        return "contains a control character or line break"
    if contains_encoded_word(value):
        return "contains an RFC 2047 encoded-word (=?charset?q|b?...?=), which a mail client decodes"
    return None


def display_name(value: str | None) -> str | None:
    """The name as written to ``To``/``From`` and to SendGrid: format characters removed, whitespace runs made
    single spaces, cut to MAX_NAME_CHARS; None when nothing is left."""
    if not value:
        return None
    cleaned = " ".join(strip_format_characters(value).split())[:MAX_NAME_CHARS].strip()
    return cleaned or None


def subject_text(value: str) -> str:
    """The subject as written: format characters removed, except those emoji sequences need."""
    if value.isascii() or strip_format_characters(value) == value:  # the common case, without a loop
        return value
    return "".join(c if unicodedata.category(c) != "Cf" or _EMOJI_FORMAT.fullmatch(c) else "" for c in value)


def address_header_problem(value: object) -> str | None:
    """Why ``value`` cannot be written as an address header, or None (never quoting it)."""
    try:
        ascii_address(value)
    except ValueError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=1024)  # validate() and both builders ask for the same two addresses of a message
def ascii_address(value: object) -> str:
    """The normalised address in the 7-bit form headers and SendGrid take; ValueError says why not."""
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(problem)
    local, _, domain = normalize_address(value).rpartition("@")  # type: ignore[union-attr]  # checked above
    if not local.isascii():
        raise ValueError("non-ASCII local part (it needs SMTPUTF8, which Tailor does not use)")
    if not _DOT_ATOM.fullmatch(local):
        raise ValueError("local part starts or ends with a dot or has two dots in a row")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("domain is not a valid international domain name") from None
    if not _DOT_ATOM.fullmatch(domain):
        raise ValueError("domain is not a dotted host name")
    return f"{local}@{domain}"


def unstructured_header(name: str, value: str) -> str:
    """``name: value`` folded (CRLF-terminated): plain ASCII folded at its spaces, anything else (non-ASCII,
    a literal ``=?``, doubled or edge spaces, a word too long for a line) as encoded-words."""
    if "=?" not in value and _PLAIN_VALUE.fullmatch(value):
        folded = _fold_words(f"{name}:", value.split(" "))
        if folded is not None:
            return folded + CRLF
    words = _encoded_words(value, _first_room(name), at_spaces=False)
    return f"{name}: {(CRLF + ' ').join(words)}{CRLF}"


def address_header(name: str, addr: str, display: str | None) -> str:
    """``name: display <addr>`` (CRLF-terminated). ``addr`` is an :func:`ascii_address`, ``display`` a
    :func:`display_name`. Plain names stay atoms, other printable ASCII names a quoted-string on one line, the
    rest encoded-words split after the name's own spaces where possible (readers that, like Python's email
    package, insert a space between adjacent encoded-words in a phrase then differ only in whitespace)."""
    if not display:
        return f"{name}: {addr}{CRLF}"
    angle = f"<{addr}>"
    if _PLAIN_PHRASE.fullmatch(display):
        folded = _fold_words(f"{name}:", [*display.split(" "), angle])
        if folded is not None:
            return folded + CRLF
    elif "=?" not in display and _PRINTABLE_ASCII.fullmatch(display):
        quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        folded = _fold_words(f"{name}: {quoted}", [angle])
        if folded is not None and len(f"{name}: {quoted}") <= MAX_LINE:
            return folded + CRLF
    lines = [f"{name}: {word}" if i == 0 else f" {word}"
             for i, word in enumerate(_encoded_words(display, _first_room(name), at_spaces=True))]
    if len(lines[-1]) + 1 + len(angle) <= MAX_LINE:
        lines[-1] += f" {angle}"
    else:
        lines.append(f" {angle}")  # alone on its line: at most 1 + 256 octets
    return CRLF.join(lines) + CRLF


def _first_room(name: str) -> int:
    return min(_WORD_MAX, MAX_LINE - len(name) - 2)


def _fold_words(head: str, words: list[str]) -> str | None:
    """``head`` and ``words`` joined by spaces, folded before a space so that each line is <= 78 octets; None
    when the first word does not fit beside ``head`` or a later one not on a line of its own."""
    lines = [head]
    for n, word in enumerate(words):
        if len(lines[-1]) + 1 + len(word) <= MAX_LINE:
            lines[-1] += f" {word}"
        elif n > 0 and 1 + len(word) <= MAX_LINE:
            lines.append(f" {word}")
        else:
            return None
    return CRLF.join(lines)


def _encoded_words(text: str, first_room: int, *, at_spaces: bool) -> list[str]:
    """``text`` as base64 UTF-8 encoded-words: the first at most ``first_room`` characters long, the others 75
    (each on its own line after one space: 76 octets). Split on character boundaries; with ``at_spaces``, after
    the last space that fits, so that a word of the text is cut only when it alone is too long."""
    data = text.encode("utf-8")
    capacity = (max(first_room, _WORD_OVERHEAD + 4) - _WORD_OVERHEAD) // 4 * 3  # raw octets in the first word
    chunks: list[bytes] = []
    start = 0
    while len(data) - start > capacity:
        end = start + capacity
        while end > start and data[end] & 0xC0 == 0x80:  # never inside a UTF-8 sequence
            end -= 1
        if at_spaces and (space := data.rfind(b" ", start + 1, end)) > start:
            end = space + 1
        chunks.append(data[start:end])
        start, capacity = end, (_WORD_MAX - _WORD_OVERHEAD) // 4 * 3
    chunks.append(data[start:])
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]
