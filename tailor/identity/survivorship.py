"""Survivorship: which of a master customer's records gives each profile field its value, and why.

``SURVIVORSHIP`` holds one :class:`Rule` per field, an ordered list of criteria; :func:`survive` applies every
rule to all customers at once (one sort per field, no Python loop per customer). Most criteria look at one
record at a time (its source system, its age, its length). The spelling criteria of the names look across the
customer's records: of two spellings of one name ("Michael" and the shop record's "Michhael"), the one the
person's own e-mail address, more of their records or far more customers of the CRM carry wins, before the
source system is asked. Between different names ("Müller" and, after the wedding, "Schmidt") they say nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein
from rapidfuzz.process import cpdist

from tailor.identity.normalize import name_key

# Which CRM system is trusted most for the values a person typed about themselves:
#   shop        the customer typed it at checkout, and delivery and invoices depend on it being right;
#   pos         typed by staff at the till, face to face, but by someone else (spelling of names suffers);
#   import      legacy bulk loads: once right, but old and converted at least once;
#   newsletter  a signup form that asks for little and checks nothing but the e-mail.
# A record without a (known) source_system ranks after all of them.
SOURCE_PRIORITY = ("shop", "pos", "import", "newsletter")

# Two values of one customer are spellings of one name when their name keys (accents folded, lower case,
# letters only) are at most this many Damerau-Levenshtein edits apart: a dropped, doubled, swapped or wrong
# letter. "Kathi" and "Katharina", "Müller" and "Schmidt" are different names.
SPELLING_MAX_EDITS = 1

# A spelling that this many times as many customers of the CRM carry beats its neighbour. A typo is hundreds of
# times rarer than its name; real names one typo apart are closer than 5 in the demo (Meier/Meijer 3.4,
# Baker/Bakker 2.6, Matteo/Mateo 1.8).
SPELLING_COMMON_RATIO = 5.0

SPELLING_CRITERIA = ("email_spelling", "agreed_spelling", "common_spelling")

# E-mail addresses are ASCII: "Müller" is written "mueller" (or "muller") in them.
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_LETTER_RUNS = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Rule:
    """How the winning value of a field is chosen among a customer's records that have one.

    ``criteria`` are applied in order, each a tie-break for the one before; a final tie-break on the lowest
    CRM ref makes the choice deterministic. Criteria: ``source_priority`` (SOURCE_PRIORITY order), ``recency``
    (latest ``updated_at`` first), ``completeness`` (longest value first), ``no_typo`` (an e-mail without a
    suspected domain typo first), ``earliest`` / ``latest`` (smallest / largest value: timestamps), and for
    names the spelling evidence: a value loses to a spelling of the same name (``SPELLING_MAX_EDITS``) of the
    same customer that is in one of the customer's e-mail local parts while it is not (``email_spelling``),
    that more of the customer's records carry (``agreed_spelling``), or that at least
    ``SPELLING_COMMON_RATIO`` times as many customers of the CRM carry (``common_spelling``)."""

    criteria: tuple[str, ...]
    why: str


# Survivorship: for each profile field, how the winning value is chosen among a customer's records.
SURVIVORSHIP: dict[str, Rule] = {
    "email": Rule(("no_typo", "recency", "source_priority"),
                  "people change address: the newest usable one reaches them; one without a typo beats all"),
    "first_name": Rule((*SPELLING_CRITERIA, "source_priority", "completeness", "recency"),
                       "the spelling the person's records support (their own e-mail address, agreeing records, a "
                       "far more common spelling beats its typo), then the most trusted system"),
    "last_name": Rule((*SPELLING_CRITERIA, "source_priority", "recency", "completeness"),
                      "the best-supported spelling; between different names the trusted system, then the newest, "
                      "because last names change (marriage)"),
    "phone": Rule(("recency", "source_priority"), "numbers change: the newest valid E.164 number"),
    "country": Rule(("recency", "source_priority"), "people move: the newest address"),
    "city": Rule(("recency", "source_priority"), "people move: the newest address"),
    "postcode": Rule(("recency", "source_priority"), "people move: the newest address"),
    "timezone": Rule(("recency", "source_priority"), "follows the newest address (else the country's default)"),
    "created_at": Rule(("earliest",), "the customer exists since their first record"),
    "updated_at": Rule(("latest",), "the profile changed when any record did"),
}


def survive(records: pd.DataFrame, rules: dict[str, Rule] = SURVIVORSHIP) -> pd.DataFrame:
    """One row per ``customer_id`` with the winning value of every field in ``rules``.

    ``records`` has ``customer_id``, ``ref_rank`` (lower = lower CRM ref), ``updated_at``, ``source_rank``
    (index in SOURCE_PRIORITY, len(SOURCE_PRIORITY) when unknown), the fields, ``email_typo`` (bool) when
    ``email`` is a field, and ``email`` (usable addresses) for the ``email_spelling`` criterion of the names.
    Missing values never win."""
    codes, customers = pd.factorize(records["customer_id"], sort=True)
    customers = pd.Index(customers, name="customer_id")
    out = pd.DataFrame(index=customers)
    updated = _ns(records["updated_at"])
    recency = np.where(records["updated_at"].isna().to_numpy(), np.iinfo(np.int64).max, -updated)
    for field, rule in rules.items():
        has = records[field].notna().to_numpy()
        cand = records[has]
        cand_codes = codes[has]
        uses_spelling = bool(set(SPELLING_CRITERIA) & set(rule.criteria))
        spelling = _spelling_losses(records, field, has, codes) if uses_spelling else {}
        keys: list[np.ndarray] = []
        for criterion in rule.criteria:
            if criterion in spelling:
                keys.append(spelling[criterion])
            elif criterion == "source_priority":
                keys.append(cand["source_rank"].to_numpy())
            elif criterion == "recency":
                keys.append(recency[has])
            elif criterion == "completeness":
                keys.append(-cand[field].astype(str).str.len().to_numpy())
            elif criterion == "no_typo":
                keys.append(cand["email_typo"].to_numpy(dtype=bool).astype(np.int8))
            elif criterion == "earliest":
                keys.append(_ns(cand[field]))
            elif criterion == "latest":
                keys.append(-_ns(cand[field]))
            else:
                raise ValueError(f"SURVIVORSHIP[{field!r}]: unknown criterion {criterion!r}")
        # np.lexsort sorts by the LAST key first: customer, then the criteria in order, then the lowest ref
        order = np.lexsort([cand["ref_rank"].to_numpy(), *reversed(keys), cand_codes])
        first = np.ones(len(order), dtype=bool)
        first[1:] = cand_codes[order][1:] != cand_codes[order][:-1]
        won = order[first]
        column = pd.Series(None, index=customers, dtype=object)
        column.iloc[cand_codes[won]] = cand[field].to_numpy()[won]
        out[field] = column
    return out


def _spelling_losses(records: pd.DataFrame, field: str, has: np.ndarray, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per spelling criterion, for every candidate (``records[has]``): 1 when a spelling of the same name of the
    same customer has the stronger evidence, else 0.

    Works on the distinct (customer, value) pairs; the pairwise work (edit distances, e-mail local parts) is
    done only for the customers with two or more distinct values (a few per cent)."""
    values = records.loc[has, field].astype(str).to_numpy()
    value_codes, distinct_values = pd.factorize(values)
    width = max(len(distinct_values), 1)
    pair_ids, pair_of_candidate, records_per_pair = np.unique(
        codes[has].astype(np.int64) * width + value_codes, return_inverse=True, return_counts=True)
    pair_customer, pair_value = pair_ids // width, pair_ids % width  # sorted by customer
    customers_per_value = np.bincount(pair_value, minlength=len(distinct_values))
    loser, winner = _neighbour_spellings(pair_customer, pair_value, distinct_values)
    losses = {c: np.zeros(len(values), dtype=np.int8) for c in SPELLING_CRITERIA}
    if len(loser) == 0:
        return losses
    involved = np.unique(np.r_[loser, winner])
    in_email = _in_email_local_parts(records, codes, pair_customer, distinct_values[pair_value], involved)
    lost = {
        "email_spelling": in_email[winner] & ~in_email[loser],
        "agreed_spelling": records_per_pair[winner] > records_per_pair[loser],
        "common_spelling": customers_per_value[pair_value[winner]]
        >= SPELLING_COMMON_RATIO * customers_per_value[pair_value[loser]],
    }
    for criterion, pair_lost in lost.items():
        per_pair = np.zeros(len(pair_ids), dtype=np.int8)
        per_pair[loser[pair_lost]] = 1
        losses[criterion] = per_pair[pair_of_candidate]
    return losses


