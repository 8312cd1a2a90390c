"""model_fits and customer_predictions: the model inputs computed in SQL, scoring with known parameters checked by
hand, the published CDNOW fit reproduced through the model_fits asset, and the minimum-data rule at asset level.

Tiny data set, as_of = 2024-06-30 12:00 UTC (30 days before: 2024-05-31 12:00):

* cus_000001 (refs CRM-000001 + CRM-000007): completed orders on 2024-01-10 (70 + 15 EUR, two orders = one
  purchase day worth 85), 2024-03-10 (40 EUR), 2024-06-20 (80 EUR); a cancelled one on 2024-06-25.
  Now: x = 2, t_x = 162 days (01-10 -> 06-20), T = 172 (01-10 -> 06-30), mean repeat value (40 + 80) / 2 = 60.
  30 days before: x = 1, t_x = 60 (01-10 -> 03-10), T = 142 (01-10 -> 05-31), value 40.
* cus_000002: one completed GBP order on 2024-05-01 (50 GBP = 58 EUR) and a refunded one on 2024-05-10.
  Now: x = 0, t_x = 0, T = 60. 30 days before: x = 0, T = 30.
* cus_000003: bought only after as_of (2024-07-02) -> no purchase as of as_of.
* cus_000004: never bought.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.models.bgnbd import BGNBDParams
from tailor.models.clv import RFMSummarySchema, rfm_summary
from tailor.models.gamma_gamma import GammaGammaParams
from tailor.models.predictions import (
    PREDICTION_COLUMNS,
    CustomerPredictionsTableSchema,
    ModelFitsSchema,
    finalize_summary,
    load_rfm_summary,
    params_from_fits,
    rfm_summary_sql,
    score_customers,
)

AS_OF = datetime(2024, 6, 30, 12, 0, 0)
T = pd.Timestamp
WEEK = 7.0
DATA = Path(__file__).parents[1] / "data"
from tests.tables import query, query_on_fakesnow, read_table, write_table


def tables() -> dict[str, pd.DataFrame]:
    links = pd.DataFrame(
        {
            "source": ["crm"] * 5,
            "source_record_id": ["CRM-000001", "CRM-000007", "CRM-000002", "CRM-000003", "CRM-000004"],
            "customer_id": ["cus_000001", "cus_000001", "cus_000002", "cus_000003", "cus_000004"],
            "rule": ["exact_email", "exact_email", "single_record", "single_record", "single_record"],
            "score": [1.0] * 5,
        }
    )
    profiles = pd.DataFrame({"customer_id": ["cus_000001", "cus_000002", "cus_000003", "cus_000004"]})
    orders = pd.DataFrame(
        [
            ("O1", "CRM-000001", T("2024-01-10 09:00"), "EUR", "completed", 70.0, 70.0),
            ("O2", "CRM-000007", T("2024-01-10 18:00"), "EUR", "completed", 15.0, 15.0),
            ("O3", "CRM-000001", T("2024-03-10 10:00"), "EUR", "completed", 40.0, 40.0),
            ("O4", "CRM-000007", T("2024-06-20 08:00"), "EUR", "completed", 80.0, 80.0),
            ("O5", "CRM-000001", T("2024-06-25 08:00"), "EUR", "cancelled", 500.0, 500.0),
            ("O6", "CRM-000002", T("2024-05-01 10:00"), "GBP", "completed", 50.0, 58.0),
            ("O7", "CRM-000002", T("2024-05-10 10:00"), "GBP", "refunded", 20.0, 23.2),
            ("O8", "CRM-000003", T("2024-07-02 10:00"), "EUR", "completed", 30.0, 30.0),
            ("O9", "CRM-000099", T("2024-06-01 10:00"), "EUR", "completed", 10.0, 10.0),  # no profile
        ],
        columns=["order_id", "customer_ref", "ordered_at", "currency", "status", "order_total", "order_total_eur"],
    )
    orders["item_count"] = 1
    return {"customer_identity_links": links, "customer_profiles": profiles, "orders": orders}


def load(warehouse, data: dict[str, pd.DataFrame]) -> None:
    for name, df in data.items():
        write_table(warehouse, name, df)


NOW = pd.DataFrame(
    {"customer_id": ["cus_000001", "cus_000002"], "frequency": [2, 0], "recency": [162.0, 0.0],
     "T": [172.0, 60.0], "monetary_value": [60.0, 0.0]}
)
PAST = pd.DataFrame(
    {"customer_id": ["cus_000001", "cus_000002"], "frequency": [1, 0], "recency": [60.0, 0.0],
     "T": [142.0, 30.0], "monetary_value": [40.0, 0.0]}
)


def test_rfm_summary_sql_hand_checked_and_equal_to_the_pandas_definition(warehouse):
    load(warehouse, tables())
    with warehouse.session() as session:
        now = load_rfm_summary(session, AS_OF)
        past = load_rfm_summary(session, datetime(2024, 5, 31, 12, 0))
    RFMSummarySchema.validate(now)
    pd.testing.assert_frame_equal(now, NOW)
    pd.testing.assert_frame_equal(past, PAST)
    # the same as tailor.models.clv.rfm_summary on the completed orders mapped to customer_id (EUR)
    t = tables()
    orders = t["orders"].merge(
        t["customer_identity_links"].rename(columns={"source_record_id": "customer_ref"}), on="customer_ref"
    )
    completed = orders[orders["status"] == "completed"]
    pd.testing.assert_frame_equal(now, rfm_summary(completed, "customer_id", "ordered_at", "order_total_eur", as_of=AS_OF))


def test_rfm_summary_sql_runs_unchanged_on_snowflake_through_fakesnow():
    pytest.importorskip("fakesnow")
    raw = query_on_fakesnow(tables(), rfm_summary_sql(AS_OF))
    pd.testing.assert_frame_equal(finalize_summary(raw), NOW)


CDNOW_DAYS = BGNBDParams(r=0.243, alpha=4.414 * WEEK, a=0.793, b=2.426)
GG = GammaGammaParams(p=6.25, q=3.74, v=15.44)
IDS = ["cus_000001", "cus_000002", "cus_000003", "cus_000004"]


def test_score_customers_by_hand():
    out = score_customers(IDS, NOW, PAST, CDNOW_DAYS, GG, AS_OF, discount_rate_annual=0.10)
    CustomerPredictionsTableSchema.validate(out)
    assert list(out.columns) == PREDICTION_COLUMNS
    r, alpha, a, b = 0.243, 30.898, 0.793, 2.426
    by = out.set_index("customer_id")
    # P(alive | x, t_x, T) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    now = 1 / (1 + a / (b + 2 - 1) * ((alpha + 172) / (alpha + 162)) ** (r + 2))
    past = 1 / (1 + a / (b + 1 - 1) * ((alpha + 142) / (alpha + 60)) ** (r + 1))
    # now: 1 / (1 + 0.793 / 3.426 * (202.898 / 192.898) ** 2.243) = 1 / (1 + 0.231465 * 1.120041) = 0.794123
    # 30 days ago: 1 / (1 + 0.793 / 2.426 * (172.898 / 90.898) ** 1.243) = 1 / (1 + 0.326876 * 2.223770) = 0.579074
    assert now == pytest.approx(0.794123, abs=1e-6) and past == pytest.approx(0.579074, abs=1e-6)
    c1 = by.loc["cus_000001"]
    assert c1["prediction_status"] == "predicted"
    assert c1["probability_alive"] == pytest.approx(now, rel=1e-12)
    assert c1["probability_alive_30d_ago"] == pytest.approx(past, rel=1e-12)
    # a purchase since: P(alive) rose
    assert c1["probability_alive_change_30d"] == pytest.approx(now - past, rel=1e-12)
    assert c1["churn_risk"] == pytest.approx(1 - now, rel=1e-12)
    # E[order value | x, mbar] = p (v + x mbar) / (p x + q - 1) = 6.25 (15.44 + 2 * 60) / (12.5 + 2.74)
    assert c1["expected_order_value_eur"] == pytest.approx(6.25 * (15.44 + 120) / (12.5 + 2.74), rel=1e-12)
    # a one-time buyer is "alive" with probability 1 in BG/NBD, now and 30 days ago; order value = population mean
    c2 = by.loc["cus_000002"]
    assert (c2["probability_alive"], c2["probability_alive_30d_ago"], c2["churn_risk"]) == (1.0, 1.0, 0.0)
    assert c2["probability_alive_change_30d"] == 0.0
    assert c2["expected_order_value_eur"] == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-12)
    assert c1["expected_purchases_90d"] > 0 and c2["expected_purchases_90d"] > 0
    # CLV percentile: share of customers with a CLV whose CLV is lower (2 customers: the lower one 0, the other 50)
    assert sorted(out["clv_12m_percentile"].dropna().tolist()) == [0.0, 50.0]
    # no purchase up to as_of: explicit status, no predictions at all
    for cid in ("cus_000003", "cus_000004"):
        row = by.loc[cid]
        assert row["prediction_status"] == "no_purchase"
        assert row[PREDICTION_COLUMNS[3:]].isna().all()


def test_clv_without_discount_is_order_value_times_expected_purchases():
    from tailor.models.bgnbd import expected_purchases

    out = score_customers(IDS[:2], NOW, PAST, CDNOW_DAYS, GG, AS_OF, discount_rate_annual=0.0).set_index("customer_id")
    e365 = expected_purchases(CDNOW_DAYS, 365, [2, 0], [162.0, 0.0], [172.0, 60.0])
    np.testing.assert_allclose(out["clv_12m_eur"], out["expected_order_value_eur"] * e365, rtol=1e-9)


def test_buyers_without_usable_model_are_no_model_and_a_new_buyer_has_no_past():
    out = score_customers(IDS, NOW, PAST, None, None, AS_OF).set_index("customer_id")
    assert out["prediction_status"].tolist() == ["no_model", "no_model", "no_purchase", "no_purchase"]
    assert out[PREDICTION_COLUMNS[3:]].isna().all().all()
    # cus_000002 had not bought 30 days ago: P(alive) 30 days ago unknown, so no change either
    late = score_customers(IDS, NOW, PAST.iloc[:1], CDNOW_DAYS, None, AS_OF).set_index("customer_id")
    assert math.isnan(late.loc["cus_000002", "probability_alive_30d_ago"])
    assert math.isnan(late.loc["cus_000002", "probability_alive_change_30d"])
    # BG/NBD without Gamma-Gamma: purchases and P(alive), no money
    assert late.loc["cus_000001", "prediction_status"] == "predicted"
    assert late[["expected_order_value_eur", "clv_12m_eur", "clv_12m_percentile"]].isna().all().all()


def test_params_from_fits_reads_back_what_model_fits_wrote():
    from tailor.models.clv import FittedModels
    from tailor.models.mle import ModelFit
    from tailor.models.predictions import model_fits_frame

    fitted = FittedModels(
        CDNOW_DAYS, None,
        [ModelFit("bgnbd", {"r": 0.243, "alpha": 30.898, "a": 0.793, "b": 2.426}, -100.5, 4, True, 12),
         ModelFit("gamma_gamma", {"p": float("nan"), "q": float("nan"), "v": float("nan")}, float("nan"), 1, False, 0)],
        {"bgnbd": "", "gamma_gamma": "not fitted: 1 repeat customers with a value > 0, fewer than min_customers=50"},
    )
    frame = model_fits_frame(fitted, AS_OF, datetime(2024, 7, 1), 50)
    ModelFitsSchema.validate(frame)
    assert frame["fit_id"].tolist() == ["bgnbd@2024-06-30T12:00:00", "gamma_gamma@2024-06-30T12:00:00"]
    assert json.loads(frame["params"].iloc[1]) == {"p": None, "q": None, "v": None}  # NaN is not JSON
    bg, gg = params_from_fits(frame)
    assert bg == BGNBDParams(0.243, 30.898, 0.793, 2.426) and gg is None
    with pytest.raises(ValueError, match="expected one bgnbd row"):
        params_from_fits(pd.concat([frame, frame]))


def materialize_models(warehouse, as_of: datetime, min_customers: int = 50, select=("model_fits", "customer_predictions")):
    from dagster import materialize

    from assets.models import ASSETS

    assets = [a for a in ASSETS if a.key.path[-1] in select]
    config = {"as_of": as_of.isoformat()}
    ops = {name: {"config": dict(config)} for name in select}
    if "model_fits" in select:
        ops["model_fits"]["config"]["min_repeat_customers"] = min_customers
    result = materialize(assets, resources={"warehouse": warehouse}, run_config={"ops": ops}, raise_on_error=True)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    return result


def test_small_shop_below_the_minimum_data_rule(warehouse):
    """4 customers, 1 repeat buyer: no model is fitted (rule: 50 repeat buyers); buyers are 'no_model'."""
    load(warehouse, tables())
    result = materialize_models(warehouse, AS_OF)
    fits = read_table(warehouse, "model_fits").sort_values("model").reset_index(drop=True)
    assert fits["model"].tolist() == ["bgnbd", "gamma_gamma"]
    assert fits["usable"].tolist() == [False, False] and fits["converged"].tolist() == [False, False]
    assert fits["customers"].tolist() == [2, 1]  # 2 buyers for BG/NBD; 1 repeat buyer with a value for GG
    assert fits["note"].iloc[0] == "not fitted: 1 repeat customers, fewer than min_customers=50"
    meta = result.asset_materializations_for_node("model_fits")[0].metadata
    assert meta["bgnbd/customers"].value == 2 and meta["bgnbd/usable"].value == 0
    assert "bgnbd/r" not in meta  # NaN parameters are not plotted
    preds = read_table(warehouse, "customer_predictions").set_index("customer_id")
    assert preds["prediction_status"].to_dict() == {
        "cus_000001": "no_model", "cus_000002": "no_model", "cus_000003": "no_purchase", "cus_000004": "no_purchase"}
    assert preds["probability_alive"].isna().all()


def cdnow_tables() -> dict[str, pd.DataFrame]:
    raw = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "id", "date", "cds", "dollars"], dtype={"date": str})
    refs = raw["id"].map(lambda i: f"CRM-{i:06d}")
    orders = pd.DataFrame(
        {"order_id": [f"O{i}" for i in range(len(raw))], "customer_ref": refs,
         "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d"), "currency": "USD", "status": "completed",
         # the published fits are in dollars: use them as the "EUR" amounts so the parameters compare
         "order_total": raw["dollars"], "order_total_eur": raw["dollars"], "item_count": raw["cds"]}
    )
    ids = sorted(refs.unique())
    links = pd.DataFrame({"source": "crm", "source_record_id": ids, "customer_id": [r.replace("CRM-", "cus_") for r in ids],
                          "rule": "single_record", "score": 1.0})
    return {"orders": orders, "customer_identity_links": links,
            "customer_profiles": links[["customer_id"]].copy()}


def test_model_fits_asset_reproduces_the_published_cdnow_fit_and_appends(warehouse):
    """Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414 weeks, a = 0.793, b = 2.426, LL = -9582.4 (weeks);
    Fader & Hardie Gamma-Gamma on the 946 repeat buyers: p = 6.25, q = 3.74, v = 15.44 — through SQL + asset."""
    load(warehouse, cdnow_tables())
    as_of = datetime(1997, 9, 30)
    result = materialize_models(warehouse, as_of)
    fits = read_table(warehouse, "model_fits").set_index("model")
    ModelFitsSchema.validate(read_table(warehouse, "model_fits"))
    bg, gg = json.loads(fits.loc["bgnbd", "params"]), json.loads(fits.loc["gamma_gamma", "params"])
    assert bg["r"] == pytest.approx(0.243, abs=1e-3) and bg["alpha"] / WEEK == pytest.approx(4.414, abs=1e-3)
    assert bg["a"] == pytest.approx(0.793, abs=1e-3) and bg["b"] == pytest.approx(2.426, abs=1e-3)
    with warehouse.session() as session:
        summary = load_rfm_summary(session, as_of)
    ll_weeks = fits.loc["bgnbd", "log_likelihood"] + math.log(WEEK) * summary["frequency"].sum()
    assert ll_weeks == pytest.approx(-9582.4, abs=0.05)
    assert fits.loc["bgnbd", "customers"] == 2357 and fits.loc["gamma_gamma", "customers"] == 946
    assert (gg["p"], gg["q"], gg["v"]) == (pytest.approx(6.25, abs=0.01), pytest.approx(3.74, abs=0.01),
                                           pytest.approx(15.44, abs=0.01))
    assert fits["usable"].all() and fits["converged"].all()
    assert fits.loc["bgnbd", "as_of"] == T("1997-09-30")
    meta = result.asset_materializations_for_node("model_fits")[0].metadata
    # figures are shown to FIGURE_DIGITS significant digits; the table keeps every digit (fits, above)
    assert meta["bgnbd/r"].value == pytest.approx(bg["r"], rel=1e-5)
    assert meta["gamma_gamma/v"].value == pytest.approx(gg["v"], rel=1e-5)
    assert meta["bgnbd/log_likelihood"].value == pytest.approx(fits.loc["bgnbd", "log_likelihood"], rel=1e-5)
    assert meta["buyers"].value == 2357 and meta["repeat_buyers"].value == 946

    # customer 1 of the paper (x = 2, t_x = 30.43, T = 38.86 weeks): 1.226 purchases expected in 39 weeks (Hardie's
    # spreadsheet); here the 90-day horizon: P(alive) by the formula with the fitted parameters
    preds = read_table(warehouse, "customer_predictions").set_index("customer_id")
    CustomerPredictionsTableSchema.validate(read_table(warehouse, "customer_predictions"))
    assert (preds["prediction_status"] == "predicted").all() and len(preds) == 2357
    s1 = summary.set_index("customer_id").loc["cus_000001"]
    assert (s1["frequency"], s1["recency"], s1["T"]) == (2, 213.0, 272.0)  # 30.43 and 38.86 weeks
    pa1 = 1 / (1 + bg["a"] / (bg["b"] + 1) * ((bg["alpha"] + 272) / (bg["alpha"] + 213)) ** (bg["r"] + 2))
    assert preds.loc["cus_000001", "probability_alive"] == pytest.approx(pa1, rel=1e-12)

    # a second fit, later: appended (4 rows), comparable over time; a rerun of the same as_of replaces its rows
    materialize_models(warehouse, datetime(1997, 12, 31), select=("model_fits",))
    materialize_models(warehouse, datetime(1997, 12, 31), select=("model_fits",))
    history = query(warehouse, "SELECT model, as_of, customers FROM model_fits ORDER BY as_of, model")
    assert history["as_of"].tolist() == [T("1997-09-30")] * 2 + [T("1997-12-31")] * 2
    # by the end of 1997, 1,040 of the 2,357 customers have a repeat purchase (rfm_summary in pandas agrees)
    later = rfm_summary(cdnow_tables()["orders"], "customer_ref", "ordered_at", "order_total_eur", as_of="1997-12-31")
    assert int((later["frequency"] > 0).sum()) == 1040
    assert history["customers"].tolist() == [2357, 946, 2357, 1040]


def test_customer_predictions_use_the_latest_fit_at_or_before_their_as_of(warehouse):
    # a click on customer_predictions alone must work: it scores with the newest fit it may use, and says which
    load(warehouse, tables())
    materialize_models(warehouse, AS_OF, select=("model_fits",))
    from dagster import materialize

    from assets.models import ASSETS

    asset = [a for a in ASSETS if a.key.path[-1] == "customer_predictions"]
    later = materialize(asset, resources={"warehouse": warehouse},
                        run_config={"ops": {"customer_predictions": {"config": {"as_of": "2024-07-01T00:00:00"}}}})
    meta = later.asset_materializations_for_node("customer_predictions")[0].metadata
    assert meta["fit_as_of"].value == str(pd.Timestamp(AS_OF)) and meta["as_of"].value == "2024-07-01T00:00:00"
    with pytest.raises(Exception, match=r"model_fits has no fit at or before 2024-06-29T00:00:00; materialize model_fits"):
        materialize(asset, resources={"warehouse": warehouse},
                    run_config={"ops": {"customer_predictions": {"config": {"as_of": "2024-06-29T00:00:00"}}}})

def _fit_rows(as_of: datetime, usable: bool = False) -> pd.DataFrame:
    from tailor.models.clv import FittedModels
    from tailor.models.mle import ModelFit
    from tailor.models.predictions import model_fits_frame

    nan = float("nan")
    fitted = FittedModels(
        CDNOW_DAYS if usable else None, None,
        [ModelFit("bgnbd", {"r": 0.243, "alpha": 30.898, "a": 0.793, "b": 2.426}, -100.5, 4, True, 12),
         ModelFit("gamma_gamma", {"p": nan, "q": nan, "v": nan}, nan, 1, False, 0)],
        {"bgnbd": "", "gamma_gamma": "not fitted"},
    )
    return model_fits_frame(fitted, as_of, datetime(2024, 7, 1), 50)


def test_record_fits_replaces_a_rerun_and_latest_fit_reads_the_newest_one_not_after_as_of(tmp_path):
    from tailor.models.predictions import latest_fit, record_fits
    from tailor.warehouse.duckdb_connection import DuckDBFile

    warehouse = DuckDBFile(str(tmp_path / "wh.duckdb"))
    with warehouse.session() as s:
        assert record_fits(s, _fit_rows(datetime(2024, 5, 31))) == 2
        assert record_fits(s, _fit_rows(AS_OF)) == 4
        assert record_fits(s, _fit_rows(AS_OF, usable=True)) == 4  # the same as_of again: its rows replaced
        fits = latest_fit(s, datetime(2024, 7, 1))
        assert sorted(fits["model"]) == ["bgnbd", "gamma_gamma"] and (fits["as_of"] == T(AS_OF)).all()
        assert fits.set_index("model").loc["bgnbd", "usable"]
        assert (latest_fit(s, datetime(2024, 6, 1))["as_of"] == T("2024-05-31")).all()
        assert (latest_fit(s, AS_OF)["as_of"] == T(AS_OF)).all()  # a fit exactly at as_of counts
        with pytest.raises(ValueError, match=r"^customer_predictions: model_fits has no fit at or before "
                                             r"2024-05-30T00:00:00; materialize model_fits first$"):
            latest_fit(s, datetime(2024, 5, 30))


def test_prediction_figures_count_statuses_and_sum_the_predicted():
    from tailor.models.predictions import prediction_figures

    fitted = score_customers(IDS, NOW, PAST, CDNOW_DAYS, None, AS_OF)
    figures = prediction_figures(fitted)
    assert (figures["predicted"], figures["no_purchase"], figures["no_model"]) == (2, 2, 0)
    predicted = fitted[fitted["prediction_status"] == "predicted"]
    assert figures["mean_probability_alive"] == pytest.approx(predicted["probability_alive"].mean())
    assert figures["expected_purchases_90d_total"] == pytest.approx(predicted["expected_purchases_90d"].sum())
    assert "clv_12m_eur_total" not in figures  # no Gamma-Gamma: no CLV to sum
    assert prediction_figures(score_customers(IDS, NOW, PAST, None, None, AS_OF)) == {
        "predicted": 0, "no_purchase": 2, "no_model": 2}
