"""The duplicate records of the random people, corrupted the way record-linkage benchmarks (FEBRL, GeCo) and
real CRMs corrupt them.

About ``DUP_PERSON_SHARE`` of the people have 1-4 duplicate records (so 2-5 records in all, most only 2). Each
duplicate starts from the person's true data and gets:

* contact data as another system has it: the same e-mail address (re-cased, padded), a typo in it, another
  address or none; the same phone (often written in another format), another one or none; so many duplicates
  share neither an e-mail address nor a phone with any other record of the person;
* 0-4 field corruptions (``N_MODIFICATIONS``), each on another field (``FIELD_WEIGHTS``), of a kind drawn from
  ``KINDS``: character insertions, deletions, keyboard-adjacent substitutions and transpositions, phonetic and
  OCR errors and nicknames in the names, missing values, wrong or swapped postcode digits, misspelt or other
  names of the city, abbreviated or misspelt streets and wrong house numbers, day and month swapped or a digit
  wrong in the birth date; sometimes first and last name swapped;
* surface noise that is no corruption: upper-case surnames, padded or lower-case first names.

Every corruption applied is recorded per duplicate (``tags``, columns in ``vocabulary.CORRUPTIONS`` order) for
demo_truth/identity_cases.csv. A kind that does not fit the value (no nickname for "Mia", no "ph" in "Lena")
falls back to a keyboard typo, and the tag says what was done. Everything is vectorised with ``np.strings``;
the only Python loop is over the phones written in another format (libphonenumber).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import phonenumbers

from tailor.demo.addresses import (
    DOB_MISSING,
    DOB_PLACEHOLDER,
    DOB_PRESENT,
    Addresses,
    BirthDates,
    street_name,
    swap_day_month,
    wrong_date_digit,
)
from tailor.demo.arrays import fill_template, pick, tight
from tailor.demo.corruption import (
    CHAR_EDITS,
    OCR,
    PHONETIC,
    POSTCODE_OCR,
    char_edit,
    replace_pattern,
    swap_digits,
    utf8_lower,
    utf8_upper,
    wrong_digit,
)
from tailor.demo.encoding import int_text
from tailor.demo.records import Lifecycle, PrimaryRecords
from tailor.demo.reference import MAIL_DOMAIN_WEIGHTS, MAIL_DOMAINS, ReferenceTables
from tailor.demo.vocabulary import (
    CASE_CHANGED_EMAIL_DUPLICATE,
    CASE_FAMILY_MEMBER,
    CASE_NO_EMAIL_DUPLICATE,
    CASE_PLACEHOLDER_PHONE,
    CASE_SAME_EMAIL_DUPLICATE,
    CASE_TWIN,
    CORRUPTIONS,
    HOUR,
    SOURCE_SYSTEMS,
)

A = np.strings.add
DUP_PERSON_SHARE = 0.10  # of the random people have duplicates
EXTRA_RECORDS = ([1, 2, 3, 4], [0.62, 0.23, 0.10, 0.05])  # duplicates per such person
N_MODIFICATIONS = ([0, 1, 2, 3, 4], [0.12, 0.40, 0.30, 0.13, 0.05])  # field corruptions per duplicate
FIELDS = ["first_name", "last_name", "postcode", "city", "street", "date_of_birth", "address_line2"]
FIELD_WEIGHTS = [0.24, 0.20, 0.12, 0.09, 0.15, 0.14, 0.06]
_TYPOS = [(k, 1.0) for k in CHAR_EDITS]
KINDS = {  # per field: (kind, weight); the keyboard typos share their weight equally
    "first_name": [("missing", 0.07), ("nickname", 0.3), ("phonetic", 0.14), ("ocr", 0.07), *_TYPOS],
    "last_name": [("missing", 0.07), ("phonetic", 0.18), ("ocr", 0.08), *_TYPOS],
    "postcode": [("missing", 0.2), ("digit", 0.5), ("transpose", 0.18), ("ocr", 0.12)],
    "city": [("missing", 0.25), ("exonym", 0.2), ("phonetic", 0.15), *_TYPOS],
    "street": [("missing", 0.12), ("abbreviation", 0.33), ("phonetic", 0.1), ("house_number:wrong", 0.12),
               ("house_number:missing", 0.08), *_TYPOS],
    "date_of_birth": [("missing", 0.2), ("day_month_swapped", 0.55), ("digit", 0.17), ("placeholder", 0.08)],
    "address_line2": [("missing", 1.0)],
}
TYPO_SHARE = {"first_name": 0.5, "last_name": 0.67, "city": 0.4, "street": 0.25}  # of the field's corruptions
EMAIL_MODES = (["same", "typo", "changed", "missing"], [0.40, 0.05, 0.35, 0.20])
PHONE_MODES = (["same", "changed", "missing"], [0.40, 0.10, 0.50])
SWAPPED_NAMES = 0.03
COUNTRY_MISSING = 0.03
_TAG = {t: i for i, t in enumerate(CORRUPTIONS)}


@dataclass
class DuplicateRecords:
    """The duplicate records in file order (by person); ``person`` indexes the primaries.
    Text fields as written; ``addr``/``street`` (the street name as written, maybe misspelt) and ``dob`` are
    rendered per record by ``people``."""

    person: np.ndarray
    ref: np.ndarray  # CRM number
    created: np.ndarray
    updated: np.ndarray
    email: np.ndarray  # the address as the person uses it (for activity; b"" = none or unusable)
    crm_email: np.ndarray  # as the CRM has it
    first_name: np.ndarray
    last_name: np.ndarray
    country_text: np.ndarray
    timezone: np.ndarray
    phone: np.ndarray
    city: np.ndarray
    postcode: np.ndarray
    addr: Addresses
    street: np.ndarray
    dob: BirthDates
    style: np.ndarray
    system: np.ndarray
    case: np.ndarray  # CASE_SAME_EMAIL_DUPLICATE, CASE_CHANGED_EMAIL_DUPLICATE or CASE_NO_EMAIL_DUPLICATE
    tags: np.ndarray  # bool, duplicates x CORRUPTIONS


def _reformat_phone(raw: str, country: str, style: int) -> str:
    """The same number written another way: national, international, E.164 or with the 00 prefix."""
    text = "+" + raw[2:] if raw.startswith("00") else raw
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return raw
    fmt = [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
           phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.E164][style]
    out = phonenumbers.format_number(number, fmt)
    return "00" + out[1:] if style == 3 else out


def _choose_people(rng: np.random.Generator, rec: PrimaryRecords) -> np.ndarray:
    """The primary of every duplicate, sorted: ``DUP_PERSON_SHARE`` of the people (those without a placeholder
    or shared family e-mail), each with 1-4 duplicates."""
    kind = rec.case
    cand = np.flatnonzero((kind == 0) | (kind == CASE_FAMILY_MEMBER) | (kind == CASE_PLACEHOLDER_PHONE)
                          | (kind == CASE_TWIN))
    k = min(len(cand), int(round(DUP_PERSON_SHARE * len(kind))))
    chosen = np.sort(rng.choice(cand, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    extra = np.array(EXTRA_RECORDS[0])[pick(rng, *EXTRA_RECORDS, k)] if k else np.zeros(0, dtype=np.int64)
    return np.repeat(chosen, extra)


def _emails(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, p: np.ndarray, ref: np.ndarray,
            tags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The duplicates' addresses as the CRM has them, as the person uses them, and their mode (EMAIL_MODES).
    The same one is re-cased or padded; a changed one carries the duplicate's number, so it is unique."""
    nd = len(p)
    has = ~rec.no_email[p]
    mode = np.where(has, pick(rng, *EMAIL_MODES, nd), np.where(rng.random(nd) < 0.6, 3, 2))
    base = rec.email[p]
    v = rng.integers(0, 4, nd)
    same = np.select([v == 0, v == 1, v == 2], [np.strings.title(base), np.strings.upper(base),
                                                 np.strings.capitalize(base)], base)
    local, _, domain = np.strings.partition(base, b"@") if nd else (base, base, base)
    sel = np.flatnonzero(mode == 1)
    typo = base.astype(f"S{base.dtype.itemsize + 4}")
    if len(sel):
        edited, _ = char_edit(rng, local[sel], rng.integers(0, 4, len(sel)), T.layout[rec.country[p[sel]]])
        typo[sel] = A(A(edited, b"@"), domain[sel])
    ff, lf = rec.first_fold[p], rec.last_fold[p]
    cdom = MAIL_DOMAINS.astype("S")[pick(rng, list(MAIL_DOMAINS), MAIL_DOMAIN_WEIGHTS, nd)]
    cv, cnum = rng.integers(0, 3, nd), int_text(ref)
    clocal = np.select([cv == 0, cv == 1], [A(A(A(ff, lf), b"."), cnum), A(A(A(np.strings.slice(ff, 1), lf), b"_"),
                                                                         cnum)],
                       A(A(A(lf, b"."), ff), A(b".", cnum)))
    changed = A(A(clocal, b"@"), cdom)
    email = np.select([mode == 0, mode == 1, mode == 2], [same, typo, changed], b"")
    pad = rng.integers(0, 4, nd)
    crm_email = np.select([pad == 0, pad == 1, pad == 2], [A(b" ", email), A(email, b" "), A(A(b"  ", email), b" ")],
                          email)
    crm_email = np.where(email == b"", b"", crm_email)
    for m, tag in ((1, "email:typo"), (2, "email:changed"), (3, "email:missing")):
        tags[:, _TAG[tag]] |= (mode == m) & (has | (m == 2))
    usable = np.where((mode == 0) | (mode == 2), np.strings.strip(email), b"")
    return usable, crm_email, mode