def _neighbour_spellings(pair_customer: np.ndarray, pair_value: np.ndarray,
                         distinct_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (a, b) of (customer, value) pairs (indexes, sorted by customer) of one customer whose
    values are two spellings of one name, as two arrays: a may lose to b."""
    same = pair_customer[1:] == pair_customer[:-1]
    contested = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
    if len(contested) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame({"a": contested, "customer": pair_customer[contested]})
    pairs = frame.merge(frame.rename(columns={"a": "b"}), on="customer")
    pairs = pairs[pairs["a"] != pairs["b"]]
    keys = np.full(len(distinct_values), "", dtype=object)
    shown = np.unique(pair_value[contested])
    keys[shown] = [name_key(v) or "" for v in distinct_values[shown]]
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    key_a, key_b = keys[pair_value[a]], keys[pair_value[b]]
    edits = cpdist(key_a, key_b, scorer=DamerauLevenshtein.distance, workers=1) if len(a) else np.zeros(0)
    close = (edits <= SPELLING_MAX_EDITS) & (key_a != "") & (key_b != "")
    return a[close], b[close]


def _in_email_local_parts(records: pd.DataFrame, codes: np.ndarray, pair_customer: np.ndarray,
                          pair_values: np.ndarray, which: np.ndarray) -> np.ndarray:
    """For the (customer, value) pairs ``which``: does the value, folded (name key, with ä/ö/ü also as ae/oe/ue),
    appear in one of the customer's e-mail local parts as a run of letters, or (3 letters or more) at the start
    or end of one ("anna.mueller", "annamueller77", "jsmith")?"""
    found = np.zeros(len(pair_customer), dtype=bool)
    if "email" not in records.columns:
        return found
    rows = np.flatnonzero(records["email"].notna().to_numpy() & np.isin(codes, pair_customer[which]))
    runs: dict[int, set[str]] = {}
    for customer, email in zip(codes[rows].tolist(), records["email"].to_numpy()[rows]):
        local = unicodedata.normalize("NFKD", str(email).split("@")[0].lower()).encode("ascii", "ignore").decode()
        runs.setdefault(customer, set()).update(_LETTER_RUNS.findall(local))
    for i in which.tolist():
        letters = runs.get(int(pair_customer[i]))
        if not letters:
            continue
        value = str(pair_values[i])
        for key in {name_key(value), name_key(value.translate(_UMLAUTS))} - {None}:
            if key in letters or (len(key) >= 3 and any(r.startswith(key) or r.endswith(key) for r in letters)):
                found[i] = True
                break
    return found


def _ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds (NaT as the smallest int64)."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]").view(np.int64)
