"""Identity resolution: which CRM records are the same real person, and why.

Links between two records come from three places; connected components turn them into clusters, and every
cluster becomes one master customer (``cus_`` + the lowest CRM ref number):

===================== ===================================================================================
rule                  a link between two records when ...
===================== ===================================================================================
``exact_email``       their normalised e-mails are equal, the e-mail is a usable key (below), and their
                      first names are compatible (one typo apart or Jaro-Winkler >= 0.92, or one is missing)
``exact_phone``       their E.164 phones are equal, the phone is a usable key, and their first names are
                      compatible as above
``probabilistic``     the stored Splink model (:mod:`tailor.identity.linkage`, trained by the asset
                      ``identity_model``) gives the pair a match probability of at least
                      ``link_min_probability`` and no veto holds (first names incompatible; birth dates
                      unrelated while the first names differ)
``manual_merge``      a person decided ``merge`` for the pair (:mod:`tailor.identity.review`)
===================== ===================================================================================

A ``split`` decision removes every link between its two records and keeps them in different customers.

Guards, so that a merge never bridges two real people:

* placeholders are never keys: ``test@test.com``, ``noemail@...`` (:mod:`tailor.identity.normalize`), phones
  like ``0000000000``, ``1234567890``, ``+1 555 555 5555`` -- for the model either (it sees them as missing);
* a key is not a key when it is shared by more than ``max_records_per_key`` records or by more than
  ``max_first_names_per_key`` different first names (a shop's or a family's shared address), for the model neither;
* the first-name check on exact keys keeps family members apart (``the.millers@...`` used by John and
  Jane, or a shared home phone); the model's vetoes do the same for its pairs (and twins).

Every link is explainable: ``customer_identity_links`` says for each record by which rule and score it
joined its cluster and which record it ``matched_with`` (its strongest link: a person's merge, then exact e-mail,
exact phone, the model; then the higher score, then the lower ref), and for the model's links the match
probability, the match weight, the model version and the evidence (JSON: what each comparison contributed). All
thresholds are in ``THRESHOLDS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.process import cpdist

from tailor.identity.linkage import PAIR_COLUMNS, IdentityModel, linkage_records, score_pairs, usable_key
from tailor.identity.matching_view import normalize_records
from tailor.identity.normalize import (
    map_distinct,
)
from tailor.identity.review import NO_DECISIONS, REVIEW_COLUMNS, Decisions, empty_review


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
    # The model's pairs: linked from ``link_min_probability`` on (odds 9:1); between ``review_min_probability``
    # and it, a pair goes to identity_review for a person to decide.
    link_min_probability: float = 0.9
    review_min_probability: float = 0.5


THRESHOLDS = Thresholds()

RULES = ("single_record", "exact_email", "exact_phone", "probabilistic", "manual_merge")
_PRIORITY = {"manual_merge": 0, "exact_email": 1, "exact_phone": 2, "probabilistic": 3}  # strongest link first

#: The counts of ``stats`` (:func:`resolve_identities`) that show what the guards held back: per exact rule the
#: keys rejected and the pairs whose first names disagree; for the model its funnel from scored pairs to links
#: (vetoed by first names or birth dates, in the review band, linked) and what the decisions file did.
GUARD_STATS = (
    *(f"{rule}_{count}" for rule in ("exact_email", "exact_phone")
      for count in ("keys_rejected", "pairs_name_mismatch")),
    "probabilistic_scored_pairs", "probabilistic_pairs_vetoed_first_names", "probabilistic_pairs_vetoed_birth_dates",
    "probabilistic_pairs_in_review_band", "probabilistic_pairs_linked",
    "decisions_merge", "decisions_split", "decisions_unknown_refs", "decision_links_removed",
    "decision_links_refused",
)


class CustomerIdentityLinksSchema(pa.DataFrameModel):
    source: Series[str]
    source_record_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str] = pa.Field(str_startswith="cus_")
    rule: Series[str] = pa.Field(isin=list(RULES))
    score: Series[float] = pa.Field(ge=0, le=1)
    matched_with: Series[str] = pa.Field(nullable=True)
    # the model's pair behind a probabilistic (or a person's) link; empty for the exact rules and single records
    match_probability: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    match_weight: Series[float] = pa.Field(nullable=True)
    model_version: Series[str] = pa.Field(nullable=True)  # the model the run scored with (v3), all rows
    evidence: Series[str] = pa.Field(nullable=True)  # JSON: prior, per comparison level + weight, match_weight

    class Config:
        strict = True
        ordered = True


@dataclass
class Resolution:
    """What :func:`resolve` produced: the ``links`` (CustomerIdentityLinksSchema), the ``review`` queue
    (IdentityReviewSchema) and the ``stats`` of the run."""

    links: pd.DataFrame
    review: pd.DataFrame
    stats: dict = field(default_factory=dict)


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
    return usable_key(key, first, t.max_records_per_key, t.max_first_names_per_key)


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


_EMPTY_PAIRS = pd.DataFrame({c: pd.Series(dtype=float if c.startswith("match_") else bool if c == "vetoed" else object)
                             for c in PAIR_COLUMNS})


def _positions(index: pd.Index, a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the refs ``a`` and ``b`` (i < j) and which rows have both refs among the records."""
    i, j = index.get_indexer(a.astype(str)), index.get_indexer(b.astype(str))
    known = (i >= 0) & (j >= 0)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return lo, hi, known


