"""Identity resolution (tailor.identity.resolve): exact rules, the model's links, guards, explainable links, quality
against the truth."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from tailor.demo.generator import write_demo_data
from tailor.identity.linkage import TrainingSettings, score_pairs, train_model
from tailor.identity.matching_view import normalize_records
from tailor.identity.resolve import (
    GUARD_STATS,
    RULES,
    THRESHOLDS,
    CustomerIdentityLinksSchema,
    Thresholds,
    customer_id_for,
    identity_figures,
    linkage_quality,
    ref_order,
    resolve_identities,
)
from tailor.identity.resolve import resolve as resolve_all

COLUMNS = ["customer_ref", "email", "first_name", "last_name", "phone", "country", "city", "postcode"]


def crm(*rows) -> pd.DataFrame:
    return pd.DataFrame([r + (None,) * (len(COLUMNS) - len(r)) for r in rows], columns=COLUMNS)


def resolve(*rows, **kw) -> pd.DataFrame:
    links = resolve_identities(crm(*rows), **kw)
    CustomerIdentityLinksSchema.validate(links)
    return links.set_index("source_record_id")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """8,000 generated customers, their matching view and a model trained on it (as identity_model would)."""
    root = tmp_path_factory.mktemp("identity")
    write_demo_data(root / "landing", 8000, 5, datetime(2026, 11, 15, 12, tzinfo=timezone.utc))
    records = pd.read_csv(root / "landing/crm/crm-0001.csv", dtype=str, keep_default_na=False, na_values=[""])
    truth = pd.read_csv(root / "demo_truth/identities.csv", dtype=str)
    cases = pd.read_csv(root / "demo_truth/identity_cases.csv", dtype=str)
    records = records[records["customer_ref"].isin(truth["customer_ref"])].reset_index(drop=True)  # the bad rows
    norm = normalize_records(records)
    model = train_model(norm, training=TrainingSettings(u_max_pairs=5e5))
    return {"records": records, "norm": norm, "truth": truth, "cases": cases, "model": model}


def among_customers(generated, *rows, **kw) -> pd.DataFrame:
    """The links of ``rows`` resolved with the trained model among the generated customers (so the model scores
    them as one CRM: its prior and term frequencies are those of a CRM, not of three records)."""
    background = generated["records"].assign(customer_ref=generated["records"]["customer_ref"].str.replace("CRM-", "BG-"))
    ours = crm(*rows)
    links = resolve_identities(pd.concat([background[ours.columns], ours], ignore_index=True),
                               model=generated["model"], **kw)
    CustomerIdentityLinksSchema.validate(links)
    return links[links["source_record_id"].isin(ours["customer_ref"])].set_index("source_record_id")


def test_exact_email_merges_case_and_blank_variants_and_names_the_customer_by_the_lowest_ref_number():
    links = resolve(("CRM-1000007", "  Lena.Weber@EXAMPLE.com ", "Lena", "Weber"),
                    ("CRM-999999", "lena.weber@example.com", "Lnea", "Weber"),  # a typo in the first name
                    ("CRM-000005", "other@example.com", "Tom", "Kraus"))
    assert links.loc["CRM-1000007", "customer_id"] == links.loc["CRM-999999", "customer_id"] == "cus_999999"
    assert links.loc["CRM-1000007", ["rule", "matched_with"]].tolist() == ["exact_email", "CRM-999999"]
    assert links.loc["CRM-999999", ["rule", "matched_with"]].tolist() == ["exact_email", "CRM-1000007"]
    assert links.loc["CRM-999999", "score"] == pytest.approx(0.925)  # Jaro-Winkler of lena / lnea
    assert links.loc["CRM-000005", ["customer_id", "rule", "score"]].tolist() == ["cus_000005", "single_record", 1.0]
    assert links.loc["CRM-000005", "matched_with"] is None
    # no model: the exact rules only, and none of the model's columns
    assert links[["match_probability", "match_weight"]].isna().all().all()
    assert links["model_version"].isna().all() and links["evidence"].isna().all()


def test_ref_order_is_numeric_and_the_customer_id_is_the_ref_number():
    assert ref_order(pd.Series(["CRM-1000007", "CRM-999999", "CRM-000002"])).tolist() == [2, 1, 0]
    assert customer_id_for("CRM-000042") == "cus_000042"


def test_family_sharing_an_email_and_a_phone_stays_two_people():
    links = resolve(("CRM-000010", "the.millers@example.com", "John", "Miller", "+1 212 555 0101", "US", "Boston", "02108"),
                    ("CRM-000011", "The.Millers@example.com", "Jane", "Miller", "(212) 555-0101", "US", "Boston", "02108"))
    assert links["customer_id"].nunique() == 2 and set(links["rule"]) == {"single_record"}


def test_family_members_with_similar_names_are_not_one_typo_apart():
    # two edits and Jaro-Winkler below 0.92: Oliver/Olivia, Lena/Leon, Anna/Hannah
    for a, b in (("Oliver", "Olivia"), ("Lena", "Leon"), ("Anna", "Hannah")):
        links = resolve(("CRM-000001", "fam@example.com", a, "Smith"), ("CRM-000002", "fam@example.com", b, "Smith"))
        assert links["customer_id"].nunique() == 2, (a, b)


@pytest.mark.parametrize("email", ["test@test.com", "noemail@example.com", "none@none.com", "NOEMAIL@EXAMPLE.COM"])
def test_placeholder_emails_never_merge(email):
    links = resolve(("CRM-000001", email, "Lena", "Weber", None, "DE", "Berlin", "10115"),
                    ("CRM-000002", email, "Lena", "Schulz", None, "DE", "Hamburg", "20095"))
    assert links["customer_id"].nunique() == 2


@pytest.mark.parametrize("phone", ["0000000000", "1234567890", "+1 555 555 5555", "000 000 0000"])
def test_placeholder_phones_never_merge(phone):
    links = resolve(("CRM-000001", "a@example.com", "Lena", "Weber", phone, "US", "Boston", "02108"),
                    ("CRM-000002", "b@example.com", "Lena", "Webber", phone, "US", "Austin", "78701"))
    assert links["customer_id"].nunique() == 2


def test_a_key_shared_by_many_first_names_is_no_key():
    names = ["Anna", "Ben", "Carla", "Dieter"]  # four first names on one address: an office, not a person
    rows = [(f"CRM-00000{i}", "info@shop.example", n, "Weber") for i, n in enumerate(names, start=1)]
    rows[1] = ("CRM-000002", "info@shop.example", "Anna", "Weber")  # even Anna's twin record is not merged by it
    rows.append(("CRM-000005", "info@shop.example", "Emil", "Weber"))
    stats: dict = {}
    links = resolve(*rows, stats=stats)
    assert links["customer_id"].nunique() == 5 and stats["exact_email_keys_rejected"] == 5
    tight = resolve(*rows[:2], thresholds=Thresholds(max_records_per_key=1))
    assert tight["customer_id"].nunique() == 2


def test_the_same_phone_written_another_way_links_records_with_different_emails():
    links = resolve(("CRM-000001", "lena.weber@example.com", "Lena", "Weber", "+49 30 55512345", "Germany", "Berlin", "10115"),
                    ("CRM-000002", "lw1979@example.org", "Lena", "Weber-Sommer", "030 555 123-45", "DE", "Potsdam", "14467"))
    assert links.loc["CRM-000002", ["customer_id", "rule", "matched_with"]].tolist() == ["cus_000001", "exact_phone", "CRM-000001"]


def test_the_model_links_a_typo_duplicate_with_a_new_email_and_explains_it(generated):
    links = among_customers(
        generated,
        ("CRM-000001", "max.hoffmann@example.com", "Maximilian", "Hoffmann", "+49 30 55512345", "DE", "Berlin", "10115"),
        ("CRM-000002", "mh.1988@example.org", "Maxmilian", "Hofmann", None, "Deutschland", "berlin", "10 115"),
        ("CRM-000003", "m.h@example.net", "Maximilian", "Hoffmann", None, "DE", "Hamburg", "20095"))  # elsewhere
    assert links.loc["CRM-000002", ["customer_id", "rule", "matched_with", "model_version"]].tolist() == [
        "cus_000001", "probabilistic", "CRM-000001", "unsaved"]
    row = links.loc["CRM-000002"]
    assert row["score"] == pytest.approx(row["match_probability"], abs=1e-6) and row["match_probability"] >= 0.9
    evidence = json.loads(row["evidence"])
    assert evidence["first_name"]["level"] == evidence["last_name"]["level"] == "similar (Jaro-Winkler >= 0.92)"
    assert evidence["location"]["level"] == "same postcode" and evidence["email"]["level"] == "different"
    assert evidence["phone"]["level"] == "missing" and evidence["phone"]["weight"] == 0
    assert evidence["match_weight"] == pytest.approx(row["match_weight"], abs=0.01)
    assert links.loc["CRM-000003", "rule"] == "single_record" and pd.isna(links.loc["CRM-000003", "evidence"])
    assert links.loc["CRM-000003", "model_version"] == "unsaved"  # the model that found no link for it


def test_namesakes_born_years_apart_go_to_review_and_her_son_stays_apart(generated):
    rows = [("CRM-000001", "lena.weber@example.com", "Lena", "Weber", "+49 30 55512345", "DE", "Berlin", "10115"),
            ("CRM-000002", "lw1984@example.org", "Lena", "Weber", "+49 30 55598765", "DE", "Berlin", "10115"),
            ("CRM-000003", "lena.s@example.net", "Lena", "Schulz", None, "DE", "Berlin", "10115"),
            ("CRM-000004", "paulw@example.com", "Paul", "Weber", "+49 30 55512345", "DE", "Berlin", "10115")]
    born = {"CRM-000001": "1961-03-02", "CRM-000002": "1984-07-15", "CRM-000004": "1990-11-30"}
    ours = crm(*rows).assign(date_of_birth=lambda d: d["customer_ref"].map(born))
    background = generated["records"].assign(customer_ref=generated["records"]["customer_ref"].str.replace("CRM-", "BG-"))
    result = resolve_all(pd.concat([background, ours], ignore_index=True), model=generated["model"])
    links = result.links.set_index("source_record_id").loc[ours["customer_ref"]]
    assert links["customer_id"].nunique() == 4, links
    # same name, same postcode, other phone and e-mail, born 23 years apart: not linked, but worth a look
    review = result.review.set_index(["customer_ref_a", "customer_ref_b"])
    assert ("CRM-000001", "CRM-000002") in review.index
    evidence = json.loads(review.loc[("CRM-000001", "CRM-000002"), "evidence"])
    assert evidence["birth_date"]["level"] == "different" and evidence["birth_date"]["weight"] < 0
    assert ("CRM-000001", "CRM-000004") not in review.index  # her son: vetoed, not a question


def test_the_model_without_a_veto_would_merge_a_household(generated):
    norm = normalize_records(crm(
        ("CRM-000010", "the.millers@example.com", "John", "Miller", "+1 212 555 0101", "US", "Boston", "02108"),
        ("CRM-000011", "jane.m@example.com", "Jane", "Miller", "(212) 555-0101", "US", "Boston", "02108")))
    background = generated["norm"].assign(customer_ref=generated["norm"]["customer_ref"].str.replace("CRM-", "BG-"))
    pairs = score_pairs(pd.concat([background, norm], ignore_index=True), generated["model"], min_probability=0.0)
    pair = pairs.set_index(["customer_ref_l", "customer_ref_r"]).loc[("CRM-000010", "CRM-000011")]
    assert pair["match_probability"] >= 0.9 and pair["vetoed"] and pair["veto"] == "first_names"


def test_common_names_weigh_less_than_rare_ones(generated):
    """Term-frequency adjustments: agreeing on a name many customers carry is weaker evidence."""
    norm = generated["norm"]
    common = norm["first_key"].value_counts().index[0]
    rows = crm(("T-1", None, common.title(), "Zabrowski", None, "DE", "Berlin", "10115"),
               ("T-2", None, common.title(), "Zabrowski", None, "DE", "Berlin", "10115"),
               ("T-3", None, "Eulalia", "Zabrowski", None, "DE", "Berlin", "10117"),
               ("T-4", None, "Eulalia", "Zabrowski", None, "DE", "Berlin", "10117"))
    pairs = score_pairs(pd.concat([norm, normalize_records(rows)], ignore_index=True), generated["model"],
                        min_probability=0.0).set_index(["customer_ref_l", "customer_ref_r"])
    w_common = json.loads(pairs.loc[("T-1", "T-2"), "evidence"])["first_name"]["weight"]
    w_rare = json.loads(pairs.loc[("T-3", "T-4"), "evidence"])["first_name"]["weight"]
    assert w_rare > w_common + 2


def test_linkage_quality_is_pairwise():
    links = pd.DataFrame({"source_record_id": list("ABCD"), "customer_id": ["c1", "c1", "c1", "c2"]})
    truth = pd.DataFrame({"customer_ref": list("ABCD"), "person_id": ["p1", "p1", "p2", "p2"]})
    q = linkage_quality(links, truth)
    assert (q["predicted_pairs"], q["true_pairs"], q["correct_pairs"]) == (3, 2, 1)
    assert q["precision"] == pytest.approx(1 / 3) and q["recall"] == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="share only 3 refs"):
        linkage_quality(links, truth.iloc[:3])


def test_thresholds_live_in_one_place():
    assert THRESHOLDS == Thresholds() and THRESHOLDS.name_max_edits == 1
    assert THRESHOLDS.review_min_probability < THRESHOLDS.link_min_probability == 0.9


@pytest.fixture(scope="module")
def linked(generated):
    return resolve_all(generated["records"], normalized=generated["norm"], model=generated["model"])


def four_fields(norm: pd.DataFrame) -> pd.DataFrame:
    """The matching view with first name, last name, city and postcode only (the benchmark's CRM)."""
    return norm.assign(email_norm=None, phone_e164=None, email_placeholder=False, street_key=None,
                       house_number_key=None, birth_date=None)


@pytest.fixture(scope="module")
def linked_four(generated):
    four = four_fields(generated["norm"])
    model = train_model(four, training=TrainingSettings(u_max_pairs=5e5))
    return resolve_all(generated["records"], normalized=four, model=model)


def test_precision_and_recall_floor_on_generated_data(generated, linked):
    q = linkage_quality(linked.links, generated["truth"])
    assert q["true_pairs"] > 500
    # the vetoes on first names cost most of the rest (docs/identity.md, "Measured")
    assert q["precision"] >= 0.99 and q["recall"] >= 0.96, q
    exact_only = linkage_quality(resolve_identities(generated["records"], normalized=generated["norm"]), generated["truth"])
    assert exact_only["recall"] < q["recall"] - 0.05  # what the model adds: duplicates without a shared key


def test_precision_and_recall_floor_with_names_city_and_postcode_only(generated, linked_four):
    q = linkage_quality(linked_four.links, generated["truth"])
    # measured: see the issue targets below; a floor against regressions
    assert q["precision"] >= 0.90 and q["recall"] >= 0.80, q


@pytest.mark.xfail(strict=False, reason=(
    "issue 12's targets, not met yet on the new demo generator: with street and birth date precision 0.996 / recall "
    "0.979 at 10,000 customers, 0.995 / 0.969 at 100,000 (target 0.99 / 0.99); with first name, last name, city and "
    "postcode only 0.92 / 0.84 and 0.81 / 0.71 (target 0.99 / 0.95). docs/identity.md says why, by corruption type."))
@pytest.mark.parametrize("fields", ["all", "four"])
def test_issue_12_targets(generated, linked, linked_four, fields):
    q = linkage_quality((linked if fields == "all" else linked_four).links, generated["truth"])
    target = (0.99, 0.99) if fields == "all" else (0.99, 0.95)
    assert q["precision"] >= target[0] and q["recall"] >= target[1], q


def test_generated_placeholders_and_families_are_never_merged_with_another_person(generated, linked):
    links, truth, cases = linked.links, generated["truth"], generated["cases"]
    m = links.merge(truth, left_on="source_record_id", right_on="customer_ref").merge(cases, on="customer_ref")
    persons = m.groupby("customer_id")["person_id"].nunique()
    mixed = set(persons[persons > 1].index)
    for case in ("placeholder_email", "placeholder_phone", "family_shared_email", "family_member"):
        of_case = m[m["case"] == case]
        assert len(of_case) >= 5, case
        # a rare namesake may still merge by the model, a family member one letter apart (Jason / Mason) by the
        # shared key: the exact rules take names one typo apart for one person
        wrong = of_case[of_case["customer_id"].isin(mixed)]
        assert len(wrong) <= 0.02 * len(of_case) + 2, (case, wrong)
    # the duplicates that only the model can find are found
    changed = m[m["case"] == "changed_email_duplicate"]
    assert (changed["rule"] != "single_record").mean() >= 0.95
    assert changed.loc[changed["rule"] == "probabilistic", "evidence"].notna().all()


def test_identity_figures_group_what_the_run_did(linked):
    links, stats = linked.links, linked.stats
    figures = identity_figures(links, stats)
    assert set(figures) == {"customers", "records_merged", "records_per_rule", "links_per_rule", "guards"}
    assert figures["customers"] == links["customer_id"].nunique() == stats["customers"]
    assert figures["records_merged"] == int((links["rule"] != "single_record").sum())
    assert figures["records_per_rule"] == {r: stats[f"records_{r}"] for r in RULES}
    assert figures["links_per_rule"] == {r: stats[f"{r}_links"] for r in RULES[1:]}
    assert figures["links_per_rule"]["probabilistic"] == figures["guards"]["probabilistic_pairs_linked"] > 0
    assert figures["guards"]["probabilistic_pairs_vetoed_first_names"] > 0
    # every count of the run is in one group: a new stat must be placed in one
    grouped = {"records", "customers", *(f"records_{r}" for r in RULES), *(f"{r}_links" for r in RULES[1:]),
               *GUARD_STATS}
    assert set(stats) <= grouped and set(figures["guards"]) == set(stats) & set(GUARD_STATS)
