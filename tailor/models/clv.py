"""Customer lifetime value from the two models: their inputs per customer (:func:`rfm_summary`), both fits under
the minimum-data rule (:func:`fit_models`), per-customer predictions (:func:`predict_with_params`) and the
discounted CLV (:func:`customer_lifetime_value`).

Pure functions, no Dagster, no warehouse: :mod:`tailor.models.predictions` feeds them from the warehouse. The
models are :mod:`tailor.models.bgnbd` (purchases, probability alive) and :mod:`tailor.models.gamma_gamma` (order
value), fitted by maximum likelihood (:mod:`tailor.models.mle`; an optional L2 penalty ``l2 * sum(theta**2)`` on
the mean negative log-likelihood, ``lifetimes``' ``penalizer_coef`` convention, defaults to 0). Units and the
minimum-data rule: ``docs/models.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive, utc_naive_series
from tailor.models.bgnbd import (
    BGNBDParams,
    bgnbd_arrays,
    distinct_x_t,
    expected_purchases,
    expected_purchases_checked,
    fit_bgnbd,
    probability_alive,
)
from tailor.models.gamma_gamma import GammaGammaParams, expected_order_value, fit_gamma_gamma
from tailor.models.mle import ModelFit, as_1d_float, first_bad

log = logging.getLogger(__name__)

#: Fewest repeat buyers (frequency > 0) :func:`fit_models` fits a model on; below it its predictions are NaN.
DEFAULT_MIN_REPEAT_CUSTOMERS = 50


def customer_lifetime_value(
    bg: BGNBDParams,
    gg: GammaGammaParams,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    horizon_days: float = 365,
    discount_rate_annual: float = 0.10,
    step_days: float = 30,
) -> np.ndarray:
    """Discounted expected revenue over the next ``horizon_days`` (``lifetimes.customer_lifetime_value`` style).

    The horizon is cut into steps of ``step_days`` (the last one shorter if needed). Step k ending at t_k
    contributes E[order value] * (E[purchases by t_k] - E[purchases by t_(k-1)]) / (1 + d)^(t_k / 365),
    with d = ``discount_rate_annual`` (cash at the end of each step). Money in the unit of ``monetary_value``.
    """
    if not (horizon_days > 0 and step_days > 0):
        raise ValueError(f"horizon_days and step_days must be > 0, got {horizon_days!r}, {step_days!r}")
    if not discount_rate_annual > -1:
        raise ValueError(f"discount_rate_annual must be > -1, got {discount_rate_annual!r}")
    x, tx, tt = bgnbd_arrays(frequency, recency, T)
    eov = expected_order_value(gg, frequency, monetary_value)
    ends = list(np.arange(step_days, horizon_days, step_days, dtype=float))
    if not ends or ends[-1] < horizon_days:
        ends.append(float(horizon_days))
    clv = np.zeros(x.shape)
    prev = np.zeros(x.shape)
    p_alive = probability_alive(bg, x, tx, tt)
    groups = distinct_x_t(x, tt)
    for t_end in ends:
        cum = expected_purchases_checked(bg, t_end, x, tt, p_alive, groups)
        clv += (cum - prev) / (1.0 + discount_rate_annual) ** (t_end / 365.0)
        prev = cum
    return eov * clv


class RFMSummarySchema(pa.DataFrameModel):
    """Output of :func:`rfm_summary`: one row per customer with a purchase up to ``as_of``; times in days."""

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    frequency: Series[np.int64] = pa.Field(ge=0)
    recency: Series[np.float64] = pa.Field(ge=0, nullable=False)
    T: Series[np.float64] = pa.Field(ge=0, nullable=False)
    monetary_value: Series[np.float64] = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.dataframe_check(name="recency_le_T")
    def _recency_le_t(cls, df: pd.DataFrame) -> pd.Series:
        return df["recency"] <= df["T"]

    @pa.dataframe_check(name="no_repeat_means_zero")
    def _no_repeat_zero(cls, df: pd.DataFrame) -> pd.Series:
        return (df["frequency"] > 0) | ((df["recency"] == 0) & (df["monetary_value"] == 0))


RFM_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str = "order_total",
    as_of: datetime | pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Per-customer BG/NBD / Gamma-Gamma inputs from purchase rows (pass completed orders only).

    Rows after ``as_of`` (UTC; naive = UTC, aware converted) or without a timestamp are ignored; rows exactly at
    ``as_of`` count. Purchases are grouped into UTC calendar days (values summed per day):

    * ``frequency`` = purchase days - 1 (repeat purchase days),
    * ``recency`` = days from the first to the last purchase day (0 when frequency is 0),
    * ``T`` = days from the first purchase day to the calendar day of ``as_of``,
    * ``monetary_value`` = mean value of the repeat purchase days (the first day excluded); 0 when frequency is 0.

    Returns :data:`RFM_COLUMNS` (``customer_id`` holds the values of ``customer_col`` as str), sorted by it.
    """
    if as_of is None:
        raise ValueError("rfm_summary: as_of is required (point-in-time)")
    missing = [c for c in (customer_col, datetime_col, monetary_col) if c not in transactions.columns]
    if missing:
        raise ValueError(f"rfm_summary: transactions lack column(s) {missing}; have {list(transactions.columns)}")
    cutoff = utc_naive(as_of)
    ts = utc_naive_series(transactions[datetime_col])
    keep = ts.notna() & (ts <= cutoff) & transactions[customer_col].notna()
    df = pd.DataFrame(
        {
            "customer_id": transactions.loc[keep, customer_col].astype(str).to_numpy(),
            "day": ts[keep].dt.normalize().to_numpy(),
            "value": pd.to_numeric(transactions.loc[keep, monetary_col]).astype(np.float64).to_numpy(),
        },
        index=transactions.index[keep],
    )
    bad = ~np.isfinite(df["value"].to_numpy())
    if bad.any():
        label = df.index[first_bad(bad)]
        raise ValueError(f"rfm_summary: transactions row {label}: {monetary_col} is not a finite number")
    if df.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype=object),
                "frequency": pd.Series([], dtype=np.int64),
                "recency": pd.Series([], dtype=np.float64),
                "T": pd.Series([], dtype=np.float64),
                "monetary_value": pd.Series([], dtype=np.float64),
            }
        )
    days = df.groupby(["customer_id", "day"], sort=True)["value"].sum().reset_index()
    g = days.groupby("customer_id", sort=True)
    n_days = g["day"].size()
    first = g["day"].min()
    last = g["day"].max()
    total = g["value"].sum()
    first_value = g["value"].first()  # rows are sorted by day within customer
    freq = (n_days - 1).astype(np.int64)
    day = pd.Timedelta(days=1)
    repeat_mean = np.where(freq > 0, (total - first_value) / freq.clip(lower=1), 0.0)
    out = pd.DataFrame(
        {
            "customer_id": n_days.index.astype(str).to_numpy(dtype=object),
            "frequency": freq.to_numpy(),
            "recency": ((last - first) / day).to_numpy(dtype=np.float64),
            "T": ((cutoff.normalize() - first) / day).to_numpy(dtype=np.float64),
            "monetary_value": np.asarray(repeat_mean, dtype=np.float64),
        }
    )
    return out.reset_index(drop=True)


