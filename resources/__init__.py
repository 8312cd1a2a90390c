"""Resources, chosen by environment: the embedded default or production (Snowflake, SendGrid)."""

from __future__ import annotations

import os
from typing import Any, Callable

from dagster import EnvVar
from dagster_snowflake import SnowflakeResource

from resources.content import MarketingContent
from resources.email_sender import EmailSenderResource
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse, SnowflakeWarehouse, Warehouse
from tailor.config import apply_defaults, sendgrid_enabled, snowflake_enabled


def build_warehouse(env: Callable[[str], Any] = EnvVar) -> Warehouse:
    """The warehouse chosen by the environment. ``env`` is ``EnvVar`` for Dagster (resolved at run time);
    the CLI passes ``os.environ.__getitem__`` to use it outside a run."""
    apply_defaults()
    if snowflake_enabled():
        optional = {
            key: env(var)
            for key, var in (("warehouse", "SNOWFLAKE_WAREHOUSE"), ("role", "SNOWFLAKE_ROLE"))
            if os.environ.get(var)
        }
        return SnowflakeWarehouse(
            snowflake=SnowflakeResource(
                account=env("SNOWFLAKE_ACCOUNT"),
                user=env("SNOWFLAKE_USER"),
                password=env("SNOWFLAKE_PASSWORD"),
                database=env("SNOWFLAKE_DATABASE"),
                schema=env("SNOWFLAKE_SCHEMA"),
                **optional,
            )
        )
    return DuckDBWarehouse(path=env("TAILOR_WAREHOUSE_PATH"))


def build_resources() -> dict[str, Any]:
    """All resources, configured from environment variables (defaults in tailor/config.py)."""
    apply_defaults()
    sendgrid = {"sendgrid_api_key": EnvVar("SENDGRID_API_KEY")} if sendgrid_enabled() else {}
    if sendgrid and os.environ.get("SENDGRID_API_HOST"):
        sendgrid["sendgrid_api_host"] = EnvVar("SENDGRID_API_HOST")
    return {
        "warehouse": build_warehouse(),
        "landing": LandingZone(path=EnvVar("TAILOR_LANDING_DIR")),
        "content": MarketingContent(
            rules_dir=EnvVar("TAILOR_RULES_DIR"),
            templates_dir=EnvVar("TAILOR_TEMPLATES_DIR"),
            company_name=EnvVar("TAILOR_FROM_NAME"),
            company_address=EnvVar("TAILOR_COMPANY_ADDRESS"),
            unsubscribe_base_url=EnvVar("TAILOR_UNSUBSCRIBE_BASE_URL"),
            preferences_base_url=EnvVar("TAILOR_PREFERENCES_BASE_URL"),
            shop_url=EnvVar("TAILOR_SHOP_URL"),
        ),
        "email_sender": EmailSenderResource(
            outbox_dir=EnvVar("TAILOR_OUTBOX_DIR"),
            ledger_path=EnvVar("TAILOR_SEND_LEDGER_PATH"),
            from_email=EnvVar("TAILOR_FROM_EMAIL"),
            from_name=EnvVar("TAILOR_FROM_NAME"),
            max_concurrent_sends=EnvVar.int("TAILOR_MAX_CONCURRENT_SENDS"),
            **sendgrid,
        ),
    }
