"""Predictive models as tables: ``model_fits`` (BG/NBD and Gamma-Gamma fits over time) and
``customer_predictions`` (per customer: expected purchases, P(alive) now and 30 days ago, order value, CLV).

The model inputs (one row per customer: frequency, recency, T, monetary value; see
:func:`tailor.models.clv.rfm_summary`) are computed in the warehouse by :func:`rfm_summary_sql`, from completed
orders mapped to ``customer_id`` through ``customer_identity_links``, in EUR (``orders.order_total_eur``). The
models themselves are :mod:`tailor.models.clv`. Definitions, units and the choices made: ``docs/models.md``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive
from tailor.models.bgnbd import BGNBDParams, probability_alive
from tailor.models.clv import DEFAULT_MIN_REPEAT_CUSTOMERS, RFM_COLUMNS, FittedModels, fit_models, predict_with_params
from tailor.models.gamma_gamma import GammaGammaParams
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.sql import CUSTOMER_LINKS_CTE, timestamp_literal

#: Prediction horizon of ``expected_purchases_90d`` (days).
HORIZON_DAYS = 90

#: CLV horizon (``clv_12m_eur``): 365 days, cut into 30-day steps (docs/models.md "CLV").
CLV_HORIZON_DAYS = 365

#: Annual discount rate of the CLV: cash expected in k days is worth 1 / (1 + 0.10)^(k / 365) today.
DISCOUNT_RATE_ANNUAL = 0.10

#: "P(alive) 30 days ago" uses the same parameters on the data cut at as_of - 30 days.
LOOKBACK_DAYS = 30

MODELS = ("bgnbd", "gamma_gamma")
PARAM_NAMES = {"bgnbd": ("r", "alpha", "a", "b"), "gamma_gamma": ("p", "q", "v")}

STATUS_PREDICTED = "predicted"  # a buyer, the BG/NBD model is usable
STATUS_NO_PURCHASE = "no_purchase"  # no completed order up to as_of: the models do not describe the customer yet
STATUS_NO_MODEL = "no_model"  # a buyer, but the model could not be fitted (too few repeat buyers, no convergence)
STATUSES = (STATUS_PREDICTED, STATUS_NO_PURCHASE, STATUS_NO_MODEL)

#: Columns of ``customer_predictions`` (the order of the table).
PREDICTION_COLUMNS: list[str] = [
    "customer_id",
    "as_of",
    "prediction_status",
    "expected_purchases_90d",
    "probability_alive",
    "probability_alive_30d_ago",
    "probability_alive_change_30d",
    "churn_risk",
    "expected_order_value_eur",
    "clv_12m_eur",
    "clv_12m_percentile",
]

#: The columns segment and email rules see (customer_table_sql joins them), with their kind in the condition
#: language (tailor.rules.fields): everything but the key and as_of, which customer_features already has.
PREDICTION_FIELD_KINDS: dict[str, str] = {
    "prediction_status": "string",
    "expected_purchases_90d": "number",
    "probability_alive": "number",
    "probability_alive_30d_ago": "number",
    "probability_alive_change_30d": "number",
    "churn_risk": "number",
    "expected_order_value_eur": "number",
    "clv_12m_eur": "number",
    "clv_12m_percentile": "number",
}


def rfm_summary_sql(as_of: datetime | pd.Timestamp) -> str:
    """One ``SELECT`` (Snowflake dialect): :data:`tailor.models.clv.RFM_COLUMNS` per customer with a completed
    order up to ``as_of`` (``T`` is returned as ``t_days``), money in EUR. Same definitions as
    :func:`tailor.models.clv.rfm_summary` (tested equal): purchases grouped into UTC calendar days, frequency =
    purchase days - 1, recency = days from the first to the last purchase day, T = days from the first purchase
    day to the day of ``as_of``, monetary_value = mean EUR value of the repeat purchase days (0 without repeats)."""
    t = timestamp_literal(as_of)
    return f"""
