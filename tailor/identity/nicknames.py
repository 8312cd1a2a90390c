"""Nicknames: the canonical first-name key (``first_canon``) through a curated table per language.

``Bill``, ``Billy`` and ``Will`` are ``william``, ``Liz`` and ``Beth`` ``elizabeth``, ``Hans`` ``johannes``, ``Sasha``
``alexander``, ``Kasia`` ``katarzyna``, ``Pepe`` ``jose``, ``Beppe`` ``giuseppe``; a name that is no nickname is its
own key (``first_canon == first_key``). The table is ``nicknames.csv`` beside this module (packaged with it):
English, German, French, Dutch, Polish, Spanish and Italian, the languages of the countries the CRM serves.

A nickname can stand for different names in different languages (``alex``: alexander, alexandre, alessandro,
alejandro; ``max``: maximilian, maxime, massimo), so the record's country chooses: its languages in order
(``tailor.identity.normalize.COUNTRY_LANGUAGES``; Switzerland: German, French, Italian), and for a record without
a known country every language, in the order of ``DEFAULT_LANGUAGES``. A short form that is a given name in its own
right in a language (Polish ``Jan``, while Dutch ``Jan`` is Johannes) is only read as a nickname in the languages
that list it.

What is listed: hypocorisms that mostly stand for one name (Wikipedia's lists of diminutives per language and the
usual forms in each country), none that are common given names of their own (Harry, Lena, Daan, Liam, Lisa):
two siblings Harry and Henry must not look like one person called by two names.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

import pandas as pd

from tailor.identity.normalize import DEFAULT_LANGUAGES, country_languages, map_distinct_rows

LANGUAGES = frozenset(DEFAULT_LANGUAGES)


@lru_cache(maxsize=1)
def nickname_table() -> dict[str, dict[str, str]]:
    """``{language: {nickname: canonical}}`` from ``nicknames.csv`` (name keys: lower case, letters only)."""
    text = resources.files("tailor.identity").joinpath("nicknames.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO("".join(line for line in text.splitlines(keepends=True)
                                              if not line.startswith("#"))))
    table: dict[str, dict[str, str]] = {lang: {} for lang in DEFAULT_LANGUAGES}
    for row in rows:
        lang, nick, canonical = row["language"], row["nickname"], row["canonical"]
        if lang not in LANGUAGES:
            raise ValueError(f"nicknames.csv: unknown language {lang!r}")
        if not (nick.isascii() and nick.isalpha() and nick.islower() and canonical.isascii() and canonical.isalpha()
                and canonical.islower()):
            raise ValueError(f"nicknames.csv: {nick!r} -> {canonical!r} is not a pair of name keys")
        if table[lang].setdefault(nick, canonical) != canonical:
            raise ValueError(f"nicknames.csv: {nick!r} has two canonical names in {lang!r}")
    return table


def canonical_first_name(first_key: str | None, country: str | None = None) -> str | None:
    """The canonical key of a first-name key (:func:`tailor.identity.normalize.name_key`) in ``country`` (ISO
    3166 alpha-2, None when unknown): the full name a nickname stands for, else ``first_key`` itself."""
    if not isinstance(first_key, str) or not first_key:
        return None
    table = nickname_table()
    for lang in country_languages(country):
        canonical = table[lang].get(first_key)
        if canonical is not None:
            return canonical
    return first_key


def first_canon_column(first_key: pd.Series, country_iso: pd.Series) -> pd.Series:
    """:func:`canonical_first_name` of every record, once per distinct (first name key, country)."""
    out = map_distinct_rows([first_key, country_iso], canonical_first_name, skip_when_missing=1)
    return pd.Series(out, index=first_key.index, dtype=object)