def _model_links(pairs: pd.DataFrame, index: pd.Index, t: Thresholds, stats: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links, scored pairs with positions) from the model's pairs: p >= link_min_probability and no veto."""
    i, j, known = _positions(index, pairs["customer_ref_l"], pairs["customer_ref_r"])
    pairs = pairs.assign(i=i, j=j)[known]
    p = pairs["match_probability"].to_numpy(dtype=float)
    vetoed = pairs["vetoed"].to_numpy(dtype=bool)
    stats["probabilistic_scored_pairs"] = int(len(pairs))
    stats["probabilistic_pairs_vetoed_first_names"] = int((pairs["veto"] == "first_names").sum())
    stats["probabilistic_pairs_vetoed_birth_dates"] = int((pairs["veto"] == "birth_dates").sum())
    stats["probabilistic_pairs_in_review_band"] = int(((p >= t.review_min_probability) & (p < t.link_min_probability)
                                                       & ~vetoed).sum())
    keep = (p >= t.link_min_probability) & ~vetoed
    stats["probabilistic_pairs_linked"] = int(keep.sum())
    links = pairs[keep]
    return pd.DataFrame({"i": links["i"].to_numpy(), "j": links["j"].to_numpy(), "rule": "probabilistic",
                         "score": links["match_probability"].to_numpy(dtype=float)}), pairs


