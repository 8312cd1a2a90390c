"""Seeded generator of realistic, *messy* demo data in the landing-folder layout.

``write_demo_data(landing_dir, customers, seed, as_of)`` writes one folder per source (see
``docs/data-contracts.md`` for the file contracts and the full list of deliberate messiness)::

    crm/crm-0001.csv                products/products-0001.csv     orders/orders-0001.ndjson
    events/events-0001.ndjson       email_events/email_events-0001.ndjson
    consent/consent-0001.csv        fx_rates/fx_rates-0001.csv

and the ground truth (never ingested) into ``truth_dir`` (default ``landing_dir.parent / "demo_truth"``):
``identities.csv`` (customer_ref -> person_id), ``identity_cases.csv`` (customer_ref -> case, the
``corruptions`` applied to a duplicate record, ``;``-joined ``<field>:<kind>`` tags of
``vocabulary.CORRUPTIONS``, empty for the others, and the ``household_id`` of family members and twins: the
person_id of the household's first member, empty for people living alone), ``names.csv`` (person_id -> the
true first_name and last_name, before typos, re-casing or padding), ``personas.csv`` (customer_ref -> persona)
and ``bad_rows.csv`` (source, file, line, kind). ``tailor.demo.truth`` reads them and scores a linkage against
them, overall and per corruption type.

Design notes
------------
* Deterministic: every random draw comes from a ``SeedSequence(seed, spawn_key=(stream, block))`` and
  the output bytes depend only on ``(customers, seed, as_of)``; ``events_per_file`` only moves the file
  boundaries. Within a stream the order of the draws is part of the output.
* Scales: people are processed in blocks of ``_BLOCK`` persons; within a block everything is numpy
  vectorised. Rows are rendered by writing fixed-width byte columns into one ``uint8`` matrix (NUL padded)
  and deleting the NULs, so no Python loop runs per good row. Python loops only touch the ~0.5 % bad rows,
  the six hand-made personas and the duplicates' phones written in another format (libphonenumber); the
  duplicates' corruption (tailor.demo.duplicates, tailor.demo.corruption) is vectorised with ``np.strings``.
* All generated activity lies in ``[as_of - ~2 years, as_of)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from tailor.demo import activity, mailing
from tailor.demo.activity import ActivityBlock
from tailor.demo.arrays import take_rows
from tailor.demo.bad_rows import (
    consent_bad_rows,
    crm_bad_rows,
    mail_bad_rows,
    order_bad_rows,
    product_bad_rows,
    web_bad_rows,
)
from tailor.demo.catalogue import Catalogue, make_catalogue
from tailor.demo.encoding import block_keys, person_id
from tailor.demo.exchange_rates import ExchangeRates, draw_exchange_rates, pay_in_local_currency
from tailor.demo.lines import (
    CONSENT_HEADER,
    CRM_HEADER,
    FX_HEADER,
    PRODUCTS_HEADER,
    consent_lines,
    csv_lines,
    fx_lines,
    mail_lines,
    order_lines,
    web_lines,
)
from tailor.demo.people import People, Truth, make_people
from tailor.demo.personas import ANNA_DUPLICATE, N_PERSONAS, PERSONAS, merge_personas, persona_activity
from tailor.demo.sinks import Sink

_BLOCK = 10_000  # persons per generation block (fixed: part of the determinism contract)
_CRM_CHUNK = 100_000  # CRM rows rendered at a time
_S_PRODUCTS, _S_PEOPLE, _S_ACTIVITY, _S_BAD, _S_CRMBAD, _S_FX = 1, 2, 3, 4, 5, 6  # stream ids for the RNG
_SOURCES = (("crm", "csv", CRM_HEADER), ("products", "csv", PRODUCTS_HEADER), ("orders", "ndjson", None),
            ("events", "ndjson", None), ("email_events", "ndjson", None), ("consent", "csv", CONSENT_HEADER),
            ("fx_rates", "csv", FX_HEADER))


@dataclass(frozen=True)
class DemoDataSummary:
    """Counts of *good* rows per source (bad rows are counted once, across all sources, in ``bad_rows``)."""

    customers: int
    crm_records: int
    orders: int
    order_items: int
    web_events: int
    email_events: int
    consent_events: int
    products: int
    bad_rows: int
    files: list[str]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed) % (1 << 64), spawn_key=keys))


def _folders(landing_dir: Path, customers: int, as_of: datetime, truth_dir: Path | None,
             events_per_file: int) -> tuple[Path, Path]:
    """Check the arguments; returns the landing and truth folders."""
    if customers < N_PERSONAS:
        raise ValueError(f"customers must be >= {N_PERSONAS} (the fixed personas), got {customers}")
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware (UTC), got naive {as_of.isoformat()}")
    if events_per_file < 1:
        raise ValueError(f"events_per_file must be >= 1, got {events_per_file}")
    landing_dir = Path(landing_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else landing_dir.parent / "demo_truth"
    lr, tr = landing_dir.resolve(), truth_dir.resolve()
    if tr == lr or lr in tr.parents:
        raise ValueError(f"truth_dir {truth_dir} must be outside the landing folder {landing_dir}")
    return landing_dir, truth_dir


def _open_sinks(landing_dir: Path, events_per_file: int) -> dict[str, Sink]:
    """One sink per source; the files a previous run wrote are removed first."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    for src, ext, _ in _SOURCES:
        for f in (landing_dir / src).glob(f"{src}-[0-9][0-9][0-9][0-9].{ext}"):
            f.unlink()
    return {src: Sink(landing_dir, src, ext, events_per_file, header) for src, ext, header in _SOURCES}


