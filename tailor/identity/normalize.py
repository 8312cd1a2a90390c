"""Normalisation of customer attributes: e-mails, phone numbers, names, countries, time zones, dates of birth.
(Street addresses: :mod:`tailor.identity.address`; nicknames: :mod:`tailor.identity.nicknames`.)

The value functions (``normalize_phone``, ``normalize_name``, ``name_key``, ...) are plain and unit-tested;
applied to a column they run once per *distinct* value (:func:`map_distinct`), so a million CRM records (with
a few hundred thousand distinct values) stay fast. E-mail addresses follow the one rule of
:mod:`tailor.addresses` (format characters stripped, hostile shapes refused), so CRM records, consent rows and
ESP events are normalised identically. phonenumbers costs about 35 µs per call, so phones are additionally
grouped by a "shape" (see :func:`phone_column`). Names, cities and postcodes lose control and format characters
(:func:`clean_text`): nothing identity hands out can break a header line or hide text.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
import phonenumbers
import pycountry
import pytz
from rapidfuzz.distance import DamerauLevenshtein

from tailor.addresses import contains_encoded_word, normalize_address, strip_format_characters

# Addresses people type when a form insists on an e-mail they do not want to give. Several different
# people share them, so they must never identify anyone nor receive mail.
PLACEHOLDER_EMAIL_LOCAL_PARTS = frozenset({
    "test", "tester", "testing", "noemail", "no-email", "no_email", "no.email", "nomail", "no-mail", "none", "no",
    "na", "n.a", "null", "nil", "unknown", "dummy", "fake", "noreply", "no-reply", "donotreply", "do-not-reply",
    "invalid", "x", "xx", "xxx", "asdf", "abc", "keine", "kein", "aucun", "nobody",
})
PLACEHOLDER_EMAIL_DOMAINS = frozenset({
    "test.com", "test.de", "none.com", "noemail.com", "nomail.com", "no-email.com", "email.invalid", "invalid",
    "example.invalid", "mailinator.com",
})


# Big mailbox providers whose misspellings are worth flagging. Only names of at least 8 characters: a
# one-letter change of a short name ("me.com", "gmx.de") is too often another real domain.
BIG_EMAIL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "live.com",
    "yahoo.co.uk", "hotmail.co.uk", "btinternet.com", "orange.fr", "laposte.net", "wanadoo.fr", "libero.it",
    "hotmail.fr", "yahoo.fr", "protonmail.com", "t-online.de", "bluewin.ch", "interia.pl",
)


# Real domains one edit away from a big one: they are never reported as typos.
_REAL_NEIGHBOURS = frozenset({
    "mail.com", "email.com", "ymail.com", "gmx.com", "hotmail.de", "hotmail.it", "hotmail.es", "yahoo.de",
    "yahoo.it", "yahoo.es", "outlook.de", "outlook.fr", "live.de", "live.fr", "aol.com", "msn.com", "me.com",
    "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "online.de", "orange.es", "free.fr", "sfr.fr",
})
_BIG = frozenset(BIG_EMAIL_DOMAINS)


def email_typo_suggestion(email: str | None) -> str | None:
    """The big provider's domain a normalised address probably meant (``gmial.com`` -> ``gmail.com``), else None.

    A typo is one edit (insert, delete, substitute or swap two neighbours: Damerau-Levenshtein distance 1)
    away from exactly one big domain. The address itself is never rewritten: the suggestion is only a flag."""
    if not isinstance(email, str) or "@" not in email:
        return None
    return domain_typo_suggestion(email.rpartition("@")[2])


@lru_cache(maxsize=65_536)
def domain_typo_suggestion(domain: str) -> str | None:
    """The big provider's domain that ``domain`` probably meant (see :func:`email_typo_suggestion`)."""
    if domain in _BIG or domain in _REAL_NEIGHBOURS:
        return None
    close = [d for d in BIG_EMAIL_DOMAINS if DamerauLevenshtein.distance(domain, d, score_cutoff=1) <= 1]
    return close[0] if len(close) == 1 else None


def normalize_email_column(raw: pd.Series) -> pd.Series:
    """:func:`tailor.addresses.normalize_address` of every value, once per distinct value; None where a value is
    not an address (``probe09@example.com>``, an address with a NUL or a line break).

    Placeholders (``test@test.com``) are still addresses here: :func:`email_columns` flags them."""
    return map_distinct(raw, normalize_address)


