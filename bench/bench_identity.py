"""Identity resolution quality and speed on the generated demo CRM (docs/identity.md "Measured quality and speed").

Usage (run it alone: `flock /tmp/tailor-bench.lock ...`):
    python bench/bench_identity.py [--customers 1000000] [--seed 42] [--dir /tmp/tailor-bench-identity]
                                   [--method rules splink] [--fields all basic] [--json results.json]

1. Generates the demo data (tailor.demo.generator, as_of 2026-11-15T12:00Z) in a child process into
   ``<dir>/d<customers>`` unless it is already there (1M customers: ~100 s).
2. Reads the good CRM records (the refs of demo_truth/identities.csv: the bad rows would be quarantined by
   ingestion), the consent log and the consent-changing e-mail events from the landing files.
3. For every ``--method`` (``METHODS``: how customers are resolved) and every ``--fields`` set (``all``: every
   CRM column; ``basic``: without street, address line 2, house number and birth date, the columns a CRM may
   lack), times the steps as the assets run them: ``normalize_records`` once (asset crm_normalized), then the
   method and ``build_customer_profiles`` on those normalised records.
4. Prints per run pairwise precision / recall against the truth (tailor.identity.resolve.linkage_quality), the
   same per corruption type of the duplicates and per number of records a person has
   (tailor.demo.truth.quality_by_corruption), how often different people of one household were merged, per
   identity case the share of records that joined the first record of their person, what the false merges are,
   the method's counts, peak RSS of this process, and how often the profile's names are the person's true names;
   then, with several runs, recall and precision per corruption type of all runs side by side.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tailor.demo.truth import household_merges, quality_by_corruption, read_truth
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

#: the CRM columns a ``basic`` run does without
ADDRESS_COLUMNS = ("street", "address_line2", "house_number", "date_of_birth")
FIELD_SETS = ("all", "basic")


def resolve_rules(crm: pd.DataFrame, norm: pd.DataFrame, stats: dict) -> pd.DataFrame:
    """The previous method, before Splink: exact e-mail and phone keys plus hand-weighted fuzzy name + address
    (bench/identity_baseline.py, kept unchanged so that both are measured in the same run)."""
    from identity_baseline import resolve_identities_baseline

    return resolve_identities_baseline(crm, normalized=norm, stats=stats)


def resolve_splink(crm: pd.DataFrame, norm: pd.DataFrame, stats: dict) -> pd.DataFrame:
    """What the pipeline does (issue 12): identity_model trains on the records, customer_identity scores with it."""
    from tailor.identity.linkage import train_model

    started = time.perf_counter()
    model = train_model(norm)
    stats["train_seconds"] = round(time.perf_counter() - started, 2)
    return resolve_identities(crm, normalized=norm, stats=stats, model=model)


#: method -> (crm records, their normalised view, a dict for the method's counts) -> customer_identity_links
#: (at least source_record_id, customer_id; ``rule`` and ``customer_id`` as resolve_identities writes them)
METHODS: dict[str, Callable[[pd.DataFrame, pd.DataFrame, dict], pd.DataFrame]] = {
    "rules": resolve_rules, "splink": resolve_splink}


def load(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    crm = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""])
                     for f in sorted((root / "landing/crm").glob("*.csv"))])
    truth = read_truth(root / "demo_truth")
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
    return crm, truth, consent, esp


def run(method: str, fields: str, crm: pd.DataFrame, truth: pd.DataFrame, consent: pd.DataFrame,
        esp: pd.DataFrame, names: pd.DataFrame | None) -> dict | None:
    """One method on one field set: prints its report, returns its figures (None when the method is missing)."""
    label = f"{method}/{fields}"
    records = crm.drop(columns=[c for c in ADDRESS_COLUMNS if c in crm]) if fields == "basic" else crm
    print(f"\n=== {label}: {len(records):,} CRM records, columns {', '.join(records.columns)}", flush=True)
    t0 = time.perf_counter()
    norm = normalize_records(records)
    t1 = time.perf_counter()
    stats: dict = {}
    try:
        links = METHODS[method](records, norm, stats)
    except NotImplementedError as e:
        print(f"{label}: skipped ({e})")
        return None
    t2 = time.perf_counter()
    profiles = build_customer_profiles(records, links, consent, esp, normalized=norm)
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

    q = linkage_quality(links, truth)
    print(f"precision {q['precision']:.4f}  recall {q['recall']:.4f}  (predicted pairs {q['predicted_pairs']:,}, "
          f"true {q['true_pairs']:,}, correct {q['correct_pairs']:,}; customers {q['customers']:,} "
          f"for {q['persons']:,} persons)")
    print(f"normalise {t1 - t0:.1f} s  {method} {t2 - t1:.1f} s  profiles {t3 - t2:.1f} s  "
          f"identity + profiles {t3 - t0:.1f} s  peak RSS so far {rss:.2f} GB  ({len(profiles):,} profiles)")
    print("stats", stats)
    by = quality_by_corruption(links, truth, records)
    print("per corruption type (a pair counts for the corruptions of both its records):")
    print(by[["records", "true_pairs", "recall", "predicted_pairs", "precision"]].round(4).to_string())
    homes = household_merges(links, truth)
    print("different people of one household merged:")
    print(homes.to_string())

    m = links.merge(truth, left_on="source_record_id", right_on="customer_ref")
    m["rank"] = ref_order(m["customer_ref"])  # by ref number: CRM-1000007 comes after CRM-999999
    m = m.sort_values("rank")
    first = m.groupby("person_id")["customer_id"].transform("first")
    m["joined_first_record"] = m["customer_id"] == first
    print("per case: share of records in the customer of their person's first record")
    print(m.groupby("case")["joined_first_record"].agg(["mean", "size"]).round(4).to_string())
    persons = m.groupby("customer_id")["person_id"].nunique()
    mixed = m[m["customer_id"].isin(persons[persons > 1].index)]
    print(f"false clusters {mixed['customer_id'].nunique():,}; their records by case"
          + (" and rule:" if "rule" in mixed else ":"))
    print(mixed.groupby(["case", "rule"] if "rule" in mixed else ["case"]).size().to_string())
    accuracy = name_accuracy(m, profiles, names) if names is not None else {}
    return {"method": method, "fields": fields, "records": len(records), **{k: q[k] for k in q},
            "seconds": {"normalise": round(t1 - t0, 2), "resolve": round(t2 - t1, 2), "profiles": round(t3 - t2, 2)},
            "peak_rss_gb": round(rss, 2), "stats": stats, "names": accuracy,
            "by_corruption": by.round(4).reset_index().to_dict("records"),
            "households": homes.reset_index().to_dict("records")}


def name_accuracy(records: pd.DataFrame, profiles: pd.DataFrame, names: pd.DataFrame) -> dict:
    """The greeting: per customer whose records all belong to one person, is the profile's name the true one?"""
    persons = records.groupby("customer_id")["person_id"].agg(["nunique", "first"])
    person = persons.loc[persons["nunique"] == 1, "first"]
    truth = names.set_index("person_id")
    profile = profiles.set_index("customer_id").reindex(person.index)
    out = {}
    for field in ("first_name", "last_name"):
        true = map_distinct(person.map(truth[field]), normalize_name)
        right = (profile[field] == true).to_numpy()
        out[field] = float(right.mean())
        print(f"{field}: the true name for {right.mean():.4%} of {len(person):,} one-person customers "
              f"({int((~right).sum()):,} wrong)")
    return out