def _not_fitted(model: str, names: list[str], customers: int) -> ModelFit:
    return ModelFit(model, {k: float("nan") for k in names}, float("nan"), customers, False, 0)


@dataclass(frozen=True)
class FittedModels:
    """Result of :func:`fit_models`: the two fits, and the parameters fit to predict with (None when not)."""

    bgnbd: BGNBDParams | None
    gamma_gamma: GammaGammaParams | None
    fits: list[ModelFit]  # BG/NBD first
    notes: dict[str, str]  # model -> why its parameters are not used ("" when they are)


def fit_models(
    summary: pd.DataFrame, min_customers: int = DEFAULT_MIN_REPEAT_CUSTOMERS, *, l2_penalty: float = 0.0
) -> FittedModels:
    """Fit BG/NBD and Gamma-Gamma on an :func:`rfm_summary` frame under the minimum-data rule.

    A model is fitted only when at least ``min_customers`` customers have frequency > 0 (BG/NBD) resp.
    frequency > 0 and monetary_value > 0 (Gamma-Gamma); otherwise its ``ModelFit`` has ``converged=False`` and
    NaN parameters. Its parameters are used for predictions only when the fit converged (and, for Gamma-Gamma,
    q > 1: otherwise the mean order value is infinite); ``notes`` says why not.
    """
    missing = [c for c in RFM_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"fit_models: summary lacks column(s) {missing}; have {list(summary.columns)}")
    x, tx, tt = bgnbd_arrays(summary["frequency"], summary["recency"], summary["T"])
    m = as_1d_float("monetary_value", summary["monetary_value"])
    n = x.size
    notes = {"bgnbd": "", "gamma_gamma": ""}

    repeat = int(np.sum(x > 0))
    if repeat >= min_customers:
        bg, bg_fit = fit_bgnbd(x, tx, tt, l2_penalty=l2_penalty)
    else:
        log.warning("BG/NBD not fitted: %d repeat customers < min_customers=%d", repeat, min_customers)
        bg, bg_fit = None, _not_fitted("bgnbd", ["r", "alpha", "a", "b"], n)
        notes["bgnbd"] = f"not fitted: {repeat} repeat customers, fewer than min_customers={min_customers}"

    gg_mask = (x > 0) & np.isfinite(m) & (m > 0)
    gg_n = int(np.sum(gg_mask))
    if gg_n >= min_customers:
        gg, gg_fit = fit_gamma_gamma(x[gg_mask], m[gg_mask], l2_penalty=l2_penalty)
    else:
        log.warning(
            "Gamma-Gamma not fitted: %d repeat customers with value > 0 < min_customers=%d", gg_n, min_customers
        )
        gg, gg_fit = None, _not_fitted("gamma_gamma", ["p", "q", "v"], gg_n)
        notes["gamma_gamma"] = (
            f"not fitted: {gg_n} repeat customers with a value > 0, fewer than min_customers={min_customers}"
        )

    if bg is not None and not bg_fit.converged:
        log.warning("BG/NBD fit did not converge; predictions left NaN")
        notes["bgnbd"] = "did not converge"
        bg = None
    if gg is not None and not gg_fit.converged:
        log.warning("Gamma-Gamma fit did not converge; order values left NaN")
        notes["gamma_gamma"] = "did not converge"
        gg = None
    if gg is not None and not gg.q > 1:
        log.warning("Gamma-Gamma fit has q = %.4g <= 1: mean order value is infinite; order values left NaN", gg.q)
        notes["gamma_gamma"] = f"q = {gg.q:.4g} <= 1: the mean order value is infinite"
        gg = None
    return FittedModels(bg, gg, [bg_fit, gg_fit], notes)


