"""The resources, chosen by environment variables: the embedded default, or production (Snowflake, SendGrid)."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from resources.content import MarketingContent
from resources.email_sender import EmailSenderResource
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse, WarehouseResource
from tailor.config import apply_defaults, sendgrid_enabled, snowflake_enabled
from tailor.warehouse.snowflake_connection import SNOWFLAKE_SETTINGS, snowflake_parameters


def build_warehouse() -> WarehouseResource:
    """The warehouse chosen by the environment, its settings read at run time (``EnvVar``)."""
    apply_defaults()
    if not snowflake_enabled():
        return DuckDBWarehouse(path=EnvVar("TAILOR_WAREHOUSE_PATH"))
    from dagster_snowflake import SnowflakeResource  # seconds of imports: only when Snowflake is configured

    from resources.snowflake_warehouse import SnowflakeWarehouse

    names = {param: name for name, param in SNOWFLAKE_SETTINGS.items()}
    configured = snowflake_parameters(os.environ)   # names what is missing, at load time
    return SnowflakeWarehouse(snowflake=SnowflakeResource(**{param: EnvVar(names[param]) for param in configured}))


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
