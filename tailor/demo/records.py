"""The random people's primary CRM records and their deliberate messiness: spellings of the country, missing
time zones, phones, streets and birth dates, e-mail addresses typed in other cases or with blanks, re-cased or
padded names, families sharing a phone, an address, a surname and sometimes an e-mail, twins sharing the birth
date as well, placeholder phones, e-mails and birth dates, misspelt mailbox domains, and the record's lifecycle.

A primary record carries the person's true names (only re-cased or padded); the duplicates
(tailor.demo.duplicates) are where the misspellings are.

The steps draw from one generator in a fixed order: the order of the draws is part of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.addresses import (
    DOB_PRESENT,
    Addresses,
    BirthDates,
    draw_addresses,
    draw_birth_dates,
    weighted_within,
)
from tailor.demo.arrays import fill_template, pick
from tailor.demo.corruption import utf8_upper
from tailor.demo.encoding import TWO_DIGITS, int_text
from tailor.demo.personas import N_PERSONAS, PERSONAS
from tailor.demo.reference import (
    MAIL_DOMAIN_WEIGHTS,
    MAIL_DOMAINS,
    PLACEHOLDER_EMAILS,
    PLACEHOLDER_PHONES,
    TYPO_DOMAINS,
    ReferenceTables,
)
from tailor.demo.vocabulary import (
    CASE_EMAIL_TYPO,
    CASE_FAMILY_MEMBER,
    CASE_FAMILY_SHARED_EMAIL,
    CASE_PLACEHOLDER_EMAIL,
    CASE_PLACEHOLDER_PHONE,
    CASE_TWIN,
    DAY,
    HOUR,
    SOURCE_SYSTEMS,
    SYSTEM_IMPORT,
    SYSTEM_NEWSLETTER,
    TS_NAIVE,
    TS_NAIVE_SPACE,
    TS_OFFSET,
    TS_Z,
    WINDOW_DAYS,
)

A = np.strings.add  # short: addresses and local parts are nested concatenations


@dataclass
class PrimaryRecords:
    """One primary CRM record per random person (index i is person N_PERSONAS + 1 + i), the fields as
    written (bytes) and what they were drawn from."""

    country: np.ndarray  # index into ReferenceTables.codes
    first: np.ndarray  # index into ReferenceTables.first: the true first name
    last: np.ndarray  # index into ReferenceTables.last: the (first) true last name
    last_true: np.ndarray  # the true last name ("García López" for a Spaniard with two)
    country_text: np.ndarray  # one of the country's spellings, or blank
    city_idx: np.ndarray  # index into ReferenceTables.city
    city: np.ndarray
    timezone: np.ndarray
    off: np.ndarray  # std UTC offset (minutes) of the person's zone
    postcode: np.ndarray
    phone: np.ndarray
    first_fold: np.ndarray  # the names as the e-mail local part has them (before family changes)
    last_fold: np.ndarray
    local: np.ndarray  # e-mail local part and domain
    domain: np.ndarray
    email: np.ndarray  # the unique address
    typed: np.ndarray  # the address as the person types it (b"" = never mailed)
    crm_email: np.ndarray  # the address as the CRM has it
    no_email: np.ndarray  # bool
    first_name: np.ndarray  # the names as the CRM has them
    last_name: np.ndarray
    case: np.ndarray  # identity case (CASE_*)
    addr: Addresses | None = None  # the street address (stem -1 = none)
    dob: BirthDates | None = None
    household: np.ndarray | None = None  # person number of the household's first member (0 = lives alone)


@dataclass
class Lifecycle:
    """When each primary record was created and last updated, the person's active period, the timestamp
    style of the record and the system it came from."""

    created: np.ndarray
    act_start: np.ndarray
    act_end: np.ndarray
    updated: np.ndarray
    style: np.ndarray
    system: np.ndarray


def _draw_places(rng: np.random.Generator, T: ReferenceTables, nr: int) -> dict:
    """Country, true names (by rank weight), city (with postcode and time zone) and phone of every person."""
    cidx = pick(rng, T.codes, T.weights, nr)

    def within(start: np.ndarray, count: np.ndarray) -> np.ndarray:
        return start[cidx] + (rng.random(nr) * count[cidx]).astype(np.int64)

    gf, gl = weighted_within(rng, T.first_cum, cidx), weighted_within(rng, T.last_cum, cidx)
    gl2 = weighted_within(rng, T.last_cum, cidx)
    two = rng.random(nr) < T.double_surname[cidx]
    last_true = np.where(two, A(A(T.last[gl], b" "), T.last[gl2]), T.last[gl])
    gc, gp = within(T.city_start, T.city_count), within(T.phone_start, T.phone_count)
    gv = np.empty(nr, dtype=np.int64)
    for ci in range(len(T.codes)):
        sel = np.flatnonzero(cidx == ci)
        gv[sel] = T.variant_start[ci] + rng.choice(int(T.variant_count[ci]), size=len(sel), p=T.variant_w[ci])
    country = np.where(rng.random(nr) < 0.01, b"", T.variant[gv])
    city, tz, off = T.city[gc], T.tz[gc], T.tz_off[gc]
    tz = np.where(rng.random(nr) < 0.08, b"", tz)
    postcode = fill_template(rng, T.postcode_format[gc])
    phone = fill_template(rng, T.phone_format[gp])
    return {"country": cidx, "first": gf, "last": gl, "last_true": last_true, "country_text": country,
            "city_idx": gc, "city": city, "timezone": tz, "off": off, "postcode": postcode, "phone": phone}


def _draw_emails(rng: np.random.Generator, T: ReferenceTables, gf: np.ndarray, gl: np.ndarray) -> dict:
    """Realistic local parts on reserved domains, unique (case-insensitively), typed with some case and
    blank variation; a few people have none."""
    nr = len(gf)
    ff, lf = T.first_fold[gf], T.last_fold[gl]
    pat = rng.integers(0, 7, nr)
    num2, num3 = TWO_DIGITS[rng.integers(0, 100, nr)], int_text(rng.integers(1, 1000, nr))
    local = np.zeros(nr, dtype="S48")
    for k, fn in enumerate([lambda i: A(A(ff[i], b"."), lf[i]), lambda i: A(ff[i], lf[i]),
                            lambda i: A(A(np.strings.slice(ff[i], 1), b"."), lf[i]),
                            lambda i: A(A(ff[i], b"_"), lf[i]), lambda i: A(A(A(ff[i], b"."), lf[i]), num2[i]),
                            lambda i: A(ff[i], num3[i]), lambda i: A(A(lf[i], b"."), ff[i])]):
        sel = np.flatnonzero(pat == k)
        local[sel] = fn(sel)
    dom = MAIL_DOMAINS.astype("S")[pick(rng, list(MAIL_DOMAINS), MAIL_DOMAIN_WEIGHTS, nr)]
    email = A(A(local, b"@"), dom)
    allmail = np.concatenate([np.array([p[4].encode() for p in PERSONAS]), email])
    _, first_idx = np.unique(allmail, return_index=True)
    dupl = np.ones(len(allmail), dtype=bool)
    dupl[first_idx] = False
    dupl = dupl[N_PERSONAS:]
    if dupl.any():  # make unique by appending the person number
        sel = np.flatnonzero(dupl)
        email[sel] = A(A(A(A(local[sel], b"."), int_text(sel + N_PERSONAS + 1)), b"@"), dom[sel])
    # typed e-mail as the person has it: mostly lower-case, some Title/upper-case
    r = rng.random(nr)
    typed = np.where(r < 0.03, np.strings.title(email), np.where(r < 0.04, np.strings.upper(email), email))
    no_email = rng.random(nr) < 0.005
    typed = np.where(no_email, b"", typed)
    crm_email = np.where(rng.random(nr) < 0.01, A(typed, b" "), typed)  # trailing blank
    crm_email = np.where(no_email, b"", crm_email)
    return {"first_fold": ff, "last_fold": lf, "local": local, "domain": dom, "email": email, "typed": typed,
            "crm_email": crm_email, "no_email": no_email}


def _draw_name_variants(rng: np.random.Generator, T: ReferenceTables, gf: np.ndarray,
                        last_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The names as the CRM has them: mostly clean, some upper/lower-case or padded with blanks."""
    r = rng.random(len(gf))
    first_s = np.where(r < 0.01, T.first_lo[gf], np.where(r < 0.02, A(T.first[gf], b" "), T.first[gf]))
    up = np.flatnonzero((r >= 0.02) & (r < 0.04))
    last_s = last_true.copy()
    last_s[up] = utf8_upper(last_true[up])
    return first_s, last_s