WITH
{CUSTOMER_LINKS_CTE},
purchase_days AS (
    -- several orders on one day are one purchase (their values summed), as in the CLV literature
    SELECT l.customer_id, CAST(o.ordered_at AS DATE) AS day, SUM(o.order_total_eur) AS value
    FROM orders o
    JOIN links l ON l.customer_ref = o.customer_ref
    WHERE o.status = 'completed' AND o.ordered_at <= {t}
    GROUP BY l.customer_id, CAST(o.ordered_at AS DATE)
),
with_first AS (
    SELECT customer_id, day, value, MIN(day) OVER (PARTITION BY customer_id) AS first_day
    FROM purchase_days
)
SELECT
    customer_id,
    COUNT(*) - 1 AS frequency,
    DATEDIFF(day, MIN(day), MAX(day)) AS recency,
    DATEDIFF(day, MIN(day), CAST({t} AS DATE)) AS t_days,
    CASE WHEN COUNT(*) > 1
         THEN (SUM(value) - SUM(CASE WHEN day = first_day THEN value ELSE 0 END)) / (COUNT(*) - 1)
         ELSE 0 END AS monetary_value
FROM with_first
GROUP BY customer_id
ORDER BY customer_id
""".strip()


def finalize_summary(df: pd.DataFrame) -> pd.DataFrame:
    """The SQL result as an :class:`tailor.models.clv.RFMSummarySchema` frame (dtypes fixed, ``t_days`` -> ``T``)."""
    missing = [c for c in ("customer_id", "frequency", "recency", "t_days", "monetary_value") if c not in df.columns]
    if missing:
        raise ValueError(f"rfm summary: SQL result is missing columns {missing}")
    out = pd.DataFrame(
        {
            "customer_id": df["customer_id"].astype(str).to_numpy(dtype=object),
            "frequency": pd.to_numeric(df["frequency"]).astype(np.int64).to_numpy(),
            "recency": pd.to_numeric(df["recency"]).astype(np.float64).to_numpy(),
            "T": pd.to_numeric(df["t_days"]).astype(np.float64).to_numpy(),
            "monetary_value": pd.to_numeric(df["monetary_value"]).astype(np.float64).to_numpy(),
        }
    )
    out = out.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return out[RFM_COLUMNS]


def load_rfm_summary(session: WarehouseSession, as_of: datetime | pd.Timestamp) -> pd.DataFrame:
    """Model inputs as of ``as_of``, computed in the warehouse inside ``session``."""
    return finalize_summary(session.query(rfm_summary_sql(as_of)))


class ModelFitsSchema(pa.DataFrameModel):
    """``model_fits``: one row per model and fit; appended, so fits are comparable over time."""

    fit_id: Series[str] = pa.Field(nullable=False, unique=True)
    model: Series[str] = pa.Field(isin=list(MODELS))
    as_of: Series[pa.DateTime] = pa.Field(nullable=False)
    fitted_at: Series[pa.DateTime] = pa.Field(nullable=False)
    params: Series[str] = pa.Field(nullable=False)
    log_likelihood: Series[np.float64] = pa.Field(nullable=True)
    customers: Series[np.int64] = pa.Field(ge=0)
    converged: Series[bool] = pa.Field(nullable=False)
    iterations: Series[np.int64] = pa.Field(ge=0)
    usable: Series[bool] = pa.Field(nullable=False)
    note: Series[str] = pa.Field(nullable=False)
    min_customers: Series[np.int64] = pa.Field(ge=1)
    l2_penalty: Series[np.float64] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.check("params", name="json_object_of_the_model_parameters")
    def _params_json(cls, s: Series[str]) -> Series[bool]:
        def ok(v: Any) -> bool:
            try:
                d = json.loads(v)
            except (TypeError, ValueError):
                return False
            return isinstance(d, dict) and all(isinstance(x, (int, float)) or x is None for x in d.values())

        return s.map(ok)

    @pa.dataframe_check(name="usable_fits_converged_with_finite_parameters")
    def _usable(cls, df: pd.DataFrame) -> pd.Series:
        finite = df["params"].map(lambda v: all(x is not None and math.isfinite(x) for x in json.loads(v).values()))
        return ~df["usable"] | (df["converged"] & finite)


def _json_params(params: dict[str, float]) -> str:
    # NaN is not JSON: a parameter that was not fitted is written as null
    return json.dumps({k: (float(v) if math.isfinite(v) else None) for k, v in params.items()}, separators=(",", ":"))


def model_fits_frame(
    fitted: FittedModels,
    as_of: datetime | pd.Timestamp,
    fitted_at: datetime | pd.Timestamp,
    min_customers: int,
    l2_penalty: float = 0.0,
) -> pd.DataFrame:
    """The two rows (BG/NBD, Gamma-Gamma) of ``model_fits`` for one fit. ``fit_id`` = ``<model>@<as_of ISO>``:
    one fit per model and ``as_of`` (a rerun for the same as_of replaces it)."""
    as_of_ts = utc_naive(as_of)
    usable = {"bgnbd": fitted.bgnbd is not None, "gamma_gamma": fitted.gamma_gamma is not None}
    rows = []
    for fit in fitted.fits:
        rows.append(
            {
                "fit_id": f"{fit.model}@{as_of_ts.isoformat()}",
                "model": fit.model,
                "as_of": as_of_ts,
                "fitted_at": utc_naive(fitted_at),
                "params": _json_params(fit.params),
                "log_likelihood": float(fit.log_likelihood),
                "customers": int(fit.customers),
                "converged": bool(fit.converged),
                "iterations": int(fit.iterations),
                "usable": usable[fit.model],
                "note": fitted.notes.get(fit.model, ""),
                "min_customers": int(min_customers),
                "l2_penalty": float(l2_penalty),
            }
        )
    out = pd.DataFrame(rows)
    for col in ("as_of", "fitted_at"):
        out[col] = out[col].astype("datetime64[ns]")
    return out.astype({"customers": np.int64, "iterations": np.int64, "min_customers": np.int64})


def fit_customer_models(
    session: WarehouseSession,
    as_of: datetime,
    fitted_at: datetime,
    min_customers: int = DEFAULT_MIN_REPEAT_CUSTOMERS,
    l2_penalty: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit both models on the warehouse's completed orders as of ``as_of``: (model_fits rows, the summary)."""
    summary = load_rfm_summary(session, as_of)
    fitted = fit_models(summary, min_customers, l2_penalty=l2_penalty)
    return model_fits_frame(fitted, as_of, fitted_at, min_customers, l2_penalty), summary


