"""The Jinja environment templates and subject lines render in: an unknown variable is an error rather than an
empty string, None prints as nothing, and prices go through the ``money`` filter."""

from __future__ import annotations

import math
from typing import Any

import jinja2
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
    """Autoescape for HTML, not for text; sandboxed for subject lines, which marketers write in rule files."""
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
