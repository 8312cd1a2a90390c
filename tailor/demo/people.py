"""The demo's people: persons 1..6 are the personas, the rest are random. Every person has a primary CRM
record, some have 1-4 duplicates; this module puts the records into CRM file order, writes their streets and
birth dates, and derives what the activity needs per person and the ground truth per record and per person.

The activity (orders, events, mail) of a person with duplicates is split between the primary and the *first*
duplicate (``People.dup_*``); the further duplicates are CRM records only, as from an import."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tailor.demo.addresses import date_text, render_street
from tailor.demo.arrays import concat_columns, pick, tight
from tailor.demo.catalogue import CATEGORIES, CATEGORY_WEIGHTS
from tailor.demo.corruption import tag_codes
from tailor.demo.duplicates import DuplicateRecords, make_duplicates
from tailor.demo.encoding import crm_ref, iso_timestamp, person_id
from tailor.demo.personas import ANNA_DUPLICATE_EMAIL, N_PERSONAS, PERSONA_COUNTRIES, PERSONAS, persona_records
from tailor.demo.records import Lifecycle, PrimaryRecords, make_primary_records
from tailor.demo.reference import ReferenceTables
from tailor.demo.vocabulary import (
    CASE_PERSONA,
    CASE_PLACEHOLDER_PHONE,
    CASE_SAME_EMAIL_DUPLICATE,
    CORRUPTIONS,
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
    dup_ref: np.ndarray  # CRM number of the (first) duplicate record (0 = none)
    dup_created: np.ndarray
    dup_email: np.ndarray  # S, stripped e-mail of that duplicate record (b"" = none the person uses)
    fav: np.ndarray  # favourite category
    plat: np.ndarray  # preferred platform
    persona: np.ndarray  # bool
    country: np.ndarray  # index into ReferenceTables.codes
    has_phone: np.ndarray  # bool: a real (non-placeholder) phone, for SMS consent
    seeker: np.ndarray  # bool: buys mostly on discount


@dataclass
class Truth:
    """The answer keys: per good CRM record (file order) its ref, person id, identity case, the corruptions
    applied to it (``;``-joined CORRUPTIONS, "" for none, as categories) and its household (the person id of a
    family's or twins' first member, b"" for none); per person (1..n) the true names, clean, as chosen before any
    typo or case change."""

    customer_ref: np.ndarray
    person_id: np.ndarray
    case: np.ndarray
    corruptions: pd.Categorical
    household: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray


def _record_tables(T: ReferenceTables, rec: PrimaryRecords, life: Lifecycle,
                   dup: DuplicateRecords) -> tuple[dict, dict]:
    """The primaries and the duplicates as record columns like ``personas.persona_records``."""
    nr = len(rec.case)
    street, number = render_street(T.streets, rec.country, rec.addr, life.system)
    primaries = {
        "ref": np.arange(nr) + N_PERSONAS + 2, "email": rec.crm_email, "first_name": rec.first_name,
        "last_name": rec.last_name, "phone": rec.phone, "country": rec.country_text, "city": rec.city,
        "postcode": rec.postcode, "timezone": rec.timezone, "created": life.created, "updated": life.updated,
        "style": life.style, "off": rec.off, "system": life.system, "street": street,
        "address_line2": rec.addr.line2, "house_number": number, "date_of_birth": date_text(rec.dob),
    }
    s = dup.person
    street, number = render_street(T.streets, rec.country[s], dup.addr, dup.system, name=dup.street)
    duplicates = {
        "ref": dup.ref, "email": dup.crm_email, "first_name": dup.first_name, "last_name": dup.last_name,
        "phone": dup.phone, "country": dup.country_text, "city": dup.city, "postcode": dup.postcode,
        "timezone": dup.timezone, "created": dup.created, "updated": dup.updated, "style": dup.style,
        "off": rec.off[s], "system": dup.system, "street": street, "address_line2": dup.addr.line2,
        "house_number": number, "date_of_birth": date_text(dup.dob),
    }
    return primaries, duplicates


def _crm_columns(records: dict) -> dict:
    """Record columns -> the CRM file's columns, as text (each at the width of its longest value)."""
    return {
        "customer_ref": crm_ref(records["ref"].astype(np.int64)),
        **{k: tight(records[k]) for k in ("email", "first_name", "last_name", "phone", "country", "city", "postcode",
                                          "timezone")},
        "created_at": tight(iso_timestamp(records["created"], records["style"], records["off"])),
        "updated_at": tight(iso_timestamp(records["updated"], records["style"], records["off"])),
        "source_system": np.array([x.encode() for x in SOURCE_SYSTEMS])[records["system"]],
        **{k: tight(records[k]) for k in ("street", "address_line2", "house_number", "date_of_birth")},
    }


def _truth(T: ReferenceTables, refs: np.ndarray, rec: PrimaryRecords, dup: DuplicateRecords, n: int) -> Truth:
    pid = np.concatenate([np.arange(1, N_PERSONAS + 1), [1], np.arange(N_PERSONAS + 1, n + 1),
                          dup.person + N_PERSONAS + 1])
    case = np.concatenate([np.full(N_PERSONAS, CASE_PERSONA), [CASE_SAME_EMAIL_DUPLICATE], rec.case, dup.case])
    n_plain = N_PERSONAS + 1 + len(rec.case)
    codes, labels = tag_codes(dup.tags, CORRUPTIONS)
    tags = pd.Categorical.from_codes(np.concatenate([np.zeros(n_plain, dtype=np.int64), codes]), categories=labels)
    hh = np.concatenate([np.zeros(N_PERSONAS + 1, dtype=np.int64), rec.household, rec.household[dup.person]])
    return Truth(
        customer_ref=refs, person_id=person_id(pid), case=np.array([c.encode() for c in IDENTITY_CASES])[case],
        corruptions=tags, household=np.where(hh > 0, person_id(hh), b""),
        first_name=np.concatenate([np.array([p[2].encode() for p in PERSONAS]), T.first[rec.first]]),
        last_name=np.concatenate([np.array([p[3].encode() for p in PERSONAS]), rec.last_true]))


def _people(rng: np.random.Generator, T: ReferenceTables, personas: dict, rec: PrimaryRecords, life: Lifecycle,
            dup: DuplicateRecords, as_of_s: int) -> People:
    nr = len(rec.case)
    n = N_PERSONAS + nr
    p_created, p_off = personas["created"], personas["off"]
    p_email = np.concatenate([personas["email"][:N_PERSONAS], np.strings.strip(rec.typed)])
    dup_ref = np.zeros(n, dtype=np.int64)
    dup_created = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    dup_email = np.zeros(n, dtype=np.concatenate([p_email, dup.email]).dtype)
    _, first = np.unique(dup.person, return_index=True)  # the first duplicate of each person carries activity
    g = dup.person[first] + N_PERSONAS
    dup_ref[g], dup_created[g], dup_email[g] = dup.ref[first], dup.created[first], np.strings.strip(dup.email[first])
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
    tables = [personas, *_record_tables(T, rec, life, dup)]
    records = concat_columns(tables)
    del tables
    crm = _crm_columns(records)
    del records
    truth = _truth(T, crm["customer_ref"], rec, dup, n)
    return _people(rng, T, personas, rec, life, dup, as_of_s), crm, truth
