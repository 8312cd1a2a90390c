"""`make demo`'s pipeline at N customers: wall time per stage and peak memory (issue 3's 2-minute target).

Usage: python bench/bench_demo.py [--customers 10000] [--seed 42]
Prints the figures; copy them into bench/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tailor-bench-"))
    os.environ.update(
        TAILOR_LANDING_DIR=str(root / "landing"),
        TAILOR_WAREHOUSE_PATH=str(root / "warehouse.duckdb"),
        TAILOR_OUTBOX_DIR=str(root / "outbox"),
        TAILOR_SEND_LEDGER_PATH=str(root / "ledger.sqlite"),
    )
    os.environ.pop("DAGSTER_HOME", None)
    from tailor.demo.generator import write_demo_data
    from tailor.demo.run import pipeline_summary, run_pipeline

    as_of = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    write_demo_data(root / "landing", customers=args.customers, seed=args.seed, as_of=as_of)
    t1 = time.perf_counter()
    result = run_pipeline(as_of=as_of)
    t2 = time.perf_counter()

    steps = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
    figures = pipeline_summary()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"customers {args.customers:,}: demo data {t1 - t0:.1f}s, pipeline {t2 - t1:.1f}s, total {t2 - t0:.1f}s, peak RSS {peak_mb:.0f} MB")
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<40} {seconds:6.2f}s")
    print(f"summary: {figures}")


if __name__ == "__main__":
    main()