def record_fits(session: WarehouseSession, fits: pd.DataFrame) -> int:
    """Append the rows of one fit to ``model_fits`` inside ``session``, replacing earlier rows of the same fits
    (``fit_id``: a rerun for the same as_of); the table's row count afterwards."""
    session.delete_where_in("model_fits", "fit_id", fits["fit_id"].tolist())
    session.write_table("model_fits", fits, mode="append")
    return int(session.query("SELECT COUNT(*) AS n FROM model_fits")["n"].iloc[0])


def latest_fit(session: WarehouseSession, as_of: datetime) -> pd.DataFrame:
    """The ``model_fits`` rows of the latest fit at or before ``as_of`` (one row per model); raises when there
    is none."""
    cutoff = timestamp_literal(as_of)
    fits = session.query(f"SELECT * FROM model_fits WHERE as_of = "
                         f"(SELECT MAX(as_of) FROM model_fits WHERE as_of <= {cutoff})")
    if fits.empty:
        raise ValueError(f"customer_predictions: model_fits has no fit at or before {as_of.isoformat()}; "
                         f"materialize model_fits first")
    return fits


def params_from_fits(fits: pd.DataFrame) -> tuple[BGNBDParams | None, GammaGammaParams | None]:
    """The usable parameters of ``model_fits`` rows of ONE fit (one row per model); None for a model whose
    fit is not usable. Raises when a model appears twice or not at all."""
    out: dict[str, Any] = {}
    for model in MODELS:
        rows = fits[fits["model"] == model]
        if len(rows) != 1:
            raise ValueError(f"model_fits: expected one {model} row for the fit, found {len(rows)}")
        row = rows.iloc[0]
        if not bool(row["usable"]):
            out[model] = None
            continue
        values = json.loads(row["params"])
        names = PARAM_NAMES[model]
        if set(values) != set(names):
            raise ValueError(f"model_fits {row['fit_id']}: params {sorted(values)} are not the {model} parameters "
                             f"{list(names)}")
        cls = BGNBDParams if model == "bgnbd" else GammaGammaParams
        out[model] = cls(**{k: float(values[k]) for k in names})
    return out["bgnbd"], out["gamma_gamma"]


