"""Daily exchange rates of the window (a seeded random walk, written to ``fx_rates/``) and the conversion
of order prices into the currency the customer pays in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.reference import FX_CURRENCIES, currency_of_country
from tailor.demo.vocabulary import DAY, WINDOW_DAYS


@dataclass
class ExchangeRates:
    day0: int  # first day of the window (days since 1970-01-01)
    rates: np.ndarray  # EUR per unit of each of FX_CURRENCIES per day (currency x day), in 1/10,000

    @property
    def n_days(self) -> int:
        return self.rates.shape[1]


def draw_exchange_rates(rng: np.random.Generator, as_of_s: int) -> ExchangeRates:
    """One rate per day of the window up to the day before ``as_of`` and currency: a log-normal random walk,
    rounded to 4 decimals."""
    day0 = (as_of_s - WINDOW_DAYS * DAY) // DAY
    n_days = (as_of_s - 1) // DAY - day0 + 1
    start = np.array(list(FX_CURRENCIES.values()))[:, None]
    steps = rng.normal(0.0, 0.004, (len(FX_CURRENCIES), n_days))
    steps[:, 0] = 0.0
    return ExchangeRates(day0, np.round(start * np.exp(np.cumsum(steps, axis=1)) * 10_000).astype(np.int64))


def pay_in_local_currency(orders: dict, items: dict, country: np.ndarray, fx: ExchangeRates) -> None:
    """Customers in GB pay in GBP and in the US in USD: catalogue EUR prices converted at the day's rate,
    exactly as written to the rates file. Sets ``orders["cur"]`` (0 = EUR, 1 + index into FX_CURRENCIES)
    and converts ``items["cents"]``; ``country`` is every person's country index."""
    table = np.vstack([np.ones(fx.n_days), fx.rates / 10_000])  # by currency code and day
    orders["cur"] = currency_of_country()[country[orders["person"]]]
    day = np.clip(orders["t"] // DAY - fx.day0, 0, fx.n_days - 1)
    rate = table[orders["cur"], day][items["order"]]
    items["cents"] = np.round(items["cents"] / rate).astype(np.int64)
