"""Probabilistic linkage (tailor.identity.linkage): training estimates every level or refuses loudly, a stored model
scores held-out records like the trained one without retraining, the vetoes hold for households and twins, and every
pair's evidence names what each comparison contributed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tailor.identity import linkage
from tailor.identity.linkage import (
    IdentityModel,
    ModelTrainingError,
    TooFewRecords,
    TrainingSettings,
    fields_present,
    linkage_records,
    match_weights,
    score_pairs,
    train_model,
    untrained_levels,
    weights_markdown,
)
from tailor.identity.model_store import IDENTITY_MODEL_WEIGHTS, latest_model, store_model
from tailor.warehouse.duckdb_connection import DuckDBFile
from tests.identity.linkage_data import generate

FAST = TrainingSettings(u_max_pairs=5e5)
THRESHOLD = 0.9


@pytest.fixture(scope="module")
def trained():
    crm, truth = generate(3000, seed=1)
    return train_model(crm, training=FAST), crm, truth


@pytest.fixture(scope="module")
def held_out(trained):
    """Other persons (another seed), scored with the trained model: (pairs with the truth, truth)."""
    model = trained[0]
    crm, truth = generate(2000, seed=7, prefix="H")
    pairs = score_pairs(crm, model, min_probability=0.01)
    t = truth.set_index("customer_ref")
    for side in ("l", "r"):
        pairs[f"person_{side}"] = t["person_id"].reindex(pairs[f"customer_ref_{side}"]).to_numpy()
        pairs[f"household_{side}"] = t["household"].reindex(pairs[f"customer_ref_{side}"]).to_numpy()
        pairs[f"role_{side}"] = t["role"].reindex(pairs[f"customer_ref_{side}"]).to_numpy()
        pairs[f"corruption_{side}"] = t["corruption"].reindex(pairs[f"customer_ref_{side}"]).to_numpy()
    pairs["same"] = pairs["person_l"] == pairs["person_r"]
    return pairs, truth, crm


def test_training_estimates_every_level_and_records_what_it_was_trained_on(trained):
    model, crm, _ = trained
    assert untrained_levels(model.settings) == [] and model.meta["unseen_levels"] == []
    assert model.meta["fields"] == ["email", "phone", "street", "birth_date"]
    assert model.meta["records"] == model.meta["population"] == len(crm)
    assert 0 < model.meta["prior"] < 1e-2 and model.meta["splink_version"].startswith("4.")
    assert model.meta["trained_at"] and model.meta["fingerprint"]
    weights = match_weights(model)
    assert set(weights["comparison"]) == {"first_name", "last_name", "location", "email", "phone", "street", "birth_date"}
    assert weights["match_weight"].notna().all() and np.isfinite(weights["match_weight"]).all()
    w = weights.set_index(["comparison", "level"])["match_weight"]
    # what agrees is evidence for, what differs evidence against
    for comparison in ("first_name", "last_name", "email", "phone", "birth_date"):
        assert w[(comparison, "exact")] > 3 > 0 > w[(comparison, "different")], comparison
    assert w[("location", "same postcode")] > 3 and w[("location", "different")] < 0
    assert w[("first_name", "nickname")] > 2 and w[("first_name", "first and last name swapped")] > 2
    table = weights_markdown(model)
    assert "| first_name | nickname |" in table and "prior" in table.splitlines()[0]


def test_true_duplicates_of_held_out_persons_score_above_the_threshold(held_out):
    pairs, truth, _ = held_out
    dup = truth[truth["role"] == "duplicate"]
    # every duplicate against its person's first record
    first = truth.drop_duplicates("person_id").set_index("person_id")["customer_ref"]
    wanted = pd.DataFrame({"a": first.reindex(dup["person_id"]).to_numpy(), "b": dup["customer_ref"].to_numpy()})
    wanted = pd.DataFrame({"customer_ref_l": wanted.min(axis=1), "customer_ref_r": wanted.max(axis=1),
                           "corruption": dup["corruption"].to_numpy()})
    scored = wanted.merge(pairs, on=["customer_ref_l", "customer_ref_r"], how="left", suffixes=("", "_p"))
    found = (scored["match_probability"].fillna(0) >= THRESHOLD) & ~scored["vetoed"].eq(True)
    assert found.mean() >= 0.85, found.mean()
    # the easy corruptions on their own are all found: one typo, a nickname, a wrong postcode digit, a new e-mail
    for kind in ("first_typo", "last_typo", "nickname", "postcode_digit", "email_changed", "dob_daymonth"):
        alone = scored["corruption"] == kind
        if alone.sum():
            assert found[alone].mean() >= 0.95, (kind, found[alone].mean())


def test_different_people_score_below_the_threshold(held_out):
    pairs, _, _ = held_out
    linked = pairs[(pairs["match_probability"] >= THRESHOLD) & ~pairs["vetoed"]]
    different = linked[~linked["same"]]
    assert len(linked) > 500 and len(different) <= 0.01 * len(linked), different.head()
    # strangers (not one household) almost never get past the review floor
    strangers = pairs[(pairs["household_l"] != pairs["household_r"]) & (pairs["match_probability"] >= 0.5)]
    assert len(strangers) <= 0.005 * len(linked) + 2


def test_households_and_twins_are_vetoed_however_much_else_agrees(held_out):
    pairs, _, _ = held_out
    family = pairs[(pairs["household_l"] == pairs["household_r"]) & ~pairs["same"]]
    roles = set(family["role_l"]) | set(family["role_r"])
    assert {"twin", "household"} <= roles and len(family) >= 30
    # the two persons' own records (no corrupted duplicate): same surname, address, phone, often e-mail, twins
    # even the birth date; only the first name tells them apart
    own = family[(family["role_l"] != "duplicate") & (family["role_r"] != "duplicate")]
    assert len(own) >= 20
    assert own["vetoed"].all() and set(own["veto"]) <= {"first_names", "birth_dates"}
    strong = own[own["match_probability"] >= THRESHOLD]
    assert len(strong) >= 5  # the model alone would merge them: the vetoes are what keeps them apart
    twins = own[(own["role_l"] == "twin") | (own["role_r"] == "twin")]
    assert len(twins) >= 3 and twins["vetoed"].all()
    assert (own.loc[own["veto"] == "birth_dates", "evidence"].map(json.loads).map(
        lambda e: e["birth_date"]["level"]) == "different").all()
    linked = family[(family["match_probability"] >= THRESHOLD) & ~family["vetoed"]]
    assert len(linked) <= 0.1 * len(family), linked[["corruption_l", "corruption_r"]]


def test_a_twin_pair_spelled_out(trained):
    model = trained[0]
    crm, _ = generate(300, seed=3, prefix="T")
    twin = {"email_norm": None, "email_placeholder": False, "email_typo_suggestion": None, "country_iso": "DE",
            "phone_e164": "+49301234567", "last_key": "brauneiser", "postcode_key": "10115", "city_key": "berlin",
            "street_key": "hauptstrasse", "house_number_key": "5", "birth_date": "1990-04-01"}
    rows = pd.DataFrame([{"customer_ref": "T-A", "first_key": "lena", "first_canon": "lena", **twin},
                         {"customer_ref": "T-B", "first_key": "leon", "first_canon": "leon", **twin},
                         {"customer_ref": "T-C", "first_key": "lena", "first_canon": "lena", **twin,
                          "birth_date": "1990-04-10"}])  # Lena again, a slip in her birth date
    pairs = score_pairs(pd.concat([crm, rows], ignore_index=True), model, population=model.meta["population"])
    got = pairs[pairs["customer_ref_l"].str.startswith("T-") & pairs["customer_ref_r"].str.startswith("T-")]
    got = got.set_index(["customer_ref_l", "customer_ref_r"])
    assert got.loc[("T-A", "T-B"), "vetoed"] and got.loc[("T-A", "T-B"), "veto"] == "first_names"
    assert got.loc[("T-B", "T-C"), "vetoed"]
    assert not got.loc[("T-A", "T-C"), "vetoed"] and got.loc[("T-A", "T-C"), "match_probability"] >= THRESHOLD


def test_evidence_names_every_comparison_and_adds_up_to_the_match_weight(held_out, trained):
    pairs, _, _ = held_out
    comparisons = {"first_name", "last_name", "location", "email", "phone", "street", "birth_date"}
    for row in pairs.sample(200, random_state=1).itertuples():
        evidence = json.loads(row.evidence)
        assert set(evidence) == comparisons | {"prior", "match_weight"}
        assert all(set(evidence[c]) == {"level", "weight"} for c in comparisons)
        total = evidence["prior"] + sum(evidence[c]["weight"] for c in comparisons)
        assert total == pytest.approx(row.match_weight, abs=0.05)
        assert evidence["match_weight"] == pytest.approx(row.match_weight, abs=0.01)
    levels = {c: {lv for lv in match_weights(trained[0]).query("comparison == @c")["level"]} | {"missing"}
              for c in comparisons}
    seen = pairs["evidence"].map(json.loads)
    assert all(e[c]["level"] in levels[c] for e in seen.head(500) for c in comparisons)
    top = linkage.explain(pairs.sort_values("match_weight").iloc[-1]["evidence"])
    assert top[0][0] == "prior" and {c for c, _, _ in top[1:]} == comparisons


def test_a_stored_model_reloads_and_scores_identically_without_retraining(trained, held_out, tmp_path, monkeypatch):
    model = trained[0]
    _, _, crm = held_out
    warehouse = DuckDBFile(str(tmp_path / "w.duckdb"))
    with warehouse.session() as s:
        stored = store_model(s, model)
        again = store_model(s, model)
    assert (stored.version, again.version, again.label) == (1, 2, "v2")
    with warehouse.session() as s:
        loaded = latest_model(s)
        weights = s.query(f"SELECT * FROM {IDENTITY_MODEL_WEIGHTS} WHERE version = 2")
    assert loaded.version == 2 and loaded.settings == json.loads(json.dumps(model.settings))
    assert len(weights) == len(match_weights(model))

    from splink.internals.linker_components.training import LinkerTraining

    def no_training(*args, **kwargs):
        raise AssertionError("scoring must not train")

    for name in ("estimate_u_using_random_sampling", "estimate_parameters_using_expectation_maximisation",
                 "estimate_probability_two_random_records_match"):
        monkeypatch.setattr(LinkerTraining, name, no_training)
    fresh = score_pairs(crm, model)
    reloaded = score_pairs(crm, loaded)
    pd.testing.assert_frame_equal(fresh, reloaded)
    assert len(fresh) > 100


def test_the_prior_follows_the_size_of_the_crm(trained):
    model, crm, _ = trained
    part = crm.iloc[:1500]
    small = score_pairs(part, model, min_probability=0.0)
    as_if_all = score_pairs(part, model, min_probability=0.0, population=len(crm))
    both = small.merge(as_if_all, on=["customer_ref_l", "customer_ref_r"], suffixes=("_small", "_all"))
    # fewer records: each other record is likelier to be the same person (the prior scales with 1 / records)
    gain = np.log2((len(crm) - 1) / (len(part) - 1))
    assert (both["match_weight_small"] - both["match_weight_all"]).to_numpy() == pytest.approx(gain, abs=1e-3)


def test_training_refuses_what_it_cannot_estimate(trained, monkeypatch):
    _, crm, truth = trained
    with pytest.raises(TooFewRecords, match="999 records: too few"):
        train_model(crm.iloc[:999], training=FAST)
    # no nickname in the CRM: that level cannot be estimated; by default bounded (and said so), or refused.
    # Random pairs never show it either: neutral
    plain = crm.assign(first_canon=crm["first_key"])
    model = train_model(plain, training=FAST)
    assert model.meta["unseen_levels"] == ["first_name: nickname"]
    w = match_weights(model).set_index(["comparison", "level"])["match_weight"]
    assert w[("first_name", "nickname")] == 0
    # nobody has moved: no duplicate sharing an e-mail lives elsewhere, yet random pairs mostly do: against
    settled = crm[~truth["corruption"].str.contains("moved|postcode_digit|postcode_missing|city")]
    model = train_model(settled, training=FAST)
    w = match_weights(model).set_index(["comparison", "level"])["match_weight"]
    if "location: different" in model.meta["unseen_levels"]:
        assert w[("location", "different")] < -5
    with pytest.raises(ModelTrainingError, match="first_name: nickname"):
        train_model(plain, training=TrainingSettings(u_max_pairs=5e5, unseen_levels="fail"))
    # EM sessions that freeze a comparison in every session (both names read by both rules): never estimated
    from splink import block_on

    monkeypatch.setattr(linkage, "em_sessions", lambda fields: [block_on("first_key"), block_on("last_key")])
    with pytest.raises(ModelTrainingError, match="first_name"):
        train_model(crm, training=FAST)


def test_guards_null_placeholders_and_overshared_keys_before_splink():
    rows = pd.DataFrame({
        "customer_ref": [f"R-{k}" for k in range(25)],
        "email_norm": ["test@test.com"] * 2 + ["info@shop.example"] * 22 + ["anna@example.com"],
        "email_placeholder": [True] * 2 + [False] * 23,
        "phone_e164": ["+49301111111"] * 5 + [None] * 20,
        "first_key": ["anna", "ben", "carla", "dieter", "emil"] * 5,
        "last_key": ["weber"] * 25, "postcode_key": ["10115"] * 25, "city_key": ["berlin"] * 25,
    })
    records = linkage_records(rows)  # no street, birth date or nickname columns yet: read as missing
    assert records["email_key"].notna().sum() == 1  # a placeholder and an address of 22 records are no keys
    assert records["phone_key"].isna().all()  # one phone, five first names: a switchboard
    assert records[["street_key", "house_number", "dob"]].isna().all().all()
    assert (records["first_canon"] == records["first_key"]).all()
    assert fields_present(records) == ()


def test_loading_the_code_location_does_not_import_splink():
    code = ("import sys, tailor.definitions; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('splink', 'altair', 'igraph')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "SNOWFLAKE_ACCOUNT"})
    assert out.stdout.strip() == "[]"


def test_an_identity_model_round_trips_through_json(trained):
    model = trained[0]
    copy = linkage.model_from_json(linkage.model_to_json(model), json.dumps(model.meta), version=4)
    assert isinstance(copy, IdentityModel) and copy.label == "v4" and copy.settings == model.settings