def fit_metadata(fits: pd.DataFrame) -> dict[str, float | int]:
    """Numeric figures per model (``bgnbd/r``, ``bgnbd/log_likelihood``, ``gamma_gamma/customers``, ...), so the
    Dagster UI plots them over time. Not-fitted (NaN) values are left out: a plot has no point for them."""
    figures: dict[str, float | int] = {}
    for row in fits.itertuples(index=False):
        for name, value in json.loads(row.params).items():
            if value is not None and math.isfinite(value):
                figures[f"{row.model}/{name}"] = float(value)
        if math.isfinite(row.log_likelihood):
            figures[f"{row.model}/log_likelihood"] = float(row.log_likelihood)
        figures[f"{row.model}/customers"] = int(row.customers)
        figures[f"{row.model}/converged"] = int(bool(row.converged))
        figures[f"{row.model}/usable"] = int(bool(row.usable))
    return figures


class CustomerPredictionsTableSchema(pa.DataFrameModel):
    """``customer_predictions``: one row per customer of ``customer_profiles``, as of ``as_of`` (UTC)."""

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    as_of: Series[pa.DateTime] = pa.Field(nullable=False)
    prediction_status: Series[str] = pa.Field(isin=list(STATUSES))
    expected_purchases_90d: Series[np.float64] = pa.Field(ge=0, nullable=True)
    probability_alive: Series[np.float64] = pa.Field(ge=0, le=1, nullable=True)
    probability_alive_30d_ago: Series[np.float64] = pa.Field(ge=0, le=1, nullable=True)
    probability_alive_change_30d: Series[np.float64] = pa.Field(ge=-1, le=1, nullable=True)
    churn_risk: Series[np.float64] = pa.Field(ge=0, le=1, nullable=True)
    expected_order_value_eur: Series[np.float64] = pa.Field(ge=0, nullable=True)
    clv_12m_eur: Series[np.float64] = pa.Field(ge=0, nullable=True)
    clv_12m_percentile: Series[np.float64] = pa.Field(ge=0, lt=100, nullable=True)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.dataframe_check(name="predictions_only_for_predicted_customers")
    def _status_consistent(cls, df: pd.DataFrame) -> pd.Series:
        predicted = df["prediction_status"] == STATUS_PREDICTED
        return (predicted == df["probability_alive"].notna()) & (predicted == df["expected_purchases_90d"].notna())

    @pa.dataframe_check(name="churn_risk_is_one_minus_probability_alive")
    def _churn(cls, df: pd.DataFrame) -> pd.Series:
        both = df["churn_risk"].isna() & df["probability_alive"].isna()
        return both | ((df["churn_risk"] + df["probability_alive"] - 1).abs() < 1e-12)

    @pa.dataframe_check(name="single_as_of")
    def _single_as_of(cls, df: pd.DataFrame) -> bool:
        return df["as_of"].nunique() <= 1


