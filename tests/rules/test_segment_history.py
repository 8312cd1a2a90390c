"""The shipped segments (rules/segments.yaml) on hand-made customers, customer_table_sql, and
segment_membership_history: entries and exits per day, idempotent reruns, "entered at_risk this week", sizes in
metadata, and segments that change when the rule file changes — with no Python edit."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.rules.fields import field_kinds
from tailor.rules.segment_history import (
    SegmentMembershipHistorySchema,
    changes_sql,
    entered_this_week_sql,
    record_day,
    segment_sizes_sql,
    size_metadata,
)
from tailor.rules.segments import assign_segments, load_segment_definitions
from tests.tables import query, write_table

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS_YAML = ROOT / "rules" / "segments.yaml"
HASH = "a" * 64
T = pd.Timestamp
nan = np.nan


def shipped_customers() -> pd.DataFrame:
    """One customer per situation; columns as customer_table_sql gives them (only those the segments read)."""
    rows = [
        # id, tenure, orders, freq, spend, recency, p_alive, change_30d, clv_pct, vnb, cart, delivered, opens, units, disc
        ("new", 12.0, 0, 0, 0.0, nan, nan, nan, nan, "[]", False, 1, 0, 0, 0.3),
        ("vip_active", 900.0, 9, 6, 1500.0, 10.0, 0.95, 0.02, 95.0, '["P1"]', True, 10, 4, 20, 0.2),
        # a repeat buyer silent for 45 days whose P(alive) fell 0.12 in 30 days: at risk
        ("falling", 400.0, 3, 2, 200.0, 45.0, 0.6, -0.12, 50.0, "[]", False, 6, 0, 4, 0.6),
        # fell as much, but bought 10 days ago (the fall is the x = 0 -> 1 quirk of BG/NBD, not silence): not at risk
        ("just_bought", 400.0, 2, 1, 90.0, 10.0, 0.8, -0.2, 40.0, "[]", False, 0, 0, 2, 0.9),
        # repeat buyer, 100 days silent but P(alive) hardly moves (a slow buyer): not at risk
        ("slow_steady", 800.0, 4, 3, 300.0, 100.0, 0.7, -0.03, 60.0, "[]", False, 3, 3, 6, 0.1),
        # one-time buyer 120 days ago: the model keeps P(alive) at 1, the recency rule applies
        ("one_time", 300.0, 1, 0, 40.0, 120.0, 1.0, 0.0, 10.0, "[]", False, 0, 0, 1, 0.5),
        # repeat buyer 150 days silent in a shop without a model fit (P(alive) empty): recency rule
        ("no_model", 500.0, 2, 1, 80.0, 150.0, nan, nan, nan, "[]", False, 0, 0, 2, 0.5),
        ("lapsed", 900.0, 2, 1, 1000.0, 181.0, 0.2, -0.01, 92.0, "[]", False, 5, 0, 3, 0.7),
    ]
    cols = ["customer_id", "tenure_days", "order_count", "frequency", "total_spend", "recency_days",
            "probability_alive", "probability_alive_change_30d", "clv_12m_percentile", "viewed_not_bought",
            "cart_abandoned", "emails_delivered", "email_opens", "units_bought", "discount_sensitivity"]
    return pd.DataFrame(rows, columns=cols)


SHIPPED_EXPECTED = {
    "new": ["new_customers", "never_purchased"],
    "vip_active": ["vip", "high_clv", "browse_abandoners", "cart_abandoners", "engaged"],
    "falling": ["at_risk", "unengaged", "discount_seekers"],
    "just_bought": [],
    "slow_steady": ["engaged"],
    "one_time": ["at_risk"],
    "no_model": ["at_risk"],
    "lapsed": ["vip", "lapsed", "high_clv", "unengaged", "discount_seekers"],
}


def test_shipped_segments_hand_checked():
    customers = shipped_customers()
    definitions = load_segment_definitions(SEGMENTS_YAML, field_kinds(customers))
    assert [d.name for d in definitions] == [
        "new_customers", "vip", "at_risk", "lapsed", "high_clv", "browse_abandoners", "cart_abandoners", "engaged",
        "unengaged", "never_purchased", "discount_seekers"]
    out = assign_segments(customers, definitions)
    got = {cid: out.loc[out["customer_id"] == cid, "segment"].tolist() for cid in customers["customer_id"]}
    assert got == SHIPPED_EXPECTED


def test_customer_table_sql_joins_predictions_and_recommendations(warehouse):
    from tailor.rules.customer_table import customer_table_sql

    write_table(warehouse, "customer_profiles", pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["a@x.de", None]}))
    write_table(warehouse, "customer_features", pd.DataFrame(
        {"customer_id": ["c1", "c2"], "as_of": [T("2024-06-30")] * 2, "order_count": [2, 0]}))
    write_table(warehouse, "customer_predictions", pd.DataFrame(
        {"customer_id": ["c1"], "as_of": [T("2024-06-30")], "prediction_status": ["predicted"],
         "expected_purchases_90d": [0.5], "probability_alive": [0.8], "probability_alive_30d_ago": [0.9],
         "probability_alive_change_30d": [-0.1], "churn_risk": [0.2], "expected_order_value_eur": [40.0],
         "clv_12m_eur": [70.0], "clv_12m_percentile": [0.0]}))
    write_table(warehouse, "product_recommendations", pd.DataFrame(
        {"customer_id": ["c1", "c2"], "as_of": [T("2024-06-30")] * 2, "recommended_products": ['["P2"]', "[]"],
         "recommendations": ["[]", "[]"], "recommendation_count": [1, 0]}))
    out = query(warehouse, customer_table_sql())
    assert list(out.columns) == [
        "customer_id", "email", "as_of", "order_count", "prediction_status", "expected_purchases_90d",
        "probability_alive", "probability_alive_30d_ago", "probability_alive_change_30d", "churn_risk",
        "expected_order_value_eur", "clv_12m_eur", "clv_12m_percentile", "recommended_products"]
    assert out["customer_id"].tolist() == ["c1", "c2"]
    assert out.loc[0, "probability_alive"] == 0.8 and np.isnan(out.loc[1, "probability_alive"])
    assert out["recommended_products"].tolist() == ['["P2"]', "[]"]
    assert field_kinds(out)["recommended_products"] == "list"


def members(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["customer_id", "segment"])


def record(warehouse, day: str, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    write_table(warehouse, "customer_segments", members(pairs))
    with warehouse.session() as s:
        out = record_day(s, day, HASH, datetime(2030, 1, 1))
    SegmentMembershipHistorySchema.validate(out)
    return out


def history(warehouse) -> list[tuple]:
    df = query(warehouse, "SELECT day, segment, event, customer_id FROM segment_membership_history "
                         "ORDER BY day, segment, event, customer_id")
    return [(d.strftime("%m-%d"), s, e, c) for d, s, e, c in df.itertuples(index=False)]


def test_entries_and_exits_by_day_and_idempotent_reruns(warehouse):
    # Monday 2024-06-03: first day recorded -> everyone enters
    record(warehouse, "2024-06-03", [("a", "vip"), ("b", "at_risk")])
    # Wednesday: c enters at_risk, b leaves at_risk for lapsed
    record(warehouse, "2024-06-05T23:59:00", [("a", "vip"), ("c", "at_risk"), ("b", "lapsed")])
    # Wednesday again (a rerun, with the same memberships): nothing changes
    record(warehouse, "2024-06-05", [("a", "vip"), ("c", "at_risk"), ("b", "lapsed")])
    # next Monday: a drops out of vip, b comes back to at_risk
    changes = record(warehouse, "2024-06-10", [("c", "at_risk"), ("b", "at_risk")])
    assert sorted(changes[["customer_id", "segment", "event"]].itertuples(index=False, name=None)) == [
        ("a", "vip", "exited"), ("b", "at_risk", "entered"), ("b", "lapsed", "exited")]
    assert (changes["day"] == T("2024-06-10")).all() and (changes["segments_file_hash"] == HASH).all()
    assert history(warehouse) == [
        ("06-03", "at_risk", "entered", "b"), ("06-03", "vip", "entered", "a"),
        ("06-05", "at_risk", "entered", "c"), ("06-05", "at_risk", "exited", "b"), ("06-05", "lapsed", "entered", "b"),
        ("06-10", "at_risk", "entered", "b"), ("06-10", "lapsed", "exited", "b"), ("06-10", "vip", "exited", "a"),
    ]
    # a rerun of 06-10 with different memberships replaces that day's rows (computed against 06-05's state)
    record(warehouse, "2024-06-10", [("a", "vip"), ("c", "at_risk"), ("b", "lapsed"), ("d", "vip")])
    assert history(warehouse)[-1:] == [("06-10", "vip", "entered", "d")]
    assert len(history(warehouse)) == 6
    # days are recorded in order
    with pytest.raises(ValueError, match=r"cannot record 2024-06-04: days up to 2024-06-10 are already recorded"):
        record(warehouse, "2024-06-04", [])
    # sizes at the end of each day, from the history alone
    sizes = query(warehouse, segment_sizes_sql("2024-06-05"))
    assert dict(zip(sizes["segment"], sizes["members"])) == {"at_risk": 1, "lapsed": 1, "vip": 1}
    sizes = query(warehouse, segment_sizes_sql("2024-06-10"))
    assert dict(zip(sizes["segment"], sizes["members"])) == {"at_risk": 1, "lapsed": 1, "vip": 2}


def test_entered_this_week_query(warehouse):
    record(warehouse, "2024-06-03", [("a", "at_risk")])  # Monday of the week
    record(warehouse, "2024-06-06", [("a", "at_risk"), ("b", "at_risk"), ("c", "vip")])  # Thursday
    record(warehouse, "2024-06-09", [("b", "at_risk"), ("c", "vip"), ("d", "at_risk")])  # Sunday: a exits
    record(warehouse, "2024-06-10", [("b", "at_risk"), ("c", "vip"), ("d", "at_risk"), ("e", "at_risk")])  # Monday
    week = query(warehouse, entered_this_week_sql("at_risk", today="2024-06-09"))
    assert list(week.itertuples(index=False, name=None)) == [("d", T("2024-06-09")), ("b", T("2024-06-06")),
                                                             ("a", T("2024-06-03"))]
    # on the next Monday a new week starts
    assert query(warehouse, entered_this_week_sql("at_risk", today="2024-06-10"))["customer_id"].tolist() == ["e"]
    # the text shown in docs/models.md (CURRENT_DATE) is the same query
    assert "DATE_TRUNC('week', CURRENT_DATE)" in entered_this_week_sql("at_risk")
    doc = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert entered_this_week_sql("at_risk") in doc
    with pytest.raises(ValueError, match="is not a segment name"):
        entered_this_week_sql("at_risk'; DROP TABLE x; --")


def test_history_sql_runs_on_snowflake_through_fakesnow():
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector
    import snowflake.connector.pandas_tools

    hist = pd.DataFrame({"customer_id": ["a", "b", "b"], "segment": ["vip", "at_risk", "at_risk"],
                         "event": ["entered", "entered", "exited"],
                         "day": [T("2024-06-03"), T("2024-06-03"), T("2024-06-04")]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with fakesnow.patch():
            conn = snowflake.connector.connect(database="tailor", schema="analytics")
            for name, df in {"segment_membership_history": hist,
                             "customer_segments": members([("a", "vip"), ("b", "at_risk"), ("c", "vip")])}.items():
                snowflake.connector.pandas_tools.write_pandas(
                    conn, df, name, auto_create_table=True, use_logical_type=True, quote_identifiers=False)
            cur = conn.cursor()
            cur.execute(changes_sql(T("2024-06-05"), True))
            changes = cur.fetch_pandas_all()
            cur.execute(entered_this_week_sql("at_risk", today="2024-06-05"))
            week = cur.fetch_pandas_all()
            conn.close()
    changes.columns = [c.lower() for c in changes.columns]
    assert sorted(changes.itertuples(index=False, name=None)) == [("b", "at_risk", "entered"), ("c", "vip", "entered")]
    assert [c.lower() for c in week.columns] == ["customer_id", "day"] and week.iloc[:, 0].tolist() == ["b"]


def test_size_metadata_lists_every_segment_of_the_file():
    out = size_metadata(members([("a", "vip"), ("b", "vip")]),
                        pd.DataFrame({"segment": ["vip", "lapsed"], "event": ["entered", "exited"]}),
                        ["vip", "lapsed", "at_risk"])
    assert out == {"segment_size/vip": 2, "segment_entered/vip": 1, "segment_exited/vip": 0,
                   "segment_size/lapsed": 0, "segment_entered/lapsed": 0, "segment_exited/lapsed": 1,
                   "segment_size/at_risk": 0, "segment_entered/at_risk": 0, "segment_exited/at_risk": 0}


SEGMENTS_V1 = """
segments:
  - name: big_spenders
    description: 100 EUR or more
    when:
      total_spend: {gte: 100}
  - name: falling
    description: P(alive) fell by 10 points or more in 30 days
    when:
      probability_alive_change_30d: {lte: -0.1}
