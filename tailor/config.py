"""Every path and switch of Tailor comes from an environment variable; the defaults live here only."""

from __future__ import annotations

import os

DEFAULTS: dict[str, str] = {
    "TAILOR_LANDING_DIR": "data/landing",
    "TAILOR_WAREHOUSE_PATH": "data/warehouse.duckdb",
    "TAILOR_OUTBOX_DIR": "data/outbox",
    "TAILOR_SEND_LEDGER_PATH": "data/send_ledger.sqlite",
    "TAILOR_RULES_DIR": "rules",
    "TAILOR_TEMPLATES_DIR": "email_templates",
    "TAILOR_FROM_EMAIL": "hello@tailor.example",
    "TAILOR_FROM_NAME": "Tailor Shop",
    "TAILOR_COMPANY_ADDRESS": "Tailor Shop, 1 Example Street, 10115 Berlin, Germany",
    "TAILOR_UNSUBSCRIBE_BASE_URL": "https://shop.example/unsubscribe",
    "TAILOR_PREFERENCES_BASE_URL": "https://shop.example/preferences",
    "TAILOR_SHOP_URL": "https://shop.example",
    "TAILOR_MAX_CONCURRENT_SENDS": "8",
    "TAILOR_DECISION_WORKERS": "",   # empty: every CPU this process may use
}


def apply_defaults() -> None:
    """Fill unset variables with their defaults, so resources can read them all through ``EnvVar``."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def snowflake_enabled() -> bool:
    return bool(os.environ.get("SNOWFLAKE_ACCOUNT"))


def sendgrid_enabled() -> bool:
    return bool(os.environ.get("SENDGRID_API_KEY"))
