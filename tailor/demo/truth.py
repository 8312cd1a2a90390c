"""The demo's ground truth (``demo_truth/``, written by tailor.demo.generator) and how a linkage scores against
it: pairwise precision and recall overall, per corruption type, per number of records a person has, and how
often different people of one household were merged.

A *linkage* is a table ``source_record_id, customer_id`` (``customer_identity_links``). A pair of records is
*true* when both belong to one person and *predicted* when both got one customer. For a group of records (those
carrying a corruption, say), the group's true pairs are the true pairs with at least one record of the group,
its recall the share of them predicted, its precision the share of its predicted pairs that are true. A pair
of two corrupted duplicates counts for the corruptions of both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tailor.demo.vocabulary import CORRUPTIONS

DUPLICATE_CASES = ("same_email_duplicate", "changed_email_duplicate", "no_email_duplicate")
UNCORRUPTED = "(no corruption)"  # duplicates that differ only by case, blanks or the way the phone is written
NO_SHARED_KEY = "(no shared e-mail or phone)"  # duplicates sharing neither with another record of the person


def read_truth(truth_dir: Path) -> pd.DataFrame:
    """customer_ref, person_id, case, corruptions (``;``-joined, "" for none), household_id ("" for none), in
    CRM file order; older truth folders without the last two columns get them empty."""
    truth_dir = Path(truth_dir)
    ident = pd.read_csv(truth_dir / "identities.csv", dtype=str)
    cases = pd.read_csv(truth_dir / "identity_cases.csv", dtype=str, keep_default_na=False)
    for column in ("corruptions", "household_id"):
        if column not in cases:
            cases[column] = ""
    return ident.merge(cases, on="customer_ref", how="left", validate="one_to_one")


def _pairs(n: np.ndarray) -> np.ndarray:
    return n * (n - 1) // 2


def _touching(group: np.ndarray, n_groups: int, mask: np.ndarray) -> int:
    """Pairs within groups with at least one member in ``mask``: C(n, 2) - C(n - k, 2) per group."""
    n = np.bincount(group, minlength=n_groups)
    k = np.bincount(group, weights=mask, minlength=n_groups).astype(np.int64)
    return int((_pairs(n) - _pairs(n - k)).sum())


def _shares_no_key(m: pd.DataFrame, crm: pd.DataFrame) -> np.ndarray:
    """Per record of ``m``: it shares neither its e-mail (trimmed, lower case) nor its phone (last 8 digits)
    with another record of its person."""
    c = crm.set_index("customer_ref").reindex(m["customer_ref"])
    email = c["email"].fillna("").str.strip().str.lower().to_numpy()
    phone = c["phone"].fillna("").str.replace(r"\D", "", regex=True).str[-8:].to_numpy()
    shared = np.zeros(len(m), dtype=bool)
    for key in (email, phone):
        frame = pd.DataFrame({"p": m["person_id"].to_numpy(), "k": key})
        count = frame.groupby(["p", "k"])["k"].transform("size").to_numpy()
        shared |= (key != "") & (count > 1)
    return ~shared


def quality_by_corruption(links: pd.DataFrame, truth: pd.DataFrame, crm: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per group of records — ``all``, each corruption tag (``first_name:nickname``), each kind of corruption on
    any field (``*:missing``), duplicates with no corruption, duplicates sharing no e-mail or phone with another
    record of their person (needs ``crm``: customer_ref, email, phone), persons with 2, 3, 4, 5 records —
    ``records``, ``true_pairs``, ``found_pairs``, ``recall``, ``predicted_pairs``, ``precision``.

    ``truth``: ``read_truth``. Groups without a true pair are left out."""
    m = links[["source_record_id", "customer_id"]].merge(
        truth, left_on="source_record_id", right_on="customer_ref", how="inner")
    if len(m) != len(links) or len(m) != len(truth):
        raise ValueError(f"quality_by_corruption: {len(links)} links and {len(truth)} truth rows share {len(m)} refs")
    person = pd.factorize(m["person_id"])[0]
    customer = pd.factorize(m["customer_id"])[0]
    both = pd.factorize(person.astype(np.int64) * (customer.max() + 1) + customer)[0]
    n_p, n_c, n_b = person.max() + 1, customer.max() + 1, both.max() + 1
    tags = m["corruptions"].fillna("").to_numpy(dtype=str)
    is_dup = m["case"].isin(DUPLICATE_CASES).to_numpy()
    size = np.bincount(person)[person]
    groups: dict[str, np.ndarray] = {"all": np.ones(len(m), dtype=bool)}
    patterns, inverse = np.unique(tags, return_inverse=True)  # few distinct tag lists: test each once
    sets = [set(p.split(";")) for p in patterns]
    has = {t: np.array([t in s for s in sets], dtype=bool)[inverse.reshape(-1)] for t in CORRUPTIONS}
    groups.update(has)
    for kind in sorted({t.split(":")[1] for t in CORRUPTIONS}):
        groups[f"*:{kind}"] = np.any([v for t, v in has.items() if t.endswith(f":{kind}")], axis=0)
    groups[UNCORRUPTED] = is_dup & (tags == "")
    if crm is not None:
        groups[NO_SHARED_KEY] = is_dup & _shares_no_key(m, crm)
    for k in range(2, 6):
        groups[f"persons with {k} records"] = size == k
    rows = []
    for name, mask in groups.items():
        true = _touching(person, n_p, mask)
        if true == 0 and name != "all":
            continue
        found, predicted = _touching(both, n_b, mask), _touching(customer, n_c, mask)
        rows.append({"group": name, "records": int(mask.sum()), "true_pairs": true, "found_pairs": found,
                     "recall": found / true if true else 1.0, "predicted_pairs": predicted,
                     "precision": found / predicted if predicted else 1.0})
    return pd.DataFrame(rows).set_index("group")


def household_merges(links: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per kind of household (``family_member``: family members, ``twin``: twins) the pairs of different
    people living together (their duplicates included) and how many of those pairs were merged into one
    customer (false merges a matcher must avoid)."""
    m = links[["source_record_id", "customer_id"]].merge(
        truth, left_on="source_record_id", right_on="customer_ref", how="inner")
    m = m[m["household_id"].fillna("") != ""]
    kind = m.groupby("household_id")["case"].transform(lambda c: "twin" if (c == "twin").any() else "family_member")
    out = []
    for name in ("family_member", "twin"):
        h = m[kind == name]
        all_pairs = _pairs(h.groupby("household_id").size().to_numpy()).sum()
        same_person = _pairs(h.groupby(["household_id", "person_id"]).size().to_numpy()).sum()
        merged = _pairs(h.groupby(["household_id", "customer_id"]).size().to_numpy()).sum()
        merged_same = _pairs(h.groupby(["household_id", "customer_id", "person_id"]).size().to_numpy()).sum()
        out.append({"household": name, "households": int(h["household_id"].nunique()),
                    "pairs_of_different_people": int(all_pairs - same_person),
                    "merged": int(merged - merged_same)})
    return pd.DataFrame(out).set_index("household")