def _write_crm(sink: Sink, crm: dict, rng: np.random.Generator) -> None:
    """The CRM file, rendered in chunks to bound memory."""
    n_crm = len(crm["customer_ref"])
    bad = crm_bad_rows(rng, crm)
    for a in range(0, n_crm, _CRM_CHUNK):
        z = min(n_crm, a + _CRM_CHUNK)
        blob, ends = csv_lines(crm, CRM_HEADER, slice(a, z))
        last = z == n_crm
        sink.write(blob, ends, [(p - a, line, k) for p, line, k in bad if a <= p < z or (last and p == z)])


def _block_activity(rng: np.random.Generator, people: People, lo: int, hi: int, cat: Catalogue, as_of_s: int,
                    campaigns: np.ndarray) -> dict:
    """Everything the persons lo..hi-1 do; block 0 also carries the personas' hand-made activity."""
    block = ActivityBlock(rng, people, lo, hi, cat, as_of_s)
    orders, items = activity.orders(block)
    web = activity.web_events(block, orders, items)
    consent, window = mailing.consent(block)
    msgs, mev = mailing.email(block, window, campaigns)
    act = {"orders": orders, "items": items, "web": web, "consent": consent, "msgs": msgs, "mev": mev}
    if lo == 0:
        act = merge_personas(act, persona_activity(as_of_s, people.off, cat, campaigns))
    return act


