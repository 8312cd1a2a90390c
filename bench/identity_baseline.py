"""The identity rules before Splink (issue 12), kept unchanged for one purpose: benchmarks measure the previous
method beside the current one in the same run (bench/). The pipeline does not use this module; the current rules
are in :mod:`tailor.identity.resolve`.

Exact e-mail and exact phone as today, plus ``fuzzy_name_address``: same country and postcode, compatible first and
last names, no conflicting phone, and a hand-built Fellegi-Sunter weight (term frequencies per country, a prior of
``duplicates_per_record`` other records per person, competing candidates sharing the odds) of at least
``fuzzy_min_match_probability``. See docs/identity.md of the commit before issue 12 for the derivation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.process import cpdist

from tailor.identity.matching_view import normalize_records
from tailor.identity.normalize import (
    map_distinct,
)


@dataclass(frozen=True)
class Thresholds:
    """Every number identity resolution uses, in one place (docs/identity.md explains how they were chosen)."""

    # Two names are *compatible* when they are at most ``name_max_edits`` typing errors apart (Damerau-
    # Levenshtein: a dropped, doubled, swapped or wrong letter) or at least ``name_min_similarity`` alike by
    # Jaro-Winkler (two slips in a long name). Different names of one family ("Lena"/"Leon", "Oliver"/"Olivia",
    # "Anna"/"Hannah") are two or more edits apart and below 0.92.
    name_max_edits: int = 1
    name_min_similarity: float = 0.92
    max_records_per_key: int = 20  # an e-mail/phone on more records than this is not a person's key
    max_first_names_per_key: int = 3  # ... nor one used by more distinct first names than this
    max_block_size: int = 1_000  # a fuzzy block larger than this is skipped (counted in the stats)
    # Fellegi-Sunter weighting of a name + address candidate (docs/identity.md "Evidence weighting"):
    # the prior that another record in the same postcode is the same person is
    # ``duplicates_per_record / (records in the postcode - 1)``; agreement on a name multiplies the odds by
    # 1 / u, u = the share of the country's *other* records that carry that name (term frequency), smoothed
    # towards ``name_prior_share`` with the weight of ``name_prior_records`` records.
    duplicates_per_record: float = 0.1  # other records per person in a CRM (the exact rules alone find 0.09 in the demo)
    name_prior_share: float = 0.01  # before a country has records: a name is carried by 1 % of people ...
    name_prior_records: float = 100.0  # ... a belief worth 100 records
    fuzzy_min_match_probability: float = 0.8  # link only when P(same person | evidence) is at least this (odds 4:1)


THRESHOLDS = Thresholds()

RULES = ("single_record", "exact_email", "exact_phone", "fuzzy_name_address")
_PRIORITY = {"exact_email": 0, "exact_phone": 1, "fuzzy_name_address": 2}  # a record's strongest link first

#: The counts of ``stats`` (:func:`resolve_identities_baseline`) that show what the guards held back: per exact rule the
#: keys rejected and the pairs whose first names disagree; for the fuzzy rule its funnel from candidate pairs to
#: the links it made (the phone-conflict count only when there were pairs to weigh).
GUARD_STATS = (
    *(f"{rule}_{count}" for rule in ("exact_email", "exact_phone")
      for count in ("keys_rejected", "pairs_name_mismatch")),
    "fuzzy_candidate_pairs", "fuzzy_blocks_skipped", "fuzzy_compatible_pairs", "fuzzy_pairs_phone_conflict_in_customer",
    "fuzzy_pairs_too_weak", "fuzzy_name_address_links",
)


class CustomerIdentityLinksSchema(pa.DataFrameModel):
    source: Series[str]
    source_record_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str] = pa.Field(str_startswith="cus_")
    rule: Series[str] = pa.Field(isin=list(RULES))
    score: Series[float] = pa.Field(ge=0, le=1)
    matched_with: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True


def customer_id_for(customer_ref: str) -> str:
    """A stable master id from the lowest source reference of the merged records."""
    return "cus_" + re.sub(r"[^0-9a-z]+", "", customer_ref.lower().removeprefix("crm-"))


def _jw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0)
    return cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=1).astype(np.float64)


def _compatible(a: np.ndarray, b: np.ndarray, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(compatible, Jaro-Winkler similarity) of paired name keys (no missing values)."""
    sim = _jw(a, b)
    if len(a) == 0:
        return np.zeros(0, dtype=bool), sim
    edits = cpdist(a, b, scorer=DamerauLevenshtein.distance, workers=1)
    return (edits <= t.name_max_edits) | (sim >= t.name_min_similarity), sim


