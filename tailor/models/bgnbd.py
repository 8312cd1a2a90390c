"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): expected purchases and the
probability that a customer is still "alive".

While alive a customer buys at a Poisson rate ``lambda ~ Gamma(r, alpha)``; after each *repeat* purchase they
drop out for good with probability ``p ~ Beta(a, b)``. Data per customer: ``frequency`` x (repeat purchase days),
``recency`` t_x (days from the first to the last purchase day, 0 when x = 0) and ``T`` (days from the first
purchase day to ``as_of``). ``alpha`` is in **days** like the data; the fit works in weeks internally
(:data:`tailor.models.mle.FIT_TIME_SCALE_DAYS`). Formulas and numerics: docs/models.md, "BG/NBD".

scipy is imported inside the functions that need it, so that importing this module (the pipeline's definitions
do) stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tailor.models.mle import FIT_TIME_SCALE_DAYS, ModelFit, as_1d_float, dot, first_bad, minimize_from_starts

#: Within this distance of a = 1 the conditional expectation is interpolated (see :func:`expected_purchases`).
_A_NEAR_ONE = 3e-4


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha [days]); dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


def bgnbd_arrays(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays (x, t_x, T). Errors name the first bad row (0-based position)."""
    x = as_1d_float("frequency", frequency)
    tx = as_1d_float("recency", recency)
    tt = as_1d_float("T", T)
    if not (x.shape == tx.shape == tt.shape):
        raise ValueError(f"frequency, recency, T must have the same length, got {x.size}, {tx.size}, {tt.size}")
    for name, arr in (("frequency", x), ("recency", tx), ("T", tt)):
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            i = first_bad(bad)
            raise ValueError(f"row {i}: {name} must be a finite number >= 0, got {float(arr[i])!r}")
    bad = x != np.floor(x)
    if bad.any():
        i = first_bad(bad)
        raise ValueError(f"row {i}: frequency must be a whole number of repeat purchases, got {float(x[i])!r}")
    bad = tx > tt * (1 + 1e-9) + 1e-9
    if bad.any():
        i = first_bad(bad)
        raise ValueError(f"row {i}: recency {float(tx[i])!r} is larger than T {float(tt[i])!r}")
    return x, np.minimum(tx, tt), tt


@dataclass
class _BGData:
    """Customers prepared for the likelihood, times divided by the fit scale.

    Customers with x = 0 only need T: they are grouped by T (``t0``, weights ``w0``). Repeat customers are grouped
    by identical (x, t_x, T) when the times are whole numbers (the usual case: whole days from
    :func:`tailor.models.clv.rfm_summary`), else kept one per row. Terms depending only on x are computed once per
    distinct x (``xu``; ``xinv`` maps rows to it).
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
    from scipy import special

    log_alpha = math.log(alpha)
    # x = 0: LL = r ln(alpha) - r ln(alpha + T)
    la_t0 = np.log(alpha + d.t0)
    ll = d.n0 * r * log_alpha - r * float(dot(d.w0, la_t0))
    grad = np.zeros(4)
    if want_grad:
        grad[0] = d.n0 * log_alpha - float(dot(d.w0, la_t0))
        grad[1] = d.n0 * r / alpha - r * float(dot(d.w0, 1.0 / (alpha + d.t0)))
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
    ll += float(dot(d.wx, per_x) + dot(d.w, lse))
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
        dot(d.wx, special.digamma(r + xu) - special.digamma(r) + log_alpha)
        - dot(ww1, la_t)
        - dot(ww2, la_tx)
    )
    grad[1] += float(n1 * r / alpha - dot(d.w * rx, w1 / (alpha + d.T) + w2 / (alpha + d.tx)))
    # x = 0 customers contribute ln B(a, b) - ln B(a, b) = 0 to the a, b terms: only repeat customers count.
    grad[2] += float(
        -n1 * (special.digamma(a) - psi_ab)
        + dot(w1x, special.digamma(a) - psi_abx)
        + dot(w2x, special.digamma(a + 1.0) - psi_abx)
    )
    grad[3] += float(
        -n1 * (special.digamma(b) - psi_ab)
        + dot(w1x, special.digamma(b + xu) - psi_abx)
        + dot(w2x, special.digamma(b + xu - 1.0) - psi_abx)
    )
    return ll, grad


def bgnbd_log_likelihood(params: BGNBDParams, frequency: Any, recency: Any, T: Any) -> float:
    """Total BG/NBD log-likelihood of the customers, times in days (``params.alpha`` in days).

    The likelihood is a density in the purchase times, so it depends on the time unit: the value for the same
    data in weeks is this plus ``ln(7) * sum(frequency)``.
    """
    x, tx, tt = bgnbd_arrays(frequency, recency, T)
    if x.size == 0:
        return 0.0
    d = _prepare_bg(x, tx, tt, 1.0)
    ll, _ = _bg_loglik_terms(params.r, params.alpha, params.a, params.b, d, want_grad=False)
    return ll


def fit_bgnbd(
    frequency: Any, recency: Any, T: Any, *, l2_penalty: float = 0.0
) -> tuple[BGNBDParams, ModelFit]:
    """Maximum-likelihood BG/NBD fit. ``frequency`` = repeat purchase days, ``recency`` = days from the first to
    the last purchase day (0 when frequency is 0), ``T`` = days from the first purchase day to ``as_of``.

    ``l2_penalty`` adds ``l2_penalty * (r^2 + alpha_weeks^2 + a^2 + b^2)`` to the mean negative log-likelihood
    (``lifetimes``' ``penalizer_coef``; alpha measured in weeks). Returned ``alpha`` is in days;
    ``ModelFit.log_likelihood`` is the unpenalised log-likelihood with times in days.
    """
    x, tx, tt = bgnbd_arrays(frequency, recency, T)
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
    logp, converged, nit = minimize_from_starts(objective, starts)
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
    x, tx, tt = bgnbd_arrays(frequency, recency, T)
    return _alive(params, x, tx, tt)


def _alive(params: BGNBDParams, x: np.ndarray, tx: np.ndarray, tt: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.expit(-_log_odds_dead(params, x, tx, tt))


def _cond_bracket(r: float, alpha: float, a: float, b: float, t: float, x: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))].

    Evaluated through Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which turns the
    bracket into 1 - u^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z) with u = (alpha+T)/(alpha+T+t): the first two
    hypergeometric parameters no longer grow with x, so large frequencies stay accurate. scipy's hyp2f1 returns
    NaN for some z near 1 when C - A - B is an integer (e.g. r - a integer); those entries are re-evaluated as
    the mean at A -/+ 1e-7 (the function is smooth in A), and anything still not finite by quadrature.
    """
    from scipy import special

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
    from scipy import integrate, special

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


def distinct_x_t(x: np.ndarray, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
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


def expected_purchases_checked(
    params: BGNBDParams, t: float, x: np.ndarray, tt: np.ndarray, p_alive: np.ndarray, groups
) -> np.ndarray:
    """:func:`expected_purchases` on arrays already checked by :func:`bgnbd_arrays`, with P(alive) and the
    :func:`distinct_x_t` groups computed by the caller (the CLV reuses them for every step of its horizon)."""
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
    x, tx, tt = bgnbd_arrays(frequency, recency, T)
    t = _check_t(t_days)
    return expected_purchases_checked(params, t, x, tt, _alive(params, x, tx, tt), distinct_x_t(x, tt))
