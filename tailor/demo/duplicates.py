"""Second CRM records of the same person: ~5 % of the random people with a usable e-mail have one with the
same address (in another case, padded with blanks), ~2 % one with a *changed* address, where only the name
and the address (or the phone) tell they are one person. Duplicates have name typos, other spellings of the
country, missing or reformatted phones and missing time zones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import phonenumbers

from tailor.demo.arrays import pick
from tailor.demo.encoding import int_text
from tailor.demo.personas import N_PERSONAS
from tailor.demo.records import Lifecycle, PrimaryRecords
from tailor.demo.reference import MAIL_DOMAIN_WEIGHTS, MAIL_DOMAINS, ReferenceTables
from tailor.demo.vocabulary import CASE_FAMILY_MEMBER, CASE_PLACEHOLDER_PHONE, HOUR, SOURCE_SYSTEMS

A = np.strings.add  # short: addresses and local parts are nested concatenations


@dataclass
class DuplicateRecords:
    """The duplicate records in file order: first the same-e-mail ones, then the changed-e-mail ones, each
    group by person. ``person`` indexes the primaries; the text fields are as written."""

    person: np.ndarray
    changed: np.ndarray  # bool: the e-mail address changed
    ref: np.ndarray  # CRM number
    created: np.ndarray
    updated: np.ndarray
    email: np.ndarray  # the address
    crm_email: np.ndarray  # as the CRM has it (padded)
    first_name: np.ndarray
    last_name: np.ndarray
    country_text: np.ndarray
    timezone: np.ndarray
    phone: np.ndarray
    style: np.ndarray
    system: np.ndarray


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


def _typo(name: str, r: float, r2: float) -> str:
    """A plausible typo: drop, double or swap a letter."""
    if len(name) < 3:
        return name
    i = 1 + int(r2 * (len(name) - 2))
    if r < 0.4:
        return name[:i] + name[i + 1:]
    if r < 0.7:
        return name[:i] + name[i] + name[i:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def _choose_people(rng: np.random.Generator, rec: PrimaryRecords) -> tuple[np.ndarray, np.ndarray]:
    """Who has a same-e-mail and who a changed-e-mail duplicate (sorted; people with a usable e-mail that is
    theirs alone)."""
    nr, kind = len(rec.case), rec.case
    cand = np.flatnonzero(~rec.no_email & ((kind == 0) | (kind == CASE_FAMILY_MEMBER)
                                           | (kind == CASE_PLACEHOLDER_PHONE)))
    n_dup = min(len(cand), int(round(0.05 * nr)))
    dsel = np.sort(rng.choice(cand, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    rest = np.setdiff1d(cand, dsel)
    n_chg = min(len(rest), int(round(0.02 * nr)))
    csel = np.sort(rng.choice(rest, size=n_chg, replace=False)) if n_chg else np.zeros(0, dtype=np.int64)
    return dsel, csel


def _emails(rng: np.random.Generator, rec: PrimaryRecords, dsel: np.ndarray,
            csel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The duplicates' addresses (the same one in another case, or another local part and provider, unique
    because it carries the person number) and the same padded with blanks as the CRM has them."""
    ff, lf = rec.first_fold, rec.last_fold
    base = rec.email[dsel]
    v = rng.integers(0, 4, len(dsel))
    demail = np.select([v == 0, v == 1, v == 2],
                       [np.strings.title(base), np.strings.upper(base), np.strings.capitalize(base)], base)
    n_chg = len(csel)
    cdom = MAIL_DOMAINS.astype("S")[pick(rng, list(MAIL_DOMAINS), MAIL_DOMAIN_WEIGHTS, n_chg)]
    cv = rng.integers(0, 3, n_chg)
    cnum = int_text(csel + N_PERSONAS + 1)
    clocal = np.select([cv == 0, cv == 1], [A(A(A(ff[csel], lf[csel]), b"."), cnum),
                                            A(A(A(np.strings.slice(ff[csel], 1), lf[csel]), b"_"), cnum)],
                       A(A(A(lf[csel], b"."), ff[csel]), A(b".", cnum)))
    cemail = A(A(clocal, b"@"), cdom)
    demail = np.concatenate([demail, cemail]).astype(f"S{max(demail.dtype.itemsize, cemail.dtype.itemsize, 1)}")
    pad = rng.integers(0, 4, len(demail))
    d_crm_email = np.select([pad == 0, pad == 1, pad == 2],
                            [A(b" ", demail), A(demail, b" "), A(A(b"  ", demail), b" ")], demail)
    return demail, d_crm_email


