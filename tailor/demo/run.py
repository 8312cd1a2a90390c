"""TODO docstring (split from tailor/cli.py)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from tailor.config import setting

#: Assets whose run config takes ``as_of`` (FeaturesConfig and its subclasses).
AS_OF_ASSETS = (
    "customer_features", "model_fits", "customer_predictions", "product_recommendations", "segment_membership_history",
)


def reset_demo_state() -> None:
    for name in ("TAILOR_LANDING_DIR", "TAILOR_OUTBOX_DIR"):
        shutil.rmtree(setting(name), ignore_errors=True)
    for name in ("TAILOR_WAREHOUSE_PATH", "TAILOR_SEND_LEDGER_PATH"):
        for suffix in ("", ".wal", "-wal", "-shm", "-journal"):
            Path(setting(name) + suffix).unlink(missing_ok=True)
    shutil.rmtree(Path(setting("TAILOR_LANDING_DIR")).parent / "demo_truth", ignore_errors=True)


def run_pipeline(as_of: datetime | None = None, raise_on_error: bool = True, log_level: str = "WARNING"):
    """Materialize every asset of the one Definitions object, in this process."""
    import os

    from dagster import AssetSelection, DagsterInstance, materialize

    from tailor.definitions import build_definitions

    defs = build_definitions()
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    # The console shows warnings and errors only; every event still goes to the instance (and the UI).
    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if as_of is not None:  # every asset computed "as of" a moment sees the same one
        run_config["ops"] = {name: {"config": {"as_of": as_of.isoformat()}} for name in AS_OF_ASSETS}
    assets = list(defs.assets or [])
    return materialize(
        assets,
        resources=defs.resources,
        instance=instance,
        run_config=run_config,
        selection=AssetSelection.all(),
        raise_on_error=raise_on_error,
    )


def pipeline_summary() -> dict[str, object]:
    """Figures of the last run, read back from the warehouse."""

    from tailor.warehouse.environment import warehouse_from_environment

    warehouse = warehouse_from_environment(read_only=True)
    with warehouse.session() as s:
        def one(sql: str) -> int:
            return int(s.query(sql).iloc[0, 0])

        segments = s.query("SELECT segment, COUNT(*) AS n FROM customer_segments GROUP BY segment ORDER BY n DESC")
        return {
            "source_records": one("SELECT COUNT(*) FROM crm_customers"),
            "customers": one("SELECT COUNT(*) FROM customer_profiles"),
            "consented": one("SELECT COUNT(*) FROM customer_profiles WHERE marketing_consent"),
            "segments": dict(zip(segments["segment"], segments["n"].astype(int))),
            "decided": one("SELECT COUNT(*) FROM email_decisions"),
            "to_send": one("SELECT COUNT(*) FROM email_decisions WHERE send"),
            "rendered": one("SELECT COUNT(*) FROM rendered_emails"),
            "sent": one("SELECT COUNT(*) FROM email_sends WHERE status = 'sent'"),
            "quarantined": one("SELECT COUNT(*) FROM quarantined_rows"),
        }