def _apply_decisions(links: pd.DataFrame, decisions: Decisions, index: pd.Index,
                     stats: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Links without the split pairs, plus a link per merge pair; returns (links, split i, split j)."""
    table = decisions.table
    i, j, known = _positions(index, table["customer_ref_a"], table["customer_ref_b"])
    stats["decisions_merge"] = int((table["decision"] == "merge").sum())
    stats["decisions_split"] = int((table["decision"] == "split").sum())
    stats["decisions_unknown_refs"] = int((~known).sum())
    is_split = (table["decision"] == "split").to_numpy() & known
    is_merge = (table["decision"] == "merge").to_numpy() & known
    si, sj = i[is_split], j[is_split]
    if len(si) and len(links):
        n = int(max(links[["i", "j"]].to_numpy().max(), si.max(), sj.max())) + 1
        split_codes = set((si.astype(np.int64) * n + sj).tolist())
        codes = links["i"].to_numpy(dtype=np.int64) * n + links["j"].to_numpy(dtype=np.int64)
        removed = np.isin(codes, list(split_codes))
        stats["decision_links_removed"] = int(removed.sum())
        links = links[~removed]
    else:
        stats["decision_links_removed"] = 0
    merges = pd.DataFrame({"i": i[is_merge], "j": j[is_merge], "rule": "manual_merge", "score": 1.0})
    return pd.concat([links, merges], ignore_index=True), si, sj


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


def _enforce_splits(links: pd.DataFrame, label: np.ndarray, si: np.ndarray, sj: np.ndarray, n: int,
                    stats: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Keep every split pair in different customers: in the (few) clusters that still join one, the links are
    merged again strongest first (a person's merge, exact e-mail, exact phone, the model by probability) and a
    link that would join a split pair is refused."""
    joined = label[si] == label[sj] if len(si) else np.zeros(0, dtype=bool)
    stats["decision_links_refused"] = 0
    if not joined.any():
        return links, label
    clusters = np.unique(label[si[joined]])
    inside = np.isin(label[links["i"].to_numpy(dtype=np.int64)], clusters)
    order = links[inside].assign(prio=links.loc[inside, "rule"].map(_PRIORITY)).sort_values(
        ["prio", "score"], ascending=[True, False], kind="stable")
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cannot: dict[int, set[int]] = {}
    for a, b in zip(si[joined].tolist(), sj[joined].tolist()):
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)
    refused = []
    for row, a, b in zip(order.index, order["i"].tolist(), order["j"].tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if any(find(x) == rb for x in cannot.get(ra, ())) or any(find(x) == ra for x in cannot.get(rb, ())):
            refused.append(row)
            continue
        parent[rb] = ra
        cannot.setdefault(ra, set()).update(cannot.pop(rb, set()))
    stats["decision_links_refused"] = len(refused)
    links = links.drop(index=refused)
    return links, _clusters(links["i"].to_numpy(dtype=np.int64), links["j"].to_numpy(dtype=np.int64), n)


def resolve(crm: pd.DataFrame, thresholds: Thresholds = THRESHOLDS, normalized: pd.DataFrame | None = None,
            model: IdentityModel | None = None, decisions: Decisions = NO_DECISIONS,
            pairs: pd.DataFrame | None = None) -> Resolution:
    """Link every CRM record to a master customer id (the module docstring has the rules) and list the pairs a
    person should decide.

    ``normalized`` (from :func:`normalize_records`) may be passed to avoid normalising twice. ``model`` is the
    stored linkage model (None: the exact rules and the decisions only); ``pairs`` may pass its scored pairs
    (:func:`tailor.identity.linkage.score_pairs` at ``review_min_probability``) instead. ``decisions`` are a
    person's merges and splits."""
    t = thresholds
    stats: dict = {}
    crm = crm.reset_index(drop=True)
    norm = normalize_records(crm) if normalized is None else normalized.reset_index(drop=True)
    n = len(crm)
    refs = crm["customer_ref"].astype(str)
    index = pd.Index(refs)
    email_key = norm["email_norm"].where(~norm["email_placeholder"].astype(bool), None)
    exact = pd.concat(
        [
            _exact_links(norm, email_key, "exact_email", t, stats),
            _exact_links(norm, norm["phone_e164"], "exact_phone", t, stats),
        ],
        ignore_index=True,
    )
    if pairs is None and model is not None:
        pairs = score_pairs(norm, model, min_probability=t.review_min_probability,
                            records=linkage_records(norm, t.max_records_per_key, t.max_first_names_per_key))
    model_links, scored = _model_links(_EMPTY_PAIRS if pairs is None else pairs, index, t, stats)
    links = pd.concat([exact, model_links], ignore_index=True)
    links, si, sj = _apply_decisions(links, decisions, index, stats)
    label = _clusters(links["i"].to_numpy(dtype=np.int64), links["j"].to_numpy(dtype=np.int64), n)
    links, label = _enforce_splits(links.reset_index(drop=True), label, si, sj, n, stats)
    for rule in _PRIORITY:
        stats[f"{rule}_links"] = int((links["rule"] == rule).sum())
    i, j = links["i"].to_numpy(dtype=np.int64), links["j"].to_numpy(dtype=np.int64)

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
    # the model's view of each record's link (probabilistic links, and a person's merges the model scored)
    probability = np.full(n, np.nan)
    weight = np.full(n, np.nan)
    evidence = np.full(n, None, dtype=object)
    if len(scored) and len(best):
        key = pd.DataFrame({"lo": np.minimum(best["rec"], best["other"]), "hi": np.maximum(best["rec"], best["other"]),
                            "rec": best["rec"], "rule": best["rule"]})
        key = key[key["rule"].isin(["probabilistic", "manual_merge"])]
        hit = key.merge(scored[["i", "j", "match_probability", "match_weight", "evidence"]],
                        left_on=["lo", "hi"], right_on=["i", "j"], how="inner")
        r = hit["rec"].to_numpy(dtype=np.int64)
        probability[r] = hit["match_probability"].to_numpy(dtype=float)
        weight[r] = hit["match_weight"].to_numpy(dtype=float)
        evidence[r] = hit["evidence"].to_numpy(dtype=object)
    version = model.label if model is not None else None
    out = pd.DataFrame({
        "source": "crm", "source_record_id": refs.to_numpy(dtype=object), "customer_id": customer_id,
        "rule": rule, "score": np.round(score.astype(float), 6), "matched_with": matched,
        "match_probability": probability, "match_weight": np.round(weight, 4),
        "model_version": pd.Series([version] * n, dtype=object), "evidence": evidence,
    })
    stats["records"] = n
    stats["customers"] = int(label.max() + 1) if n else 0
    for r in RULES:
        stats[f"records_{r}"] = int((out["rule"] == r).sum())
    review = _review(scored, label, refs, customer_id, decisions, version, t)
    return Resolution(links=out.sort_values("source_record_id", kind="stable").reset_index(drop=True),
                      review=review, stats=stats)


def _review(scored: pd.DataFrame, label: np.ndarray, refs: pd.Series, customer_id: np.ndarray, decisions: Decisions,
            version: str | None, t: Thresholds) -> pd.DataFrame:
    """The model's uncertain pairs: review_min <= p < link_min, no veto, still two customers, not decided."""
    if not len(scored):
        return empty_review()
    p = scored["match_probability"].to_numpy(dtype=float)
    i, j = scored["i"].to_numpy(dtype=np.int64), scored["j"].to_numpy(dtype=np.int64)
    band = (p >= t.review_min_probability) & (p < t.link_min_probability) & ~scored["vetoed"].to_numpy(dtype=bool)
    band &= label[i] != label[j]
    cand = scored[band]
    ref = refs.to_numpy(dtype=object)
    a, b = ref[cand["i"].to_numpy(dtype=np.int64)], ref[cand["j"].to_numpy(dtype=np.int64)]
    review = pd.DataFrame({
        "customer_ref_a": np.where(a < b, a, b), "customer_ref_b": np.where(a < b, b, a),
        "customer_id_a": customer_id[cand["i"].to_numpy(dtype=np.int64)],
        "customer_id_b": customer_id[cand["j"].to_numpy(dtype=np.int64)],
        "match_probability": cand["match_probability"].to_numpy(dtype=float),
        "match_weight": np.round(cand["match_weight"].to_numpy(dtype=float), 4),
        "model_version": version or "", "evidence": cand["evidence"].to_numpy(dtype=object),
    })
    swapped = a >= b
    review.loc[swapped, ["customer_id_a", "customer_id_b"]] = review.loc[
        swapped, ["customer_id_b", "customer_id_a"]].to_numpy()
    if len(decisions):
        decided = decisions.table[["customer_ref_a", "customer_ref_b"]].assign(_decided=True)
        review = review.merge(decided, on=["customer_ref_a", "customer_ref_b"], how="left")
        review = review[review["_decided"].isna()].drop(columns="_decided")
    review = review.sort_values(["match_probability", "customer_ref_a", "customer_ref_b"],
                                ascending=[False, True, True], kind="stable")
    return review[REVIEW_COLUMNS].reset_index(drop=True)


def resolve_identities(crm: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
                       normalized: pd.DataFrame | None = None, stats: dict | None = None,
                       model: IdentityModel | None = None, decisions: Decisions = NO_DECISIONS,
                       pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The links of :func:`resolve` (CustomerIdentityLinksSchema). Without a ``model`` (nor ``pairs``) only the
    exact rules and the decisions link records. ``stats``, if given, receives the counts that explain the run."""
    result = resolve(crm, thresholds, normalized=normalized, model=model, decisions=decisions, pairs=pairs)
    if stats is not None:
        stats.update(result.stats)
    return result.links


def identity_figures(links: pd.DataFrame, stats: dict) -> dict:
    """What a run of :func:`resolve_identities` did, for the asset's metadata: ``customers`` and
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


def _pair_count(sizes: np.ndarray) -> int:
    sizes = np.asarray(sizes, dtype=np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def linkage_quality(links: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Pairwise precision and recall of the merges against the true identities.

    ``links``: source_record_id, customer_id; ``truth``: customer_ref, person_id (demo_truth/identities.csv).
    A pair of records is *predicted* when both got the same customer_id and *true* when both belong to the
    same person; precision = correct predicted pairs / predicted pairs, recall = correct / true pairs
    (1.0 when there is nothing to find or nothing was merged)."""
    both = links[["source_record_id", "customer_id"]].merge(
        truth[["customer_ref", "person_id"]], left_on="source_record_id", right_on="customer_ref", how="inner")
    if len(both) != len(links) or len(both) != len(truth):
        raise ValueError(f"linkage_quality: {len(links)} links and {len(truth)} truth rows share only {len(both)} refs")
    predicted = _pair_count(both.groupby("customer_id").size().to_numpy())
    true = _pair_count(both.groupby("person_id").size().to_numpy())
    correct = _pair_count(both.groupby(["customer_id", "person_id"]).size().to_numpy())
    return {
        "records": len(both), "predicted_pairs": predicted, "true_pairs": true, "correct_pairs": correct,
        "precision": correct / predicted if predicted else 1.0, "recall": correct / true if true else 1.0,
        "customers": int(both["customer_id"].nunique()), "persons": int(both["person_id"].nunique()),
    }
