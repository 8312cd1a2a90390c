"""The one Dagster ``Definitions`` object of Tailor (loaded by workspace.yaml, `dagster dev` and `tailor demo`)."""

from __future__ import annotations

from dagster import Definitions, in_process_executor, multiprocess_executor

from assets.delivery import delivery_assets
from assets.features import feature_assets, feature_history_schedule
from assets.models import model_assets
from assets.personalization import personalization_assets
from assets.profiles import profile_assets
from assets.segments import segment_assets
from assets.sensors import landing_file_sensor
from assets.sources import quarantine_asset, source_assets
from resources import build_resources
from tailor.config import snowflake_enabled


def build_definitions() -> Definitions:
    kind = "snowflake" if snowflake_enabled() else "duckdb"
    assets = [
        *source_assets(kind),
        quarantine_asset(kind),
        *profile_assets(kind),
        *feature_assets(kind),
        *model_assets(kind),
        *segment_assets(kind),
        *personalization_assets(kind),
        *delivery_assets(kind),
    ]
    # DuckDB has a single writer: run steps in one process. Snowflake takes parallel steps.
    executor = multiprocess_executor if snowflake_enabled() else in_process_executor
    return Definitions(
        assets=assets,
        sensors=[landing_file_sensor],  # brings its refresh_from_<source> jobs along
        schedules=[feature_history_schedule()],  # yesterday's feature history, daily (off until switched on)
        resources=build_resources(),
        executor=executor,
    )


defs = build_definitions()
