"""The review queue and a person's decisions (tailor.identity.review): uncertain pairs land in identity_review, a
decisions file splits and merges on the next run, a malformed one is refused naming file and line; and the assets
identity_model (trained once, retrained only when asked) and customer_identity in a Dagster run."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest
from dagster import AssetKey, materialize

from tailor.identity.resolve import CustomerIdentityLinksSchema, resolve
from tailor.identity.review import (
    DECISIONS_FILE,
    NO_DECISIONS,
    DecisionFileError,
    IdentityReviewSchema,
    parse_decisions,
    read_decisions,
)

COLUMNS = ["customer_ref", "email", "first_name", "last_name", "phone", "country", "city", "postcode"]
EVIDENCE = json.dumps({"prior": -15.0, "first_name": {"level": "exact", "weight": 7.0}, "match_weight": 1.2})


def crm(*rows) -> pd.DataFrame:
    return pd.DataFrame([r + (None,) * (len(COLUMNS) - len(r)) for r in rows], columns=COLUMNS)


RECORDS = crm(("CRM-000001", "anna@example.com", "Anna", "Roth", None, "DE", "Berlin", "10115"),
              ("CRM-000002", "anna@example.com", "Anna", "Roth", None, "DE", "Berlin", "10115"),
              ("CRM-000003", "a.roth@example.org", "Anna", "Roth", None, "DE", "Berlin", "10115"),
              ("CRM-000004", "ben@example.com", "Ben", "Kurz", None, "DE", "Hamburg", "20095"),
              ("CRM-000005", "b.kurz@example.org", "Benn", "Kurz", None, "DE", "Hamburg", "20095"),
              ("CRM-000006", "carla@example.com", "Carla", "Vogt", None, "DE", "Köln", "50667"),
              ("CRM-000007", "c.vogt@example.org", "Carl", "Vogt", None, "DE", "Köln", "50667"))


def pairs(*rows) -> pd.DataFrame:
    """The model's scored pairs as linkage.score_pairs gives them: (ref, ref, probability[, veto])."""
    return pd.DataFrame([{"customer_ref_l": a, "customer_ref_r": b, "match_probability": p,
                          "match_weight": 1.0 if p < 0.9 else 5.0, "vetoed": bool(veto), "veto": veto or None,
                          "evidence": EVIDENCE} for a, b, p, *rest in rows for veto in [rest[0] if rest else None]])


SCORED = pairs(("CRM-000002", "CRM-000003", 0.97),                  # linked by the model
               ("CRM-000004", "CRM-000005", 0.7),                   # uncertain: review
               ("CRM-000006", "CRM-000007", 0.8, "first_names"),    # uncertain but vetoed: not a question
               ("CRM-000001", "CRM-000003", 0.6))                   # uncertain, yet one customer already


def run(decisions=NO_DECISIONS, scored=SCORED):
    result = resolve(RECORDS, pairs=scored, decisions=decisions)
    CustomerIdentityLinksSchema.validate(result.links)
    IdentityReviewSchema.validate(result.review)
    return result, result.links.set_index("source_record_id")["customer_id"]


def test_uncertain_pairs_land_in_review_with_their_evidence():
    result, customer = run()
    assert customer["CRM-000001"] == customer["CRM-000002"] == customer["CRM-000003"]  # e-mail, then the model
    assert customer["CRM-000004"] != customer["CRM-000005"] and customer["CRM-000006"] != customer["CRM-000007"]
    review = result.review
    assert review[["customer_ref_a", "customer_ref_b"]].values.tolist() == [["CRM-000004", "CRM-000005"]]
    row = review.iloc[0]
    assert (row["customer_id_a"], row["customer_id_b"]) == ("cus_000004", "cus_000005")
    assert row["match_probability"] == 0.7 and json.loads(row["evidence"])["first_name"]["level"] == "exact"
    assert result.stats["probabilistic_pairs_in_review_band"] == 2  # 4-5 and 1-3 (vetoed pairs are not counted)
    links = result.links.set_index("source_record_id")
    assert links.loc["CRM-000003", ["rule", "matched_with"]].tolist() == ["probabilistic", "CRM-000002"]
    assert links.loc["CRM-000003", "evidence"] == EVIDENCE and links.loc["CRM-000003", "match_probability"] == 0.97


def test_decisions_split_and_merge_on_the_next_run():
    decisions = parse_decisions("customer_ref_a,customer_ref_b,decision,decided_by,note\n"
                                "CRM-000003,CRM-000002,split,anna@shop.example,two people (called)\n"
                                "CRM-000004,CRM-000005,MERGE,anna@shop.example,\n")
    result, customer = run(decisions)
    # the split removes the model's link 2-3 (and the review pair 1-3 no longer joins them)
    assert customer["CRM-000001"] == customer["CRM-000002"] != customer["CRM-000003"]
    assert customer["CRM-000004"] == customer["CRM-000005"] == "cus_000004"
    links = result.links.set_index("source_record_id")
    assert links.loc["CRM-000005", ["rule", "matched_with", "score"]].tolist() == ["manual_merge", "CRM-000004", 1.0]
    assert links.loc["CRM-000005", "match_probability"] == 0.7  # what the model thought of it, kept with the link
    assert result.stats["decisions_split"] == result.stats["decisions_merge"] == 1
    assert result.stats["decision_links_removed"] == 1
    # decided pairs are no longer asked; 1-3 is a new question now that 3 stands alone
    assert result.review[["customer_ref_a", "customer_ref_b"]].values.tolist() == [["CRM-000001", "CRM-000003"]]