def _names(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords,
           allsel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The true first name and the primary's last name, with typos (a Python loop over ~3 % of the records):
    first names in half of the duplicates, last names in 1 of 10."""
    ru, r2 = rng.random(len(allsel)), rng.random(len(allsel))
    dfirst = T.first[rec.first[allsel]].astype(f"S{T.first.dtype.itemsize + 2}")
    dlast = rec.last_name[allsel].astype(f"S{rec.last_name.dtype.itemsize + 2}")
    typo = np.flatnonzero(ru < 0.5)
    dfirst[typo] = [_typo(x.decode(), a / 0.5, b).encode() for x, a, b in zip(dfirst[typo], ru[typo], r2[typo])]
    lt = np.flatnonzero((ru >= 0.5) & (ru < 0.6))
    dlast[lt] = [_typo(x.decode(), (a - 0.5) / 0.1, b).encode() for x, a, b in zip(dlast[lt], ru[lt], r2[lt])]
    return dfirst, dlast


def _contact(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, allsel: np.ndarray,
             changed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Country spelling (half of the time another one), time zone (missing in 30 %) and phone: missing in
    40 % (55 % after an e-mail change), else the same number, half of the time written in another format
    (national / international / E.164 / 00-prefix)."""
    n_all, cidx = len(allsel), rec.country
    alt = T.variant_start[cidx[allsel]] + (rng.random(n_all) * T.variant_count[cidx[allsel]]).astype(np.int64)
    dcountry = np.where(rng.random(n_all) < 0.5, T.variant[alt], rec.country_text[allsel])
    dtz = np.where(rng.random(n_all) < 0.3, b"", rec.timezone[allsel])
    phone = rec.phone
    u = rng.random(n_all)
    dphone = np.where(u < np.where(changed, 0.55, 0.4), b"", phone[allsel]).astype(f"S{phone.dtype.itemsize + 8}")
    refmt = np.flatnonzero((dphone != b"") & (rng.random(n_all) < 0.5))
    styles = rng.integers(0, 4, len(refmt))
    dphone[refmt] = [_reformat_phone(p.decode(), T.codes[c], k).encode()
                     for p, c, k in zip(phone[allsel][refmt], cidx[allsel][refmt], styles)]
    return dcountry, dtz, dphone


def make_duplicates(rng: np.random.Generator, T: ReferenceTables, rec: PrimaryRecords, life: Lifecycle, n: int,
                    as_of_s: int) -> DuplicateRecords:
    """The duplicate records of the random people (``n`` persons in all, personas included)."""
    nr = len(rec.case)
    dsel, csel = _choose_people(rng, rec)
    allsel = np.concatenate([dsel, csel])
    n_all = len(allsel)
    dref = np.arange(n_all) + n + 2  # after the primaries (CRM-000007 is Anna's duplicate)
    created = life.created[allsel]
    dcreated = created + (rng.random(n_all) * (as_of_s - 2 * HOUR - created)).astype(np.int64)
    dcreated = np.minimum(np.maximum(dcreated, life.act_start[allsel] + HOUR), as_of_s - HOUR)
    demail, d_crm_email = _emails(rng, rec, dsel, csel)
    dfirst, dlast = _names(rng, T, rec, allsel)
    changed = np.arange(n_all) >= len(dsel)
    dcountry, dtz, dphone = _contact(rng, T, rec, allsel, changed)
    dstyle = life.style[rng.integers(0, nr, n_all)] if nr else life.style[:0]
    dss = pick(rng, SOURCE_SYSTEMS, [0.35, 0.3, 0.3, 0.05], n_all)
    return DuplicateRecords(
        person=allsel, changed=changed, ref=dref, created=dcreated,
        updated=np.maximum(dcreated, life.updated[allsel]), email=demail, crm_email=d_crm_email,
        first_name=dfirst, last_name=dlast, country_text=dcountry, timezone=dtz, phone=dphone, style=dstyle,
        system=dss)