def _write_orders(sink: Sink, act: dict, people: People, fx: ExchangeRates, cat: Catalogue,
                  rng: np.random.Generator, first: bool, order_no: int) -> tuple[int, int, int]:
    """Orders by time, numbered on from ``order_no``, in the customer's currency. Returns the last order
    number used, the orders and the items written."""
    o, it = act["orders"], act["items"]
    perm = np.argsort(o["t"], kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    o = take_rows(o, perm)
    it = {**it, "order": inv[it["order"]]}
    it = take_rows(it, np.argsort(it["order"], kind="stable"))
    pay_in_local_currency(o, it, people.country, fx)
    nos = order_no + 1 + np.arange(len(o["t"]))
    blob, ends = order_lines(o, it, nos, cat)
    allowed = o["ref"] > N_PERSONAS + 1  # never corrupt copies of the personas' rows
    bad, order_no = order_bad_rows(rng, blob, ends, allowed, first, order_no + len(o["t"]))
    sink.write(blob, ends, bad)
    return order_no, len(ends), len(it["order"])


def _write_web_events(sink: Sink, act: dict, block: int, cat: Catalogue, rng: np.random.Generator,
                      first: bool) -> None:
    w = take_rows(act["web"], np.argsort(act["web"]["t"], kind="stable"))
    ekey = block_keys(block, np.arange(len(w["t"]), dtype=np.uint64))
    blob, ends = web_lines(w, ekey, block_keys(block, w["session"]), cat)
    allowed = (w["ref"] == 0) | (w["ref"] > N_PERSONAS + 1)
    sink.write(blob, ends, web_bad_rows(rng, blob, ends, allowed, first, block))


def _write_email_events(sink: Sink, act: dict, block: int, camp_ids: list[bytes], cat: Catalogue,
                        rng: np.random.Generator, first: bool) -> None:
    ms, ev = act["msgs"], act["mev"]
    ev = take_rows(ev, np.argsort(ev["t"], kind="stable"))
    mkey = block_keys(block, np.arange(len(ms["t"]), dtype=np.uint64))
    ekey = block_keys(block, np.arange(len(ev["t"]), dtype=np.uint64))
    blob, ends = mail_lines(ev, ms, ekey, mkey, camp_ids, cat)
    allowed = ms["person"][ev["msg"]] >= N_PERSONAS
    sink.write(blob, ends, mail_bad_rows(rng, blob, ends, allowed, first, block))


def _write_consent(sink: Sink, act: dict, block: int, rng: np.random.Generator, first: bool) -> None:
    c = take_rows(act["consent"], np.argsort(act["consent"]["t"], kind="stable"))
    blob, ends = consent_lines(c)
    allowed = c["person"] >= N_PERSONAS
    sink.write(blob, ends, consent_bad_rows(rng, blob, ends, allowed, first, block))


def _write_truth(truth_dir: Path, truth: Truth, n: int, bad: list[tuple[str, str, int, str]]) -> None:
    def csv(name: str, columns: dict) -> None:
        pd.DataFrame(columns).to_csv(truth_dir / name, index=False, lineterminator="\n")

    csv("identities.csv", {"customer_ref": truth.customer_ref.astype(str), "person_id": truth.person_id.astype(str)})
    csv("identity_cases.csv", {"customer_ref": truth.customer_ref.astype(str), "case": truth.case.astype(str),
                               "corruptions": truth.corruptions,
                               "household_id": truth.household.astype(str)})
    csv("names.csv", {"person_id": person_id(np.arange(1, n + 1)).astype(str),
                      "first_name": np.strings.decode(truth.first_name, "utf-8"),
                      "last_name": np.strings.decode(truth.last_name, "utf-8")})
    pr = PERSONAS + [ANNA_DUPLICATE]
    csv("personas.csv", {"customer_ref": [f"CRM-{p[0]:06d}" for p in pr], "persona": [p[1] for p in pr]})
    pd.DataFrame(bad, columns=["source", "file", "line", "kind"]).to_csv(
        truth_dir / "bad_rows.csv", index=False, lineterminator="\n")


def write_demo_data(landing_dir: Path, customers: int, seed: int, as_of: datetime, truth_dir: Path | None = None,
                    events_per_file: int = 1_000_000) -> DemoDataSummary:
    """Write messy demo landing files for ``customers`` people; see docs/data-contracts.md.

    Same ``(customers, seed, as_of)`` -> byte-identical files. Every timestamp is before ``as_of``.
    Files named ``<source>-NNNN.<ext>`` in the seven source folders are replaced.
    """
    landing_dir, truth_dir = _folders(landing_dir, customers, as_of, truth_dir, events_per_file)
    as_of_s = int(np.floor(as_of.astimezone(timezone.utc).timestamp()))
    sinks = _open_sinks(landing_dir, events_per_file)
    truth_dir.mkdir(parents=True, exist_ok=True)
    n = int(customers)
    cat, product_columns = make_catalogue(_rng(seed, _S_PRODUCTS), min(5000, max(50, n // 100)))
    people, crm, truth = make_people(_rng(seed, _S_PEOPLE), n, as_of_s)
    campaigns, camp_ids = mailing.campaign_calendar(as_of_s)

    fx = draw_exchange_rates(_rng(seed, _S_FX), as_of_s)
    sinks["fx_rates"].write(*fx_lines(fx.day0, fx.rates))
    blob, ends = csv_lines(product_columns, PRODUCTS_HEADER)
    sinks["products"].write(blob, ends, product_bad_rows(_rng(seed, _S_BAD), blob, ends))
    _write_crm(sinks["crm"], crm, _rng(seed, _S_CRMBAD))
    del blob, ends, crm

    n_orders = n_items = order_no = 0
    for b, lo in enumerate(range(0, n, _BLOCK)):
        act = _block_activity(_rng(seed, _S_ACTIVITY, b), people, lo, min(n, lo + _BLOCK), cat, as_of_s, campaigns)
        rng, first = _rng(seed, _S_BAD, b + 1), b == 0  # the first block has at least one bad row per source
        order_no, k_orders, k_items = _write_orders(sinks["orders"], act, people, fx, cat, rng, first, order_no)
        n_orders, n_items = n_orders + k_orders, n_items + k_items
        _write_web_events(sinks["events"], act, b, cat, rng, first)
        _write_email_events(sinks["email_events"], act, b, camp_ids, cat, rng, first)
        _write_consent(sinks["consent"], act, b, rng, first)
    for s in sinks.values():
        s.close()

    bad = [r for s in sinks.values() for r in s.bad]
    _write_truth(truth_dir, truth, n, bad)
    return DemoDataSummary(
        customers=n, crm_records=sinks["crm"].good, orders=n_orders, order_items=n_items,
        web_events=sinks["events"].good, email_events=sinks["email_events"].good,
        consent_events=sinks["consent"].good, products=sinks["products"].good, bad_rows=len(bad),
        files=sorted(f for s in sinks.values() for f in s.files))