def _contact(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, p: np.ndarray,
             tags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Country spelling (half of the time another one, a few missing), time zone (missing in 30 %) and phone
    (PHONE_MODES: the same number, half of the time written in another format; another one; none)."""
    nd, cidx = len(p), rec.country[p]
    alt = T.variant_start[cidx] + (rng.random(nd) * T.variant_count[cidx]).astype(np.int64)
    country = np.where(rng.random(nd) < 0.5, T.variant[alt], rec.country_text[p])
    gone = (rng.random(nd) < COUNTRY_MISSING) & (country != b"")
    country = np.where(gone, b"", country)
    tags[:, _TAG["country:missing"]] = gone
    tz = np.where(rng.random(nd) < 0.3, b"", rec.timezone[p])
    phone = rec.phone[p]
    real = (phone != b"") & (rec.case[p] != CASE_PLACEHOLDER_PHONE)
    mode = pick(rng, *PHONE_MODES, nd)
    mode = np.where(real, mode, np.where(phone != b"", np.where(rng.random(nd) < 0.5, 0, 2),
                                         np.where(rng.random(nd) < 0.15, 1, 2)))
    fmt = T.phone_start[cidx] + (rng.random(nd) * T.phone_count[cidx]).astype(np.int64)
    new = fill_template(rng, T.phone_format[fmt])
    out = np.select([mode == 0, mode == 1], [phone, new], b"").astype(f"S{phone.dtype.itemsize + 8}")
    tags[:, _TAG["phone:changed"]] = mode == 1
    tags[:, _TAG["phone:missing"]] = (mode == 2) & (phone != b"")
    refmt = np.flatnonzero((mode == 0) & real & (rng.random(nd) < 0.5))
    styles = rng.integers(0, 4, len(refmt))
    out[refmt] = [_reformat_phone(x.decode(), T.codes[c], k).encode()
                  for x, c, k in zip(phone[refmt], cidx[refmt], styles)]
    return country, tz, out


def _kinds(rng: np.random.Generator, field: str, n: int) -> tuple[list[str], np.ndarray]:
    names = [k for k, _ in KINDS[field]]
    w = np.array([x for _, x in KINDS[field]], dtype=float)
    typo = np.isin(names, CHAR_EDITS)
    if field in TYPO_SHARE:  # the typos share TYPO_SHARE of the field's corruptions
        w[typo] = TYPO_SHARE[field] / typo.sum()
        w[~typo] *= (1 - TYPO_SHARE[field]) / w[~typo].sum()
    return names, pick(rng, names, w, n)


def _typos(rng: np.random.Generator, T: ReferenceTables, field: str, values: np.ndarray, rows: np.ndarray,
           code: np.ndarray, country: np.ndarray, tags: np.ndarray) -> None:
    """Keyboard typos (CHAR_EDITS codes) in ``values[rows]``, tagged with the kind applied."""
    if not len(rows):
        return
    edited, applied = char_edit(rng, values[rows], code, T.layout[country[rows]])
    values[rows] = edited
    for c, name in enumerate(CHAR_EDITS):
        tags[rows[applied == c], _TAG[f"{field}:{name}"]] = True


def _corrupt_text(rng: np.random.Generator, T: ReferenceTables, field: str, values: np.ndarray, sel: np.ndarray,
                  country: np.ndarray, tags: np.ndarray, special: dict) -> None:
    """Corrupt ``values[sel]`` in place by the field's KINDS: ``missing``, the keyboard typos, ``phonetic`` and
    ``ocr``, and ``special[kind](rows) -> (new values, applied)``; what does not apply becomes a typo."""
    names, k = _kinds(rng, field, len(sel))
    typo_rows, typo_code = [], []
    for ki, name in enumerate(names):
        rows = sel[k == ki]
        if not len(rows):
            continue
        if name in CHAR_EDITS:
            typo_rows.append(rows)
            typo_code.append(np.full(len(rows), CHAR_EDITS.index(name)))
            continue
        if name == "missing":
            new, ok = np.zeros(len(rows), dtype="S1"), values[rows] != b""
        elif name in ("phonetic", "ocr"):
            new, ok = replace_pattern(rng, values[rows], PHONETIC if name == "phonetic" else OCR, name == "phonetic")
        else:
            new, ok = special[name](rows)
        values[rows[ok]] = new[ok]
        tags[rows[ok], _TAG[name if ":" in name else f"{field}:{name}"]] = True
        typo_rows.append(rows[~ok])
        typo_code.append(rng.integers(0, 4, int((~ok).sum())))
    rows = np.concatenate(typo_rows) if typo_rows else np.zeros(0, dtype=np.int64)
    _typos(rng, T, field, values, rows, np.concatenate(typo_code) if typo_code else rows, country, tags)


def _alias(rng: np.random.Generator, T: ReferenceTables, idx: np.ndarray, start: np.ndarray, count: np.ndarray,
           table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random entry of each ``idx``'s slice of ``table`` (nicknames of a first name, other names of a city)."""
    cnt = count[idx]
    j = start[idx] + (rng.random(len(idx)) * np.maximum(cnt, 1)).astype(np.int64)
    return table[np.minimum(j, max(len(table) - 1, 0))] if len(table) else np.zeros(len(idx), "S1"), cnt > 0


def _postcodes(rng: np.random.Generator, values: np.ndarray, sel: np.ndarray, tags: np.ndarray) -> None:
    names, k = _kinds(rng, "postcode", len(sel))
    fallback = []
    for ki, name in enumerate(names):
        rows = sel[k == ki]
        if name == "missing":
            new, ok = np.zeros(len(rows), dtype="S1"), np.ones(len(rows), dtype=bool)
        elif name == "transpose":
            new, ok = swap_digits(rng, values[rows])
        elif name == "ocr":
            new, ok = replace_pattern(rng, values[rows], POSTCODE_OCR, False)
        else:
            fallback.append(rows)
            continue
        values[rows[ok]] = new[ok]
        tags[rows[ok], _TAG[f"postcode:{name}"]] = True
        fallback.append(rows[~ok])
    rows = np.concatenate(fallback) if fallback else np.zeros(0, dtype=np.int64)
    new, ok = wrong_digit(rng, values[rows])
    values[rows[ok]] = new[ok]
    tags[rows[ok], _TAG["postcode:digit"]] = True


def _streets(rng: np.random.Generator, T: ReferenceTables, addr: Addresses, country: np.ndarray, sel: np.ndarray,
             tags: np.ndarray) -> np.ndarray:
    """The street names as the duplicates write them: abbreviated the other way, a wrong or no house number,
    none at all, or misspelt. Returns the street name text of every duplicate."""
    ST = T.streets
    names, k = _kinds(rng, "street", len(sel))
    kind = np.full(len(addr.stem), -1)
    kind[sel] = k
    code = {name: i for i, name in enumerate(names)}
    rows = np.flatnonzero(kind == code["abbreviation"])
    cnt = ST.form_count[addr.type[rows]]
    ok = cnt > 1
    addr.form[rows] = np.where(ok, (addr.form[rows] + 1 + (rng.random(len(rows)) * np.maximum(cnt - 1, 1))
                                    .astype(np.int64)) % np.maximum(cnt, 1), addr.form[rows])
    tags[rows[ok], _TAG["street:abbreviation"]] = True
    text_rows = [rows[~ok]]
    rows = np.flatnonzero(kind == code["house_number:wrong"])
    ok = addr.number[rows] > 0
    step = rng.integers(1, 10, len(rows)) * np.where(rng.random(len(rows)) < 0.5, 1, -1)
    moved = addr.number[rows] + step
    addr.number[rows] = np.where(ok, np.where(moved >= 1, moved, addr.number[rows] + np.abs(step)), addr.number[rows])
    tags[rows[ok], _TAG["house_number:wrong"]] = True
    text_rows.append(rows[~ok])
    rows = np.flatnonzero(kind == code["house_number:missing"])
    ok = addr.number[rows] > 0
    addr.number[rows[ok]] = 0
    addr.suffix[rows[ok]] = b""
    tags[rows[ok], _TAG["house_number:missing"]] = True
    text_rows.append(rows[~ok])
    rows = np.flatnonzero(kind == code["missing"])
    addr.stem[rows] = -1
    addr.line2[rows] = b""
    tags[rows, _TAG["street:missing"]] = True
    name = street_name(ST, addr)
    name = name.astype(f"S{name.dtype.itemsize + 16}")
    rows = np.flatnonzero(kind == code["phonetic"])
    new, ok = replace_pattern(rng, name[rows], PHONETIC, True)
    name[rows[ok]] = new[ok]
    tags[rows[ok], _TAG["street:phonetic"]] = True
    text_rows.append(rows[~ok])
    typo_rows = np.concatenate(text_rows)
    typo_code = rng.integers(0, 4, len(typo_rows))
    for c, edit in enumerate(CHAR_EDITS):
        rows = np.flatnonzero(kind == code[edit])
        typo_rows, typo_code = np.concatenate([typo_rows, rows]), np.concatenate([typo_code, np.full(len(rows), c)])
    _typos(rng, T, "street", name, typo_rows, typo_code, country, tags)
    return name


def _birth_dates(rng: np.random.Generator, dob: BirthDates, sel: np.ndarray, tags: np.ndarray) -> None:
    names, k = _kinds(rng, "date_of_birth", len(sel))
    kind = dict(zip(names, range(len(names))))
    for name, state in (("missing", DOB_MISSING), ("placeholder", DOB_PLACEHOLDER)):
        rows = sel[k == kind[name]]
        dob.state[rows] = state
        tags[rows, _TAG[f"date_of_birth:{name}"]] = True
    rows = sel[k == kind["day_month_swapped"]]
    sub = dob.take(rows)
    ok = swap_day_month(sub)
    dob.m[rows], dob.d[rows] = sub.m, sub.d
    tags[rows[ok], _TAG["date_of_birth:day_month_swapped"]] = True
    rows = np.concatenate([rows[~ok], sel[k == kind["digit"]]])
    sub = dob.take(rows)
    wrong_date_digit(rng, sub)
    dob.y[rows], dob.d[rows] = sub.y, sub.d
    tags[rows, _TAG["date_of_birth:digit"]] = True


def _fields(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, p: np.ndarray,
            tags: np.ndarray) -> dict:
    """Names, postcode, city, street and birth date of the duplicates, with their field corruptions."""
    nd, country = len(p), rec.country[p]
    first = T.first[rec.first[p]].astype(f"S{T.first.dtype.itemsize + 16}")
    last = rec.last_true[p].astype(f"S{rec.last_true.dtype.itemsize + 16}")
    postcode = rec.postcode[p].astype(f"S{rec.postcode.dtype.itemsize + 2}")
    city = rec.city[p].astype(f"S{rec.city.dtype.itemsize + 16}")
    addr, dob = rec.addr.take(p), rec.dob.take(p)
    n_mod = pick(rng, *N_MODIFICATIONS, nd)
    keys = rng.random((nd, len(FIELDS))) ** (1 / np.array(FIELD_WEIGHTS))  # weighted draws without replacement
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    chosen = rank < n_mod[:, None]
    col = {f: i for i, f in enumerate(FIELDS)}
    sel = lambda f, present: np.flatnonzero(chosen[:, col[f]] & present)  # noqa: E731
    _corrupt_text(rng, T, "first_name", first, sel("first_name", first != b""), country, tags,
                  {"nickname": lambda rows: _alias(rng, T, rec.first[p[rows]], T.nick_start, T.nick_count, T.nick)})
    _corrupt_text(rng, T, "last_name", last, sel("last_name", last != b""), country, tags, {})
    _postcodes(rng, postcode, sel("postcode", postcode != b""), tags)
    _corrupt_text(rng, T, "city", city, sel("city", city != b""), country, tags,
                  {"exonym": lambda rows: _alias(rng, T, rec.city_idx[p[rows]], T.alias_start, T.alias_count,
                                                 T.alias)})
    street = _streets(rng, T, addr, country, sel("street", addr.stem >= 0), tags)
    _birth_dates(rng, dob, sel("date_of_birth", dob.state == DOB_PRESENT), tags)
    rows = sel("address_line2", addr.line2 != b"")
    addr.line2[rows] = b""
    tags[rows, _TAG["address_line2:missing"]] = True
    swap = np.flatnonzero((rng.random(nd) < SWAPPED_NAMES) & (first != b"") & (last != b""))
    first, last = first.astype(f"S{max(first.dtype.itemsize, last.dtype.itemsize)}"), last.astype(
        f"S{max(first.dtype.itemsize, last.dtype.itemsize)}")
    first[swap], last[swap] = last[swap], first[swap].copy()
    tags[swap, _TAG["names:swapped"]] = True
    # surface noise, not a corruption: upper-case surnames, lower-case or padded first names
    r = rng.random(nd)
    up, lo, pad = np.flatnonzero(r < 0.05), np.flatnonzero((r >= 0.05) & (r < 0.07)), (r >= 0.07) & (r < 0.09)
    last[up] = utf8_upper(last[up])
    first[lo] = utf8_lower(first[lo])
    first = np.where(pad & (first != b""), A(A(b" ", first), b" "), first)
    return {"first_name": tight(first), "last_name": tight(last), "postcode": tight(postcode), "city": tight(city),
            "addr": addr, "street": tight(street), "dob": dob}


def make_duplicates(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, life: Lifecycle, n: int,
                    as_of_s: int) -> DuplicateRecords:
    """The duplicate records of the random people (``n`` persons in all, personas included)."""
    nr = len(rec.case)
    p = _choose_people(rng, rec)
    nd = len(p)
    ref = np.arange(nd) + n + 2  # after the primaries (CRM-000007 is Anna's duplicate)
    created = life.created[p]
    dcreated = created + (rng.random(nd) * (as_of_s - 2 * HOUR - created)).astype(np.int64)
    dcreated = np.minimum(np.maximum(dcreated, life.act_start[p] + HOUR), as_of_s - HOUR)
    tags = np.zeros((nd, len(CORRUPTIONS)), dtype=bool)
    email, crm_email, mode = _emails(rng, T, rec, p, ref, tags)
    fields = _fields(rng, T, rec, p, tags)
    country, tz, phone = _contact(rng, T, rec, p, tags)
    style = life.style[rng.integers(0, nr, nd)] if nr else life.style[:0]
    system = pick(rng, SOURCE_SYSTEMS, [0.35, 0.3, 0.25, 0.1], nd)
    case = np.select([mode == 0, mode == 3], [CASE_SAME_EMAIL_DUPLICATE, CASE_NO_EMAIL_DUPLICATE],
                     CASE_CHANGED_EMAIL_DUPLICATE)
    return DuplicateRecords(
        person=p, ref=ref, created=dcreated, updated=np.maximum(dcreated, life.updated[p]), email=tight(email),
        crm_email=tight(crm_email), country_text=country, timezone=tz, phone=tight(phone), style=style, system=system,
        case=case, tags=tags, **fields)
