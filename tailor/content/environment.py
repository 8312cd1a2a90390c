"""The Jinja environments templates and subject lines render in: all sandboxed (tailor/content/sandbox.py), an
unknown variable is an error rather than an empty string, None prints as nothing, prices go through ``money``."""

from __future__ import annotations

import math
from typing import Any

import jinja2

from tailor.content.limits import MAX_EMAIL_CHARS, MAX_SUBJECT_RENDER_CHARS
from tailor.content.sandbox import sandbox_env

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


def make_env(*, autoescape: bool, output: str = "HTML of the email") -> jinja2.Environment:
    """A sandboxed environment for the email's HTML (autoescape) or its plain-text part; ``output`` names what
    it renders in the error when a render is over MAX_EMAIL_CHARS."""
    env = sandbox_env(autoescape=autoescape, output_limit=MAX_EMAIL_CHARS, output_name=output, finalize=_finalize)
    env.filters["money"] = format_money
    return env


def make_subject_env() -> jinja2.Environment:
    """The environment of subject lines: plain text, output cut at MAX_SUBJECT_RENDER_CHARS (the line is cut
    to its limit at a word afterwards)."""
    env = sandbox_env(autoescape=False, output_limit=MAX_SUBJECT_RENDER_CHARS, output_name="subject",
                      cut_output=True, finalize=_finalize)
    env.filters["money"] = format_money
    return env