"""


def materialize_segments(warehouse, rules_dir: Path, as_of: str):
    from dagster import materialize

    from assets.segments import customer_segments, segment_membership_history
    from resources.content import MarketingContent

    content = MarketingContent(rules_dir=str(rules_dir), templates_dir=str(ROOT / "email_templates"),
                               company_name="Tailor", company_address="Street 1", unsubscribe_base_url="https://x/u",
                               preferences_base_url="https://x/p", shop_url="https://x")
    result = materialize([customer_segments, segment_membership_history], resources={"warehouse": warehouse, "content": content},
                         run_config={"ops": {"segment_membership_history": {"config": {"as_of": as_of}}}})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    return result.asset_materializations_for_node("segment_membership_history")[0].metadata


def test_segments_change_when_the_rule_file_changes_and_history_records_it(warehouse, tmp_path):
    profiles = pd.DataFrame({"customer_id": ["c1", "c2", "c3"]})
    features = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "total_spend": [50.0, 150.0, 500.0]})
    predictions = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "probability_alive_change_30d": [-0.2, 0.0, -0.05]})
    for col in ("prediction_status", "expected_purchases_90d", "probability_alive", "probability_alive_30d_ago",
                "churn_risk", "expected_order_value_eur", "clv_12m_eur", "clv_12m_percentile"):
        predictions[col] = np.nan
    recs = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "recommended_products": ["[]"] * 3})
    for name, df in {"customer_profiles": profiles, "customer_features": features, "customer_predictions": predictions,
                     "product_recommendations": recs}.items():
        write_table(warehouse, name, df)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "segments.yaml").write_text(SEGMENTS_V1.lstrip(), encoding="utf-8")
    meta = materialize_segments(warehouse, rules, "2024-06-03T08:00:00")
    assert (meta["segment_size/big_spenders"].value, meta["segment_size/falling"].value) == (2, 1)
    assert meta["segment_entered/big_spenders"].value == 2 and meta["day"].value == "2024-06-03"

    # the marketer raises the threshold to 200 EUR and loosens "falling" to 5 points — only the YAML changes
    (rules / "segments.yaml").write_text(
        SEGMENTS_V1.lstrip().replace("{gte: 100}", "{gte: 200}").replace("{lte: -0.1}", "{lte: -0.05}"),
        encoding="utf-8")
    meta = materialize_segments(warehouse, rules, "2024-06-04T08:00:00")
    seg = query(warehouse, "SELECT customer_id, segment FROM customer_segments ORDER BY segment, customer_id")
    assert list(seg.itertuples(index=False, name=None)) == [("c3", "big_spenders"), ("c1", "falling"), ("c3", "falling")]
    assert meta["segment_size/big_spenders"].value == 1 and meta["segment_exited/big_spenders"].value == 1
    assert meta["segment_size/falling"].value == 2 and meta["segment_entered/falling"].value == 1
    assert history(warehouse)[-2:] == [("06-04", "big_spenders", "exited", "c2"), ("06-04", "falling", "entered", "c3")]
    hashes = query(warehouse, "SELECT DISTINCT day, segments_file_hash FROM segment_membership_history ORDER BY day")
    assert hashes["segments_file_hash"].nunique() == 2  # which version of the file made each change

    # rerun of the same day: same table
    before = query(warehouse, "SELECT customer_id, segment, event, day FROM segment_membership_history ORDER BY day, segment, event, customer_id")
    materialize_segments(warehouse, rules, "2024-06-04T20:00:00")
    after = query(warehouse, "SELECT customer_id, segment, event, day FROM segment_membership_history ORDER BY day, segment, event, customer_id")
    pd.testing.assert_frame_equal(before, after)