def score_customers(
    customer_ids: Any,
    summary_now: pd.DataFrame,
    summary_past: pd.DataFrame,
    bg: BGNBDParams | None,
    gg: GammaGammaParams | None,
    as_of: datetime | pd.Timestamp,
    *,
    discount_rate_annual: float = DISCOUNT_RATE_ANNUAL,
) -> pd.DataFrame:
    """``customer_predictions`` for ``customer_ids`` (all customers, e.g. of customer_profiles).

    ``summary_now`` / ``summary_past``: :func:`tailor.models.clv.rfm_summary` frames as of ``as_of`` and as of
    ``as_of - 30 days``; the same parameters score both, so the change of P(alive) is due to the customer's
    data only. Customers without a completed order get ``prediction_status = "no_purchase"`` and NULL
    predictions; buyers get ``"no_model"`` and NULLs when the BG/NBD parameters are None. A buyer who had not
    bought yet 30 days ago has a NULL ``probability_alive_30d_ago`` (and change).
    """
    ids = pd.Index(pd.Series(list(customer_ids), dtype=object).astype(str), name="customer_id")
    if ids.duplicated().any():
        raise ValueError(f"score_customers: customer_id {ids[ids.duplicated()][0]!r} appears more than once")
    now = predict_with_params(
        summary_now, bg, gg, HORIZON_DAYS, CLV_HORIZON_DAYS, discount_rate_annual=discount_rate_annual
    ).set_index("customer_id")
    out = pd.DataFrame(index=ids)
    out["as_of"] = utc_naive(as_of)
    buyer = ids.isin(now.index)
    status = np.where(buyer, STATUS_PREDICTED if bg is not None else STATUS_NO_MODEL, STATUS_NO_PURCHASE)
    out["prediction_status"] = status.astype(object)
    nowr = now.reindex(ids)
    out["expected_purchases_90d"] = nowr[f"expected_purchases_{HORIZON_DAYS}d"].to_numpy()
    out["probability_alive"] = nowr["probability_alive"].to_numpy()
    past_pa = pd.Series(np.nan, index=ids)
    if bg is not None and len(summary_past):
        past = summary_past.set_index(summary_past["customer_id"].astype(str))
        pa_past = pd.Series(probability_alive(bg, past["frequency"], past["recency"], past["T"]), index=past.index)
        past_pa = pa_past.reindex(ids)
    out["probability_alive_30d_ago"] = past_pa.to_numpy()
    out["probability_alive_change_30d"] = out["probability_alive"] - out["probability_alive_30d_ago"]
    out["churn_risk"] = 1.0 - out["probability_alive"]
    out["expected_order_value_eur"] = nowr["expected_order_value"].to_numpy()
    clv = nowr[f"clv_{CLV_HORIZON_DAYS}d"]
    out["clv_12m_eur"] = clv.to_numpy()
    # share (in %) of the customers with a CLV whose CLV is lower: the top 10 % have >= 90; ties share a value
    n = int(clv.notna().sum())
    below = clv.rank(method="min") - 1
    out["clv_12m_percentile"] = (below / n * 100.0).to_numpy() if n else np.nan
    out = out.reset_index()
    out["as_of"] = out["as_of"].astype("datetime64[ns]")
    for col in PREDICTION_COLUMNS[3:]:
        out[col] = out[col].astype(np.float64)
    return out[PREDICTION_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)


def prediction_figures(predictions) -> dict:
    status = predictions["prediction_status"].value_counts()
    predicted = predictions[predictions["prediction_status"] == STATUS_PREDICTED]
    figures: dict = {
        "predicted": int(status.get(STATUS_PREDICTED, 0)),
        "no_purchase": int(status.get(STATUS_NO_PURCHASE, 0)),
        "no_model": int(status.get(STATUS_NO_MODEL, 0)),
    }
    if len(predicted):
        figures.update(
            mean_probability_alive=float(predicted["probability_alive"].mean()),
            expected_purchases_90d_total=float(predicted["expected_purchases_90d"].sum()),
            probability_alive_falling_10pts=int((predicted["probability_alive_change_30d"] <= -0.1).sum()),
        )
        clv = predicted["clv_12m_eur"].dropna()
        if len(clv):
            figures.update(clv_12m_eur_total=float(clv.sum()), clv_12m_eur_median=float(clv.median()))
    return figures


def lookback(as_of: datetime) -> datetime:
    """The moment "30 days ago" of :data:`LOOKBACK_DAYS`."""
    return as_of - timedelta(days=LOOKBACK_DAYS)


def predict_from_warehouse(
    session: WarehouseSession,
    fits: pd.DataFrame,
    customer_ids: Any,
    as_of: datetime,
) -> pd.DataFrame:
    """``customer_predictions`` as of ``as_of`` with the parameters of ``fits`` (the model_fits rows of one fit),
    the model inputs read inside ``session``."""
    bg, gg = params_from_fits(fits)
    summary_now = load_rfm_summary(session, as_of)
    summary_past = load_rfm_summary(session, lookback(as_of)) if bg is not None else summary_now.iloc[0:0]
    return score_customers(customer_ids, summary_now, summary_past, bg, gg, as_of)
