"""The demo run: a fresh demo data set, then the whole unpartitioned graph as the named job ``tailor_pipeline``
(so the run shows in the UI under that name, with its tags), then the figures read back from the warehouse.

What a demo run starts afresh — the landing files, the warehouse, the truth files — is derived from the seed.
What it keeps is the send ledger and the outbox: they record what was sent, so running the demo again sends
nothing twice (``--fresh`` forgets them too).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from tailor.config import DEFAULTS, sendgrid_enabled, setting

DERIVED_PATHS = ("TAILOR_LANDING_DIR", "TAILOR_WAREHOUSE_PATH")
SENT_PATHS = ("TAILOR_OUTBOX_DIR", "TAILOR_SEND_LEDGER_PATH")
USE_CONFIGURED_PATHS = "--use-configured-paths"
SEND_WITH_SENDGRID = "--send-with-sendgrid"
_SIDE_FILES = ("", ".wal", "-wal", "-shm", "-journal", ".key")  # .key: the ledger's recipient-hash key


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
        return
    for suffix in _SIDE_FILES:
        Path(str(path) + suffix).unlink(missing_ok=True)


def demo_refusals(*, use_configured_paths: bool = False, send_with_sendgrid: bool = False) -> list[str]:
    """Why ``tailor demo`` must not run here, or nothing.

    The demo overwrites the landing folder and the warehouse, and may delete the outbox and the ledger: outside
    the default demo folders those may be a shop's real data, so it refuses unless told so explicitly. With a
    SendGrid key set it would send real email to its made-up customers: refused unless told so too."""
    problems = [
        f"{name} points at {Path(setting(name)).resolve()}, not the demo's default {Path(DEFAULTS[name]).resolve()}: "
        f"the demo would overwrite or delete it. Unset {name}, or pass {USE_CONFIGURED_PATHS} if it is yours to "
        "overwrite"
        for name in DERIVED_PATHS + SENT_PATHS
        if not use_configured_paths and Path(setting(name)).resolve() != Path(DEFAULTS[name]).resolve()
    ]
    if sendgrid_enabled() and not send_with_sendgrid:
        problems.append(f"SENDGRID_API_KEY is set: the demo would send real email through SendGrid to its "
                        f"made-up customers. Unset it to write the .eml outbox, or pass {SEND_WITH_SENDGRID}")
    return problems


def reset_demo_state(*, forget_sends: bool = False) -> None:
    """Remove what the demo derives from its seed; with ``forget_sends``, also the outbox and the send ledger."""
    for name in DERIVED_PATHS + (SENT_PATHS if forget_sends else ()):
        _remove(Path(setting(name)))
    shutil.rmtree(Path(setting("TAILOR_LANDING_DIR")).parent / "demo_truth", ignore_errors=True)


def run_pipeline(as_of: datetime | None = None, *, raise_on_error: bool = True, log_level: str = "WARNING",
                 trigger: str = "tailor demo") -> Any:
    """Run the job ``tailor_pipeline`` in this process: every unpartitioned asset, with its pandera checks.

    Every as-of asset computes for ``as_of`` (the run tag ``tailor/as_of``); the console shows warnings and
    errors only, every event still goes to the instance (and the UI of `make dev`)."""
    from dagster import DagsterInstance

    from assets.run_tags import AS_OF_TAG, TRIGGER_TAG
    from tailor.definitions import PIPELINE_JOB, build_definitions

    defs = build_definitions()
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    tags = {TRIGGER_TAG: trigger, **({AS_OF_TAG: as_of.isoformat()} if as_of is not None else {})}
    return defs.resolve_job_def(PIPELINE_JOB).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        instance=instance, tags=tags, raise_on_error=raise_on_error,
    )


def pipeline_summary() -> dict[str, object]:
    """Figures of the last run, read back from the warehouse."""
    from tailor.warehouse.environment import warehouse_from_environment

    with warehouse_from_environment(read_only=True).session() as s:
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
            # a skip without an error text is the same message key sent before; with one, another customer's
            # email of the same campaign went to the same (family) address
            "already_sent": one("SELECT COUNT(*) FROM email_sends WHERE status = 'skipped_already_sent' "
                                "AND error IS NULL"),
            "same_address": one("SELECT COUNT(*) FROM email_sends WHERE status = 'skipped_already_sent' "
                                "AND error IS NOT NULL"),
            "quarantined": one("SELECT COUNT(*) FROM quarantined_rows"),
        }
