"""Empirical-Bayes rates: a Beta prior fitted on the whole population, so a customer with few trials gets a rate
near the population's instead of 0 or 1 (``open_rate_eb``, ``click_rate_eb``, ``discount_sensitivity``).

Why the method of moments, and a worked example: docs/features.md, "Smoothed rates (empirical Bayes)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailor.features.settings import PRIOR_STRENGTH_MAX, PRIOR_STRENGTH_MIN


def fit_beta_prior(successes: pd.Series | np.ndarray, trials: pd.Series | np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes Beta(alpha, beta) prior for per-customer rates, by the method of moments.

    Uses customers with at least one trial. With the pooled mean ``mu = sum(k) / sum(n)``, the observed rates
    ``p_i = k_i / n_i`` of a beta-binomial population have ``E[(p_i - mu)^2] = mu (1 - mu) (1/n_i + (1 - 1/n_i) rho)``
    where ``rho = 1 / (alpha + beta + 1)``. Averaging over customers (``h = mean(1/n_i)``, ``s2 = mean((p_i - mu)^2)``):
    ``rho = (s2 / (mu (1 - mu)) - h) / (1 - h)``, so the binomial noise of small ``n_i`` is not mistaken for a
    real spread between customers. The strength ``alpha + beta = 1/rho - 1`` is clipped to
    [PRIOR_STRENGTH_MIN, PRIOR_STRENGTH_MAX]. Falls back to Beta(1, 1) (Laplace) when fewer than two customers
    have trials or the pooled mean is 0 or 1 (no spread can be estimated, and a prior at 0 or 1 is improper).
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    if k.shape != n.shape:
        raise ValueError(f"fit_beta_prior: successes {k.shape} and trials {n.shape} differ in shape")
    has = n > 0
    if np.any(k[has] > n[has]) or np.any(k < 0):
        raise ValueError("fit_beta_prior: successes must be between 0 and the number of trials")
    k, n = k[has], n[has]
    if len(n) < 2:
        return 1.0, 1.0
    mu = k.sum() / n.sum()
    if mu <= 0.0 or mu >= 1.0:
        return 1.0, 1.0
    h = float(np.mean(1.0 / n))
    s2 = float(np.mean((k / n - mu) ** 2))
    if h >= 1.0:  # every customer has exactly one trial: the spread between customers is not identifiable
        strength = PRIOR_STRENGTH_MIN
    else:
        rho = (s2 / (mu * (1.0 - mu)) - h) / (1.0 - h)
        strength = 1.0 / rho - 1.0 if rho > 0 else PRIOR_STRENGTH_MAX
    strength = float(np.clip(strength, PRIOR_STRENGTH_MIN, PRIOR_STRENGTH_MAX))
    return float(mu * strength), float((1.0 - mu) * strength)


def smoothed_rate(successes: pd.Series, trials: pd.Series, prior: tuple[float, float]) -> pd.Series:
    """Posterior mean ``(k + alpha) / (n + alpha + beta)``: the prior mean with no trials."""
    alpha, beta = prior
    return (successes.astype("float64") + alpha) / (trials.astype("float64") + alpha + beta)


def population_priors(features: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """The three fitted priors of a ``customer_features`` frame (for metadata and for explaining a rate)."""
    return {
        "open_rate_eb": fit_beta_prior(features["email_opens"], features["emails_delivered"]),
        "click_rate_eb": fit_beta_prior(features["email_clicks"], features["emails_delivered"]),
        "discount_sensitivity": fit_beta_prior(features["units_bought_discounted"], features["units_bought"]),
    }
