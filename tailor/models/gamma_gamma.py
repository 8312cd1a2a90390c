"""Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; Fader & Hardie 2013 note): the
expected value of a customer's next order.

The value of a repeat order ~ ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)`` per customer. Data per customer:
``frequency`` x > 0 and ``monetary_value`` (mean value of the repeat purchase days). ``v`` is in money units; the
fit divides the values by their mean internally. Formulas: docs/models.md, "Gamma-Gamma".

scipy is imported inside the functions that need it, so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tailor.models.mle import ModelFit, as_1d_float, dot, first_bad, minimize_from_starts


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: order value ~ Gamma(shape p, rate nu); nu ~ Gamma(shape q, rate v [money])."""

    p: float
    q: float
    v: float


def _gg_arrays(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_1d_float("frequency", frequency)
    m = as_1d_float("monetary_value", monetary_value)
    if x.shape != m.shape:
        raise ValueError(f"frequency and monetary_value must have the same length, got {x.size}, {m.size}")
    bad = ~np.isfinite(x) | (x < 0) | (x != np.floor(x))
    if bad.any():
        i = first_bad(bad)
        raise ValueError(f"row {i}: frequency must be a whole number >= 0, got {float(x[i])!r}")
    return x, m


@dataclass
class _GGData:
    """Repeat customers prepared for the Gamma-Gamma likelihood: per-x terms once per distinct x (``xu``)."""

    x: np.ndarray
    m: np.ndarray
    xu: np.ndarray
    xinv: np.ndarray
    wx: np.ndarray  # customers per distinct x
    sum_x_log_xm: float  # sum x (ln x + ln m)
    sum_log_m: float
    n: float


def _prepare_gg(x: np.ndarray, m: np.ndarray) -> _GGData:
    xu, xinv = np.unique(x, return_inverse=True)
    log_m = np.log(m)
    return _GGData(
        x=x,
        m=m,
        xu=xu,
        xinv=xinv,
        wx=np.bincount(xinv, minlength=xu.size).astype(np.float64),
        sum_x_log_xm=dot(x, np.log(x) + log_m),
        sum_log_m=float(np.sum(log_m)),
        n=float(x.size),
    )


def _gg_loglik(p: float, q: float, v: float, d: _GGData, want_grad: bool) -> tuple[float, np.ndarray | None]:
    """Per-customer ln f(mbar | x) = ln G(px+q) - ln G(px) - ln G(q) + q ln v + px ln x + (px-1) ln mbar
    - (px+q) ln(v + x mbar), summed. Gradient w.r.t. (p, q, v)."""
    from scipy import special

    pxu = p * d.xu
    lv = np.log(v + d.x * d.m)
    pxq = p * d.x + q
    ll = float(
        dot(d.wx, special.gammaln(pxu + q) - special.gammaln(pxu))
        + d.n * (q * math.log(v) - special.gammaln(q))
        + p * d.sum_x_log_xm
        - d.sum_log_m
        - dot(pxq, lv)
    )
    if not want_grad:
        return ll, None
    psi_u = special.digamma(pxu + q)
    d_p = dot(d.wx * d.xu, psi_u - special.digamma(pxu)) + d.sum_x_log_xm - dot(d.x, lv)
    d_q = dot(d.wx, psi_u) - float(np.sum(lv)) + d.n * (math.log(v) - special.digamma(q))
    d_v = d.n * q / v - float(np.sum(pxq / (v + d.x * d.m)))
    return ll, np.array([d_p, d_q, d_v])


def _gg_repeat(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x, m = _gg_arrays(frequency, monetary_value)
    keep = x > 0
    x, m = x[keep], m[keep]
    bad = ~np.isfinite(m) | (m <= 0)
    if bad.any():
        j = first_bad(bad)
        i = int(np.flatnonzero(keep)[j])
        raise ValueError(
            f"row {i}: monetary_value must be > 0 for a repeat customer (frequency > 0), got {float(m[j])!r}"
        )
    return x, m


def gamma_gamma_log_likelihood(params: GammaGammaParams, frequency: Any, monetary_value: Any) -> float:
    """Total Gamma-Gamma log-likelihood of the repeat customers (frequency > 0); others are ignored."""
    x, m = _gg_repeat(frequency, monetary_value)
    ll, _ = _gg_loglik(params.p, params.q, params.v, _prepare_gg(x, m), want_grad=False)
    return ll


def fit_gamma_gamma(
    frequency: Any, monetary_value: Any, *, l2_penalty: float = 0.0
) -> tuple[GammaGammaParams, ModelFit]:
    """Maximum-likelihood Gamma-Gamma fit on the customers with frequency > 0 (the others are skipped).

    ``monetary_value`` is the mean value of the customer's repeat purchase days (must be > 0). Internally the
    values are divided by their mean; ``v`` is returned in money units. ``l2_penalty`` adds
    ``l2_penalty * (p^2 + q^2 + v_scaled^2)`` to the mean negative log-likelihood.
    """
    x, m = _gg_repeat(frequency, monetary_value)
    n = x.size
    if n == 0:
        nan = float("nan")
        params = GammaGammaParams(nan, nan, nan)
        return params, ModelFit("gamma_gamma", _gg_dict(params), nan, 0, False, 0)
    scale = float(np.mean(m))
    d = _prepare_gg(x, m / scale)

    def objective(logp: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(logp)
        ll, grad = _gg_loglik(*theta, d, want_grad=True)
        f = -ll / n + l2_penalty * float(np.sum(theta**2))
        if not np.isfinite(f):
            return 1e300, np.zeros_like(logp)
        return f, -grad * theta / n + 2.0 * l2_penalty * theta**2

    # Starts: p = 2, q = 3 and v such that the population mean order value p v / (q - 1) equals the data mean
    # (values are divided by their mean, so that is v = 1); then p = 1, q = 2, v = 1.
    starts = [np.log(np.array([2.0, 3.0, 1.0])), np.log(np.array([1.0, 2.0, 1.0]))]
    logp, converged, nit = minimize_from_starts(objective, starts)
    p, q, v_s = np.exp(logp)
    params = GammaGammaParams(float(p), float(q), float(v_s * scale))
    # density of mbar: in money units it is the scaled one minus n ln(scale)
    ll = _gg_loglik(float(p), float(q), float(v_s), d, want_grad=False)[0] - n * math.log(scale)
    return params, ModelFit("gamma_gamma", _gg_dict(params), ll, int(n), converged, nit)


def _gg_dict(p: GammaGammaParams) -> dict[str, float]:
    return {"p": p.p, "q": p.q, "v": p.v}


def expected_order_value(params: GammaGammaParams, frequency: Any, monetary_value: Any) -> np.ndarray:
    """E[order value | x, mbar] = p (v + x mbar) / (p x + q - 1): a weighted mean of the population mean
    p v / (q - 1) and the customer's own mean mbar (weight p x / (p x + q - 1)).

    With frequency 0 it is the population mean (monetary_value is ignored). NaN where p x + q <= 1 (the
    expectation does not exist, e.g. q <= 1 and x = 0).
    """
    x, m = _gg_arrays(frequency, monetary_value)
    p, q, v = params.p, params.q, params.v
    m = np.where(x > 0, m, 0.0)
    den = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = p * (v + x * m) / den
    return np.where(den > 0, out, np.nan)
