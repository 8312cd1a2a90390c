"""Street addresses and birth dates of the demo people, drawn and written with NumPy only.

An address is kept structured (street stem, street type, which written form of the type, house number and
suffix, second line) until a record is written, so that a duplicate can abbreviate the street type or change
the house number, and so that the source systems that keep the house number in a column of its own
(``SPLIT_NUMBER_SYSTEMS``) write the street without it. See ``tailor.demo.streets`` for the vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.encoding import TWO_DIGITS, civil_date, int_text, zfill
from tailor.demo.streets import ADDRESS_LINE2, HOUSE_NUMBERS, NUMBER_FIRST, PLACEHOLDER_BIRTH_DATE, STREETS
from tailor.demo.vocabulary import DAY, SYSTEM_IMPORT, SYSTEM_POS

A = np.strings.add
GLUE, AFTER, BEFORE = range(3)
_JOIN = {"glue": GLUE, "after": AFTER, "before": BEFORE}
SPLIT_NUMBER_SYSTEMS = (SYSTEM_POS, SYSTEM_IMPORT)  # write the house number into its own column
ABBREVIATED_SHARE = {"US": 0.35, "GB": 0.1}  # primaries whose street type is already abbreviated (else 5 %)
DOB_PRESENT, DOB_MISSING, DOB_PLACEHOLDER = range(3)


def split_list(text: str) -> list[str]:
    """'a, b c, d' -> ['a', 'b c', 'd'] (blanks collapsed)."""
    return [" ".join(x.split()) for x in text.split(",") if x.strip()]


def _enc(xs: list[str]) -> np.ndarray:
    return np.array([x.encode() for x in xs]) if xs else np.zeros(0, dtype="S1")


def weighted_within(rng: np.random.Generator, cum: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per row an index into a flat table of groups, drawn with the weights of the row's group; ``cum`` from
    ``group_cumulative``."""
    return np.searchsorted(cum, group + rng.random(len(group)), side="right") - 1


