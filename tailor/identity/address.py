"""Street addresses as matching keys: :func:`normalize_street` gives ``(street_key, house_number_key)``.

Two spellings of one address give the same keys::

    normalize_street("Hauptstraße 5", "DE")        -> ("hauptstrasse", "5")
    normalize_street("Haupt-Str 5 A", "DE")        -> ("hauptstrasse", "5a")
    normalize_street("Flat 3, 12 High St.", "GB")  -> ("highstreet", "12")
    normalize_street("5 bis rue de la Paix", "FR") -> ("ruedelapaix", "5bis")
    normalize_street("ul. Długa 7/3", "PL")        -> ("dluga", "7")
    normalize_street("C/ Mayor, 3, 2º B", "ES")    -> ("callemayor", "3")

The keys are for comparing, never for display or for posting a letter. **street_key**: the street name, lower
case, accents folded (``ß`` -> ``ss``, ``ł`` -> ``l``; like :func:`tailor.identity.normalize.name_key`), letters
and digits only (no spaces: ``Haupt-Straße``, ``Haupt Straße`` and ``Hauptstraße`` are one street), with the
country's abbreviations written out (``St`` -> ``street``, ``Str.`` -> ``strasse``, ``av.`` -> ``avenue``, ``C/`` ->
``calle``) and words that people leave out dropped (Polish ``ul.``, Spanish ``de``/``del``). **house_number_key**:
the building's number with its letter or ``bis``/``ter`` (``5a``, ``5bis``, a range ``12-14``); flats, floors,
staircases and doors (``Flat 3``, ``Whg. 4``, ``2º B``, ``7/3`` in Poland, ``int. 5``) are not part of it.

Why rules and not a library: the address libraries that work offline are for one country (``usaddress`` and
``usaddress-scourgify``: the US and USPS Publication 28; ``pyap``: finding US/CA/GB addresses in text);
libpostal, the one that covers Europe, needs about 2 GB of model data downloaded at run time (its Python
bindings ship without it, and the wheels that bundle it are not built for Linux), and 2 GB of memory would not
fit the identity budget at a million customers. Matching needs far less than parsing whole addresses: one
canonical spelling of the street and the number per country, which a table of abbreviations gives
deterministically, in microseconds per distinct value.

Order of house number and street: in the countries of ``NUMBER_FIRST`` (``12 High St``, ``12 rue de la Paix``)
a number at the start is the house number; elsewhere (``Hauptstr. 5``, ``Via Roma 10``, ``Calle Mayor, 3``) the
last number after the street name is. Either order is read in either country when only one is present.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

import numpy as np
import pandas as pd

from tailor.identity.normalize import clean_text, country_languages, map_distinct_rows

#: Longest street line (characters, after cleaning) that is read as one; longer text is pasted junk, not a street.
MAX_STREET_LENGTH = 200

#: Countries whose addresses put the house number before the street.
NUMBER_FIRST = frozenset({"GB", "IE", "US", "CA", "AU", "NZ", "FR", "LU", "MC"})

# Abbreviated (or variant) word -> the word in full, per language; words as they are after folding (lower case, no
# accents, no punctuation). Sources: Royal Mail PAF / USPS Publication 28 (English), La Poste and the FANTOIR
# type codes (French), the usual German, Dutch, Polish, Italian and Spanish abbreviations of street types.
ABBREVIATIONS: dict[str, dict[str, str]] = {
    "en": {
        "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "ln": "lane", "ct": "court",
        "crt": "court", "dr": "drive", "sq": "square", "cres": "crescent", "pl": "place", "gdns": "gardens",
        "gdn": "garden", "ter": "terrace", "terr": "terrace", "tce": "terrace", "cl": "close", "blvd": "boulevard",
        "bvd": "boulevard", "hwy": "highway", "pk": "park", "pde": "parade", "gr": "grove", "gro": "grove",
        "mt": "mount", "cir": "circle", "pkwy": "parkway", "hts": "heights", "wy": "way", "yd": "yard",
        "bldgs": "buildings", "sth": "south", "nth": "north",
    },
    "de": {"str": "strasse", "pl": "platz", "st": "sankt", "g": "gasse", "prom": "promenade"},
    "fr": {
        "r": "rue", "av": "avenue", "ave": "avenue", "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard",
        "boul": "boulevard", "bvd": "boulevard", "ch": "chemin", "chem": "chemin", "pl": "place", "imp": "impasse",
        "all": "allee", "rte": "route", "fg": "faubourg", "fbg": "faubourg", "sq": "square", "crs": "cours",
        "pass": "passage", "qu": "quai", "res": "residence", "prom": "promenade", "carr": "carrefour",
        "sent": "sentier", "st": "saint", "ste": "sainte", "gal": "general", "gen": "general", "mal": "marechal",
        "pdt": "president", "dr": "docteur", "pr": "professeur",
    },
    "nl": {
        "str": "straat", "ln": "laan", "pln": "plein", "wg": "weg", "sngl": "singel", "gr": "gracht", "kd": "kade",
        "st": "sint", "burg": "burgemeester", "prof": "professor",
    },
    "pl": {
        "al": "aleja", "pl": "plac", "os": "osiedle", "sw": "swietego", "ks": "ksiedza", "gen": "generala",
        "marsz": "marszalka", "pr": "prof",
    },
    "it": {
        "v": "via", "vle": "viale", "pza": "piazza", "pzza": "piazza", "pzle": "piazzale", "cso": "corso",
        "lgo": "largo", "vlo": "vicolo", "str": "strada", "loc": "localita", "fraz": "frazione",
    },
    "es": {
        "c": "calle", "cl": "calle", "cll": "calle", "avda": "avenida", "avd": "avenida", "av": "avenida",
        "pza": "plaza", "pl": "plaza", "plza": "plaza", "po": "paseo", "ps": "paseo", "pso": "paseo",
        "ctra": "carretera", "rda": "ronda", "trva": "travesia", "trav": "travesia", "gta": "glorieta",
        "cmno": "camino", "cno": "camino", "pje": "pasaje", "psje": "pasaje", "urb": "urbanizacion",
        "sta": "santa", "sto": "santo",
    },
}

# A word that starts the street name means a saint there ("St Mary's Road", not "Street Mary's Road").
LEADING_SAINT = {"en": {"st": "saint"}, "nl": {"st": "sint"}}

# The word as the end of a longer word: "Hauptstr." -> "hauptstrasse", "Dorpsstr." -> "dorpsstraat".
GLUED_SUFFIXES = {"de": (("str", "strasse"),), "nl": (("str", "straat"),)}

# Words people write or leave out for the same street: not part of the key.
DROPPED_WORDS = {"pl": frozenset({"ul", "ulica"}), "es": frozenset({"de", "del", "la", "las", "los"})}

# Words that name a flat, floor, staircase or door: with the number, letter or Roman numeral after them they are
# no part of the street or the house number ("Flat 3", "Whg. 4", "piso 2", "int. 5", "m. 3", "bus 2"). Without
# one they are kept ("ul. M. Skłodowskiej-Curie": the M is Maria).
UNIT_WORDS = {
    "en": frozenset({"flat", "apt", "apartment", "unit", "suite", "ste", "room", "rm", "floor", "fl"}),
    "de": frozenset({"whg", "wohnung", "app", "appartement", "apt", "zimmer", "zi", "etage", "stock", "top",
                     "stiege", "tur"}),
    "fr": frozenset({"appt", "apt", "app", "appartement", "bat", "batiment", "bt", "esc", "escalier", "etage",
                     "porte", "bte", "boite"}),
    "nl": frozenset({"bus", "app"}),
    "pl": frozenset({"m", "mieszk", "mieszkanie", "lok", "lokal", "kl", "klatka"}),
    "it": frozenset({"int", "interno", "sc", "scala", "piano", "pal", "palazzina", "app", "appartamento"}),
    "es": frozenset({"piso", "pta", "puerta", "esc", "escalera", "planta", "apto", "local"}),
}
# Words that name a part of a building on their own ("bajo", "izq.", "Hinterhaus", "12 hs"): always dropped.
UNIT_ALONE = {
    "de": frozenset({"eg", "hh", "vh", "hinterhaus", "vorderhaus", "seitenflugel", "gartenhaus"}),
    "nl": frozenset({"hs", "huis", "bg", "beneden", "boven"}),
    "es": frozenset({"izq", "izqda", "izda", "dcha", "dcho", "dch", "bajo", "bj", "atico", "entlo", "entresuelo",
                     "pral", "ctro"}),
}

# Words that only announce the house number ("Nr. 5", "No. 12", "n. 10").
NUMBER_WORDS = frozenset({"nr", "no", "n", "num", "numero", "nro", "hausnummer", "hnr"})

# House-number suffixes written as words ("5 bis", "12ter").
NUMBER_SUFFIX_WORDS = ("bis", "ter", "quater", "quinquies")

# Compass points written out in US and Canadian street names ("123 N Main St" = "123 North Main Street").
DIRECTIONS = {"n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
              "se": "southeast", "sw": "southwest"}
_DIRECTION_COUNTRIES = frozenset({"US", "CA"})

# What "no number" is written as: Spanish "s/n" (sin número), German "o. N." (ohne Nummer).
_NO_NUMBER = re.compile(r"^(?:s\s*/?\s*n|sn|o\s*n|ohne\s+(?:haus)?nummer|sin\s+numero|none|n\s*/?\s*a)$")

# Characters folded by hand (NFKD does not decompose them).
_FOLD = str.maketrans({"ß": "ss", "ẞ": "ss", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae",
                       "œ": "oe", "Œ": "oe", "đ": "d", "Đ": "d", "ı": "i", "þ": "th", "'": "", "’": "",
                       "‘": "", "`": "", "´": ""})
# Spanish and Italian ordinal marks: "2º B" (second floor, door B) and "nº 3" (number 3); NFKD would make
# them an "o".
_ORDINAL_FLOOR = re.compile(r"\b\d+\s*[º°ª]\s*(?:(?:[a-z]|izq|izqda|izda|dcha|dcho|dch|ctro)\b\.?)?", re.IGNORECASE)
_NUMBER_MARK = re.compile(r"\bn\s*\.?\s*[º°]", re.IGNORECASE)
_PASEO = re.compile(r"\bp\s*\.?\s*[º°]", re.IGNORECASE)
# Dotted Italian contractions: "V.le" (viale), "P.za" / "P.zza" (piazza), "C.so" (corso), "L.go" (largo), "P.le"
# (piazzale), "V.lo" (vicolo).
_IT_CONTRACTIONS = re.compile(r"\b(v|p|c|l)\s*\.\s*(le|za|zza|so|go|lo)\b")
_IT_WORDS = {("v", "le"): "viale", ("p", "za"): "piazza", ("p", "zza"): "piazza", ("c", "so"): "corso",
             ("l", "go"): "largo", ("p", "le"): "piazzale", ("v", "lo"): "vicolo"}
# Floors written after a number: "1. OG" (German), "3-hoog" (Dutch), "3e étage" (French), "2nd floor".
_FLOOR_AFTER_NUMBER = re.compile(
    r"\b\d+\s*(?:\.|e|eme|er|ere|st|nd|rd|th)?\s*-?\s*(?:og|ug|dg|stock|etage|hoog|floor)\b")
# German "5 bis 7" is the range 5-7 (FR/IT "5 bis" is a number of its own).
_NUMBER_TO = re.compile(r"(?<=\d)\s+bis\s+(?=\d)")
_HASH_UNIT = re.compile(r"#\s*\w+")
# A number and its letter or second number (lookarounds: no match takes a digit from the next one, so the result
# does not depend on how many digits a number has): "5-a" / "10/a" -> "5a" ("5 a" is read by the splitter, which knows
# "12 E 42nd St" from "12 A High St"), "12 - 14" -> "12-14", "7 / 3" -> "7/3".
_NUMBER_LETTER = re.compile(r"(?<=\d)\s*[-/]\s*(?=[a-z]\b(?![.']))")
_NUMBER_RANGE = re.compile(r"(?<=\d)\s*([-/])\s*(?=\d)")
_NUMBER_SUFFIX_WORD = re.compile(r"(?<=\d)\s*-?\s*(?=(?:bis|ter|quater|quinquies)\b)")
_DIGIT = re.compile(r"\d")
_FLOOR_HINTS = ("og", "ug", "dg", "stock", "etage", "hoog", "floor")
_SEPARATORS = re.compile(r"[^a-z0-9/-]+")
_WORD_SPLIT = re.compile(r"[-/]+")
_HOUSE_NUMBER = re.compile(r"\d+[a-z]?(?:bis|ter|quater|quinquies)?(?:[-/]\d+[a-z]?)*")
_NOT_KEY = re.compile(r"[^a-z0-9]+")
_ROMAN_FLOOR = frozenset({"i", "ii", "iii", "iv", "v", "vi"})


def fold(text: str) -> str:
    """Lower case, accents and ligatures folded to ASCII letters (``Straße`` -> ``strasse``), apostrophes removed;
    other characters are kept for the tokenizer."""
    text = text.translate(_FOLD)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        text = text.translate(_FOLD).encode("ascii", "ignore").decode()
    return text.lower()


class _Tables:
    """The abbreviation tables of one country (its languages merged, the first language winning)."""

    __slots__ = ("abbreviations", "leading", "glued", "dropped", "units", "alone", "number_first", "directions",
                 "italian")

    def __init__(self, country: str) -> None:
        languages = country_languages(country or None)
        self.abbreviations: dict[str, str] = {}
        self.leading: dict[str, str] = {}
        glued: list[tuple[str, str]] = []
        dropped: set[str] = set()
        units: set[str] = set()
        alone: set[str] = set()
        for lang in reversed(languages):  # the first language is applied last: it wins
            self.abbreviations.update(ABBREVIATIONS.get(lang, {}))
            self.leading.update(LEADING_SAINT.get(lang, {}))
        for lang in languages:
            glued.extend(s for s in GLUED_SUFFIXES.get(lang, ()) if s[0] not in {g[0] for g in glued})
            dropped |= DROPPED_WORDS.get(lang, frozenset())
            units |= UNIT_WORDS.get(lang, frozenset())
            alone |= UNIT_ALONE.get(lang, frozenset())
        # a word that is a street type somewhere in the country is not read as a unit there ("ste" is Sainte in FR)
        self.units = frozenset(units - set(self.abbreviations))
        self.alone = frozenset(alone - set(self.abbreviations))
        self.glued = tuple(glued)
        self.dropped = frozenset(dropped)
        self.number_first = country in NUMBER_FIRST
        self.directions = DIRECTIONS if country in _DIRECTION_COUNTRIES else {}
        self.italian = "it" in languages


_TABLES: dict[str, _Tables] = {}


def _tables(country: str | None) -> _Tables:
    key = country.upper() if isinstance(country, str) else ""
    tables = _TABLES.get(key)
    if tables is None:
        tables = _TABLES[key] = _Tables(key)
    return tables


def _prepare(text: str, italian: bool = True) -> str:
    """Folded text with ordinal floors ("2º B"), number marks ("nº"), Italian contractions ("V.le"), units by ``#``
    and floors after a number ("1. OG") resolved; a number's range, second number or letter joined to it
    ("12 - 14" -> "12-14", "7 / 3" -> "7/3", "10/a" -> "10a", "5 bis" -> "5bis")."""
    if "º" in text or "°" in text or "ª" in text:
        text = _ORDINAL_FLOOR.sub(" ", text)
        text = _NUMBER_MARK.sub(" ", text)
        text = _PASEO.sub(" paseo ", text)
    text = fold(text)
    if italian and "." in text:
        text = _IT_CONTRACTIONS.sub(lambda m: f" {_IT_WORDS[(m[1], m[2])]} " if (m[1], m[2]) in _IT_WORDS else m[0],
                                    text)
    if "#" in text:
        text = _HASH_UNIT.sub(" ", text)
    if _DIGIT.search(text):  # each rewrite only where its words can be (substring tests are far cheaper than regexes)
        if any(w in text for w in _FLOOR_HINTS):
            text = _FLOOR_AFTER_NUMBER.sub(" ", text)
        if "bis" in text or "ter" in text or "qu" in text:
            text = _NUMBER_TO.sub("-", text)
            text = _NUMBER_SUFFIX_WORD.sub("", text)
        if "-" in text or "/" in text:
            text = _NUMBER_RANGE.sub(r"\1", text)
            text = _NUMBER_LETTER.sub("", text)
    return text


def _tokens(text: str) -> list[str]:
    """Words and house-number-like tokens ("12", "5a", "12-14", "7/3"); words are split at hyphens and slashes."""
    out: list[str] = []
    for token in _SEPARATORS.split(text):
        if not token:
            continue
        if token[0].isdigit() and _HOUSE_NUMBER.fullmatch(token):
            out.append(token)
        else:
            out.extend(t for t in _WORD_SPLIT.split(token) if t)
    return out


def _is_number(token: str) -> bool:
    return token[0].isdigit() and _HOUSE_NUMBER.fullmatch(token) is not None


def _is_designator(token: str) -> bool:
    """A flat's or floor's number, letter or Roman numeral ("3", "4b", "B", "II")."""
    return _is_number(token) or len(token) == 1 or token in _ROMAN_FLOOR


def _without_units(tokens: list[str], tables: _Tables) -> list[str]:
    """``tokens`` without unit words followed by their designator ("Flat 3"), lone unit words ("bajo") and the
    words that only announce a number ("Nr." before "5")."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if token in tables.units and nxt is not None and _is_designator(nxt):
            i += 2
            continue
        if token in tables.alone or (token in NUMBER_WORDS and nxt is not None and _is_number(nxt)):
            i += 1
            continue
        out.append(token)
        i += 1
    return out


