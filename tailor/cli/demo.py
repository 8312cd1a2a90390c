"""`tailor demo-data` (write a demo data set) and `tailor demo` (data, then the whole pipeline, then a summary)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tailor.clock import parse_as_of
from tailor.config import apply_defaults, setting
from tailor.demo.run import demo_refusals, pipeline_summary, reset_demo_state, run_pipeline


def demo_as_of(value: str | None) -> datetime:
    """The moment the demo data ends at (UTC, aware): ``--as-of``, else the start of this hour."""
    this_hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return parse_as_of(value, this_hour).replace(tzinfo=timezone.utc)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from tailor.demo.generator import write_demo_data

    out = Path(args.out or setting("TAILOR_LANDING_DIR"))
    started = time.perf_counter()
    summary = write_demo_data(out, customers=args.customers, seed=args.seed, as_of=demo_as_of(args.as_of))
    print(
        f"wrote demo data for {summary.customers:,} customers to {out} in {time.perf_counter() - started:.1f}s: "
        f"{summary.crm_records:,} CRM records, {summary.orders:,} orders, {summary.web_events:,} web events, "
        f"{summary.email_events:,} email events, {summary.consent_events:,} consent changes, "
        f"{summary.products:,} products, {summary.bad_rows:,} deliberately bad rows"
    )
    return 0


def _print_summary(figures: dict, seconds: float) -> None:
    print(f"  customers         {figures['customers']:>8,}  (from {figures['source_records']:,} CRM records; "
          f"{figures['consented']:,} with marketing consent)")
    print("  segments          " + ", ".join(f"{k} {v:,}" for k, v in figures["segments"].items()))
    print(f"  emails decided    {figures['decided']:>8,}  ({figures['to_send']:,} to send)")
    notes = [f"{figures['already_sent']:,} sent by an earlier run: not sent again"] if figures["already_sent"] else []
    if figures["same_address"]:
        notes.append(f"{figures['same_address']:,} to an address another customer shares: each campaign once")
    print(f"  emails written    {figures['sent']:>8,}" + (f"  ({'; '.join(notes)})" if notes else ""))
    print(f"  quarantined rows  {figures['quarantined']:>8,}")
    print()
    print(f"  rendered emails:  {Path(setting('TAILOR_OUTBOX_DIR')).resolve()}  (.eml files + SendGrid payloads)")
    print(f"  warehouse:        {Path(setting('TAILOR_WAREHOUSE_PATH')).resolve()}")
    print(f"  total time:       {seconds:.1f}s   — open the UI with `make dev`")


def cmd_demo(args: argparse.Namespace) -> int:
    from tailor.demo.generator import write_demo_data

    refusals = demo_refusals(use_configured_paths=args.use_configured_paths,
                             send_with_sendgrid=args.send_with_sendgrid)
    if refusals:
        for problem in refusals:
            print(f"tailor demo: refused: {problem}", file=sys.stderr)
        return 2
    apply_defaults()
    if not args.keep:
        reset_demo_state(forget_sends=args.fresh)
    as_of = demo_as_of(args.as_of)
    started = time.perf_counter()
    landing = Path(setting("TAILOR_LANDING_DIR"))
    summary = write_demo_data(landing, customers=args.customers, seed=args.seed, as_of=as_of)
    generated = time.perf_counter()
    print(f"1/2 demo data: {summary.customers:,} customers, {summary.web_events:,} web events -> {landing} "
          f"({generated - started:.1f}s)")
    run_pipeline(as_of=as_of)
    finished = time.perf_counter()
    print(f"2/2 pipeline: every asset materialized and every pandera check passed ({finished - generated:.1f}s)")
    print()
    _print_summary(pipeline_summary(), finished - started)
    return 0
