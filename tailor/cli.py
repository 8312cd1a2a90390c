"""`tailor`: the project's command line (demo data, the end-to-end demo run, `rules check|test|diff`)."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from tailor.config import apply_defaults, setting


#: Assets whose run config takes ``as_of`` (FeaturesConfig and its subclasses).
AS_OF_ASSETS = (
    "customer_features", "model_fits", "customer_predictions", "product_recommendations", "segment_membership_history",
)


def _as_of(value: str | None) -> datetime:
    if not value:
        now = datetime.now(timezone.utc)
        return now.replace(minute=0, second=0, microsecond=0)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from tailor.demo_data import write_demo_data

    out = Path(args.out or setting("TAILOR_LANDING_DIR"))
    started = time.perf_counter()
    summary = write_demo_data(out, customers=args.customers, seed=args.seed, as_of=_as_of(args.as_of))
    print(
        f"wrote demo data for {summary.customers:,} customers to {out} in {time.perf_counter() - started:.1f}s: "
        f"{summary.crm_records:,} CRM records, {summary.orders:,} orders, {summary.web_events:,} web events, "
        f"{summary.email_events:,} email events, {summary.consent_events:,} consent changes, "
        f"{summary.products:,} products, {summary.bad_rows:,} deliberately bad rows"
    )
    return 0


def _reset_demo_state() -> None:
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
    import os

    from resources import build_warehouse

    warehouse = build_warehouse(env=os.environ.__getitem__)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from tailor.demo_data import write_demo_data

    apply_defaults()
    if not args.keep:
        _reset_demo_state()
    as_of = _as_of(args.as_of)
    started = time.perf_counter()
    landing = Path(setting("TAILOR_LANDING_DIR"))
    summary = write_demo_data(landing, customers=args.customers, seed=args.seed, as_of=as_of)
    generated = time.perf_counter()
    print(f"1/2 demo data: {summary.customers:,} customers, {summary.web_events:,} web events -> {landing} ({generated - started:.1f}s)")
    run_pipeline(as_of=as_of)
    finished = time.perf_counter()
    figures = pipeline_summary()
    print(f"2/2 pipeline: every asset materialized and every pandera check passed ({finished - generated:.1f}s)")
    print()
    print(f"  customers         {figures['customers']:>8,}  (from {figures['source_records']:,} CRM records; {figures['consented']:,} with marketing consent)")
    print("  segments          " + ", ".join(f"{k} {v:,}" for k, v in figures["segments"].items()))
    print(f"  emails decided    {figures['decided']:>8,}  ({figures['to_send']:,} to send)")
    print(f"  emails written    {figures['sent']:>8,}")
    print(f"  quarantined rows  {figures['quarantined']:>8,}")
    print()
    print(f"  rendered emails:  {Path(setting('TAILOR_OUTBOX_DIR')).resolve()}  (.eml files + SendGrid payloads)")
    print(f"  warehouse:        {Path(setting('TAILOR_WAREHOUSE_PATH')).resolve()}")
    print(f"  total time:       {finished - started:.1f}s   — open the UI with `make dev`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description="Data-driven email personalization on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo_data = sub.add_parser("demo-data", help="write a seeded, realistic and messy demo data set")
    demo_data.add_argument("--customers", type=int, default=1000)
    demo_data.add_argument("--seed", type=int, default=42)
    demo_data.add_argument("--out", help="landing folder (default: $TAILOR_LANDING_DIR)")
    demo_data.add_argument("--as-of", help="ISO time the data ends at (default: this hour, UTC)")
    demo_data.set_defaults(func=cmd_demo_data)

    demo = sub.add_parser("demo", help="generate demo data and run the whole pipeline end to end")
    demo.add_argument("--customers", type=int, default=10_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--as-of", help="ISO time of the run (default: this hour, UTC)")
    demo.add_argument("--keep", action="store_true", help="keep the existing data folder instead of starting afresh")
    demo.set_defaults(func=cmd_demo)

    from tailor.rules_cli import register as register_rules_commands

    register_rules_commands(sub)   # tailor rules check | test | diff
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
