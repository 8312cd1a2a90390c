"""TODO docstring (split from tailor/rendering.py)."""

from __future__ import annotations

import math
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
from jinja2.sandbox import SandboxedEnvironment

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def format_money(value: Any, currency: str | None = "EUR") -> str:
    """``49.9, "EUR"`` -> ``"€49.90"``; unknown currencies as ``"49.90 CHF"``. Jinja filter ``money``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    amount = f"{float(value):,.2f}"
    code = (currency or "").upper()
    symbol = _CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{symbol}{amount}"
    return f"{amount} {code}".strip()


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def make_env(*, autoescape: bool, sandboxed: bool = False) -> jinja2.Environment:
    cls = SandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,
    )
    env.filters["money"] = format_money
    return env