def group_cumulative(weights: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """For ``weighted_within``: each entry's left edge (the group number plus the group's normalised cumulative
    weight before it), and each group's start."""
    cum, start = [], []
    for g, w in enumerate(weights):
        w = np.asarray(w, dtype=float)
        start.append(len(cum))
        cum.extend(g + np.cumsum(w) / w.sum() - (w / w.sum()))
    return np.array(cum), np.array(start, dtype=np.int64)


class StreetTables:
    """The street vocabularies flattened into arrays, per country in the order of ``codes``."""

    def __init__(self, codes: list[str]) -> None:
        stems, caps, types, joins, forms, form_start, form_count, type_w = [], [], [], [], [], [], [], []
        self.stem_start, self.stem_count, self.type_start, self.type_count = [], [], [], []
        l2, l2_w, l2_rate, hn_p, hn_cap, suf, suf_start, suf_count, suf_share = [], [], [], [], [], [], [], [], []
        for code in codes:
            stem_text, kinds = STREETS[code]
            st = split_list(stem_text)
            self.stem_start.append(len(stems))
            self.stem_count.append(len(st))
            for s in st:
                adjective = s.endswith("_")
                stems.append(s[:-1] + " " if adjective else s)
                caps.append(adjective or s.endswith("-"))
            self.type_start.append(len(types))
            self.type_count.append(len(kinds))
            type_w.append([w for _, w, _ in kinds])
            for join, _, fs in kinds:
                types.append(len(types))
                joins.append(_JOIN[join])
                form_start.append(len(forms))
                form_count.append(len(fs))
                forms.extend(fs)
            rate, templates = ADDRESS_LINE2[code]
            l2_rate.append(rate)
            l2_w.append([w for _, w in templates])
            l2.extend(t for t, _ in templates)
            p, cap, suffixes, share = HOUSE_NUMBERS[code]
            hn_p.append(p)
            hn_cap.append(cap)
            suf_start.append(len(suf))
            suf_count.append(len(suffixes))
            suf.extend(suffixes)
            suf_share.append(share)
        self.stems, self.stem_cap = _enc(stems), np.array(caps)
        self.join, self.forms = np.array(joins), _enc(forms)
        self.form_start, self.form_count = np.array(form_start), np.array(form_count)
        self.type_cum, _ = group_cumulative(type_w)
        self.line2_cum, self.line2_start = group_cumulative(l2_w)
        self.line2, self.line2_rate = _enc(l2), np.array(l2_rate)
        self.number_p, self.number_cap = np.array(hn_p), np.array(hn_cap)
        self.suffix, self.suffix_start = _enc(suf + [""]), np.array(suf_start)
        self.suffix_count, self.suffix_share = np.array(suf_count), np.array(suf_share)
        for k in ("stem_start", "stem_count", "type_start", "type_count"):
            setattr(self, k, np.array(getattr(self, k), dtype=np.int64))
        self.number_first = np.array([c in NUMBER_FIRST for c in codes])
        self.abbreviated_share = np.array([ABBREVIATED_SHARE.get(c, 0.05) for c in codes])


@dataclass
class Addresses:
    """Structured addresses, one per row; ``stem`` -1 = no address."""

    stem: np.ndarray  # index into StreetTables.stems
    type: np.ndarray  # index into the street types (StreetTables.join, form_start, form_count)
    form: np.ndarray  # 0 = the type written in full, k = its k-th abbreviation
    number: np.ndarray  # house number, 0 = none
    suffix: np.ndarray  # S: "a", " bis", "-A" ...
    line2: np.ndarray  # S: the second address line, b"" = none

    def take(self, idx) -> Addresses:
        return Addresses(*(getattr(self, k)[idx].copy() for k in ("stem", "type", "form", "number", "suffix",
                                                                     "line2")))

    def put(self, idx, other: Addresses, src) -> None:
        for k in ("stem", "type", "form", "number", "suffix", "line2"):
            getattr(self, k)[idx] = getattr(other, k)[src]


def draw_addresses(rng: np.random.Generator, ST: StreetTables, country: np.ndarray, present: np.ndarray) -> Addresses:
    """An address per row in its country (index into the codes); rows not ``present`` get none."""
    n = len(country)
    stem = ST.stem_start[country] + (rng.random(n) * ST.stem_count[country]).astype(np.int64)
    typ = weighted_within(rng, ST.type_cum, country)
    abbrev = rng.random(n) < ST.abbreviated_share[country]
    form = np.where(abbrev & (ST.form_count[typ] > 1),
                    1 + (rng.random(n) * np.maximum(ST.form_count[typ] - 1, 1)).astype(np.int64), 0)
    number = np.minimum(rng.geometric(ST.number_p[country]), ST.number_cap[country]).astype(np.int64)
    has_suffix = (rng.random(n) < ST.suffix_share[country]) & (ST.suffix_count[country] > 0)
    sidx = np.where(has_suffix, ST.suffix_start[country] + (rng.random(n) * np.maximum(ST.suffix_count[country], 1))
                    .astype(np.int64), len(ST.suffix) - 1)
    has_l2 = rng.random(n) < ST.line2_rate[country]
    l2 = fill_digits_letters(rng, ST.line2[weighted_within(rng, ST.line2_cum, country)])
    stem = np.where(present, stem, -1)
    return Addresses(stem, typ, form, number, ST.suffix[sidx], np.where(present & has_l2, l2, b""))


def fill_digits_letters(rng: np.random.Generator, tmpl: np.ndarray) -> np.ndarray:
    """Replace '#' by a digit 1-9 and '@' by a capital letter A-H in an S array of templates."""
    n = len(tmpl)
    if n == 0:
        return tmpl
    w = tmpl.dtype.itemsize
    m = tmpl.view(np.uint8).reshape(n, w).copy()
    m = np.where(m == ord("#"), rng.integers(49, 58, size=(n, w), dtype=np.uint8), m)
    m = np.where(m == ord("@"), rng.integers(65, 73, size=(n, w), dtype=np.uint8), m)
    return np.ascontiguousarray(m).view(f"S{w}").ravel()


def street_name(ST: StreetTables, a: Addresses) -> np.ndarray:
    """The street as written without the house number ("Hauptstr.", "High Street", "rue de la Paix")."""
    stem_i = np.maximum(a.stem, 0)
    form = ST.forms[ST.form_start[a.type] + np.minimum(a.form, ST.form_count[a.type] - 1)]
    stem, join = ST.stems[stem_i], ST.join[a.type]
    name = np.zeros(len(stem), dtype=f"S{stem.dtype.itemsize + form.dtype.itemsize + 1}")
    g = np.flatnonzero(join == GLUE)
    name[g] = A(stem[g], np.where(ST.stem_cap[stem_i[g]], np.strings.capitalize(form[g]), form[g]))
    g = np.flatnonzero(join == AFTER)
    name[g] = A(A(stem[g], b" "), form[g])
    g = np.flatnonzero(join == BEFORE)
    name[g] = np.where(form[g] == b"", stem[g], A(A(form[g], b" "), stem[g]))
    name[a.stem < 0] = b""
    return name


def house_number_text(a: Addresses) -> np.ndarray:
    return np.where(a.number > 0, A(int_text(a.number), a.suffix), b"")


def render_street(ST: StreetTables, country: np.ndarray, a: Addresses, system: np.ndarray,
                  name: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``street`` (line 1) and ``house_number`` columns as the record's source system writes them: the number in
    the street the way the country does it ("Hauptstraße 5", "12 High Street"), or in a column of its own.
    ``name`` overrides the street name (a misspelt one)."""
    name = street_name(ST, a) if name is None else name
    num = house_number_text(a)
    split = np.isin(system, SPLIT_NUMBER_SYSTEMS) | (num == b"")
    street = np.zeros(len(name), dtype=f"S{name.dtype.itemsize + num.dtype.itemsize + 1}")
    street[split] = name[split]
    g = np.flatnonzero(~split & ST.number_first[country])
    street[g] = A(A(num[g], b" "), name[g])
    g = np.flatnonzero(~split & ~ST.number_first[country])
    street[g] = A(A(name[g], b" "), num[g])
    split_number = np.isin(system, SPLIT_NUMBER_SYSTEMS) & (a.stem >= 0)
    street[a.stem < 0] = b""
    return street, np.where(split_number, num, b"")


@dataclass
class BirthDates:
    y: np.ndarray
    m: np.ndarray
    d: np.ndarray
    state: np.ndarray  # DOB_PRESENT, DOB_MISSING, DOB_PLACEHOLDER

    def take(self, idx) -> BirthDates:
        return BirthDates(self.y[idx].copy(), self.m[idx].copy(), self.d[idx].copy(), self.state[idx].copy())


def draw_birth_dates(rng: np.random.Generator, n: int, as_of_s: int, missing: np.ndarray,
                     placeholder_share: float) -> BirthDates:
    """Adults of 18 to 90 (most 25-60); ``missing`` rows have none, a few of the others the placeholder."""
    age_days = ((18 + 72 * rng.beta(2.0, 3.2, n)) * 365.25).astype(np.int64)
    y, m, d = civil_date(as_of_s // DAY - age_days)
    state = np.where(missing, DOB_MISSING, np.where(rng.random(n) < placeholder_share, DOB_PLACEHOLDER, DOB_PRESENT))
    return BirthDates(y.astype(np.int16), m.astype(np.int8), d.astype(np.int8), state.astype(np.int8))


def date_text(b: BirthDates) -> np.ndarray:
    """YYYY-MM-DD, b"" when missing, 1900-01-01 for the placeholder."""
    if len(b.y) == 0:
        return np.zeros(0, dtype="S10")
    py, pm, pd_ = PLACEHOLDER_BIRTH_DATE
    y = np.where(b.state == DOB_PLACEHOLDER, py, b.y)
    m = np.where(b.state == DOB_PLACEHOLDER, pm, b.m)
    d = np.where(b.state == DOB_PLACEHOLDER, pd_, b.d)
    text = A(A(A(A(zfill(y, 4), b"-"), TWO_DIGITS[m]), b"-"), TWO_DIGITS[d])
    return np.where(b.state == DOB_MISSING, b"", text)


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    return np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[m] + ((m == 2) & leap)


def swap_day_month(b: BirthDates) -> np.ndarray:
    """Swap day and month where that is another valid date (day <= 12, day != month); returns where it was."""
    ok = (b.d <= 12) & (b.d != b.m)
    b.m, b.d = np.where(ok, b.d, b.m), np.where(ok, b.m, b.d)
    return ok


def wrong_date_digit(rng: np.random.Generator, b: BirthDates) -> None:
    """One digit of the date mistyped: the year's last digit, or the day's last digit (still a valid date);
    where neither is valid (29 February), the year's tens digit moves by two."""
    n = len(b.y)
    on_year = rng.random(n) < 0.5
    y2 = b.y - b.y % 10 + (b.y % 10 + rng.integers(1, 10, n)) % 10
    y_ok = on_year & (b.d <= days_in_month(y2, b.m))
    d2 = b.d - b.d % 10 + (b.d % 10 + rng.integers(1, 10, n)) % 10
    d_ok = ~y_ok & (d2 >= 1) & (d2 <= days_in_month(b.y, b.m))
    rest = ~y_ok & ~d_ok
    b.y = np.where(y_ok, y2, np.where(rest, b.y - 20, b.y))
    b.d = np.where(d_ok, d2, b.d)
