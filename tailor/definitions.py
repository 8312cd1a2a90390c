"""The one Dagster ``Definitions`` object of Tailor (loaded by workspace.yaml, `dagster dev` and `tailor demo`).

Stage by stage (assets/stages.py puts each stage's assets in its group with its owner and the warehouse's kind),
one named job for the whole unpartitioned graph (what `tailor demo` runs, so its runs show on the Overview page
under that name), the landing sensor with its refresh jobs, and the daily feature-history job with its schedule.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, multiprocess_executor

from assets import delivery, features, models, personalization, profiles, segments, sources
from assets.feature_history import customer_features_history, customer_features_history_daily, feature_history_schedule
from assets.sensors import landing_file_sensor
from assets.stages import DELIVERY, FEATURES, MODELS, PERSONALIZATION, PROFILES, SEGMENTS, SOURCES, in_stage
from resources.environment import build_resources
from tailor.features.history import HISTORY_TABLE

#: The job of a whole run of the unpartitioned graph (`tailor demo`, or "Materialize all" as a job).
PIPELINE_JOB = "tailor_pipeline"

pipeline_job = define_asset_job(
    PIPELINE_JOB,
    selection=AssetSelection.all() - AssetSelection.assets(HISTORY_TABLE),
    description="Every unpartitioned asset, sources to sends, in the order of the graph (the daily feature history "
                "has its own job).",
    tags={"tailor/run": "pipeline"},
)


def build_definitions() -> Definitions:
    resources = build_resources()
    kind = resources["warehouse"].kind
    stages = [
        (SOURCES, sources.ASSETS), (PROFILES, profiles.ASSETS), (FEATURES, [*features.ASSETS, customer_features_history]),
        (MODELS, models.ASSETS), (SEGMENTS, segments.ASSETS), (PERSONALIZATION, personalization.ASSETS),
        (DELIVERY, delivery.ASSETS),
    ]
    # DuckDB has a single writer: run steps in one process. Snowflake takes parallel steps.
    executor = multiprocess_executor if kind == "snowflake" else in_process_executor
    return Definitions(
        assets=[a for stage, assets in stages for a in in_stage(stage, assets, kind)],
        jobs=[pipeline_job, customer_features_history_daily],
        sensors=[landing_file_sensor],  # brings its refresh_from_<source> jobs along
        schedules=[feature_history_schedule],
        resources=resources,
        executor=executor,
    )


defs = build_definitions()