def _other_first_name(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, src: np.ndarray,
                      dst: np.ndarray) -> None:
    """Give ``dst`` another first name of the country of ``src`` than ``src`` has."""
    fst, fn_ = T.first_start[rec.country[src]], T.first_count[rec.country[src]]
    rec.first[dst] = fst + (rec.first[src] - fst + 1 + (rng.random(len(src)) * (fn_ - 1)).astype(np.int64)) % fn_
    rec.first_name[dst] = T.first[rec.first[dst]]


def _share_home(rec: PrimaryRecords, src: np.ndarray, dst: np.ndarray) -> None:
    """``dst`` moves in with ``src``: the same address (street, postcode, city) and surname."""
    rec.postcode[dst], rec.last_name[dst] = rec.postcode[src], rec.last_name[src]
    rec.last_true[dst] = rec.last_true[src]
    rec.last[dst] = rec.last[src]  # the true name (names.csv); the e-mail local parts keep the old one
    for column in (rec.city, rec.city_idx, rec.country_text, rec.timezone, rec.off, rec.country):
        column[dst] = column[src]
    rec.addr.put(dst, rec.addr, src)
    rec.household[src] = rec.household[dst] = src + N_PERSONAS + 1


def _add_families(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords) -> None:
    """Family members share a phone, an address (street, postcode, city) and a last name with another person,
    and have another first name and birth date; some families also share one e-mail address
    ("the.muellers.123@example.com"): they are still two people."""
    nr = len(rec.case)
    n_fam = int(round(nr * 0.008))
    a = rng.choice(nr, size=2 * n_fam, replace=False) if 2 * n_fam <= nr else np.zeros(0, dtype=int)
    src, dst = a[:n_fam], a[n_fam:]
    homeless = src[rec.addr.stem[src] < 0]  # a family has an address
    rec.addr.put(homeless, draw_addresses(rng, T.streets, rec.country[homeless], np.ones(len(homeless), bool)),
                 slice(None))
    rec.phone[dst] = rec.phone[src]
    _share_home(rec, src, dst)
    _other_first_name(rng, T, rec, src, dst)  # a family member has another first name than the person they live with
    rec.case[src] = rec.case[dst] = CASE_FAMILY_MEMBER
    share = rng.random(n_fam) < 0.4
    fs, fd = src[share], dst[share]
    fam = A(A(A(A(A(b"the.", rec.last_fold[fs]), b"s."), int_text(fs + N_PERSONAS + 1)), b"@"), rec.domain[fs])
    for column in (rec.email, rec.typed, rec.crm_email):
        column[fs] = column[fd] = fam
    rec.no_email[fs] = rec.no_email[fd] = False
    rec.case[fs] = rec.case[fd] = CASE_FAMILY_SHARED_EMAIL