def _house_number(token: str, number_first: bool) -> str:
    """The building's number of a house-number token: of "7/3" the building 7 (Poland, Austria: "/3" is the flat),
    of an Australian-style "3/12" (number first) the 12; ranges and letters stay ("12-14", "5a")."""
    if "/" in token:
        parts = token.split("/")
        return parts[-1] if number_first else parts[0]
    return token


def _street_key(words: list[str], tables: _Tables) -> str | None:
    out: list[str] = []
    for i, word in enumerate(words):
        if word in tables.dropped:
            continue
        if i == 0 and len(words) > 1 and word in tables.leading:
            out.append(tables.leading[word])
            continue
        full = tables.abbreviations.get(word) or tables.directions.get(word)
        if full is None:
            for suffix, whole in tables.glued:
                # at least two letters before it (counting letters, not digits: see _StreetKeys)
                if word.endswith(suffix) and sum(ch.isalpha() for ch in word[: -len(suffix)]) >= 2:
                    full = word[: -len(suffix)] + whole
                    break
        out.append(full or word)
    key = _NOT_KEY.sub("", "".join(out))  # a number inside the name keeps its digits only ("1/2" -> "12")
    return key or None


def _split(tokens: list[str], tables: _Tables) -> tuple[list[str], str | None]:
    """(street words, house number) of the tokens of one line."""
    if not tokens:
        return [], None
    lead = 0 if _is_number(tokens[0]) and len(tokens) > 1 else None
    trail = None
    for i in range(len(tokens) - 1, 0, -1):
        if _is_number(tokens[i]) and not _is_number(tokens[i - 1]):
            trail = i
            break
    if lead is not None and trail is not None:
        use_lead = tables.number_first
    elif lead is not None or trail is not None:
        use_lead = lead is not None
    else:
        numbers = [t for t in tokens if _is_number(t)]
        if len(tokens) == 1 and numbers:  # only a number
            return [], _house_number(numbers[0], tables.number_first)
        return tokens, None
    k = 0 if use_lead else trail
    assert k is not None
    number = _house_number(tokens[k], tables.number_first)
    after = k + 1
    if after < len(tokens):
        nxt = tokens[after]
        if nxt in NUMBER_SUFFIX_WORDS:
            number, after = number + nxt, after + 1
        elif len(nxt) == 1 and nxt.isalpha() and number[-1].isdigit():
            if not use_lead:  # "Hauptstraße 5 a": the letter of the number
                number, after = number + nxt, after + 1
            elif (after + 1 < len(tokens) and nxt in "abcdefgh" and nxt not in tables.abbreviations
                  and nxt not in tables.directions):  # "12 A High Street" (not "12 r. de la Paix", "12 E 42nd St")
                number, after = number + nxt, after + 1
    street = tokens[after:] if use_lead else tokens[:k]
    return street, number


