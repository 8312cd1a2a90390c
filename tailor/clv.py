"""Customer lifetime value: BG/NBD (purchases, probability alive) and Gamma-Gamma (order value).

Pure functions, no Dagster. Models, likelihoods, units and the minimum-data rule: ``docs/models.md``.

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a customer buys
  at a Poisson rate ``lambda ~ Gamma(r, alpha)``; after each *repeat* purchase they drop out for good with
  probability ``p ~ Beta(a, b)``. Data per customer: ``frequency`` x (repeat purchase days), ``recency`` t_x
  (days from the first to the last purchase day, 0 when x = 0) and ``T`` (days from the first purchase day to
  ``as_of``). ``alpha`` is in **days** like the data.
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; Fader & Hardie 2013 note):
  the value of a repeat order ~ ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)`` per customer. Data per customer:
  ``frequency`` x > 0 and ``monetary_value`` (mean value of the repeat purchase days). ``v`` is in money units.

Both are fitted by maximum likelihood with analytic gradients (L-BFGS-B on log-parameters, bounded to
[1e-4, 1e5] with BG/NBD time scaled to weeks internally); an optional L2 penalty ``l2 * sum(theta**2)`` on the
mean negative log-likelihood (``lifetimes``' ``penalizer_coef`` convention) defaults to 0.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series
from scipy import optimize, special

from tailor.warehouse_sql import utc_naive

log = logging.getLogger(__name__)

#: Internal time scale of the BG/NBD fit (days per unit); only conditioning and the L2 penalty depend on it.
FIT_TIME_SCALE_DAYS = 7.0
#: Fewest repeat buyers (frequency > 0) :func:`predict_customers` fits the models on; below it predictions are NaN.
DEFAULT_MIN_REPEAT_CUSTOMERS = 50
#: Bounds of every fitted parameter (BG/NBD alpha in weeks, Gamma-Gamma v in units of the mean order value).
PARAM_BOUNDS = (1e-4, 1e5)

_LOG_BOUNDS = (math.log(PARAM_BOUNDS[0]), math.log(PARAM_BOUNDS[1]))
#: A fit is accepted as converged when the optimiser says so, or when the largest gradient component of the
#: objective (mean negative log-likelihood per customer, w.r.t. log-parameters) is below this.
_GRAD_TOL = 1e-5
#: Within this distance of a = 1 the conditional expectation is interpolated (see :func:`expected_purchases`).
_A_NEAR_ONE = 3e-4


# ---------------------------------------------------------------------------------------------------------------
# Parameters and fit summaries
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha [days]); dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: order value ~ Gamma(shape p, rate nu); nu ~ Gamma(shape q, rate v [money])."""

    p: float
    q: float
    v: float


@dataclass(frozen=True)
class ModelFit:
    """What a fit did. ``log_likelihood`` is in the units of the data passed in (days, money): see docs/models.md."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int


# ---------------------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------------------


def _as_1d_float(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _bgnbd_arrays(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays (x, t_x, T). Errors name the first bad row (0-based position)."""
    x = _as_1d_float("frequency", frequency)
    tx = _as_1d_float("recency", recency)
    tt = _as_1d_float("T", T)
    if not (x.shape == tx.shape == tt.shape):
        raise ValueError(f"frequency, recency, T must have the same length, got {x.size}, {tx.size}, {tt.size}")
    for name, arr in (("frequency", x), ("recency", tx), ("T", tt)):
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(f"row {i}: {name} must be a finite number >= 0, got {float(arr[i])!r}")
    bad = x != np.floor(x)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"row {i}: frequency must be a whole number of repeat purchases, got {float(x[i])!r}")
    bad = tx > tt * (1 + 1e-9) + 1e-9
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"row {i}: recency {float(tx[i])!r} is larger than T {float(tt[i])!r}")
    return x, np.minimum(tx, tt), tt