def _add_twins(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords) -> None:
    """Twins: the same surname, address and birth date, half of them the same (home) phone, another first
    name; two people a matcher must keep apart by the first name alone."""
    free = np.flatnonzero(rec.case == 0)
    n_tw = min(len(free) // 2, max(1, int(round(len(rec.case) * 0.002))))
    a = rng.choice(free, size=2 * n_tw, replace=False)
    src, dst = a[:n_tw], a[n_tw:]
    homeless = src[rec.addr.stem[src] < 0]
    rec.addr.put(homeless, draw_addresses(rng, T.streets, rec.country[homeless], np.ones(len(homeless), bool)),
                 slice(None))
    _share_home(rec, src, dst)
    _other_first_name(rng, T, rec, src, dst)
    same_phone = rng.random(n_tw) < 0.5
    rec.phone[dst[same_phone]] = rec.phone[src[same_phone]]
    for column in (rec.dob.y, rec.dob.m, rec.dob.d):
        column[dst] = column[src]
    rec.dob.state[src] = rec.dob.state[dst] = DOB_PRESENT  # the birth date is what makes them twins
    rec.case[src] = rec.case[dst] = CASE_TWIN


def _add_placeholders(rng: np.random.Generator, rec: PrimaryRecords) -> None:
    """Placeholder phones typed by unrelated people; placeholder e-mails and misspelt big mailbox domains,
    whose people are never mailed."""
    nr = len(rec.case)
    free = np.flatnonzero(rec.case == 0)
    n_ph = min(len(free), max(3, int(round(nr * 0.002))))
    sel = rng.choice(free, size=n_ph, replace=False)
    rec.phone[sel] = np.array(PLACEHOLDER_PHONES)[rng.integers(0, len(PLACEHOLDER_PHONES), n_ph)]
    rec.case[sel] = CASE_PLACEHOLDER_PHONE
    free = np.flatnonzero((rec.case == 0) & ~rec.no_email)
    n_pe = min(len(free), max(3, int(round(nr * 0.003))))
    n_ty = min(len(free) - n_pe, max(2, int(round(nr * 0.002))))
    sel = rng.choice(free, size=n_pe + n_ty, replace=False)
    pe, ty = sel[:n_pe], sel[n_pe:]
    rec.email[pe] = np.array(PLACEHOLDER_EMAILS)[rng.integers(0, len(PLACEHOLDER_EMAILS), n_pe)]
    rec.crm_email[pe] = rec.email[pe]
    rec.case[pe] = CASE_PLACEHOLDER_EMAIL
    rec.email[ty] = A(A(rec.local[ty], b"@"), np.array(TYPO_DOMAINS)[rng.integers(0, len(TYPO_DOMAINS), n_ty)])
    rec.crm_email[ty] = rec.email[ty]
    rec.case[ty] = CASE_EMAIL_TYPO
    rec.typed[sel] = b""  # activity (consent, e-mail events) uses ``typed``: nothing is ever sent to them


def _draw_lifecycle(rng: np.random.Generator, nr: int, as_of_s: int) -> Lifecycle:
    """Some records are legacy (created before the window, mostly imported); the others were created in the
    window, more of them recently."""
    start = as_of_s - WINDOW_DAYS * DAY
    legacy = rng.random(nr) < 0.12
    created = np.where(legacy, start - (rng.random(nr) * 730 * DAY).astype(np.int64),
                       start + (np.sqrt(rng.random(nr)) * (WINDOW_DAYS * DAY - 2 * HOUR)).astype(np.int64))
    life = (rng.exponential(450, nr) * DAY).astype(np.int64)
    act_start = np.maximum(created, start)
    act_end = np.clip(created + life, act_start + HOUR, as_of_s - 60)
    updated = np.where(rng.random(nr) < 0.4, created,
                       created + (rng.random(nr) * (as_of_s - 60 - created)).astype(np.int64))
    style = np.array([TS_Z, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE])[
        pick(rng, [0, 1, 2, 3], [0.35, 0.3, 0.15, 0.2], nr)]
    system = pick(rng, SOURCE_SYSTEMS, [0.5, 0.25, 0.15, 0.10], nr)
    system = np.where(legacy & (rng.random(nr) < 0.7), SYSTEM_IMPORT, system)
    return Lifecycle(created, act_start, act_end, updated, style, system)


def _draw_address_and_birth_date(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords,
                                 life: Lifecycle, as_of_s: int) -> None:
    """Streets for most records (a newsletter sign-up rarely has one), birth dates for most (a few typed the
    placeholder 1900-01-01)."""
    nr = len(rec.case)
    news = life.system == SYSTEM_NEWSLETTER
    rec.addr = draw_addresses(rng, T.streets, rec.country, rng.random(nr) < np.where(news, 0.3, 0.97))
    rec.dob = draw_birth_dates(rng, nr, as_of_s,
                               rng.random(nr) < np.where(news, 0.6, 0.15), placeholder_share=0.005)
    rec.household = np.zeros(nr, dtype=np.int64)


def make_primary_records(rng: np.random.Generator, T: ReferenceTables, nr: int,
                         as_of_s: int) -> tuple[PrimaryRecords, Lifecycle]:
    """The ``nr`` random people's primary records."""
    places = _draw_places(rng, T, nr)
    emails = _draw_emails(rng, T, places["first"], places["last"])
    first_s, last_s = _draw_name_variants(rng, T, places["first"], places["last_true"])
    phone = np.where(rng.random(nr) < 0.15, b"", places.pop("phone")).astype("S24")
    # wide enough for the family addresses and for family members' clean first names
    for k in ("email", "typed", "crm_email"):
        emails[k] = emails[k].astype("S96")
    first_s = first_s.astype(f"S{max(first_s.dtype.itemsize, T.first.dtype.itemsize)}")
    places["last_true"] = places["last_true"].astype(f"S{max(places['last_true'].dtype.itemsize, 1)}")
    last_s = last_s.astype(places["last_true"].dtype)
    rec = PrimaryRecords(**places, phone=phone, **emails, first_name=first_s, last_name=last_s,
                         case=np.zeros(nr, dtype=np.int64))
    life = _draw_lifecycle(rng, nr, as_of_s)
    _draw_address_and_birth_date(rng, T, rec, life, as_of_s)
    if nr:
        _add_families(rng, T, rec)
        _add_twins(rng, T, rec)
        _add_placeholders(rng, rec)
    return rec, life
