"""TODO docstring (split from tailor/profiles.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Which CRM system is trusted most for the values a person typed about themselves:
#   shop        the customer typed it at checkout, and delivery and invoices depend on it being right;
#   pos         typed by staff at the till, face to face, but by someone else (spelling of names suffers);
#   import      legacy bulk loads: once right, but old and converted at least once;
#   newsletter  a signup form that asks for little and checks nothing but the e-mail.
# A record without a (known) source_system ranks after all of them.
SOURCE_PRIORITY = ("shop", "pos", "import", "newsletter")


@dataclass(frozen=True)
class Rule:
    """How the winning value of a field is chosen among a customer's records that have one.

    ``criteria`` are applied in order, each a tie-break for the one before; a final tie-break on the lowest
    CRM ref makes the choice deterministic. Criteria: ``source_priority`` (SOURCE_PRIORITY order), ``recency``
    (latest ``updated_at`` first), ``completeness`` (longest value first), ``no_typo`` (an e-mail without a
    suspected domain typo first), ``earliest`` / ``latest`` (smallest / largest value: timestamps)."""

    criteria: tuple[str, ...]
    why: str


# Survivorship: for each profile field, how the winning value is chosen among a customer's records.
SURVIVORSHIP: dict[str, Rule] = {
    "email": Rule(("no_typo", "recency", "source_priority"),
                  "people change address: the newest usable one reaches them; one without a typo beats all"),
    "first_name": Rule(("source_priority", "completeness", "recency"),
                       "typed by the person in the most trusted system; a typo drops letters more often than it adds"),
    "last_name": Rule(("source_priority", "recency", "completeness"),
                      "trusted system first; then the newest, because last names change (marriage)"),
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
    (index in SOURCE_PRIORITY, len(SOURCE_PRIORITY) when unknown), the fields, and ``email_typo`` (bool)
    when ``email`` is a field. Missing values never win."""
    codes, customers = pd.factorize(records["customer_id"], sort=True)
    customers = pd.Index(customers, name="customer_id")
    out = pd.DataFrame(index=customers)
    updated = _ns(records["updated_at"])
    recency = np.where(records["updated_at"].isna().to_numpy(), np.iinfo(np.int64).max, -updated)
    for field, rule in rules.items():
        has = records[field].notna().to_numpy()
        cand = records[has]
        cand_codes = codes[has]
        keys: list[np.ndarray] = []
        for criterion in rule.criteria:
            if criterion == "source_priority":
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


def _ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds (NaT as the smallest int64)."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]").view(np.int64)