_SPACES = re.compile(r" {2,}")


def _clean(raw: object) -> str | None:
    """:func:`tailor.identity.normalize.clean_text` at ``MAX_STREET_LENGTH``, with a shortcut for printable ASCII
    (no format or control character can be in it, NFC changes nothing)."""
    if isinstance(raw, str) and raw.isascii() and raw.isprintable():
        text = _SPACES.sub(" ", raw).strip() if "  " in raw else raw.strip()
        return text if text and len(text) <= MAX_STREET_LENGTH else None
    return clean_text(raw, MAX_STREET_LENGTH)


def _keys_of_clean_text(text: str, tables: _Tables) -> tuple[str | None, str | None]:
    tokens = _without_units(_tokens(_prepare(text, tables.italian)), tables)
    words, number = _split(tokens, tables)
    return _street_key(words, tables), number


def normalize_street(street: str | None, country: str | None) -> tuple[str | None, str | None]:
    """``(street_key, house_number_key)`` of one street line (address line 1) of a record in ``country`` (ISO
    3166 alpha-2; None when unknown: every language's abbreviations apply, the number's position decides).
    ``(None, None)`` when there is no street (empty, longer than ``MAX_STREET_LENGTH`` characters)."""
    text = _clean(street)
    if text is None:
        return None, None
    return _keys_of_clean_text(text, _tables(country))


