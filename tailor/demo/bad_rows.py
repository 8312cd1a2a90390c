"""The deliberately bad rows of every source (about ``BAD_RATE`` of the rows): copies of good rows, corrupted
in the ways the data contract rejects, and the good-row positions they are inserted before.

A bad row never copies a persona's row, so the personas' activity stays exactly as designed. Python loops
only run over the bad rows.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from tailor.demo.catalogue import FIXED_PRODUCTS
from tailor.demo.encoding import b64_id, block_keys, hex16, mix, split_rows
from tailor.demo.lines import CRM_HEADER, csv_lines
from tailor.demo.personas import N_PERSONAS

BAD_RATE = 0.005
BAD_TIMESTAMPS = ["2025-02-30T10:00:00Z", "31/02/2025 25:61", "not a date", "yesterday", "2025-13-45T10:00:00+01:00",
                  ""]
# no such day, before 1900 or in the future (a system's "unknown"), not ISO 8601
BAD_BIRTH_DATES = ["1985-02-30", "0001-01-01", "9999-12-31", "31/02/1985", "1975-13-01"]
_CRM_KINDS = ["bad_timestamp", "missing_id", "bad_date_of_birth"]
_ORDER_KINDS = ["invalid_json", "missing_id", "bad_quantity", "negative_price", "bad_timestamp"]
_EVENT_KINDS = ["invalid_json", "missing_id", "unknown_event_type", "bad_timestamp"]

# (position: the good-row index the line goes before, the line, its kind)
BadRow = tuple[int, bytes, str]


def count_bad(rng: np.random.Generator, n_good: int, force_one: bool) -> int:
    k = int(rng.binomial(n_good, BAD_RATE)) if n_good else 0
    return max(k, 1) if force_one and n_good else k


def corrupt_json(rng: np.random.Generator, lines: list[bytes], kinds: list[str],
                 edit: Callable[[dict, str], None]) -> list[tuple[bytes, str]]:
    """Corrupt template JSON lines: ``invalid_json`` cuts the line short, every other kind is ``edit``ed."""
    out = []
    for line, kind in zip(lines, kinds):
        if kind == "invalid_json":
            cut = int(len(line) * (0.3 + 0.5 * rng.random()))
            out.append((line[:cut].rstrip(b"\n") + b"\n", kind))
            continue
        obj = json.loads(line)
        edit(obj, kind)
        out.append(((json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode(), kind))
    return out


def template_rows(rng: np.random.Generator, allowed: np.ndarray, k: int) -> np.ndarray:
    """Indexes of ``k`` good rows (among the allowed ones) that bad rows are copied from."""
    cand = np.flatnonzero(allowed)
    return cand[rng.integers(0, len(cand), k)] if k and len(cand) else np.zeros(0, dtype=np.int64)


def _placed(rng: np.random.Generator, n_good: int, corrupted: list[tuple[bytes, str]]) -> list[BadRow]:
    positions = np.sort(rng.integers(0, n_good + 1, len(corrupted)))
    return [(p, line, kind) for p, (line, kind) in zip(positions.tolist(), corrupted)]


def product_bad_rows(rng: np.random.Generator, blob: bytes, ends: np.ndarray) -> list[BadRow]:
    """Copies of random (never the fixed) products with a negative or unparsable price or no id."""
    n_products = len(ends)
    kb = max(1, int(round(BAD_RATE * n_products)))
    bad = []
    for j, line in enumerate(split_rows(blob, ends, rng.integers(len(FIXED_PRODUCTS), n_products, kb))):
        f = line.rstrip(b"\n").split(b",")
        kind = ["negative_price", "bad_price", "missing_id"][j % 3]
        f[0] = b"" if kind == "missing_id" else b"P" + str(n_products + 1 + j).zfill(4).encode()
        if kind == "negative_price":
            f[4] = b"-" + f[4]
        elif kind == "bad_price":
            f[4] = [b"abc", b"N/A"][(j // 3) % 2]
        bad.append((int(rng.integers(0, n_products + 1)), b",".join(f) + b"\n", kind))
    return bad


def crm_bad_rows(rng: np.random.Generator, crm: dict) -> list[BadRow]:
    """Copies of random CRM records without a ref, or with a new ref and an unparsable ``created_at`` or an
    impossible ``date_of_birth``."""
    n_crm = len(crm["customer_ref"])
    kb = max(1, int(round(BAD_RATE * n_crm)))
    tidx = rng.integers(N_PERSONAS + 1, n_crm, kb) if n_crm > N_PERSONAS + 1 else np.full(kb, n_crm - 1)
    blob, ends = csv_lines(crm, CRM_HEADER, tidx)
    bad = []
    next_ref = n_crm + 1  # refs of the good records end at n_crm
    header = CRM_HEADER.split(",")
    created, dob = header.index("created_at"), header.index("date_of_birth")
    for j, line in enumerate(split_rows(blob, ends, np.arange(kb))):
        f = line.rstrip(b"\n").split(b",")
        kind = _CRM_KINDS[j % 3]
        if kind == "missing_id":
            f[0] = b""
        else:
            f[0] = b"CRM-" + str(next_ref).zfill(6).encode()
            next_ref += 1
            if kind == "bad_timestamp":
                f[created] = BAD_TIMESTAMPS[j % 5].encode()
            else:
                f[dob] = BAD_BIRTH_DATES[(j // 3) % len(BAD_BIRTH_DATES)].encode()
        bad.append((int(rng.integers(N_PERSONAS + 1, n_crm + 1)), b",".join(f) + b"\n", kind))
    return bad


def order_bad_rows(rng: np.random.Generator, blob: bytes, ends: np.ndarray, allowed: np.ndarray, force_one: bool,
                   last_order_no: int) -> tuple[list[BadRow], int]:
    """Bad copies of allowed orders and the last order number used: the copies that keep an id get new
    numbers after ``last_order_no``."""
    kb = count_bad(rng, int(allowed.sum()), force_one)
    kinds = [_ORDER_KINDS[i % 5] for i in rng.permutation(kb)]
    templates = split_rows(blob, ends, template_rows(rng, allowed, kb))
    order_no = last_order_no

    def edit(obj: dict, kind: str) -> None:
        nonlocal order_no
        if kind == "missing_id":
            obj["order_id"] = None
            return
        order_no += 1
        obj["order_id"] = f"ORD-{order_no:08d}"
        if kind == "bad_quantity":
            obj["items"][0]["quantity"] = "abc"
        elif kind == "negative_price":
            obj["items"][0]["unit_price"] = -abs(obj["items"][0]["unit_price"]) or -9.99
        elif kind == "bad_timestamp":
            obj["ordered_at"] = BAD_TIMESTAMPS[order_no % 5]

    corrupted = corrupt_json(rng, templates, kinds, edit)
    return _placed(rng, len(ends), corrupted), order_no


def web_bad_rows(rng: np.random.Generator, blob: bytes, ends: np.ndarray, allowed: np.ndarray, force_one: bool,
                 block: int) -> list[BadRow]:
    """Bad copies of allowed web events (each with a new event id unless it has none)."""
    kb = count_bad(rng, int(allowed.sum()), force_one)
    kinds = [_EVENT_KINDS[i % 4] for i in rng.permutation(kb)]
    templates = split_rows(blob, ends, template_rows(rng, allowed, kb))
    new_ids = hex16(mix(block_keys(block, np.uint64(1 << 39) | np.arange(kb, dtype=np.uint64)), 11))
    done = 0

    def edit(obj: dict, kind: str) -> None:
        nonlocal done
        obj["event_id"] = None if kind == "missing_id" else "ev_" + new_ids[done].decode()
        done += 1
        if kind == "unknown_event_type":
            obj["event_type"] = ["wishlist_add", "scroll", "purchase", "Page View"][done % 4]
        elif kind == "bad_timestamp":
            obj["occurred_at"] = BAD_TIMESTAMPS[done % 6]

    return _placed(rng, len(ends), corrupt_json(rng, templates, kinds, edit))


def mail_bad_rows(rng: np.random.Generator, blob: bytes, ends: np.ndarray, allowed: np.ndarray, force_one: bool,
                  block: int) -> list[BadRow]:
    """Bad copies of allowed e-mail events (each with a new ``sg_event_id`` unless it has none)."""
    kb = count_bad(rng, int(allowed.sum()), force_one)
    kinds = [_EVENT_KINDS[i % 4] for i in rng.permutation(kb)]
    templates = split_rows(blob, ends, template_rows(rng, allowed, kb))
    new_ids = b64_id(block_keys(block, np.uint64(1 << 39) | np.arange(kb, dtype=np.uint64)), 51)
    done = 0

    def edit(obj: dict, kind: str) -> None:
        nonlocal done
        obj["sg_event_id"] = None if kind == "missing_id" else new_ids[done].decode()
        done += 1
        if kind == "unknown_event_type":
            obj["event"] = ["bounced_maybe", "blocked", "Open", "resubscribe"][done % 4]
        elif kind == "bad_timestamp":
            obj["timestamp"] = ["yesterday", "2025-13-01", None, "17O0000000"][done % 4]

    return _placed(rng, len(ends), corrupt_json(rng, templates, kinds, edit))


def consent_bad_rows(rng: np.random.Generator, blob: bytes, ends: np.ndarray, allowed: np.ndarray, force_one: bool,
                     block: int) -> list[BadRow]:
    """Bad copies of allowed consent rows: an unparsable time, an unknown status or no e-mail."""
    kb = count_bad(rng, int(allowed.sum()), force_one)
    bad = []
    for j, line in enumerate(split_rows(blob, ends, template_rows(rng, allowed, kb))):
        f = line.rstrip(b"\n").split(b",")
        kind = ["bad_timestamp", "unknown_status", "missing_id"][(j + block) % 3]
        if kind == "bad_timestamp":
            f[3] = BAD_TIMESTAMPS[j % 5].encode()
        elif kind == "unknown_status":
            f[2] = [b"pending", b"yes", b"opt-in"][j % 3]
        else:
            f[0] = b""
        bad.append((int(rng.integers(0, len(ends) + 1)), b",".join(f) + b"\n", kind))
    return bad