def _pairs_within(keys: pd.Series, max_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All pairs (i < j, positional) of rows with equal non-null ``keys``; groups above ``max_size`` skipped."""
    k = keys[keys.notna()]
    codes, _ = pd.factorize(k)
    pos = np.flatnonzero(keys.notna().to_numpy())
    sizes = np.bincount(codes)
    big = sizes > max_size
    keep = (sizes[codes] >= 2) & ~big[codes]
    frame = pd.DataFrame({"g": codes[keep], "i": pos[keep]})
    m = frame.merge(frame, on="g")
    m = m[m["i_x"] < m["i_y"]]
    return m["i_x"].to_numpy(), m["i_y"].to_numpy(), int(big.sum())


def _usable_key(key: pd.Series, first: pd.Series, t: Thresholds) -> pd.Series:
    """The key where it identifies at most a few people (by count and by distinct first names), else None."""
    frame = pd.DataFrame({"k": key, "f": first})
    present = frame["k"].notna()
    g = frame[present].groupby("k")
    records = g["k"].transform("size")
    names = g["f"].transform("nunique")
    ok = (records <= t.max_records_per_key) & (names <= t.max_first_names_per_key)
    out = pd.Series(None, index=key.index, dtype=object)
    out.loc[ok[ok].index] = frame.loc[ok[ok].index, "k"]
    return out


def _exact_links(norm: pd.DataFrame, key: pd.Series, rule: str, t: Thresholds, stats: dict) -> pd.DataFrame:
    usable = _usable_key(key, norm["first_key"], t)
    stats[f"{rule}_keys_rejected"] = int(key.notna().sum() - usable.notna().sum())
    i, j, _ = _pairs_within(usable, t.max_records_per_key)
    f = norm["first_key"].to_numpy(dtype=object)
    fi, fj = f[i], f[j]
    missing = pd.isna(fi) | pd.isna(fj)
    sim = np.ones(len(i))
    ok = np.ones(len(i), dtype=bool)
    both = ~missing
    ok[both], sim[both] = _compatible(fi[both], fj[both], t)
    stats[f"{rule}_pairs_name_mismatch"] = int((~ok).sum())
    return pd.DataFrame({"i": i[ok], "j": j[ok], "rule": rule, "score": np.round(sim[ok], 4)})


def _name_u(key: np.ndarray, count: np.ndarray, i: np.ndarray, j: np.ndarray, country_size: np.ndarray,
            t: Thresholds) -> np.ndarray:
    """u of paired names: how likely a *different* person of the country carries the pair's name.

    The share of the country's other records with that name; when the two spellings differ, of the rarer
    one (a different person would have to carry exactly that spelling: "Maxmilian" is rare evidence, while
    a typo'd record's namesakes are handled per customer in :func:`_fuzzy_links`), smoothed towards
    ``name_prior_share`` with the weight of ``name_prior_records`` records, so a country with a handful of
    records does not make every name look common."""
    same = key[i] == key[j]
    others = np.maximum(np.where(same, count[i] - 2, np.minimum(count[i], count[j]) - 1), 0)
    population = np.maximum(country_size[i] - 2, 0)
    return (others + t.name_prior_records * t.name_prior_share) / (population + t.name_prior_records)


def _fuzzy_links(norm: pd.DataFrame, exact_cluster: np.ndarray, t: Thresholds, stats: dict) -> pd.DataFrame:
    """Name + address links between records that the exact keys left in different clusters (``exact_cluster``:
    the cluster of each record by the exact links), weighted as below."""
    base = norm["country_iso"].str.cat(norm["postcode_key"], sep="|")
    parts = []
    skipped = 0
    # two blocking passes: a typo in one name still leaves the other name's initial to block on
    for initial in (norm["last_key"].str[:1], norm["first_key"].str[:1]):
        i, j, big = _pairs_within(base.str.cat(initial, sep="|"), t.max_block_size)
        skipped += big
        parts.append(np.stack([i, j], axis=1))
    pairs = np.unique(np.concatenate(parts), axis=0) if parts else np.zeros((0, 2), dtype=np.int64)
    i, j = pairs[:, 0], pairs[:, 1]
    stats["fuzzy_candidate_pairs"] = int(len(i))
    stats["fuzzy_blocks_skipped"] = skipped
    first = norm["first_key"].to_numpy(dtype=object)
    last = norm["last_key"].to_numpy(dtype=object)
    ok = ~(pd.isna(first[i]) | pd.isna(first[j]) | pd.isna(last[i]) | pd.isna(last[j]))
    i, j = i[ok], j[ok]
    phone = norm["phone_e164"].to_numpy(dtype=object)
    conflict = ~(pd.isna(phone[i]) | pd.isna(phone[j])) & (phone[i] != phone[j])
    city = norm["city_key"].to_numpy(dtype=object)
    city_conflict = ~(pd.isna(city[i]) | pd.isna(city[j])) & (city[i] != city[j])
    i, j = i[~conflict & ~city_conflict], j[~conflict & ~city_conflict]
    keep, _ = _compatible(first[i], first[j], t)
    i, j = i[keep], j[keep]
    keep, _ = _compatible(last[i], last[j], t)
    i, j = i[keep], j[keep]
    stats["fuzzy_compatible_pairs"] = int(len(i))

    # Fellegi-Sunter with term frequencies. Odds that j is i's other record, given both live in one postcode
    # of ``block`` records and carry compatible names:
    #   prior  duplicates_per_record / (block - 1)
    #   x      m_first / u_first  x  m_last / u_last
    # m = P(the names agree | one person) ~ 1 (the name rules already allow a typo);
    # u = P(a different person there has this name) = the name's share among the country's other records.
    # So  odds = duplicates_per_record / E  with  E = (block - 1) * u_first * u_last,  the number of *other*
    # people expected in the postcode with these names: Lena Weber in a dense Berlin postcode is
    # ambiguous, Maximilian Hoffmann in a village is not.
    country = norm["country_iso"]
    country_size = country.map(country.value_counts()).fillna(0).to_numpy(dtype=np.float64)
    block = base.map(base.value_counts()).fillna(0).to_numpy(dtype=np.float64)
    phone_present = np.flatnonzero(~pd.isna(phone))
    ci, cj = exact_cluster[i], exact_cluster[j]
    i, j, ci, cj = i[ci != cj], j[ci != cj], ci[ci != cj], cj[ci != cj]  # already one customer by a key
    prob = np.ones(len(i))
    if len(i):
        f_count = norm.groupby(["country_iso", "first_key"])["first_key"].transform("size").fillna(0).to_numpy(dtype=np.float64)
        l_count = norm.groupby(["country_iso", "last_key"])["last_key"].transform("size").fillna(0).to_numpy(dtype=np.float64)
        u_f = _name_u(first, f_count, i, j, country_size, t)
        u_l = _name_u(last, l_count, i, j, country_size, t)
        expected = (block[i] - 1) * u_f * u_l
        odds = t.duplicates_per_record / np.maximum(expected, 1e-12)
        # Evidence between two customers (exact clusters), not just two records: every candidate pair of
        # their records must support the merge, so the customer's *weakest* pair counts. Otherwise a typo'd
        # record of one Niklas Neumann ("Nkilas", a rare spelling) would vouch for another Niklas Neumann.
        lo, hi = np.minimum(ci, cj), np.maximum(ci, cj)
        frame = pd.DataFrame({"a": lo, "b": hi, "odds": odds})
        per_pair = frame.groupby(["a", "b"], sort=False)["odds"].min()
        cluster_odds = frame.join(per_pair.rename("cluster_odds"), on=["a", "b"])["cluster_odds"].to_numpy()
        # Two customers who both have phones and share none are two people (the record-level guard, lifted
        # to the customer: a record without a phone may not bridge them).
        has_phone = np.bincount(exact_cluster[phone_present], minlength=int(exact_cluster.max()) + 1) > 0
        veto = has_phone[ci] & has_phone[cj]
        stats["fuzzy_pairs_phone_conflict_in_customer"] = int(veto.sum())
        cluster_odds = np.where(veto, 0.0, cluster_odds)
        per_pair = pd.Series(cluster_odds, index=pd.MultiIndex.from_arrays([lo, hi])).groupby(level=[0, 1]).first()
        # Competing candidates: a person has (at most) one other customer record here, so when several
        # customers fit the same one, the odds are shared among them, plus "none of them":
        # P(same person) = odds / (1 + the odds of all of its candidates), the smaller of the two views.
        a = per_pair.index.get_level_values(0).to_numpy()
        b = per_pair.index.get_level_values(1).to_numpy()
        total = np.bincount(np.concatenate([a, b]), weights=np.tile(per_pair.to_numpy(), 2),
                            minlength=int(exact_cluster.max()) + 1)
        prob = cluster_odds / (1 + np.maximum(total[ci], total[cj]))
    keep = prob >= t.fuzzy_min_match_probability
    stats["fuzzy_pairs_too_weak"] = int((~keep).sum())
    return pd.DataFrame({"i": i[keep], "j": j[keep], "rule": "fuzzy_name_address", "score": np.round(prob[keep], 4)})


def ref_order(refs: pd.Series) -> np.ndarray:
    """Rank of each ref by its number (CRM-1000007 after CRM-999999), then by text."""
    prefixed = refs.str.startswith("CRM-").all()  # the usual case: no regular expression per ref
    digits = refs.str.slice(4) if prefixed else refs.str.extract(r"(\d+)\s*$", expand=False)
    number = pd.to_numeric(digits, errors="coerce")
    order = np.lexsort((refs.to_numpy(dtype=str), number.fillna(np.inf).to_numpy()))
    rank = np.empty(len(refs), dtype=np.int64)
    rank[order] = np.arange(len(refs))
    return rank


def _clusters(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """The connected component of each of ``n`` records, linked by the pairs (i, j)."""
    # scipy is imported here, not at module level: loading the code location does not pay its import
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, label = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    return label


def resolve_identities_baseline(crm: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
                       normalized: pd.DataFrame | None = None, stats: dict | None = None) -> pd.DataFrame:
    """Link every CRM record to a master customer id; see the module docstring for the rules.

    ``normalized`` (from :func:`normalize_records`) may be passed to avoid normalising twice. ``stats``,
    if given, receives counts that explain the run (keys rejected, candidate pairs, links per rule)."""
    stats = {} if stats is None else stats
    crm = crm.reset_index(drop=True)
    norm = normalize_records(crm) if normalized is None else normalized.reset_index(drop=True)
    n = len(crm)
    email_key = norm["email_norm"].where(~norm["email_placeholder"].astype(bool), None)
    exact = pd.concat(
        [
            _exact_links(norm, email_key, "exact_email", thresholds, stats),
            _exact_links(norm, norm["phone_e164"], "exact_phone", thresholds, stats),
        ],
        ignore_index=True,
    )
    exact_cluster = _clusters(exact["i"].to_numpy(dtype=np.int64), exact["j"].to_numpy(dtype=np.int64), n)
    links = pd.concat([exact, _fuzzy_links(norm, exact_cluster, thresholds, stats)], ignore_index=True)
    for rule in _PRIORITY:
        stats[f"{rule}_links"] = int((links["rule"] == rule).sum())
    i, j = links["i"].to_numpy(dtype=np.int64), links["j"].to_numpy(dtype=np.int64)
    label = _clusters(i, j, n)

    refs = crm["customer_ref"].astype(str)
    rank = ref_order(refs)
    # the cluster's lowest ref names the customer
    lowest = np.full(label.max() + 1 if n else 0, np.iinfo(np.int64).max)
    np.minimum.at(lowest, label, rank)
    by_rank = np.empty(n, dtype=object)
    by_rank[rank] = refs.to_numpy(dtype=object)
    root_ref = by_rank[lowest[label]]
    customer_id = map_distinct(pd.Series(root_ref), customer_id_for).to_numpy(dtype=object)

    # each record's strongest link (both directions of every edge)
    both = pd.DataFrame({
        "rec": np.concatenate([i, j]), "other": np.concatenate([j, i]),
        "prio": np.tile(links["rule"].map(_PRIORITY).to_numpy(), 2),
        "score": np.tile(links["score"].to_numpy(dtype=float), 2),
        "rule": np.tile(links["rule"].to_numpy(dtype=object), 2),
    })
    both["other_rank"] = rank[both["other"].to_numpy()] if len(both) else np.zeros(0, dtype=np.int64)
    best = both.sort_values(["rec", "prio", "score", "other_rank"], ascending=[True, True, False, True])
    best = best.drop_duplicates("rec")
    rule = np.full(n, "single_record", dtype=object)
    score = np.ones(n)
    matched = np.full(n, None, dtype=object)
    rec = best["rec"].to_numpy()
    rule[rec] = best["rule"].to_numpy()
    score[rec] = best["score"].to_numpy()
    matched[rec] = refs.to_numpy(dtype=object)[best["other"].to_numpy()]
    out = pd.DataFrame({
        "source": "crm", "source_record_id": refs.to_numpy(dtype=object), "customer_id": customer_id,
        "rule": rule, "score": score.astype(float), "matched_with": matched,
    })
    stats["records"] = n
    stats["customers"] = int(label.max() + 1) if n else 0
    for r in RULES:
        stats[f"records_{r}"] = int((out["rule"] == r).sum())
    return out.sort_values("source_record_id", kind="stable").reset_index(drop=True)


def identity_figures(links: pd.DataFrame, stats: dict) -> dict:
    """What a run of :func:`resolve_identities_baseline` did, for the asset's metadata: ``customers`` and
    ``records_merged`` (records that joined another), ``records_per_rule`` (records by the rule of their strongest
    link), ``links_per_rule`` (links each rule made) and ``guards`` (:data:`GUARD_STATS`) from its ``stats``.
    Counts only: precision and recall need the ground truth."""
    return {
        "customers": int(links["customer_id"].nunique()),
        "records_merged": int((links["rule"] != "single_record").sum()),
        "records_per_rule": {r: int((links["rule"] == r).sum()) for r in RULES},
        "links_per_rule": {rule: stats[f"{rule}_links"] for rule in _PRIORITY},
        "guards": {k: stats[k] for k in GUARD_STATS if k in stats},
    }
