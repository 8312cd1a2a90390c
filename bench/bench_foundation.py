"""Issue 4's foundation at scale: 1,000,000 customers / ~20,000,000 web events through ingestion, identity, profiles.

Usage (run it alone: `flock /tmp/tailor-bench.lock ...`):
    python bench/bench_foundation.py [--customers 1000000] [--seed 42] [--events-per-file 200000] [--dir /tmp/...]

1. Generates the demo data with tailor.demo.generator in a child process (its memory is not the pipeline's), into
   /tmp, with ``--events-per-file`` so that there are many event files; 1 % of the web-event files (from the
   middle: full files) are held back for the second run.
2. First run: ingestion of every source (tailor.sources.load.ingest_source, what the source assets call),
   then identity resolution and profiles (run_identity_and_profiles: the same calls as assets/profiles.py), on
   the embedded DuckDB warehouse (tailor.warehouse.duckdb_connection.DuckDBFile).
3. Second run: the held-back files land, ingestion runs again (unchanged files are skipped by their hash),
   and only the stages downstream of a source that changed run again, as the landing sensor's
   refresh_from_<source> jobs do (new web events do not touch identity or profiles). The cost of
   re-running identity + profiles anyway is printed too.
4. Plain-pandas baseline, measured in the same run: per-line ``json.loads`` + a DataFrame + pandas
   validation and dedup of the same web-event rules, on 10 % of the web-event files, extrapolated per row.
Prints wall time per stage, peak RSS of this process (DuckDB runs in it) after ingestion and overall, the ratios,
the identity precision / recall against the generator's demo_truth/identities.csv, and a summary table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = "2026-11-01T00:00:00+00:00"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(customers: int, seed: int, events_per_file: int, landing: Path) -> float:
    code = (
        "import sys; from datetime import datetime; from pathlib import Path; "
        "from tailor.demo.generator import write_demo_data; "
        f"s = write_demo_data(Path({str(landing)!r}), customers={customers}, seed={seed}, "
        f"as_of=datetime.fromisoformat({AS_OF!r}), events_per_file={events_per_file}); print(s.web_events)"
    )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - t


def run_identity_and_profiles(warehouse) -> dict[str, float]:
    """What the customer_identity and customer_profiles assets do, step by step, timed."""
    from tailor.identity.matching_view import normalize_records
    from tailor.identity.profiles import CRM_COLUMNS, profiles_from_warehouse
    from tailor.identity.resolve import resolve_identities

    times = {}
    t = time.perf_counter()
    with warehouse.session() as s:
        crm = s.query(f"SELECT {CRM_COLUMNS} FROM crm_customers")
    norm = normalize_records(crm)
    links = resolve_identities(crm, normalized=norm)
    with warehouse.session() as s:
        s.write_table("customer_identity_links", links)
        s.write_table("crm_normalized", norm)
    del crm, norm, links
    times["identity"] = time.perf_counter() - t

    t = time.perf_counter()
    with warehouse.session() as s:
        profiles = profiles_from_warehouse(s)
        s.write_table("customer_profiles", profiles)
    times["profiles"] = time.perf_counter() - t
    return times


def row_count(warehouse, table: str) -> int:
    with warehouse.session() as s:
        return int(s.query(f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0])


def identity_quality(warehouse, truth_csv: Path) -> dict:
    """Pairwise precision / recall of the master ids against the generator's true identities."""
    import pandas as pd

    from tailor.identity.resolve import linkage_quality

    with warehouse.session() as s:
        links = s.query("SELECT source_record_id, customer_id FROM customer_identity_links")
    return linkage_quality(links, pd.read_csv(truth_csv, dtype=str))


def ingest_all(warehouse, landing: Path) -> tuple[dict[str, float], dict[str, object]]:
    from tailor.sources.contracts import ALL_SOURCES
    from tailor.sources.load import ingest_source

    times, reports = {}, {}
    for contract in ALL_SOURCES:
        t = time.perf_counter()
        reports[contract.name] = ingest_source(contract, landing, warehouse)
        times[contract.name] = time.perf_counter() - t
    return times, reports


