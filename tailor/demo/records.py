"""The random people's primary CRM records and their deliberate messiness: spellings of the country, missing
time zones and phones, e-mail addresses typed in other cases or with blanks, re-cased or padded names,
families sharing a phone, an address and sometimes an e-mail, placeholder phones and e-mails, misspelt
mailbox domains, and the record's lifecycle.

The steps draw from one generator in a fixed order: the order of the draws is part of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.arrays import fill_template, pick
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
    DAY,
    HOUR,
    SOURCE_SYSTEMS,
    SYSTEM_IMPORT,
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
    last: np.ndarray  # index into ReferenceTables.last: the true last name
    country_text: np.ndarray  # one of the country's spellings, or blank
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
    """Country, true names, city (with postcode and time zone) and phone of every person."""
    cidx = pick(rng, T.codes, T.weights, nr)

    def within(start: np.ndarray, count: np.ndarray) -> np.ndarray:
        return start[cidx] + (rng.random(nr) * count[cidx]).astype(np.int64)

    gf, gl, gc, gp = (within(T.first_start, T.first_count), within(T.last_start, T.last_count),
                      within(T.city_start, T.city_count), within(T.phone_start, T.phone_count))
    gv = np.empty(nr, dtype=np.int64)
    for ci in range(len(T.codes)):
        sel = np.flatnonzero(cidx == ci)
        gv[sel] = T.variant_start[ci] + rng.choice(int(T.variant_count[ci]), size=len(sel), p=T.variant_w[ci])
    country = np.where(rng.random(nr) < 0.01, b"", T.variant[gv])
    city, tz, off = T.city[gc], T.tz[gc], T.tz_off[gc]
    tz = np.where(rng.random(nr) < 0.08, b"", tz)
    postcode = fill_template(rng, T.postcode_format[gc])
    phone = fill_template(rng, T.phone_format[gp])
    return {"country": cidx, "first": gf, "last": gl, "country_text": country, "city": city, "timezone": tz,
            "off": off, "postcode": postcode, "phone": phone}


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
                        gl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The names as the CRM has them: mostly clean, some upper/lower-case or padded with blanks."""
    r = rng.random(len(gf))
    first_s = np.where(r < 0.01, T.first_lo[gf], np.where(r < 0.02, A(T.first[gf], b" "), T.first[gf]))
    last_s = np.where((r >= 0.02) & (r < 0.04), T.last_up[gl], T.last[gl])
    return first_s, last_s


def _add_families(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords) -> None:
    """Family members share a phone, postcode, city and last name with another person (and have another
    first name); some families also share one e-mail address ("the.muellers.123@example.com"): they are
    still two people."""
    nr = len(rec.case)
    n_fam = int(round(nr * 0.008))
    a = rng.choice(nr, size=2 * n_fam, replace=False) if 2 * n_fam <= nr else np.zeros(0, dtype=int)
    src, dst = a[:n_fam], a[n_fam:]
    rec.phone[dst], rec.postcode[dst], rec.last_name[dst] = rec.phone[src], rec.postcode[src], rec.last_name[src]
    rec.last[dst] = rec.last[src]  # the true name (names.csv); the e-mail local parts keep the old one
    for column in (rec.city, rec.country_text, rec.timezone, rec.off, rec.country):
        column[dst] = column[src]
    # a family member has another first name (of the same country) than the person they live with
    fst, fn_ = T.first_start[rec.country[src]], T.first_count[rec.country[src]]
    rec.first[dst] = fst + (rec.first[src] - fst + 1 + (rng.random(n_fam) * (fn_ - 1)).astype(np.int64)) % fn_
    rec.first_name[dst] = T.first[rec.first[dst]]
    rec.case[src] = rec.case[dst] = CASE_FAMILY_MEMBER
    share = rng.random(n_fam) < 0.4
    fs, fd = src[share], dst[share]
    fam = A(A(A(A(A(b"the.", rec.last_fold[fs]), b"s."), int_text(fs + N_PERSONAS + 1)), b"@"), rec.domain[fs])
    for column in (rec.email, rec.typed, rec.crm_email):
        column[fs] = column[fd] = fam
    rec.no_email[fs] = rec.no_email[fd] = False
    rec.case[fs] = rec.case[fd] = CASE_FAMILY_SHARED_EMAIL


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


def make_primary_records(rng: np.random.Generator, T: ReferenceTables, nr: int,
                         as_of_s: int) -> tuple[PrimaryRecords, Lifecycle]:
    """The ``nr`` random people's primary records."""
    places = _draw_places(rng, T, nr)
    emails = _draw_emails(rng, T, places["first"], places["last"])
    first_s, last_s = _draw_name_variants(rng, T, places["first"], places["last"])
    phone = np.where(rng.random(nr) < 0.15, b"", places.pop("phone")).astype("S24")
    # wide enough for the family addresses and for family members' clean first names
    for k in ("email", "typed", "crm_email"):
        emails[k] = emails[k].astype("S96")
    first_s = first_s.astype(f"S{max(first_s.dtype.itemsize, T.first.dtype.itemsize)}")
    rec = PrimaryRecords(**places, phone=phone, **emails, first_name=first_s, last_name=last_s,
                         case=np.zeros(nr, dtype=np.int64))
    if nr:
        _add_families(rng, T, rec)
        _add_placeholders(rng, rec)
    return rec, _draw_lifecycle(rng, nr, as_of_s)