def test_a_split_holds_against_a_chain_of_other_links():
    # 1-2 share an e-mail, the model links 2-3 and 1-3: a split of 1 and 3 must hold against the chain 1-2-3
    scored = pairs(("CRM-000002", "CRM-000003", 0.97), ("CRM-000001", "CRM-000003", 0.95))
    decisions = parse_decisions("customer_ref_a,customer_ref_b,decision\nCRM-000001,CRM-000003,split\n")
    result, customer = run(decisions, scored)
    assert customer["CRM-000001"] == customer["CRM-000002"] != customer["CRM-000003"]
    assert result.stats["decision_links_removed"] == 1 and result.stats["decision_links_refused"] == 1
    links = result.links.set_index("source_record_id")
    assert links.loc["CRM-000003", "rule"] == "single_record"  # its refused link is not shown as its link


def test_a_merge_outranks_a_veto_and_unknown_refs_are_counted():
    decisions = parse_decisions("customer_ref_a,customer_ref_b,decision\n"
                                "CRM-000006,CRM-000007,merge\nCRM-000006,CRM-999999,merge\n")
    result, customer = run(decisions)
    assert customer["CRM-000006"] == customer["CRM-000007"]
    assert result.stats["decisions_unknown_refs"] == 1


@pytest.mark.parametrize("text, line, message", [
    ("customer_ref_a,customer_ref_b\nCRM-1,CRM-2\n", 1, "the header lacks decision"),
    ("customer_ref_a,customer_ref_b,decision,comment\nCRM-1,CRM-2,merge,x\n", 1, "unknown column(s) comment"),
    ("customer_ref_a,customer_ref_b,decision\nCRM-1,CRM-2,mrege\n", 2, "decision must be merge or split, not 'mrege'"),
    ("# decided in the weekly review\ncustomer_ref_a,customer_ref_b,decision\n\nCRM-1,CRM-1,split\n", 4,
     "cannot be decided against itself"),
    ("customer_ref_a,customer_ref_b,decision\nCRM-1,,merge\n", 2, "both customer_ref_a and customer_ref_b"),
    ("customer_ref_a,customer_ref_b,decision\nCRM-1,CRM-2\n", 2, "2 fields, the header has 3"),
    ("customer_ref_a,customer_ref_b,decision\nCRM-1,CRM-2,merge\nCRM-2,CRM-1,split\n", 3,
     "decided split here and merge on line 2"),
])
def test_a_malformed_decisions_file_is_refused_naming_file_and_line(tmp_path, text, line, message):
    path = tmp_path / DECISIONS_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DecisionFileError) as err:
        read_decisions(path)
    assert f"{path}:{line}: " in str(err.value) and message in str(err.value), str(err.value)


def test_every_problem_of_a_file_is_listed_and_a_missing_file_decides_nothing(tmp_path):
    text = "customer_ref_a,customer_ref_b,decision\nCRM-1,CRM-2,maybe\nCRM-3,CRM-3,merge\nCRM-4,CRM-5,split\n"
    with pytest.raises(DecisionFileError) as err:
        parse_decisions(text, "d.csv")
    assert [p.split(": ")[0] for p in err.value.problems] == ["d.csv:2", "d.csv:3"]
    assert len(read_decisions(tmp_path / "absent.csv")) == 0
    ok = parse_decisions(text.replace("maybe", "merge").replace("CRM-3,CRM-3", "CRM-3,CRM-6"))
    assert ok.table[["customer_ref_a", "customer_ref_b", "decision", "line"]].values.tolist() == [
        ["CRM-1", "CRM-2", "merge", 2], ["CRM-3", "CRM-6", "merge", 3], ["CRM-4", "CRM-5", "split", 4]]