def pandas_baseline(files: list[Path]) -> tuple[float, int]:
    """Plain pandas on the same web-event rules: per-line json.loads, a DataFrame, vectorised checks, dedup."""
    import pandas as pd

    from tailor.sources.contracts import WEB_EVENTS

    types = next(c.choices for c in WEB_EVENTS.columns if c.name == "event_type")
    t = time.perf_counter()
    rows = 0
    seen: set[str] = set()
    for path in files:
        records, lines = [], []
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                rows += 1
                try:
                    records.append(json.loads(line))
                    lines.append(number)
                except json.JSONDecodeError:
                    pass  # quarantined
        df = pd.DataFrame.from_records(records)
        df["_source_line"] = lines
        at = pd.to_datetime(df["occurred_at"], utc=True, format="ISO8601", errors="coerce")
        ok = df["event_id"].notna() & df["event_type"].isin(types) & at.notna()
        good = df[ok].assign(occurred_at=at[ok].dt.tz_localize(None))
        good = good[~good["event_id"].isin(seen)].drop_duplicates("event_id")
        seen.update(good["event_id"])
    return time.perf_counter() - t, rows


def hold_back_event_files(landing: Path, held: Path) -> tuple[int, int]:
    """Move 1 % of the web-event files (full ones, from the middle) to ``held``; returns (files, held back)."""
    event_files = sorted((landing / "events").glob("*.ndjson"))
    n_hold = max(1, round(len(event_files) / 100))
    held.mkdir(parents=True)
    middle = len(event_files) // 2  # full files (the last one is a remainder), so that 1 % of files is 1 % of rows
    for path in event_files[middle:middle + n_hold]:
        shutil.move(path, held / path.name)
    return len(event_files), n_hold


def first_run(warehouse, landing: Path, truth_csv: Path) -> dict:
    """Every source ingested, then identity and profiles; prints the stages and returns the figures."""
    t0 = time.perf_counter()
    ingest_s, reports = ingest_all(warehouse, landing)
    t1 = time.perf_counter()
    ingest_peak = peak_rss_mb()
    for r in reports.values():  # the pandera samples are the assets' business, not the later stages'
        for f in r.files_loaded:
            f.samples = {}
    gc.collect()
    profile_s = run_identity_and_profiles(warehouse)
    total = time.perf_counter() - t0
    rows_read = sum(r.rows_read for r in reports.values())
    print(f"\nrun 1: {total:.1f}s total, peak RSS {peak_rss_mb():,.0f} MB")
    print(f"  ingestion {t1 - t0:.1f}s for {rows_read:,} rows read ({rows_read / (t1 - t0):,.0f} rows/s),"
          f" peak RSS after ingestion {ingest_peak:,.0f} MB")
    for name, seconds in ingest_s.items():
        r = reports[name]
        print(f"    {name:<16} {seconds:7.1f}s  read {r.rows_read:>10,} = accepted {r.rows_accepted:>10,}"
              f" + quarantined {r.rows_quarantined:>7,} + duplicate {r.rows_duplicate:>6,}")
        assert r.rows_read == r.rows_accepted + r.rows_quarantined + r.rows_duplicate
    for name, seconds in profile_s.items():
        print(f"  {name:<18} {seconds:7.1f}s")
    overall_peak = peak_rss_mb()
    print(f"  customer_profiles: {row_count(warehouse, 'customer_profiles'):,} rows; "
          f"web_events: {row_count(warehouse, 'web_events'):,} rows")
    quality = identity_quality(warehouse, truth_csv)
    print(f"  identity vs demo_truth/identities.csv: precision {quality['precision']:.4f}, recall {quality['recall']:.4f}"
          f" ({quality['records']:,} records, {quality['customers']:,} master ids for {quality['persons']:,} persons;"
          f" {quality['correct_pairs']:,} of {quality['predicted_pairs']:,} predicted pairs correct,"
          f" {quality['true_pairs']:,} true pairs)")
    return {"seconds": total, "ingest_seconds": t1 - t0, "ingest_s": ingest_s, "reports": reports,
            "profile_s": profile_s, "rows_read": rows_read, "ingest_peak": ingest_peak, "overall_peak": overall_peak,
            "quality": quality}


def second_run(warehouse, landing: Path, held: Path, first: dict) -> float:
    """The held-back files land; ingestion runs again and only what is downstream of a changed source. Returns
    the seconds, and prints what re-running identity + profiles anyway would cost."""
    for path in sorted(held.iterdir()):
        shutil.move(path, landing / "events" / path.name)
    t0 = time.perf_counter()
    _, reports = ingest_all(warehouse, landing)
    t1 = time.perf_counter()
    changed = {name for name, r in reports.items() if r.files_loaded}
    rerun = bool(changed & {"crm_customers", "consent_events", "email_events"})
    if rerun:
        run_identity_and_profiles(warehouse)
    seconds = time.perf_counter() - t0
    new_rows = sum(r.rows_read for r in reports.values())
    print(f"\nrun 2 ({new_rows:,} new rows = {100 * new_rows / first['rows_read']:.2f} % in {sorted(changed)}): "
          f"{seconds:.1f}s; ingestion {t1 - t0:.1f}s; identity/profiles {'re-run' if rerun else 'not downstream, skipped'}")
    print(f"  second / first = {seconds / first['seconds']:.4f}")
    anyway = sum(run_identity_and_profiles(warehouse).values())
    print(f"  (identity + profiles re-run anyway: {anyway:.1f}s; second / first would be "
          f"{(seconds + anyway) / first['seconds']:.3f})")
    return seconds