def _email_facts(raw: object) -> tuple[str | None, bool, str | None]:
    """(normalised address, placeholder?, domain typo suggestion) of one raw value."""
    address = normalize_address(raw)
    if address is None:
        return None, False, None
    local, _, domain = address.rpartition("@")
    placeholder = local in PLACEHOLDER_EMAIL_LOCAL_PARTS or domain in PLACEHOLDER_EMAIL_DOMAINS
    return address, placeholder, domain_typo_suggestion(domain)


def email_columns(raw: pd.Series) -> pd.DataFrame:
    """``email_norm`` (:func:`normalize_email_column`), ``email_placeholder`` (the address stands for "no e-mail":
    ``test@test.com``, ``noemail@example.com``) and ``email_typo_suggestion`` (:func:`email_typo_suggestion`).

    Computed once per distinct raw value: about 0.7 M distinct among a million CRM addresses."""
    values = raw.to_numpy(dtype=object)
    present = ~pd.isna(values)
    norm = np.full(len(values), None, dtype=object)
    placeholder = np.zeros(len(values), dtype=bool)
    typo = np.full(len(values), None, dtype=object)
    if present.any():
        codes, uniques = pd.factorize(values[present])
        facts = [_email_facts(u) for u in uniques]
        for column, position in ((norm, 0), (placeholder, 1), (typo, 2)):
            distinct = np.empty(len(facts), dtype=column.dtype)
            distinct[:] = [f[position] for f in facts]
            column[present] = distinct[codes]
    return pd.DataFrame({"email_norm": norm, "email_placeholder": placeholder, "email_typo_suggestion": typo},
                        index=raw.index)


# National significant numbers (digits after the country code) that people type to get past a form.
PLACEHOLDER_PHONES = frozenset({"0000000000", "1234567890", "0123456789", "9876543210", "5555555555", "1111111111",
                                "123456789", "12345678", "1234567"})


_ASCENDING = "01234567890123456789"
_DESCENDING = "98765432109876543210"
_NOT_PHONE_CHARS = re.compile(r"[^0-9+]")


def is_placeholder_phone(national_number: str) -> bool:
    """True for the digits of a placeholder: a listed value, two or fewer distinct digits (``0000000000``,
    ``5555555555``) or a straight run (``1234567890``)."""
    d = national_number
    if d in PLACEHOLDER_PHONES or len(set(d)) <= 2:
        return True
    return len(d) >= 7 and (d in _ASCENDING or d in _DESCENDING)


def _parse_phone(text: str, region: str | None) -> tuple[str, str] | None:
    """(country calling code, national significant number) by phonenumbers, or None if impossible."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # "possible" (right length for the country), not "valid" (an allocated range): an unallocated or
    # reserved fictional number (UK 07700 900xxx) still identifies the person who typed it.
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    cc = str(number.country_code)
    return cc, e164[1 + len(cc):]


def normalize_phone(raw: object, region: str | None = None) -> str | None:
    """E.164 (``+493055512345``) for a phone typed in any national or international format.

    ``region`` is the record's ISO country (how a national number like ``030 5551234`` is read). Numbers
    that are not possible for their country, and placeholders (:func:`is_placeholder_phone`), give None."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("00"):  # international prefix used in most of Europe; readable without a region
        text = "+" + text[2:]
    digits = _NOT_PHONE_CHARS.sub("", text).lstrip("+")
    if not digits or is_placeholder_phone(digits):
        return None
    parsed = _parse_phone(text, region if region else None)
    if parsed is None or is_placeholder_phone(parsed[1]):
        return None
    return "+" + parsed[0] + parsed[1]


_SHAPE_PREFIX = 7  # leading digits that decide country code, trunk prefix and possible length


