"""TODO docstring (split from tailor/cli.py)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from tailor.config import apply_defaults, setting
from tailor.demo.run import pipeline_summary, reset_demo_state, run_pipeline


def _as_of(value: str | None) -> datetime:
    if not value:
        now = datetime.now(timezone.utc)
        return now.replace(minute=0, second=0, microsecond=0)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from tailor.demo.generator import write_demo_data

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


def cmd_demo(args: argparse.Namespace) -> int:
    from tailor.demo.generator import write_demo_data

    apply_defaults()
    if not args.keep:
        reset_demo_state()
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
