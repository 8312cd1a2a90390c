"""The demo's people: persons 1..6 are the personas, the rest are random. Every person has a primary CRM
record, some a duplicate; this module puts the records into CRM file order and derives what the activity
needs per person and the ground truth per record and per person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.arrays import concat_columns, pick
from tailor.demo.catalogue import CATEGORIES, CATEGORY_WEIGHTS
from tailor.demo.duplicates import DuplicateRecords, make_duplicates
from tailor.demo.encoding import crm_ref, iso_timestamp, person_id
from tailor.demo.personas import ANNA_DUPLICATE_EMAIL, N_PERSONAS, PERSONA_COUNTRIES, PERSONAS, persona_records
from tailor.demo.records import Lifecycle, PrimaryRecords, make_primary_records
from tailor.demo.reference import ReferenceTables
from tailor.demo.vocabulary import (
    CASE_CHANGED_EMAIL_DUPLICATE,
    CASE_PERSONA,
    CASE_PLACEHOLDER_PHONE,
    CASE_SAME_EMAIL_DUPLICATE,
    IDENTITY_CASES,
    PLATFORMS,
    SOURCE_SYSTEMS,
)

DISCOUNT_SEEKER_SHARE = 0.12


@dataclass
class People:
    """Per person (index 0..n-1; person_id = index + 1) what the activity is generated from."""

    n: int
    created: np.ndarray
    act_start: np.ndarray
    act_end: np.ndarray
    off: np.ndarray  # std UTC offset (minutes) of the person's zone
    email: np.ndarray  # S, stripped primary e-mail as the person types it (b"" = none)
    dup: np.ndarray  # bool
    dup_ref: np.ndarray  # CRM number of the duplicate record (0 = none)
    dup_created: np.ndarray
    dup_email: np.ndarray  # S, stripped e-mail of the duplicate record
    fav: np.ndarray  # favourite category
    plat: np.ndarray  # preferred platform
    persona: np.ndarray  # bool
    country: np.ndarray  # index into ReferenceTables.codes
    has_phone: np.ndarray  # bool: a real (non-placeholder) phone, for SMS consent
    seeker: np.ndarray  # bool: buys mostly on discount


@dataclass
class Truth:
    """The answer keys: per good CRM record (file order) its ref, person id and identity case; per person
    (1..n) the true names, clean, as chosen before any typo or case change."""

    customer_ref: np.ndarray
    person_id: np.ndarray
    case: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray


def _record_tables(rec: PrimaryRecords, life: Lifecycle, dup: DuplicateRecords) -> tuple[dict, dict]:
    """The primaries and the duplicates as record columns like ``personas.persona_records``."""
    nr = len(rec.case)
    primaries = {
        "ref": np.arange(nr) + N_PERSONAS + 2, "email": rec.crm_email, "first_name": rec.first_name,
        "last_name": rec.last_name, "phone": rec.phone, "country": rec.country_text, "city": rec.city,
        "postcode": rec.postcode, "timezone": rec.timezone, "created": life.created, "updated": life.updated,
        "style": life.style, "off": rec.off, "system": life.system,
    }
    s = dup.person
    duplicates = {
        "ref": dup.ref, "email": dup.crm_email, "first_name": dup.first_name, "last_name": dup.last_name,
        "phone": dup.phone, "country": dup.country_text, "city": rec.city[s], "postcode": rec.postcode[s],
        "timezone": dup.timezone, "created": dup.created, "updated": dup.updated, "style": dup.style,
        "off": rec.off[s], "system": dup.system,
    }
    return primaries, duplicates


def _crm_columns(records: dict) -> dict:
    """Record columns -> the CRM file's columns, as text."""
    return {
        "customer_ref": crm_ref(records["ref"].astype(np.int64)),
        **{k: records[k] for k in ("email", "first_name", "last_name", "phone", "country", "city", "postcode",
                                   "timezone")},
        "created_at": iso_timestamp(records["created"], records["style"], records["off"]),
        "updated_at": iso_timestamp(records["updated"], records["style"], records["off"]),
        "source_system": np.array([x.encode() for x in SOURCE_SYSTEMS])[records["system"]],
    }