def _gg_arrays(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _as_1d_float("frequency", frequency)
    m = _as_1d_float("monetary_value", monetary_value)
    if x.shape != m.shape:
        raise ValueError(f"frequency and monetary_value must have the same length, got {x.size}, {m.size}")
    bad = ~np.isfinite(x) | (x < 0) | (x != np.floor(x))
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"row {i}: frequency must be a whole number >= 0, got {float(x[i])!r}")
    return x, m


# ---------------------------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------------------------


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Inner product without BLAS (np.dot's threads stall on a busy 2-core machine: 5 ms instead of 0.05 ms)."""
    return float(np.einsum("i,i->", u, v))


@dataclass
class _BGData:
    """Customers prepared for the likelihood, times divided by the fit scale.

    Customers with x = 0 only need T: they are grouped by T (``t0``, weights ``w0``). Repeat customers are grouped
    by identical (x, t_x, T) when the times are whole numbers (the usual case: whole days from
    :func:`rfm_summary`), else kept one per row. Terms depending only on x are computed once per distinct x
    (``xu``; ``xinv`` maps rows to it).
    """

    t0: np.ndarray
    w0: np.ndarray
    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    xu: np.ndarray
    xinv: np.ndarray
    wx: np.ndarray  # total weight per distinct x (repeat customers)
    n: float  # all customers
    n0: float  # customers with x = 0
    sum_x: float


def _group_rows(x: np.ndarray, tx: np.ndarray, tt: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct (x, t_x, T) rows with counts, when all three are whole numbers; else the rows with weight 1."""
    n = x.size
    whole = n > 0 and bool(np.all(tx == np.floor(tx)) and np.all(tt == np.floor(tt)))
    if whole:
        span_t = int(tt.max()) + 1
        span_x = int(x.max()) + 1
        if span_x * span_t * span_t < 2**62:
            key = (x.astype(np.int64) * span_t + tx.astype(np.int64)) * span_t + tt.astype(np.int64)
            uniq, idx, counts = np.unique(key, return_index=True, return_counts=True)
            if uniq.size < 0.8 * n:
                return x[idx], tx[idx], tt[idx], counts.astype(np.float64)
    return x, tx, tt, np.ones(n)


def _prepare_bg(x: np.ndarray, tx: np.ndarray, tt: np.ndarray, scale: float) -> _BGData:
    zero = x == 0
    t0, w0 = np.unique(tt[zero], return_counts=True)
    xs, txs, ts, w = _group_rows(x[~zero], tx[~zero], tt[~zero])
    xu, xinv = np.unique(xs, return_inverse=True)
    wx = np.bincount(xinv, weights=w, minlength=xu.size)
    return _BGData(
        t0=t0 / scale,
        w0=w0.astype(np.float64),
        x=xs,
        tx=txs / scale,
        T=ts / scale,
        w=w,
        xu=xu,
        xinv=xinv,
        wx=wx,
        n=float(x.size),
        n0=float(np.sum(zero)),
        sum_x=float(np.sum(x)),
    )


def _bg_loglik_terms(
    r: float, alpha: float, a: float, b: float, d: _BGData, want_grad: bool
) -> tuple[float, np.ndarray | None]:
    """Weighted log-likelihood and its gradient w.r.t. (r, alpha, a, b), times in the scale of ``d``.

    Per customer: LL = ln G(r+x) - ln G(r) + r ln(alpha) - ln B(a, b)
                       + logsumexp( ln B(a, b+x) - (r+x) ln(alpha+T),
                                    [x>0] ln B(a+1, b+x-1) - (r+x) ln(alpha+t_x) ).
    With x = 0 this is r ln(alpha / (alpha+T)).
    """
    log_alpha = math.log(alpha)
    # x = 0: LL = r ln(alpha) - r ln(alpha + T)
    la_t0 = np.log(alpha + d.t0)
    ll = d.n0 * r * log_alpha - r * float(_dot(d.w0, la_t0))
    grad = np.zeros(4)
    if want_grad:
        grad[0] = d.n0 * log_alpha - float(_dot(d.w0, la_t0))
        grad[1] = d.n0 * r / alpha - r * float(_dot(d.w0, 1.0 / (alpha + d.t0)))
    if d.x.size == 0:
        return ll, (grad if want_grad else None)
    xu, xinv = d.xu, d.xinv
    per_x = special.gammaln(r + xu) - special.gammaln(r) + r * log_alpha - special.betaln(a, b)
    b1x = special.betaln(a, b + xu)
    b2x = special.betaln(a + 1.0, b + xu - 1.0)
    la_t = np.log(alpha + d.T)
    la_tx = np.log(alpha + d.tx)
    rx = r + d.x
    t1 = b1x[xinv] - rx * la_t
    t2 = b2x[xinv] - rx * la_tx
    lse = np.logaddexp(t1, t2)
    ll += float(_dot(d.wx, per_x) + _dot(d.w, lse))
    if not want_grad:
        return ll, None
    w2 = special.expit(t2 - t1)  # posterior weight of "dropped out after the last purchase"
    w1 = 1.0 - w2
    ww1 = d.w * w1
    ww2 = d.w * w2
    w1x = np.bincount(xinv, weights=ww1, minlength=xu.size)
    w2x = d.wx - w1x
    n1 = float(np.sum(d.wx))
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + xu)
    grad[0] += float(
        _dot(d.wx, special.digamma(r + xu) - special.digamma(r) + log_alpha)
        - _dot(ww1, la_t)
        - _dot(ww2, la_tx)
    )
    grad[1] += float(n1 * r / alpha - _dot(d.w * rx, w1 / (alpha + d.T) + w2 / (alpha + d.tx)))
    # x = 0 customers contribute ln B(a, b) - ln B(a, b) = 0 to the a, b terms: only repeat customers count.
    grad[2] += float(
        -n1 * (special.digamma(a) - psi_ab)
        + _dot(w1x, special.digamma(a) - psi_abx)
        + _dot(w2x, special.digamma(a + 1.0) - psi_abx)
    )
    grad[3] += float(
        -n1 * (special.digamma(b) - psi_ab)
        + _dot(w1x, special.digamma(b + xu) - psi_abx)
        + _dot(w2x, special.digamma(b + xu - 1.0) - psi_abx)
    )
    return ll, grad


def bgnbd_log_likelihood(params: BGNBDParams, frequency: Any, recency: Any, T: Any) -> float:
    """Total BG/NBD log-likelihood of the customers, times in days (``params.alpha`` in days).

    The likelihood is a density in the purchase times, so it depends on the time unit: the value for the same
    data in weeks is this plus ``ln(7) * sum(frequency)``.
    """
    x, tx, tt = _bgnbd_arrays(frequency, recency, T)
    if x.size == 0:
        return 0.0
    d = _prepare_bg(x, tx, tt, 1.0)
    ll, _ = _bg_loglik_terms(params.r, params.alpha, params.a, params.b, d, want_grad=False)
    return ll


def _fit(objective, starts: list[np.ndarray]) -> tuple[np.ndarray, bool, int]:
    """L-BFGS-B on log-parameters from each start in turn until one converges; returns the best result.

    Converged: the optimiser reports success, or the largest projected-gradient component of the objective (mean
    negative log-likelihood per customer w.r.t. log-parameters) is below ``_GRAD_TOL``. A fit ending on a
    parameter bound (a degenerate maximum, e.g. b -> infinity when nobody seems to drop out) is logged.
    """
    best: tuple[float, np.ndarray, bool, int] | None = None
    iterations = 0
    for x0 in starts:
        n_params = x0.size
        res = optimize.minimize(
            objective,
            np.clip(x0, _LOG_BOUNDS[0] + 1e-6, _LOG_BOUNDS[1] - 1e-6),
            jac=True,
            method="L-BFGS-B",
            bounds=[_LOG_BOUNDS] * n_params,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxls": 50},
        )
        iterations += int(res.nit)
        _, grad = objective(res.x)
        # projected gradient: components pushing against an active bound do not count
        at_lo = (res.x <= _LOG_BOUNDS[0] + 1e-9) & (grad > 0)
        at_hi = (res.x >= _LOG_BOUNDS[1] - 1e-9) & (grad < 0)
        pg = np.where(at_lo | at_hi, 0.0, grad)
        finite = bool(np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and res.fun < 1e300)
        converged = finite and bool(res.success or np.max(np.abs(pg)) < _GRAD_TOL)
        if best is None or (finite and res.fun < best[0]):
            best = (float(res.fun), res.x, converged, iterations)
        if converged:
            break
    assert best is not None
    _, logp, converged, _ = best
    if np.any(logp <= _LOG_BOUNDS[0] + 1e-6) or np.any(logp >= _LOG_BOUNDS[1] - 1e-6):
        log.warning("fit stopped at a parameter bound %s (parameters %s)", PARAM_BOUNDS, np.exp(logp).tolist())
    return logp, converged, iterations


def fit_bgnbd(
    frequency: Any, recency: Any, T: Any, *, l2_penalty: float = 0.0
) -> tuple[BGNBDParams, ModelFit]:
    """Maximum-likelihood BG/NBD fit. ``frequency`` = repeat purchase days, ``recency`` = days from the first to
    the last purchase day (0 when frequency is 0), ``T`` = days from the first purchase day to ``as_of``.

    ``l2_penalty`` adds ``l2_penalty * (r^2 + alpha_weeks^2 + a^2 + b^2)`` to the mean negative log-likelihood
    (``lifetimes``' ``penalizer_coef``; alpha measured in weeks). Returned ``alpha`` is in days;
    ``ModelFit.log_likelihood`` is the unpenalised log-likelihood with times in days.
    """
    x, tx, tt = _bgnbd_arrays(frequency, recency, T)
    n = x.size
    if n == 0 or not np.any(x > 0):
        nan = float("nan")
        params = BGNBDParams(nan, nan, nan, nan)
        return params, ModelFit("bgnbd", _bg_dict(params), nan, int(n), False, 0)
    scale = FIT_TIME_SCALE_DAYS
    d = _prepare_bg(x, tx, tt, scale)

    def objective(logp: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(logp)
        ll, grad = _bg_loglik_terms(*theta, d, want_grad=True)
        assert grad is not None
        f = -ll / d.n + l2_penalty * float(np.sum(theta**2))
        g = -grad * theta / d.n + 2.0 * l2_penalty * theta**2
        if not np.isfinite(f):
            return 1e300, np.zeros_like(logp)
        return f, g

    # Starts: r = 1 (then 0.3) with alpha matching the observed repeat rate per week, Beta(1, 3) (then
    # Beta(0.5, 1)) dropout; the second start is only tried when the first does not converge.
    rate = (float(np.sum(x)) + 1.0) / (float(np.sum(tt)) / scale + 1.0)
    starts = [np.log(np.array([1.0, 1.0 / rate, 1.0, 3.0])), np.log(np.array([0.3, 0.3 / rate, 0.5, 1.0]))]
    logp, converged, nit = _fit(objective, starts)
    r, alpha_s, a, b = np.exp(logp)
    params = BGNBDParams(float(r), float(alpha_s * scale), float(a), float(b))
    # the likelihood is a density in time: in days it is the scaled one minus sum(x) ln(scale)
    ll_scaled, _ = _bg_loglik_terms(float(r), float(alpha_s), float(a), float(b), d, want_grad=False)
    ll = ll_scaled - d.sum_x * math.log(scale)
    return params, ModelFit("bgnbd", _bg_dict(params), ll, int(n), converged, nit)


def _bg_dict(p: BGNBDParams) -> dict[str, float]:
    return {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b}


def _log_odds_dead(params: BGNBDParams, x: np.ndarray, tx: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """ln( P(dead) / P(alive) ) = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x)) for x > 0; -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    out = np.full(x.shape, -np.inf)
    pos = x > 0
    xp = x[pos]
    out[pos] = math.log(a) - np.log(b + xp - 1.0) + (r + xp) * (np.log(alpha + tt[pos]) - np.log(alpha + tx[pos]))
    return out


def probability_alive(params: BGNBDParams, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    Exactly 1 when frequency is 0 (in BG/NBD a customer can only drop out right after a repeat purchase).
    """
    x, tx, tt = _bgnbd_arrays(frequency, recency, T)
    return special.expit(-_log_odds_dead(params, x, tx, tt))


def _cond_bracket(r: float, alpha: float, a: float, b: float, t: float, x: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))].

    Evaluated through Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which turns the
    bracket into 1 - u^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z) with u = (alpha+T)/(alpha+T+t): the first two
    hypergeometric parameters no longer grow with x, so large frequencies stay accurate. scipy's hyp2f1 returns
    NaN for some z near 1 when C - A - B is an integer (e.g. r - a integer); those entries are re-evaluated as
    the mean at A -/+ 1e-7 (the function is smooth in A), and anything still not finite by quadrature.
    """
    c = a + b + x - 1.0
    denom = alpha + tt + t
    z = t / denom
    log_u = np.log((alpha + tt) / denom)
    big_a = a + b - 1.0 - r
    f = np.asarray(special.hyp2f1(big_a, a - 1.0, c, z), dtype=np.float64)
    bad = ~np.isfinite(f)
    if bad.any():
        h = 1e-7 * max(1.0, abs(big_a))
        lo = special.hyp2f1(big_a - h, a - 1.0, c[bad], z[bad])
        f[bad] = 0.5 * (lo + special.hyp2f1(big_a + h, a - 1.0, c[bad], z[bad]))
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = f > 0
        one_minus = np.where(
            pos,
            -np.expm1((a - 1.0) * log_u + np.log(np.where(pos, f, 1.0))),  # accurate when t is small
            1.0 - np.exp((a - 1.0) * log_u) * f,
        )
    out = c / (a - 1.0) * one_minus
    bad = ~np.isfinite(out)
    for i in np.flatnonzero(bad):
        out[i] = _cond_bracket_quad(r, alpha, a, b, t, float(x[i]), float(tt[i]))
    return out


def _cond_bracket_quad(r: float, alpha: float, a: float, b: float, t: float, x: float, tt: float) -> float:
    """The same bracket by numerical integration over the dropout probability p (slow; fallback only):
    int_0^1 p^(a-1) (1-p)^(b+x-1) (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p dp / B(a, b+x)."""
    from scipy import integrate

    k = (r + x) * t / (alpha + tt)

    def g(p: float) -> float:
        if p <= 0:
            return k
        return -math.expm1((r + x) * math.log((alpha + tt) / (alpha + tt + p * t))) / p

    val, _ = integrate.quad(g, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b + x - 1.0), limit=200)
    return val / math.exp(special.betaln(a, b + x))


def _bracket(params: BGNBDParams, t: float, x: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """:func:`_cond_bracket` for the fitted parameters, with the a = 1 case handled."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    eps = _A_NEAR_ONE
    if abs(a - 1.0) >= eps:
        return _cond_bracket(r, alpha, a, b, t, x, tt)
    # Removable singularity at a = 1 (0/0, cancellation grows as a -> 1): the bracket is smooth in a, so
    # interpolate (cubic Lagrange) through a = 1 -/+ eps and 1 -/+ 2 eps; about 1e-7 relative.
    nodes = 1.0 + eps * np.array([-2.0, -1.0, 1.0, 2.0])
    out = np.zeros(x.shape)
    for i, ai in enumerate(nodes):
        others = np.delete(nodes, i)
        weight = float(np.prod((a - others) / (ai - others)))
        out += weight * _cond_bracket(r, alpha, float(ai), b, t, x, tt)
    return out


def _distinct_x_t(x: np.ndarray, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Distinct (x, T) pairs and the map back, when T is in whole days and that saves work; else None.

    The hypergeometric part of the conditional expectation depends on (x, T) only, not on t_x."""
    if x.size < 1000 or not np.all(tt == np.floor(tt)):
        return None
    span = int(tt.max()) + 1
    if (int(x.max()) + 1) * span >= 2**62:
        return None
    uniq, inv = np.unique(x.astype(np.int64) * span + tt.astype(np.int64), return_inverse=True)
    if uniq.size > 0.5 * x.size:
        return None
    return (uniq // span).astype(np.float64), (uniq % span).astype(np.float64), inv


def _expected_purchases_checked(
    params: BGNBDParams, t: float, x: np.ndarray, tt: np.ndarray, p_alive: np.ndarray, groups
) -> np.ndarray:
    if t == 0 or x.size == 0:
        return np.zeros(x.shape)
    if groups is None:
        return _bracket(params, t, x, tt) * p_alive
    xu, tu, inv = groups
    return _bracket(params, t, xu, tu)[inv] * p_alive


def _check_t(t_days: Any) -> float:
    t = float(t_days)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"t_days must be a finite number >= 0, got {t_days!r}")
    return t


def expected_purchases(params: BGNBDParams, t_days: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """E[number of purchases in (T, T + t_days] | x, t_x, T] per customer (all times in days):

    P(alive | x, t_x, T) * (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))].
    For x = 0 and T = 0 (a brand-new customer) this is the unconditional E[X(t)].
    """
    x, tx, tt = _bgnbd_arrays(frequency, recency, T)
    t = _check_t(t_days)
    p_alive = special.expit(-_log_odds_dead(params, x, tx, tt))
    return _expected_purchases_checked(params, t, x, tt, p_alive, _distinct_x_t(x, tt))


# ---------------------------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------------------------


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
        sum_x_log_xm=_dot(x, np.log(x) + log_m),
        sum_log_m=float(np.sum(log_m)),
        n=float(x.size),
    )


def _gg_loglik(p: float, q: float, v: float, d: _GGData, want_grad: bool) -> tuple[float, np.ndarray | None]:
    """Per-customer ln f(mbar | x) = ln G(px+q) - ln G(px) - ln G(q) + q ln v + px ln x + (px-1) ln mbar
    - (px+q) ln(v + x mbar), summed. Gradient w.r.t. (p, q, v)."""
    pxu = p * d.xu
    lv = np.log(v + d.x * d.m)
    pxq = p * d.x + q
    ll = float(
        _dot(d.wx, special.gammaln(pxu + q) - special.gammaln(pxu))
        + d.n * (q * math.log(v) - special.gammaln(q))
        + p * d.sum_x_log_xm
        - d.sum_log_m
        - _dot(pxq, lv)
    )
    if not want_grad:
        return ll, None
    psi_u = special.digamma(pxu + q)
    d_p = _dot(d.wx * d.xu, psi_u - special.digamma(pxu)) + d.sum_x_log_xm - _dot(d.x, lv)
    d_q = _dot(d.wx, psi_u) - float(np.sum(lv)) + d.n * (math.log(v) - special.digamma(q))
    d_v = d.n * q / v - float(np.sum(pxq / (v + d.x * d.m)))
    return ll, np.array([d_p, d_q, d_v])


def _gg_repeat(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x, m = _gg_arrays(frequency, monetary_value)
    keep = x > 0
    x, m = x[keep], m[keep]
    bad = ~np.isfinite(m) | (m <= 0)
    if bad.any():
        j = _first_bad(bad)
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
    logp, converged, nit = _fit(objective, [np.log(np.array([2.0, 3.0, 1.0])), np.log(np.array([1.0, 2.0, 1.0]))])
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


# ---------------------------------------------------------------------------------------------------------------
# CLV
# ---------------------------------------------------------------------------------------------------------------


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
    x, tx, tt = _bgnbd_arrays(frequency, recency, T)
    eov = expected_order_value(gg, frequency, monetary_value)
    ends = list(np.arange(step_days, horizon_days, step_days, dtype=float))
    if not ends or ends[-1] < horizon_days:
        ends.append(float(horizon_days))
    clv = np.zeros(x.shape)
    prev = np.zeros(x.shape)
    p_alive = special.expit(-_log_odds_dead(bg, x, tx, tt))
    groups = _distinct_x_t(x, tt)
    for t_end in ends:
        cum = _expected_purchases_checked(bg, t_end, x, tt, p_alive, groups)
        clv += (cum - prev) / (1.0 + discount_rate_annual) ** (t_end / 365.0)
        prev = cum
    return eov * clv


# ---------------------------------------------------------------------------------------------------------------
# RFM summary from order rows
# ---------------------------------------------------------------------------------------------------------------


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
    ts = pd.to_datetime(transactions[datetime_col])
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(timezone.utc).dt.tz_localize(None)
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
        label = df.index[_first_bad(bad)]
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


# ---------------------------------------------------------------------------------------------------------------
# Predictions per customer
# ---------------------------------------------------------------------------------------------------------------


class CustomerPredictionsSchema(pa.DataFrameModel):
    """Output of :func:`predict_customers` with the default horizons (90 days, CLV 365 days).

    Prediction columns are NaN when the models could not be fitted (too few repeat buyers, no convergence).
    """

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    expected_purchases_90d: Series[np.float64] = pa.Field(ge=0, nullable=True)
    probability_alive: Series[np.float64] = pa.Field(ge=0, le=1, nullable=True)
    expected_order_value: Series[np.float64] = pa.Field(ge=0, nullable=True)
    clv_365d: Series[np.float64] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        ordered = True
        coerce = False


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
    frequency > 0 and monetary_value > 0 (Gamma-Gamma); its parameters are used for predictions only when the
    fit converged (and, for Gamma-Gamma, q > 1: otherwise the mean order value is infinite).
    """
    missing = [c for c in RFM_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"fit_models: summary lacks column(s) {missing}; have {list(summary.columns)}")
    x, tx, tt = _bgnbd_arrays(summary["frequency"], summary["recency"], summary["T"])
    m = _as_1d_float("monetary_value", summary["monetary_value"])
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
    columns are NaN; CLV needs both). Columns as :func:`predict_customers`."""
    missing = [c for c in RFM_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"predict_with_params: summary lacks column(s) {missing}; have {list(summary.columns)}")
    ids = summary["customer_id"].astype(str).to_numpy(dtype=object)
    x, tx, tt = _bgnbd_arrays(summary["frequency"], summary["recency"], summary["T"])
    m = _as_1d_float("monetary_value", summary["monetary_value"])
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


def predict_customers(
    summary: pd.DataFrame,
    horizon_days: int = 90,
    clv_horizon_days: int = 365,
    min_customers: int = DEFAULT_MIN_REPEAT_CUSTOMERS,
    *,
    discount_rate_annual: float = 0.10,
    l2_penalty: float = 0.0,
) -> tuple[pd.DataFrame, list[ModelFit]]:
    """Fit BG/NBD and Gamma-Gamma on an :func:`rfm_summary` frame and predict per customer
    (:func:`fit_models`, then :func:`predict_with_params`).

    Columns: ``customer_id``, ``expected_purchases_{horizon_days}d``, ``probability_alive``,
    ``expected_order_value``, ``clv_{clv_horizon_days}d``. Returns the frame and the two fits (BG/NBD first).

    Minimum-data rule: a model is fitted only when at least ``min_customers`` customers have frequency > 0
    (BG/NBD) resp. frequency > 0 and monetary_value > 0 (Gamma-Gamma); otherwise, or when the optimiser does
    not converge, its predictions are NaN and its ``ModelFit`` has ``converged=False`` (NaN parameters when it
    was not fitted at all). Gamma-Gamma predictions are also NaN when the fitted q <= 1 (no finite mean).
    """
    missing = [c for c in RFM_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"predict_customers: summary lacks column(s) {missing}; have {list(summary.columns)}")
    fitted = fit_models(summary, min_customers, l2_penalty=l2_penalty)
    out = predict_with_params(
        summary, fitted.bgnbd, fitted.gamma_gamma, horizon_days, clv_horizon_days,
        discount_rate_annual=discount_rate_annual,
    )
    return out, fitted.fits
