"""The moment the as-of assets compute for: one per run, the same for every asset of it.

``as_of`` comes from the asset's run config when given, else from the run tag ``tailor/as_of`` (what `tailor
demo` and a backfill set once for the whole run), else the run's start time — so customer_predictions finds the
fit model_fits made in the same run, and a run can be replayed as of any past moment.
"""


from datetime import datetime, timezone

from dagster import AssetExecutionContext, Config
from pydantic import Field

from assets.run_tags import AS_OF_TAG
from tailor.clock import parse_as_of


class AsOfConfig(Config):
    """Run config of the assets computed as of a moment."""

    as_of: str = Field(default="", description="ISO-8601 time (UTC when no offset); empty: the run's "
                                               "tailor/as_of tag, else the start of the run.")


def run_as_of(context: AssetExecutionContext, config: AsOfConfig) -> datetime:
    """The tz-naive UTC moment this asset computes for (see the module docstring)."""
    if config.as_of:
        return parse_as_of(config.as_of, datetime.now(timezone.utc))
    tag = context.run.tags.get(AS_OF_TAG)
    if tag:
        return parse_as_of(tag, datetime.now(timezone.utc))
    started = datetime.now(timezone.utc)
    record = context.instance.get_run_record_by_id(context.run_id)
    if record is not None and record.start_time is not None:
        started = datetime.fromtimestamp(record.start_time, tz=timezone.utc)
    return parse_as_of(None, started)