def phone_column(raw: pd.Series, region: pd.Series) -> pd.Series:
    """:func:`normalize_phone` of every row, fast on a million rows.

    Typed numbers are reduced to their digits; numbers that share the *shape* (region, leading ``+``,
    the first 7 digits, the length) are read the same way by phonenumbers: the same country code and
    the same number of leading digits (international or trunk prefix) dropped. So phonenumbers parses
    one representative per shape and the rest is string arithmetic. A shape whose representative is
    not such a plain prefix drop (a few numbering plans rewrite digits) is parsed value by value."""
    text = raw.where(raw.notna(), "").astype(str).str.strip()
    text = text.where(~text.str.startswith("00"), "+" + text.str[2:])
    plus = text.str.startswith("+")
    digits = text.str.replace(_NOT_PHONE_CHARS, "", regex=True)
    reg = region.where(region.notna(), "").astype(str)
    frame = pd.DataFrame({"text": text, "digits": digits, "plus": plus, "region": reg})
    frame = frame[frame["digits"].str.len() > 0]
    out = np.full(len(raw), None, dtype=object)
    if frame.empty:
        return pd.Series(out, index=raw.index, dtype=object)
    # one row per distinct (digits, plus, region): the formatting characters no longer matter
    distinct = frame.drop_duplicates(["digits", "plus", "region"])[["text", "digits", "plus", "region"]]
    distinct = distinct.assign(shape=distinct["digits"].str[:_SHAPE_PREFIX] + ":" + distinct["digits"].str.len().astype(str))
    reps = distinct.drop_duplicates(["shape", "plus", "region"])
    rule: dict[tuple[str, bool, str], tuple[str, int] | None] = {}
    for text_, digits_, plus_, region_, shape_ in reps.itertuples(index=False):
        parsed = _parse_phone(text_, region_ or None)
        if parsed is None:
            rule[(shape_, plus_, region_)] = None
            continue
        cc, nsn = parsed
        strip = len(digits_) - len(nsn)
        # only a plain prefix drop can be reused for other numbers of the shape
        rule[(shape_, plus_, region_)] = (cc, strip) if strip >= 0 and digits_[strip:] == nsn else ("", -1)
    keys = list(zip(distinct["shape"], distinct["plus"], distinct["region"]))
    cc = np.array([(rule[k] or ("", -2))[0] for k in keys], dtype=object)
    strip = np.array([(rule[k] or ("", -2))[1] for k in keys], dtype=np.int64)
    nsn = np.array([d[s:] if s >= 0 else "" for d, s in zip(distinct["digits"].tolist(), strip.tolist())], dtype=object)
    e164 = np.where(strip >= 0, "+" + cc + nsn, None).astype(object)
    for i in np.flatnonzero(strip == -1):  # rewritten numbering plans: the library, value by value
        e164[i] = normalize_phone(distinct["text"].iloc[i], distinct["region"].iloc[i] or None)
    placeholder = np.array([s >= 0 and is_placeholder_phone(n) for s, n in zip(strip.tolist(), nsn.tolist())])
    placeholder |= np.array([is_placeholder_phone(d) for d in distinct["digits"].tolist()])
    e164[placeholder & (strip >= 0)] = None
    e164[placeholder & (strip == -1)] = None
    distinct = distinct.assign(e164=e164)
    merged = frame.merge(distinct[["digits", "plus", "region", "e164"]], on=["digits", "plus", "region"], how="left")
    out[raw.index.get_indexer(frame.index)] = merged["e164"].to_numpy(dtype=object)
    return pd.Series(out, index=raw.index, dtype=object)


_WHITESPACE = re.compile(r"\s+")
_NOT_LETTER = re.compile(r"[^a-z]")
# Control characters (C0, DEL, C1: NUL, CR, LF, ESC ...) separate words like a space; lone surrogates (debris of a
# broken decoding) cannot even be encoded as UTF-8 and are dropped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

#: Longest name, city or postcode (characters, after cleaning) that is taken as one. Real names stay far below
#: it (the longest of the demo lists have about 20 characters; UK government forms allow 35 per name field);
#: longer text is pasted junk or an attack, and no name rather than a truncated one.
MAX_NAME_LENGTH = 100


def clean_text(raw: object, max_length: int = MAX_NAME_LENGTH) -> str | None:
    """Free text fit to hand out: format characters (zero-width, bidi overrides, BOM) removed, control characters
    read as spaces, NFC, single spaces, trimmed. None when empty or longer than ``max_length`` characters."""
    if not isinstance(raw, str):
        return None
    text = _SURROGATE.sub("", _CONTROL.sub(" ", strip_format_characters(raw)))
    text = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return text if text and len(text) <= max_length else None


def normalize_name(raw: object) -> str | None:
    """:func:`clean_text` (at most ``MAX_NAME_LENGTH`` characters); a name typed all in one case is title-cased.
    An RFC 2047 encoded-word (``=?utf-8?q?...?=``) is no name: mail software would decode it into a header."""
    name = clean_text(raw)
    if name is None or contains_encoded_word(name):
        return None
    # Only fix names typed all in one case; "McDonald" or "van der Berg" are left as the person wrote them.
    return name.title() if name.isupper() or name.islower() else name


