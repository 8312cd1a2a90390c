"""Maximum-likelihood fitting shared by the BG/NBD and Gamma-Gamma models: input checks, bounded log-parameters,
L-BFGS-B from several starts, and the result of a fit (:class:`ModelFit`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Internal time scale of the BG/NBD fit (days per unit); only conditioning and the L2 penalty depend on it.
FIT_TIME_SCALE_DAYS = 7.0

#: Bounds of every fitted parameter (BG/NBD alpha in weeks, Gamma-Gamma v in units of the mean order value).
PARAM_BOUNDS = (1e-4, 1e5)
_LOG_BOUNDS = (math.log(PARAM_BOUNDS[0]), math.log(PARAM_BOUNDS[1]))

#: A fit is accepted as converged when the optimiser says so, or when the largest gradient component of the
#: objective (mean negative log-likelihood per customer, w.r.t. log-parameters) is below this.
_GRAD_TOL = 1e-5


def as_1d_float(name: str, values: Any) -> np.ndarray:
    """``values`` (a list, Series, scalar ...) as a 1-D float array; ``name`` goes into the error."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def first_bad(mask: np.ndarray) -> int:
    """Position of the first True of ``mask``: the row an input error names."""
    return int(np.flatnonzero(mask)[0])


def dot(u: np.ndarray, v: np.ndarray) -> float:
    """Inner product without BLAS (np.dot's threads stall on a busy 2-core machine: 5 ms instead of 0.05 ms)."""
    return float(np.einsum("i,i->", u, v))


def minimize_from_starts(objective, starts: list[np.ndarray]) -> tuple[np.ndarray, bool, int]:
    """L-BFGS-B on log-parameters from each start in turn until one converges; returns the best result.

    Converged: the optimiser reports success, or the largest projected-gradient component of the objective (mean
    negative log-likelihood per customer w.r.t. log-parameters) is below ``_GRAD_TOL``. A fit ending on a
    parameter bound (a degenerate maximum, e.g. b -> infinity when nobody seems to drop out) is logged.
    """
    from scipy import optimize  # here, not at the top: loading the pipeline's definitions need not pay for scipy

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


@dataclass(frozen=True)
class ModelFit:
    """What a fit did. ``log_likelihood`` is in the units of the data passed in (days, money): see docs/models.md."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int