_ASCII_DIGIT_RUNS = re.compile(r"([0-9]+)")
_PLACEHOLDER_DIGITS = "0123456789"


class _StreetKeys:
    """:func:`normalize_street` for a whole column, fast: the rules never look at *which* digits a number has, only
    where numbers are, so lines that differ only in their numbers ("Hauptstr. 5", "Hauptstr. 17") are normalised
    once, as a template with its i-th number written as the digit i ("Hauptstr. 0"), and the numbers are put back
    into the template's keys. Cleaning (:func:`_clean`) leaves ASCII digits alone, so the template is cleaned once
    too and the length limit is checked with the numbers' lengths added. Lines with more than ten numbers, or with
    other digits (which folding could turn into ASCII ones), are normalised one by one. A test holds both ways
    equal."""

    _ONE_BY_ONE = object()

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], object] = {}

    def __call__(self, street: str | None, country: str | None) -> tuple[str | None, str | None]:
        if not isinstance(street, str):
            return None, None
        parts = _ASCII_DIGIT_RUNS.split(street)  # text, number, text, number, ..., text
        runs = parts[1::2]
        if len(runs) > len(_PLACEHOLDER_DIGITS):
            return normalize_street(street, country)
        if runs:
            texts = parts[0::2]
            template = "".join(t + d for t, d in zip(texts[:-1], _PLACEHOLDER_DIGITS)) + texts[-1]
        else:
            template = street
        key = (template, country or "")
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._template_keys(template, country)
        if found is self._ONE_BY_ONE:
            return normalize_street(street, country)
        length, street_key, number = found  # type: ignore[misc]
        if length == 0 or length + sum(len(r) - 1 for r in runs) > MAX_STREET_LENGTH:
            return None, None
        if not runs:
            return street_key, number
        numbers = {ord(_PLACEHOLDER_DIGITS[i]): run for i, run in enumerate(runs)}
        return (None if street_key is None else street_key.translate(numbers),
                None if number is None else number.translate(numbers))

    def _template_keys(self, template: str, country: str | None) -> object:
        if not template.isascii() and any(c.isnumeric() for c in template if not c.isascii()):
            return self._ONE_BY_ONE
        text = clean_text(template, max_length=10**9)
        if text is None:
            return 0, None, None
        return (len(text), *_keys_of_clean_text(text, _tables(country)))