def name_key(raw: object) -> str | None:
    """A comparison key: accents folded, lower case, letters only (``"Müller "`` -> ``"muller"``); None for what
    :func:`clean_text` does not take as a name (an overlong value is no key either)."""
    text = clean_text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss").replace("ł", "l").replace("ø", "o"))
    key = _NOT_LETTER.sub("", text.encode("ascii", "ignore").decode().lower())
    return key or None


def name_key_column(raw: pd.Series) -> pd.Series:
    return map_distinct(raw, name_key)


#: Birth dates that stand for "unknown", never for a person: no evidence (``birth_date`` None).
#: * 1900-01-01: the lowest date of many systems (SQL Server ``smalldatetime``, day 1 of Excel) and the "unknown"
#:   default of CRMs and legacy imports: the most frequent fake birth date in customer data;
#: * 1970-01-01: the Unix epoch, what a timestamp of 0 or an empty number becomes when converted to a date;
#: * 2000-01-01: the default of date pickers and web forms (and of two-digit years "00" read as 2000);
#: * 1899-12-30 / 1899-12-31 (date zero of OLE Automation / Excel), 1753-01-01 (SQL Server ``datetime``
#:   minimum), 0001-01-01 (.NET ``DateTime.MinValue``), 9999-12-31 ("open end" in SAP and Oracle): outside the
#:   plausible range anyway (before 1900 or in the future), listed so the list says what exports use.
#: The 1st of January of other years is not on the list: about one person in 365 is born on it.
PLACEHOLDER_BIRTH_DATES = frozenset({
    "1900-01-01", "1970-01-01", "2000-01-01", "1899-12-30", "1899-12-31", "1753-01-01", "0001-01-01", "9999-12-31",
})

#: The earliest birth date taken as real (the CRM contract quarantines earlier ones).
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.,+\-Zz ]*)?")


def _as_date(raw: object) -> date | None:
    if raw is None or raw is pd.NaT:
        return None
    if isinstance(raw, pd.Timestamp):
        return raw.date()
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, np.datetime64):
        return None if np.isnat(raw) else pd.Timestamp(raw).date()
    if isinstance(raw, str):
        m = _ISO_DATE.fullmatch(raw.strip())
        if m is None:
            return None
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:  # 1980-02-30
            return None
    return None


def birth_date_key(raw: object, today: date | None = None) -> str | None:
    """A date of birth as ``YYYY-MM-DD`` for matching; None when missing, not a date, a placeholder
    (``PLACEHOLDER_BIRTH_DATES``: 1900-01-01, 1970-01-01, 2000-01-01, ...), before ``EARLIEST_BIRTH_DATE`` or after
    ``today`` (default: the UTC date now).

    Reads what ``crm_customers.date_of_birth`` holds (a timestamp at midnight), ``datetime.date`` values and ISO
    text (``1980-05-17``, optionally with a time); other text (``17.05.1980``) is no date here, as in the contract."""
    d = _as_date(raw)
    if d is None:
        return None
    text = d.isoformat()
    if text in PLACEHOLDER_BIRTH_DATES or d < EARLIEST_BIRTH_DATE:
        return None
    if d > (today or datetime.now(timezone.utc).date()):
        return None
    return text


def birth_date_column(raw: pd.Series, today: date | None = None) -> pd.Series:
    """:func:`birth_date_key` of every value, once per distinct date (a few tens of thousands among a million)."""
    today = today or datetime.now(timezone.utc).date()
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):  # the warehouse's column: no Timestamp per row
        codes, uniques = pd.factorize(raw.to_numpy())
        out = np.full(len(raw), None, dtype=object)
        if len(uniques):
            mapped = np.empty(len(uniques), dtype=object)
            mapped[:] = [birth_date_key(pd.Timestamp(u), today) for u in uniques]
            out[codes >= 0] = mapped[codes[codes >= 0]]
        return pd.Series(out, index=raw.index, dtype=object)
    return map_distinct(raw, lambda v: birth_date_key(v, today))


# Spellings people type that ISO's own names do not cover.
COUNTRY_ALIASES = {
    "uk": "GB", "england": "GB", "great britain": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "deutschland": "DE", "allemagne": "DE", "frankreich": "FR", "espana": "ES", "españa": "ES", "spanien": "ES",
    "italia": "IT", "italien": "IT", "nederland": "NL", "holland": "NL", "the netherlands": "NL", "niederlande": "NL",
    "österreich": "AT", "osterreich": "AT", "oesterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "polska": "PL", "polen": "PL", "usa": "US", "u.s.a.": "US", "u.s.": "US", "america": "US",
    "united states of america": "US",
}