def side_by_side(results: list[dict]) -> None:
    """Recall and precision per corruption type of every run, one column each."""
    frames = []
    for r in results:
        by = pd.DataFrame(r["by_corruption"]).set_index("group")
        label = f"{r['method']}/{r['fields']}"
        frames.append(by[["recall", "precision"]].add_prefix(f"{label} "))
    pairs = pd.DataFrame(results[0]["by_corruption"]).set_index("group")["true_pairs"]
    print("\n=== recall and precision per corruption type, all runs")
    print(pd.concat([pairs, *frames], axis=1).round(4).to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/tailor-bench-identity"))
    ap.add_argument("--method", nargs="+", choices=list(METHODS), default=["rules"],
                    help="identity methods to measure in this run, each on the same data")
    ap.add_argument("--fields", nargs="+", choices=FIELD_SETS, default=["all"],
                    help="all CRM columns, and/or basic: without street, address line 2, house number, birth date")
    ap.add_argument("--json", type=Path, help="also write every run's figures to this file")
    args = ap.parse_args()
    root = args.dir / f"d{args.customers}"
    if not (root / "demo_truth/identities.csv").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", GENERATE, str(root), str(args.customers), str(args.seed)],
                       check=True, cwd=ROOT)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - t:.0f} s", flush=True)
    crm, truth, consent, esp = load(root)
    print(f"CRM records {len(crm):,}  consent events {len(consent):,}  suppressing e-mail events {len(esp):,}",
          flush=True)
    names_file = root / "demo_truth/names.csv"
    names = pd.read_csv(names_file, dtype=str, keep_default_na=False) if names_file.exists() else None
    results = [r for method in args.method for fields in args.fields
               if (r := run(method, fields, crm, truth, consent, esp, names)) is not None]
    if len(results) > 1:
        side_by_side(results)
    if args.json:
        args.json.write_text(json.dumps({"customers": args.customers, "seed": args.seed, "runs": results}, indent=1,
                                        default=str))


if __name__ == "__main__":
    main()
