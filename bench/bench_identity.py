"""Identity resolution quality and speed on the generated demo CRM (docs/identity.md "Measured quality and speed").

Usage (run it alone: `flock /tmp/tailor-bench.lock ...`):
    python bench/bench_identity.py [--customers 1000000] [--seed 42] [--dir /tmp/tailor-bench-identity]

1. Generates the demo data (tailor.demo.generator, as_of 2026-11-15T12:00Z) in a child process into
   ``<dir>/d<customers>`` unless it is already there (1M customers: ~100 s).
2. Reads the good CRM records (the refs of demo_truth/identities.csv: the bad rows would be quarantined by
   ingestion), the consent log and the consent-changing e-mail events from the landing files.
3. Times the steps as the assets run them: ``normalize_records`` once (asset crm_normalized), then
   ``resolve_identities`` and ``build_customer_profiles`` on those normalised records.
4. Prints pairwise precision / recall against the truth (tailor.identity.resolve.linkage_quality), per identity
   case the share of records that joined the first record of their person, what the false merges are, the
   guard and weighting counts, peak RSS of this process, and (when the generator wrote demo_truth/names.csv)
   how often the profile's names are the person's true names.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tailor.identity.consent import HARD_SUPPRESSION_EVENTS, UNSUBSCRIBE_EVENTS
from tailor.identity.matching_view import normalize_records
from tailor.identity.normalize import map_distinct, normalize_name
from tailor.identity.profiles import build_customer_profiles
from tailor.identity.resolve import linkage_quality, ref_order, resolve_identities
from tailor.warehouse.sql import string_literal

GENERATE = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from tailor.demo.generator import write_demo_data
write_demo_data(Path(sys.argv[1]) / "landing", int(sys.argv[2]), int(sys.argv[3]),
                datetime(2026, 11, 15, 12, tzinfo=timezone.utc))
"""


def load(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    crm = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""])
                     for f in sorted((root / "landing/crm").glob("*.csv"))])
    truth = pd.read_csv(root / "demo_truth/identities.csv", dtype=str)
    cases = pd.read_csv(root / "demo_truth/identity_cases.csv", dtype=str)
    crm = crm[crm["customer_ref"].isin(truth["customer_ref"])].reset_index(drop=True)
    for c in ("created_at", "updated_at"):
        crm[c] = pd.to_datetime(crm[c], utc=True, format="ISO8601").dt.tz_localize(None)
    consent = pd.concat([pd.read_csv(f, dtype=str) for f in sorted((root / "landing/consent").glob("*.csv"))])
    consent = consent[consent["status"].isin(["granted", "revoked"])]
    consent["changed_at"] = pd.to_datetime(consent["changed_at"], utc=True, format="ISO8601",
                                           errors="coerce").dt.tz_localize(None)
    consent = consent.dropna(subset=["email", "changed_at"])
    events = ", ".join(string_literal(e) for e in (*UNSUBSCRIBE_EVENTS, *HARD_SUPPRESSION_EVENTS))
    esp = duckdb.connect().execute(f"""
        SELECT email, event AS event_type, to_timestamp(TRY_CAST(timestamp AS BIGINT)) AS occurred_at
        FROM read_json('{root}/landing/email_events/*.ndjson', format='newline_delimited', ignore_errors=true,
                       columns={{'email': 'VARCHAR', 'event': 'VARCHAR', 'timestamp': 'VARCHAR'}})
        WHERE event IN ({events})""").df()
    esp["occurred_at"] = pd.to_datetime(esp["occurred_at"]).dt.tz_localize(None)
    return crm, truth, cases, consent, esp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/tailor-bench-identity"))
    args = ap.parse_args()
    root = args.dir / f"d{args.customers}"
    if not (root / "demo_truth/identities.csv").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", GENERATE, str(root), str(args.customers), str(args.seed)],
                       check=True, cwd=ROOT)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - t:.0f} s", flush=True)
    crm, truth, cases, consent, esp = load(root)
    print(f"CRM records {len(crm):,}  consent events {len(consent):,}  suppressing e-mail events {len(esp):,}",
          flush=True)

    t0 = time.perf_counter()
    norm = normalize_records(crm)
    t1 = time.perf_counter()
    stats: dict = {}
    links = resolve_identities(crm, normalized=norm, stats=stats)
    t2 = time.perf_counter()
    profiles = build_customer_profiles(crm, links, consent, esp, normalized=norm)
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

    q = linkage_quality(links, truth)
    print(f"precision {q['precision']:.4f}  recall {q['recall']:.4f}  (predicted pairs {q['predicted_pairs']:,}, "
          f"true {q['true_pairs']:,}, correct {q['correct_pairs']:,}; customers {q['customers']:,} "
          f"for {q['persons']:,} persons)")
    print(f"normalise {t1 - t0:.1f} s  resolve {t2 - t1:.1f} s  profiles {t3 - t2:.1f} s  "
          f"identity + profiles {t3 - t0:.1f} s  peak RSS {rss:.2f} GB  ({len(profiles):,} profiles)")
    print("stats", stats)

    m = links.merge(truth, left_on="source_record_id", right_on="customer_ref").merge(cases, on="customer_ref")
    m["rank"] = ref_order(m["customer_ref"])  # by ref number: CRM-1000007 comes after CRM-999999
    m = m.sort_values("rank")
    first = m.groupby("person_id")["customer_id"].transform("first")
    m["joined_first_record"] = m["customer_id"] == first
    print("per case: share of records in the customer of their person's first record")
    print(m.groupby("case")["joined_first_record"].agg(["mean", "size"]).round(4).to_string())
    persons = m.groupby("customer_id")["person_id"].nunique()
    mixed = m[m["customer_id"].isin(persons[persons > 1].index)]
    print(f"false clusters {mixed['customer_id'].nunique():,}; their records by case and rule:")
    print(mixed.groupby(["case", "rule"]).size().to_string())
    if (root / "demo_truth/names.csv").exists():
        name_accuracy(m, profiles, pd.read_csv(root / "demo_truth/names.csv", dtype=str, keep_default_na=False))


def name_accuracy(records: pd.DataFrame, profiles: pd.DataFrame, names: pd.DataFrame) -> None:
    """The greeting: per customer whose records all belong to one person, is the profile's name the true one?"""
    persons = records.groupby("customer_id")["person_id"].agg(["nunique", "first"])
    person = persons.loc[persons["nunique"] == 1, "first"]
    truth = names.set_index("person_id")
    profile = profiles.set_index("customer_id").reindex(person.index)
    for field in ("first_name", "last_name"):
        true = map_distinct(person.map(truth[field]), normalize_name)
        right = (profile[field] == true).to_numpy()
        print(f"{field}: the true name for {right.mean():.4%} of {len(person):,} one-person customers "
              f"({int((~right).sum()):,} wrong)")


if __name__ == "__main__":
    main()