# ------------------------------------------------------------------------------------------- the assets


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The sources and the profiles assets (identity_model, customer_identity) on 1,500 generated customers."""
    from assets.profiles import crm_normalized, customer_identity, identity_model
    from assets.sources import ASSETS as SOURCE_ASSETS
    from resources.content import MarketingContent
    from resources.landing import LandingZone
    from resources.warehouse import DuckDBWarehouse
    from tailor.demo.generator import write_demo_data

    root = tmp_path_factory.mktemp("review")
    write_demo_data(root / "landing", 1500, 3, datetime(2026, 11, 15, 12, tzinfo=timezone.utc))
    (root / "rules").mkdir()
    resources = {"warehouse": DuckDBWarehouse(path=str(root / "w.duckdb")),
                 "landing": LandingZone(path=str(root / "landing")),
                 "content": MarketingContent(rules_dir=str(root / "rules"), templates_dir=str(root), company_name="x",
                                             company_address="x", unsubscribe_base_url="https://x",
                                             preferences_base_url="https://x", shop_url="https://x")}
    crm_source = [a for a in SOURCE_ASSETS if AssetKey("crm_customers") in a.keys]
    assert materialize([*crm_source, crm_normalized], resources=resources).success

    def run(*assets, config=None, raise_on_error=True):
        return materialize([*crm_source, crm_normalized, identity_model, customer_identity],
                           selection=[a.key if hasattr(a, "key") else a for a in assets] if assets else None,
                           resources=resources, run_config=config or {}, raise_on_error=raise_on_error)

    return {"root": root, "run": run, "warehouse": resources["warehouse"]}


def _meta(result, key):
    return next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key == AssetKey(key))


def table(pipeline, sql):
    with pipeline["warehouse"].session() as s:
        return s.query(sql)


def test_a_first_run_trains_a_model_a_second_keeps_it_and_retrain_makes_the_next_version(pipeline):
    run = pipeline["run"]
    first = run(AssetKey("identity_model"), AssetKey("customer_identity_links"), AssetKey("identity_review"))
    meta = _meta(first, "identity_model")
    assert meta["model_version"].value == "v1" and meta["retrained"].value is True
    assert meta["why_trained"].value == "no model yet"
    assert "| first_name | exact |" in meta["match_weights"].value
    links_meta = _meta(first, "customer_identity_links")
    assert links_meta["model_version"].value == "v1"
    assert all(c.passed for c in first.get_asset_check_evaluations())
    links = table(pipeline, "SELECT * FROM customer_identity_links")
    assert set(links["model_version"]) == {"v1"} and (links["rule"] == "probabilistic").sum() > 20
    evidence = links.loc[links["rule"] == "probabilistic", "evidence"].map(json.loads)
    assert evidence.map(lambda e: {"first_name", "last_name", "location"} <= set(e)).all()

    second = run(AssetKey("identity_model"))
    meta = _meta(second, "identity_model")
    assert meta["model_version"].value == "v1" and meta["retrained"].value is False and "why_trained" not in meta
    third = run(AssetKey("identity_model"), config={"ops": {"identity_model": {"config": {"retrain": True}}}})
    assert _meta(third, "identity_model")["model_version"].value == "v2"
    models = table(pipeline, "SELECT version, records, splink_version FROM identity_models ORDER BY version")
    assert models["version"].tolist() == [1, 2] and models["splink_version"].str.startswith("4.").all()
    weights = table(pipeline, "SELECT DISTINCT version FROM identity_model_weights ORDER BY version")
    assert weights["version"].tolist() == [1, 2]
    # only one of the two tables selected: both are written by the one scoring run, the other one said so
    only_review = run(AssetKey("identity_review"))
    assert _meta(only_review, "customer_identity_links")["written_with"].value == "identity_review"
    assert set(table(pipeline, "SELECT DISTINCT model_version FROM customer_identity_links")["model_version"]) == {"v2"}


def test_the_next_run_honours_the_decisions_file_and_refuses_a_malformed_one(pipeline):
    run = pipeline["run"]
    run(AssetKey("identity_model"), AssetKey("customer_identity_links"))
    links = table(pipeline, "SELECT * FROM customer_identity_links")
    linked = links[links["rule"] == "probabilistic"].iloc[0]
    a, b = linked["source_record_id"], linked["matched_with"]
    singles = links[links["rule"] == "single_record"]["source_record_id"].head(2).tolist()
    path = pipeline["root"] / "rules" / DECISIONS_FILE
    path.write_text(f"customer_ref_a,customer_ref_b,decision\n{a},{b},split\n{singles[0]},{singles[1]},merge\n",
                    encoding="utf-8")
    try:
        result = run(AssetKey("customer_identity_links"), AssetKey("identity_review"))
        after = table(pipeline, "SELECT * FROM customer_identity_links").set_index("source_record_id")
        assert after.loc[a, "customer_id"] != after.loc[b, "customer_id"]
        assert after.loc[singles[0], "customer_id"] == after.loc[singles[1], "customer_id"]
        assert after.loc[singles[1], "rule"] in {"manual_merge", "single_record"}
        guards = _meta(result, "customer_identity_links")["guards"].value
        assert guards["decisions_split"] == guards["decisions_merge"] == 1
        path.write_text("customer_ref_a,customer_ref_b,decision\nCRM-000001,CRM-000002,perhaps\n", encoding="utf-8")
        failed = run(AssetKey("customer_identity_links"), raise_on_error=False)
        assert not failed.success
        errors = []
        for event in (e for e in failed.all_events if e.is_step_failure):
            error = event.event_specific_data.error
            while error is not None:
                errors.append(error.message)
                error = error.cause
        assert any(f"{path}:2: decision must be merge or split" in m for m in errors), errors
    finally:
        path.unlink()