def pandas_speedup(landing: Path, first: dict) -> float:
    """Plain pandas on 10 % of the web-event files, extrapolated per row: how many times faster ingestion is."""
    files = sorted((landing / "events").glob("*.ndjson"))
    subset = files[: max(1, len(files) // 10)]
    base_s, base_rows = pandas_baseline(subset)
    web_rows = first["reports"]["web_events"].rows_read
    ours = first["ingest_s"]["web_events"]
    estimate = base_s * web_rows / base_rows
    print(f"\nplain-pandas baseline (web events only; {len(subset)} of {len(files)} files, {base_rows:,} rows, "
          f"in {base_s:.1f}s): {base_rows / base_s:,.0f} rows/s, extrapolated {estimate:.0f}s for {web_rows:,} rows")
    print(f"  ingest_source(web_events): {ours:.1f}s, {web_rows / ours:,.0f} rows/s -> {estimate / ours:.1f}x faster"
          f" (and it also quarantines with reasons, dedups across files and loads the warehouse)")
    return estimate / ours


def print_summary(customers: int, first: dict, second_s: float, speedup: float) -> None:
    quality = first["quality"]
    print("\n| figure | value |\n|---|---|")
    rows = [
        ("customers / web events read", f"{customers:,} / {first['reports']['web_events'].rows_read:,}"),
        ("run 1 total (ingestion + identity + profiles)", f"{first['seconds']:.0f} s"),
        ("ingestion (all sources)",
         f"{first['ingest_seconds']:.0f} s ({first['rows_read'] / first['ingest_seconds']:,.0f} rows/s)"),
        *((f"  {name}", f"{sec:.1f} s") for name, sec in first["ingest_s"].items()),
        *((name, f"{sec:.1f} s") for name, sec in first["profile_s"].items()),
        ("peak RSS after ingestion", f"{first['ingest_peak'] / 1024:.2f} GB"),
        ("peak RSS after identity + profiles (run 1)", f"{first['overall_peak'] / 1024:.2f} GB"),
        ("peak RSS whole benchmark", f"{peak_rss_mb() / 1024:.2f} GB"),
        ("run 2 (1 % new web events) / run 1", f"{second_s / first['seconds']:.4f}"),
        ("web-event ingestion vs plain pandas", f"{speedup:.1f}x faster"),
        ("identity precision / recall", f"{quality['precision']:.4f} / {quality['recall']:.4f}"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events-per-file", type=int, default=None,
                        help="default: customers / 5, i.e. about 100 web-event files, so 1 %% can be held back")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default /tmp/tailor-foundation-<N>)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and warehouse")
    parser.add_argument("--duckdb-memory", default="4GB", help="DuckDB memory_limit of the warehouse")
    args = parser.parse_args()

    work = args.dir or Path(f"/tmp/tailor-foundation-{args.customers}")
    events_per_file = args.events_per_file or max(1_000, args.customers // 5)
    shutil.rmtree(work, ignore_errors=True)
    landing, held = work / "landing", work / "held_back"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; work folder {work}")
    gen_s = generate(args.customers, args.seed, events_per_file, landing)
    n_files, n_hold = hold_back_event_files(landing, held)
    print(f"demo data: {gen_s:.1f}s (child process); {n_files} web-event files, {n_hold} held back for run 2")

    from tailor.warehouse.duckdb_connection import DuckDBFile

    # DuckDB would otherwise keep up to 80 % of RAM of cached pages: cap it, as a production box would.
    warehouse = DuckDBFile(path=str(work / "warehouse.duckdb"), memory_limit=args.duckdb_memory)
    first = first_run(warehouse, landing, work / "demo_truth" / "identities.csv")
    second_s = second_run(warehouse, landing, held, first)
    speedup = pandas_speedup(landing, first)
    print(f"\npeak RSS {peak_rss_mb():,.0f} MB")
    print_summary(args.customers, first, second_s, speedup)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