def normalize_house_number(raw: object, country: str | None = None) -> str | None:
    """``house_number_key`` of a house number given in a field of its own (``"5 A"`` -> ``"5a"``, ``"Nr. 12"`` ->
    ``"12"``, ``"7/3"`` -> ``"7"`` in Poland); None when it holds no number (``"s/n"``, ``"o. N."``)."""
    if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool):
        raw = str(raw)
    elif isinstance(raw, (float, np.floating)) and float(raw).is_integer():
        raw = str(int(raw))
    text = _clean(raw)
    if text is None:
        return None
    folded = fold(text).strip(" .")
    if _NO_NUMBER.match(folded.replace(".", " ").strip()):
        return None
    tables = _tables(country)
    tokens = _without_units(_tokens(_prepare(text, tables.italian)), tables)
    tokens = [t for t in tokens if t not in NUMBER_WORDS]
    for i, token in enumerate(tokens):
        if _is_number(token):
            number = _house_number(token, tables.number_first)
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if nxt in NUMBER_SUFFIX_WORDS or (len(nxt) == 1 and nxt.isalpha() and number[-1].isdigit()):
                number += nxt
            return number
    return None


def _address_keys(street: object, line2: object, house_number: object, country: object,
                  normalize: Callable[[str | None, str | None], tuple[str | None, str | None]] = normalize_street,
                  ) -> tuple[str | None, str | None]:
    """The keys of one record's street fields (see :func:`street_columns`)."""
    iso = country if isinstance(country, str) and country else None
    street_key, number = normalize(street if isinstance(street, str) else None, iso)
    if isinstance(line2, str) and (street_key is None or number is None):
        # UK-style exports put a flat or a house name in line 1 and the street in line 2 ("Flat 3" / "12 High St")
        key2, number2 = normalize(line2, iso)
        if key2 is not None and (street_key is None or (number2 is not None and house_number is None)):
            street_key, number = key2, number2
    given = None if house_number is None else normalize_house_number(house_number, iso)
    return street_key, given if given is not None else number


def street_columns(street: pd.Series, address_line2: pd.Series, house_number: pd.Series,
                   country_iso: pd.Series) -> pd.DataFrame:
    """``street_key`` and ``house_number_key`` of every record, computed once per distinct (street, line 2, house
    number, country).

    ``house_number_key`` comes from ``house_number`` when the export has it, else from the street line. Line 2 is
    read only when line 1 gives no street, or no number while line 2 gives one ("Flat 3" / "12 High St")."""
    normalize = _StreetKeys()
    keys = map_distinct_rows([street, address_line2, house_number, country_iso],
                             lambda s, l2, h, c: _address_keys(s, l2, h, c, normalize), skip_when_missing=3)
    street_key = np.full(len(keys), None, dtype=object)
    number_key = np.full(len(keys), None, dtype=object)
    done = ~pd.isna(keys)
    street_key[done] = [k[0] for k in keys[done]]
    number_key[done] = [k[1] for k in keys[done]]
    return pd.DataFrame({"street_key": street_key, "house_number_key": number_key}, index=street.index)