def predict_with_params(
    summary: pd.DataFrame,
    bg: BGNBDParams | None,
    gg: GammaGammaParams | None,
    horizon_days: int = 90,
    clv_horizon_days: int = 365,
    *,
    discount_rate_annual: float = 0.10,
) -> pd.DataFrame:
    """Per-customer predictions of an :func:`rfm_summary` frame with given parameters (None: that model's
    columns are NaN; CLV needs both).

    Columns: ``customer_id`` (the summary's, same order), ``expected_purchases_{horizon_days}d``,
    ``probability_alive``, ``expected_order_value``, ``clv_{clv_horizon_days}d``.
    """
    missing = [c for c in RFM_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"predict_with_params: summary lacks column(s) {missing}; have {list(summary.columns)}")
    ids = summary["customer_id"].astype(str).to_numpy(dtype=object)
    x, tx, tt = bgnbd_arrays(summary["frequency"], summary["recency"], summary["T"])
    m = as_1d_float("monetary_value", summary["monetary_value"])
    n = x.size
    nan_col = np.full(n, np.nan)
    ep_col, pa_col, eov_col, clv_col = nan_col.copy(), nan_col.copy(), nan_col.copy(), nan_col.copy()
    # a repeat customer whose repeat days are worth 0 gets the shrunk estimate with mbar = 0
    m_used = np.where((x > 0) & np.isfinite(m), np.maximum(m, 0.0), 0.0)
    if bg is not None:
        ep_col = expected_purchases(bg, horizon_days, x, tx, tt)
        pa_col = probability_alive(bg, x, tx, tt)
    if gg is not None:
        eov_col = expected_order_value(gg, x, m_used)
        if bg is not None:
            clv_col = customer_lifetime_value(
                bg, gg, x, tx, tt, m_used, horizon_days=clv_horizon_days, discount_rate_annual=discount_rate_annual
            )
    return pd.DataFrame(
        {
            "customer_id": ids,
            f"expected_purchases_{horizon_days}d": np.asarray(ep_col, dtype=np.float64),
            "probability_alive": np.asarray(pa_col, dtype=np.float64),
            "expected_order_value": np.asarray(eov_col, dtype=np.float64),
            f"clv_{clv_horizon_days}d": np.asarray(clv_col, dtype=np.float64),
        }
    )