def _truth(T: ReferenceTables, refs: np.ndarray, rec: PrimaryRecords, dup: DuplicateRecords, n: int) -> Truth:
    pid = np.concatenate([np.arange(1, N_PERSONAS + 1), [1], np.arange(N_PERSONAS + 1, n + 1),
                          dup.person + N_PERSONAS + 1])
    case = np.concatenate([np.full(N_PERSONAS, CASE_PERSONA), [CASE_SAME_EMAIL_DUPLICATE], rec.case,
                           np.where(dup.changed, CASE_CHANGED_EMAIL_DUPLICATE, CASE_SAME_EMAIL_DUPLICATE)])
    return Truth(
        customer_ref=refs, person_id=person_id(pid), case=np.array([c.encode() for c in IDENTITY_CASES])[case],
        first_name=np.concatenate([np.array([p[2].encode() for p in PERSONAS]), T.first[rec.first]]),
        last_name=np.concatenate([np.array([p[3].encode() for p in PERSONAS]), T.last[rec.last]]))


def _people(rng: np.random.Generator, T: ReferenceTables, personas: dict, rec: PrimaryRecords, life: Lifecycle,
            dup: DuplicateRecords, as_of_s: int) -> People:
    nr = len(rec.case)
    n = N_PERSONAS + nr
    p_created, p_off = personas["created"], personas["off"]
    p_email = np.concatenate([personas["email"][:N_PERSONAS], np.strings.strip(rec.typed)])
    dup_ref = np.zeros(n, dtype=np.int64)
    dup_created = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    dup_email = np.zeros(n, dtype=np.concatenate([p_email, dup.email]).dtype)
    dup_ref[dup.person + N_PERSONAS] = dup.ref
    dup_created[dup.person + N_PERSONAS] = dup.created
    dup_email[dup.person + N_PERSONAS] = np.strings.strip(dup.email)
    dup_ref[0], dup_created[0], dup_email[0] = 7, p_created[6], ANNA_DUPLICATE_EMAIL
    p_country = np.array([T.codes.index(c) for c in PERSONA_COUNTRIES], dtype=np.int64)
    has_phone = np.concatenate([np.array([bool(p[5]) for p in PERSONAS]),
                                (rec.phone != b"") & (rec.case != CASE_PLACEHOLDER_PHONE)])
    return People(
        n=n,
        created=np.concatenate([p_created[:N_PERSONAS], life.created]),
        act_start=np.concatenate([p_created[:N_PERSONAS], life.act_start]),
        act_end=np.concatenate([np.full(N_PERSONAS, as_of_s - 60), life.act_end]),
        off=np.concatenate([p_off[:N_PERSONAS], rec.off]),
        email=p_email,
        dup=dup_ref > 0,
        dup_ref=dup_ref,
        dup_created=dup_created,
        dup_email=dup_email,
        fav=np.concatenate([np.zeros(N_PERSONAS, dtype=np.int64), pick(rng, CATEGORIES, CATEGORY_WEIGHTS, nr)]),
        plat=np.concatenate([np.zeros(N_PERSONAS, dtype=np.int64), pick(rng, PLATFORMS, [0.6, 0.25, 0.15], nr)]),
        persona=np.arange(n) < N_PERSONAS,
        country=np.concatenate([p_country, rec.country]),
        has_phone=has_phone,
        seeker=np.concatenate([np.zeros(N_PERSONAS, dtype=bool), rng.random(nr) < DISCOUNT_SEEKER_SHARE]),
    )


def make_people(rng: np.random.Generator, n: int, as_of_s: int) -> tuple[People, dict, Truth]:
    """``n`` people (personas included). Returns the people, the CRM columns (good records in file order:
    the personas, Anna's duplicate, the random primaries, the duplicates) and the truth."""
    T = ReferenceTables()
    rec, life = make_primary_records(rng, T, n - N_PERSONAS, as_of_s)
    dup = make_duplicates(rng, T, rec, life, n, as_of_s)
    personas = persona_records(as_of_s)
    crm = _crm_columns(concat_columns([personas, *_record_tables(rec, life, dup)]))
    truth = _truth(T, crm["customer_ref"], rec, dup, n)
    return _people(rng, T, personas, rec, life, dup, as_of_s), crm, truth