#: The languages of a country's names (given names, street names), most used first: which nickname and street
#: abbreviation tables apply to a record (tailor.identity.nicknames, tailor.identity.address).
COUNTRY_LANGUAGES: dict[str, tuple[str, ...]] = {
    "DE": ("de",), "AT": ("de",), "LI": ("de",), "CH": ("de", "fr", "it"), "LU": ("fr", "de"),
    "GB": ("en",), "IE": ("en",), "US": ("en",), "CA": ("en", "fr"), "AU": ("en",), "NZ": ("en",),
    "FR": ("fr",), "BE": ("nl", "fr"), "MC": ("fr",), "NL": ("nl",), "PL": ("pl",),
    "ES": ("es",), "MX": ("es",), "AR": ("es",), "CO": ("es",), "CL": ("es",), "IT": ("it",), "SM": ("it",),
}

#: The languages tried, in this order, for a record whose country is unknown or not in ``COUNTRY_LANGUAGES``.
DEFAULT_LANGUAGES = ("en", "de", "fr", "nl", "es", "it", "pl")


def country_languages(country: str | None) -> tuple[str, ...]:
    """The languages of ``country`` (ISO alpha-2), or ``DEFAULT_LANGUAGES`` when unknown."""
    if isinstance(country, str):
        languages = COUNTRY_LANGUAGES.get(country.upper())
        if languages:
            return languages
    return DEFAULT_LANGUAGES


@lru_cache(maxsize=4096)
def normalize_country(raw: str | None) -> str | None:
    """ISO-3166 alpha-2 code for a country typed as a code or a name; None when unknown."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    alias = COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=512)
def default_timezone(country: str | None) -> str | None:
    """The main time zone of a country (its first IANA zone), for customers who did not give one."""
    if not isinstance(country, str) or not country:
        return None
    zones = pytz.country_timezones.get(country.lower())
    return zones[0] if zones else None


def normalize_timezone(raw: object) -> str | None:
    """An IANA zone name as given (``Europe/Berlin``); None when empty or unknown."""
    if not isinstance(raw, str):
        return None
    tz = raw.strip()
    return tz if tz in pytz.all_timezones_set else None


def map_distinct(values: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """``values.map(fn)`` computing ``fn`` once per distinct value (missing values give None)."""
    arr = values.to_numpy(dtype=object)
    present = ~pd.isna(arr)
    out = np.full(len(arr), None, dtype=object)
    if present.any():
        codes, uniques = pd.factorize(arr[present])
        mapped = np.empty(len(uniques), dtype=object)
        mapped[:] = [fn(u) for u in uniques]
        out[present] = mapped[codes]
    return pd.Series(out, index=values.index, dtype=object)


def map_distinct_rows(columns: list[pd.Series], fn: Callable[..., object], skip_when_missing: int = 0) -> np.ndarray:
    """``fn(a, b, ...)`` of every row of the aligned ``columns``, computed once per distinct row (missing values
    are passed as None). Rows whose first ``skip_when_missing`` values are all missing get None without a call.

    Rows are told apart by the codes of each column's distinct values (``pd.factorize``), never by joining their
    text, so no value can be mistaken for another."""
    n = len(columns[0])
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    arrays = [c.to_numpy(dtype=object) for c in columns]
    coded = [pd.factorize(a, use_na_sentinel=True) for a in arrays]
    key = np.zeros(n, dtype=np.int64)
    for codes, uniques in coded:  # one code per distinct row, pairwise so the product never overflows
        key = pd.factorize(key * (len(uniques) + 1) + (codes + 1))[0].astype(np.int64)
    todo = np.ones(n, dtype=bool)
    if skip_when_missing:
        todo = np.zeros(n, dtype=bool)
        for codes, _ in coded[:skip_when_missing]:
            todo |= codes >= 0
    if not todo.any():
        return out
    _, first, inverse = np.unique(key[todo], return_index=True, return_inverse=True)
    rows = np.flatnonzero(todo)[first]
    values = []
    for r in rows:
        args = [None if codes[r] < 0 else uniques[codes[r]] for codes, uniques in coded]
        values.append(fn(*args))
    mapped = np.empty(len(values), dtype=object)
    mapped[:] = values
    out[todo] = mapped[inverse.ravel()]
    return out
