"""Tests for tailor.demo.generator: determinism, file contracts, messiness, the truth and the fixed personas.

The checks re-parse the landing files with the standard library only (csv, json, datetime), so they
are independent of the generator's own code paths.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tailor.demo.generator import DemoDataSummary, write_demo_data

AS_OF = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
N = 1500
SEED = 7

CRM_COLS = ["customer_ref", "email", "first_name", "last_name", "phone", "country", "city", "postcode",
            "timezone", "created_at", "updated_at", "source_system", "street", "address_line2", "house_number",
            "date_of_birth"]
FX_COLS = ["rate_date", "currency", "eur_per_unit"]
PRODUCT_COLS = ["product_id", "name", "category", "brand", "price", "currency", "in_stock", "url", "image_url"]
CONSENT_COLS = ["email", "purpose", "status", "changed_at", "source"]
ORDER_KEYS = {"order_id", "customer_ref", "ordered_at", "currency", "status", "items"}
WEB_KEYS = {"event_id", "customer_ref", "anonymous_id", "event_type", "product_id", "occurred_at", "platform",
            "session_id"}
MAIL_KEYS = {"sg_event_id", "sg_message_id", "email", "timestamp", "event", "campaign_id"}
WEB_TYPES = {"page_view", "product_view", "add_to_cart", "checkout_started"}
MAIL_TYPES = {"processed", "delivered", "open", "click", "bounce", "dropped", "spamreport", "unsubscribe",
              "group_unsubscribe"}
RESERVED = re.compile(r"@([a-z0-9-]+\.)*example\.(com|org|net)$")
PLACEHOLDER_EMAILS = {"test@test.com", "noemail@example.com", "none@none.com", "no-email@example.org"}
TYPO_DOMAINS = {"gmial.com", "hotmial.com", "yaho.com", "gmail.con", "outlok.com"}


def ts(text: str) -> datetime:
    """ISO-8601 -> aware UTC; no offset means UTC (the documented convention)."""
    d = datetime.fromisoformat(text)
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d.astimezone(timezone.utc)


def ts_ok(text) -> bool:
    try:
        ts(text)
        return True
    except (TypeError, ValueError):
        return False


def date_ok(text: str) -> bool:
    """An ISO date from 1900-01-01 to as_of (the contract of date_of_birth)."""
    try:
        d = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return False
    return datetime(1900, 1, 1).date() <= d <= AS_OF.date()


def days_before(d: datetime) -> float:
    return (AS_OF - d).total_seconds() / 86400


def classify(source: str, raw: str) -> tuple[str | None, object]:
    """(bad-row kind or None, parsed row) by the contract in docs/data-contracts.md."""
    if source == "fx_rates":
        return None, dict(zip(FX_COLS, next(csv.reader([raw]))))
    if source in ("crm", "products", "consent"):
        row = next(csv.reader([raw]))
        if source == "crm":
            r = dict(zip(CRM_COLS, row))
            if not r["customer_ref"].strip():
                return "missing_id", r
            if not (ts_ok(r["created_at"]) and ts_ok(r["updated_at"])):
                return "bad_timestamp", r
            if r["date_of_birth"] and not date_ok(r["date_of_birth"]):
                return "bad_date_of_birth", r
            return None, r
        if source == "products":
            r = dict(zip(PRODUCT_COLS, row))
            if not r["product_id"]:
                return "missing_id", r
            try:
                price = float(r["price"])
            except ValueError:
                return "bad_price", r
            return ("negative_price" if price < 0 else None), r
        r = dict(zip(CONSENT_COLS, row))
        if not r["email"].strip():
            return "missing_id", r
        if r["status"] not in ("granted", "revoked"):
            return "unknown_status", r
        return (None if ts_ok(r["changed_at"]) else "bad_timestamp"), r
    try:
        o = json.loads(raw)
    except json.JSONDecodeError:
        return "invalid_json", None
    if source == "orders":
        if not o.get("order_id"):
            return "missing_id", o
        if any(not isinstance(i["quantity"], int) for i in o["items"]):
            return "bad_quantity", o
        if any(i["unit_price"] < 0 for i in o["items"]):
            return "negative_price", o
        return (None if ts_ok(o["ordered_at"]) else "bad_timestamp"), o
    if source == "events":
        if not o.get("event_id"):
            return "missing_id", o
        if o["event_type"] not in WEB_TYPES:
            return "unknown_event_type", o
        return (None if ts_ok(o["occurred_at"]) else "bad_timestamp"), o
    if not o.get("sg_event_id"):
        return "missing_id", o
    if o["event"] not in MAIL_TYPES:
        return "unknown_event_type", o
    return (None if isinstance(o["timestamp"], int) else "bad_timestamp"), o


class Landing:
    """All rows of a generated landing folder, split into good rows and bad rows."""

    SOURCES = {"crm": "csv", "products": "csv", "orders": "ndjson", "events": "ndjson",
               "email_events": "ndjson", "consent": "csv", "fx_rates": "csv"}

    def __init__(self, root: Path):
        self.root = root
        self.good: dict[str, list] = defaultdict(list)
        self.bad: list[tuple[str, str, int, str]] = []
        self.headers: dict[str, list[str]] = {}
        for source, ext in self.SOURCES.items():
            for f in sorted((root / source).glob(f"*.{ext}")):
                rel = f.relative_to(root).as_posix()
                with open(f, encoding="utf-8", newline="") as fh:
                    lines = fh.read().split("\n")
                assert lines[-1] == "", f"{rel} must end with a newline"
                lines = lines[:-1]
                first = 0
                if ext == "csv":
                    self.headers[rel] = lines[0].split(",")
                    first = 1
                for no, raw in enumerate(lines[first:], start=first + 1):
                    kind, row = classify(source, raw)
                    if kind:
                        self.bad.append((source, rel, no, kind))
                    else:
                        self.good[source].append(row)

    def orders_of(self, ref: str) -> list[dict]:
        return sorted((o for o in self.good["orders"] if o["customer_ref"] == ref), key=lambda o: ts(o["ordered_at"]))

    def web_of(self, ref: str) -> list[dict]:
        return sorted((e for e in self.good["events"] if e["customer_ref"] == ref), key=lambda e: ts(e["occurred_at"]))

    def mail_of(self, email: str) -> list[dict]:
        e = email.strip().lower()
        return sorted((m for m in self.good["email_events"] if m["email"].strip().lower() == e),
                      key=lambda m: m["timestamp"])


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def all_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> tuple[Path, DemoDataSummary]:
    base = tmp_path_factory.mktemp("demo")
    summary = write_demo_data(base / "landing", N, SEED, AS_OF)
    return base, summary


@pytest.fixture(scope="module")
def land(gen) -> Landing:
    return Landing(gen[0] / "landing")


def test_same_seed_gives_identical_bytes_and_other_seed_differs(gen, tmp_path):
    base, summary = gen
    again = write_demo_data(tmp_path / "a" / "landing", N, SEED, AS_OF)
    assert again == summary
    assert all_bytes(tmp_path / "a" / "landing") == all_bytes(base / "landing")
    assert all_bytes(tmp_path / "a" / "demo_truth") == all_bytes(base / "demo_truth")
    other = write_demo_data(tmp_path / "b" / "landing", N, SEED + 1, AS_OF)
    a, b = all_bytes(base / "landing"), all_bytes(tmp_path / "b" / "landing")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if not k.startswith("products"))
    assert other.orders != summary.orders or other.web_events != summary.web_events


def test_events_per_file_only_moves_file_boundaries(gen, tmp_path):
    base, summary = gen
    small = write_demo_data(tmp_path / "landing", N, SEED, AS_OF, events_per_file=4000)
    assert (small.orders, small.web_events, small.email_events, small.bad_rows) == (
        summary.orders, summary.web_events, summary.email_events, summary.bad_rows)
    ev = sorted((tmp_path / "landing" / "events").glob("events-*.ndjson"))
    assert len(ev) >= 5
    assert all(len(p.read_text().splitlines()) <= 4000 for p in ev)
    assert b"".join(p.read_bytes() for p in ev) == (base / "landing/events/events-0001.ndjson").read_bytes()
    crm = sorted((tmp_path / "landing" / "crm").glob("crm-*.csv"))
    assert len(crm) == 1 and crm[0].read_bytes() == (base / "landing/crm/crm-0001.csv").read_bytes()


def test_rerun_replaces_previous_files(tmp_path):
    write_demo_data(tmp_path / "landing", 300, 1, AS_OF, events_per_file=500)
    s = write_demo_data(tmp_path / "landing", 300, 1, AS_OF)
    on_disk = sorted(p.relative_to(tmp_path / "landing").as_posix() for p in (tmp_path / "landing").rglob("*.*"))
    assert on_disk == s.files


def test_layout_and_headers(gen, land):
    base, summary = gen
    assert summary.files == [
        "consent/consent-0001.csv", "crm/crm-0001.csv", "email_events/email_events-0001.ndjson",
        "events/events-0001.ndjson", "fx_rates/fx_rates-0001.csv", "orders/orders-0001.ndjson",
        "products/products-0001.csv"]
    assert land.headers == {"consent/consent-0001.csv": CONSENT_COLS, "crm/crm-0001.csv": CRM_COLS,
                            "products/products-0001.csv": PRODUCT_COLS, "fx_rates/fx_rates-0001.csv": FX_COLS}
    assert sorted(p.name for p in (base / "demo_truth").iterdir()) == [
        "bad_rows.csv", "identities.csv", "identity_cases.csv", "names.csv", "personas.csv"]
    assert not list((base / "landing").rglob("*truth*"))
    for o in land.good["orders"]:
        assert set(o) == ORDER_KEYS
        assert o["currency"] in {"EUR", "GBP", "USD"} and o["status"] in {"completed", "refunded", "cancelled"}
        assert o["items"] and all(set(i) == {"product_id", "quantity", "unit_price"} for i in o["items"])
    for e in land.good["events"]:
        assert set(e) == WEB_KEYS
        assert e["platform"] in {"web", "ios", "android"}
        assert (e["product_id"] is None) == (e["event_type"] in {"page_view", "checkout_started"})
    for m in land.good["email_events"]:
        assert MAIL_KEYS <= set(m) <= MAIL_KEYS | {"url", "reason"}
        assert ("url" in m) == (m["event"] == "click")
        assert re.fullmatch(r"(newsletter|promo)-\d{4}-\d{2}", m["campaign_id"])
    for c in land.good["consent"]:
        assert c["purpose"] in {"marketing_email", "marketing_sms", "personalization"}
        assert c["source"] in {"signup_form", "preference_center", "import", "checkout"}


def test_summary_counts_match_the_files(gen, land):
    _, s = gen
    assert s.customers == N
    assert (s.crm_records, s.products, s.orders, s.web_events, s.email_events, s.consent_events) == (
        len(land.good["crm"]), len(land.good["products"]), len(land.good["orders"]), len(land.good["events"]),
        len(land.good["email_events"]), len(land.good["consent"]))
    assert s.order_items == sum(len(o["items"]) for o in land.good["orders"])
    assert s.bad_rows == len(land.bad)
    assert s.products == max(50, N // 100)


def test_volumes_per_customer(gen):
    _, s = gen
    assert 1.2 <= s.orders / N <= 1.9
    assert 1.7 <= s.order_items / s.orders <= 2.3
    assert 15 <= s.web_events / N <= 25
    assert 6 <= s.email_events / N <= 10


def test_bad_rows_match_truth_and_an_independent_reparse(gen, land):
    base, _ = gen
    truth = [(r["source"], r["file"], int(r["line"]), r["kind"]) for r in read_csv(base / "demo_truth/bad_rows.csv")]
    assert sorted(truth) == sorted(land.bad)
    by_source = Counter(s for s, *_ in land.bad)
    assert set(by_source) == set(Landing.SOURCES) - {"fx_rates"}  # rates are clean reference data
    kinds = Counter((s, k) for s, _, _, k in land.bad)
    for s, k in [("orders", "invalid_json"), ("orders", "bad_quantity"), ("orders", "negative_price"),
                 ("orders", "missing_id"), ("orders", "bad_timestamp"), ("events", "invalid_json"),
                 ("events", "unknown_event_type"), ("events", "bad_timestamp"), ("events", "missing_id"),
                 ("email_events", "invalid_json"), ("email_events", "unknown_event_type"),
                 ("crm", "bad_timestamp"), ("crm", "missing_id"), ("crm", "bad_date_of_birth")]:
        assert kinds[(s, k)] >= 1, (s, k)
    for source in ("crm", "orders", "events", "email_events"):
        rate = by_source[source] / (by_source[source] + len(land.good[source]))
        assert 0.002 <= rate <= 0.012, (source, rate)


def test_bad_rows_never_touch_persona_lines(land):
    assert [r["customer_ref"] for r in land.good["crm"][:7]] == [f"CRM-00000{i}" for i in range(1, 8)]


def test_nothing_after_as_of_and_two_years_of_activity(land):
    times = ([ts(o["ordered_at"]) for o in land.good["orders"]] + [ts(e["occurred_at"]) for e in land.good["events"]]
             + [datetime.fromtimestamp(m["timestamp"], timezone.utc) for m in land.good["email_events"]])
    assert max(times) < AS_OF
    assert min(times) >= AS_OF - timedelta(days=731)
    assert (max(times) - min(times)).days > 650
    crm_times = [ts(r[k]) for r in land.good["crm"] for k in ("created_at", "updated_at")]
    assert max(crm_times) < AS_OF
    assert max(ts(c["changed_at"]) for c in land.good["consent"]) < AS_OF
    assert all(ts(r["created_at"]) <= ts(r["updated_at"]) for r in land.good["crm"])


def test_timestamp_formats_are_varied(land):
    def shapes(values):
        out = Counter()
        for v in values:
            out["Z" if v.endswith("Z") else v[-6:] if re.search(r"[+-]\d\d:\d\d$", v) else "naive"] += 1
        return out

    o = shapes(o["ordered_at"] for o in land.good["orders"])
    e = shapes(e["occurred_at"] for e in land.good["events"])
    c = shapes(r["created_at"] for r in land.good["crm"])
    for s in (o, e, c):
        assert s["Z"] > 0 and s["naive"] > 0 and s["+01:00"] > 0 and s["-05:00"] > 0
    assert any(" " in r["created_at"] for r in land.good["crm"])  # "2025-01-02 10:00:00"
    assert any(re.search(r"\.\d{3}Z$", e["occurred_at"]) for e in land.good["events"])


def test_truth_covers_every_crm_record(gen, land):
    base, _ = gen
    ident = read_csv(base / "demo_truth/identities.csv")
    assert [r["customer_ref"] for r in ident] == [r["customer_ref"] for r in land.good["crm"]]
    assert len({r["person_id"] for r in ident}) == N
    assert read_csv(base / "demo_truth/personas.csv") == [
        {"customer_ref": "CRM-000001", "persona": "loyal_vip"}, {"customer_ref": "CRM-000002", "persona": "lapsed"},
        {"customer_ref": "CRM-000003", "persona": "new_with_abandoned_cart"},
        {"customer_ref": "CRM-000004", "persona": "consent_revoked"},
        {"customer_ref": "CRM-000005", "persona": "unsubscribed"},
        {"customer_ref": "CRM-000006", "persona": "bounced"},
        {"customer_ref": "CRM-000007", "persona": "loyal_vip_duplicate"}]
    # every reference in the activity files points at a CRM record
    refs = {r["customer_ref"] for r in ident}
    assert {o["customer_ref"] for o in land.good["orders"]} <= refs
    assert {e["customer_ref"] for e in land.good["events"]} - {None} <= refs
    pids = {p["product_id"] for p in land.good["products"]}
    assert {i["product_id"] for o in land.good["orders"] for i in o["items"]} <= pids


def test_names_truth_is_the_clean_name_of_every_person(gen, land):
    base, _ = gen
    with open(base / "demo_truth/names.csv", encoding="utf-8", newline="") as fh:
        assert fh.readline() == "person_id,first_name,last_name\n"
    rows = read_csv(base / "demo_truth/names.csv")
    assert [r["person_id"] for r in rows] == [f"person-{i:07d}" for i in range(1, N + 1)]
    names = {r["person_id"]: (r["first_name"], r["last_name"]) for r in rows}
    assert all(f and f == f.strip() and ln and ln == ln.strip() for f, ln in names.values())
    assert [names[f"person-{i:07d}"] for i in range(1, 7)] == [
        ("Anna", "Schmidt"), ("Ben", "Carter"), ("Chloé", "Dubois"), ("Dmitri", "Ivanov"), ("Eva", "Novak"),
        ("Farid", "Haddad")]
    crm = {r["customer_ref"]: r for r in land.good["crm"]}
    ident = read_csv(base / "demo_truth/identities.csv")
    first_ref = {}
    for r in ident:
        first_ref.setdefault(r["person_id"], r["customer_ref"])  # the primary record (file order)
    assert len(first_ref) == N
    for pid, ref in first_ref.items():  # the primary carries the true name, only re-cased or padded
        first, last = names[pid]
        assert crm[ref]["first_name"].strip() in (first, first.lower()), (pid, crm[ref]["first_name"])
        assert crm[ref]["last_name"] in (last, last.upper()), (pid, crm[ref]["last_name"])
    # family members sharing an e-mail address share the true last name, not their first name
    case = {r["customer_ref"]: r["case"] for r in read_csv(base / "demo_truth/identity_cases.csv")}
    person = {r["customer_ref"]: r["person_id"] for r in ident}
    families = defaultdict(set)
    for ref, k in case.items():
        if k == "family_shared_email":
            families[crm[ref]["email"].strip().lower()].add(person[ref])
    assert families and all(len(f) == 2 for f in families.values())
    for a, b in (sorted(f) for f in families.values()):
        assert names[a][1] == names[b][1] and names[a][0] != names[b][0], (a, b)


def test_duplicates_per_person_and_their_emails(gen, land):
    base, _ = gen
    ident = read_csv(base / "demo_truth/identities.csv")
    crm = {r["customer_ref"]: r for r in land.good["crm"]}
    people = defaultdict(list)
    for r in ident:
        people[r["person_id"]].append(r["customer_ref"])
    case = {r["customer_ref"]: r["case"] for r in read_csv(base / "demo_truth/identity_cases.csv")}
    dups = {p: refs for p, refs in people.items() if len(refs) > 1}
    # most people have one record, about 10 % have 2-5: mostly 2, some 3, a few 4 or 5
    assert 0.08 <= len(dups) / N <= 0.12
    sizes = Counter(len(refs) for refs in dups.values())
    assert set(sizes) <= {2, 3, 4, 5} and sizes[2] > sizes[3] > sizes[4] > 0
    assert 0.5 <= sizes[2] / len(dups) <= 0.75
    kinds = Counter(case[r] for refs in dups.values() for r in refs[1:])
    n_dup = sum(kinds.values())
    assert set(kinds) <= {"same_email_duplicate", "changed_email_duplicate", "no_email_duplicate"}
    assert 0.3 <= kinds["same_email_duplicate"] / n_dup <= 0.5
    assert 0.3 <= kinds["changed_email_duplicate"] / n_dup <= 0.5
    assert 0.12 <= kinds["no_email_duplicate"] / n_dup <= 0.3
    raw_differs = 0
    for refs in dups.values():
        first = crm[refs[0]]
        for ref in refs[1:]:
            r, k = crm[ref], case[ref]
            if k == "same_email_duplicate":
                assert r["email"].strip().lower() == first["email"].strip().lower() != ""
                raw_differs += r["email"] != first["email"]
            elif k == "changed_email_duplicate":
                assert r["email"].strip() and r["email"].strip().lower() != first["email"].strip().lower()
            else:
                assert r["email"] == ""
    assert raw_differs >= 0.7 * kinds["same_email_duplicate"]
    # e-mails are unique per person after normalisation, except placeholders and families' shared ones
    person_of = {r["customer_ref"]: r["person_id"] for r in ident}
    by_mail = defaultdict(set)
    for r in land.good["crm"]:
        if r["email"].strip():
            by_mail[r["email"].strip().lower()].add(person_of[r["customer_ref"]])
    shared = {m for m, p in by_mail.items() if len(p) > 1}
    assert shared and all(m in PLACEHOLDER_EMAILS or m.startswith("the.") for m in shared)
    assert all(len(by_mail[m]) == 2 for m in shared if m.startswith("the."))
    # activity is split across the records of a duplicated person: the primary and the first duplicate
    dup_refs = {refs[1] for refs in dups.values()}
    assert sum(o["customer_ref"] in dup_refs for o in land.good["orders"]) > 10
    assert sum(e["customer_ref"] in dup_refs for e in land.good["events"]) > 100
    later = {r for refs in dups.values() for r in refs[2:]}
    assert not later & {o["customer_ref"] for o in land.good["orders"]}


def test_streets_house_numbers_and_birth_dates(gen, land):
    base, _ = gen
    crm = land.good["crm"][7:]
    street = [r for r in crm if r["street"]]
    assert 0.75 <= len(street) / len(crm) <= 0.95  # newsletter sign-ups rarely give an address
    assert not any("," in r[k] or '"' in r[k] for r in crm for k in ("street", "address_line2", "house_number"))
    # the house number is in its own column only for the POS and import systems, which write the street without it
    split = [r for r in street if r["house_number"]]
    assert split and all(r["source_system"] in ("pos", "import") for r in split)
    assert not any(re.search(r"\d[a-zA-Z]?$", r["street"]) for r in split)
    joined = [r for r in street if r["source_system"] in ("shop", "newsletter")]
    assert sum(bool(re.search(r"\d", r["street"])) for r in joined) >= 0.9 * len(joined)
    # each country writes its streets its own way
    text = "\n".join(r["street"] for r in crm)
    for pattern in (r"\w+straße \d+", r"^\d+[A-Z]? [A-Z]\w+ (Street|Road|Lane|Avenue|St|Rd)\b",
                    r"^\d+( bis| ter)? (rue|avenue|boulevard|chemin|place|impasse|allée) ", r"^ul\. \w+",
                    r"^(Calle|C/|Avenida|Avda\.|Plaza|Paseo) ", r"^(Via|Viale|Piazza|Corso) ", r"\w+(straat|laan) \d+"):
        assert re.search(pattern, text, re.MULTILINE), pattern
    line2 = Counter(bool(r["address_line2"]) for r in street)
    assert 0.05 <= line2[True] / len(street) <= 0.3
    assert {"Flat", "Apt", "OG", "Top", "m."} & {w for r in street for w in r["address_line2"].split()}
    # birth dates: ISO dates, often missing, a few the placeholder 1900-01-01
    dob = [r["date_of_birth"] for r in crm]
    assert all(d == "" or re.fullmatch(r"(19|20)\d\d-\d\d-\d\d", d) for d in dob)
    assert all(datetime.fromisoformat(d).date() < AS_OF.date() for d in dob if d)
    assert 0.1 <= dob.count("") / len(dob) <= 0.4
    assert 1 <= dob.count("1900-01-01") <= 0.02 * len(dob)
    years = [int(d[:4]) for d in dob if d and d != "1900-01-01"]
    assert min(years) >= AS_OF.year - 95 and max(years) <= AS_OF.year - 17


def test_families_and_twins_share_an_address(gen, land):
    base, _ = gen
    crm = {r["customer_ref"]: r for r in land.good["crm"]}
    truth = read_csv(base / "demo_truth/identity_cases.csv")
    person = {r["customer_ref"]: r["person_id"] for r in read_csv(base / "demo_truth/identities.csv")}
    first_of = {}
    for r in read_csv(base / "demo_truth/identities.csv"):
        first_of.setdefault(r["person_id"], r["customer_ref"])
    homes = defaultdict(set)
    for r in truth:
        if r["household_id"]:
            homes[r["household_id"]].add(person[r["customer_ref"]])
    kinds = Counter()
    for hid, persons in homes.items():
        assert len(persons) == 2 and hid in persons
        a, b = (crm[first_of[p]] for p in sorted(persons))
        key = lambda r: (r["last_name"].lower(), r["postcode"], r["city"], r["street"].rstrip("0123456789 "))  # noqa: E731
        assert key(a) == key(b) or a["source_system"] != b["source_system"]
        assert a["last_name"].lower() == b["last_name"].lower() and a["postcode"] == b["postcode"]
        assert a["first_name"].strip().lower() != b["first_name"].strip().lower()
        twin = {r["case"] for r in truth if r["customer_ref"] in (first_of[p] for p in persons)} == {"twin"}
        kinds["twin" if twin else "family"] += 1
        if twin:
            assert a["date_of_birth"] == b["date_of_birth"] != ""
    assert kinds["family"] >= 5 and kinds["twin"] >= 2


def test_crm_messiness(land):
    crm = land.good["crm"]
    no_email = sum(not r["email"].strip() for r in crm[7:N + 1])  # the primaries
    assert 1 <= no_email <= 0.015 * N
    placeholders = {"0000000000", "1234567890", "+1 555 555 5555", "000 000 0000", "+49 000 0000000"}
    assert sum(r["phone"] in placeholders for r in crm) >= 3
    countries = Counter(r["country"] for r in crm)
    assert {"Germany", "DE", "Deutschland", "UK", "GB", "United Kingdom", "USA", "US", "France", "FR"} <= set(countries)
    assert any(r["email"] != r["email"].strip() for r in crm)
    assert any(r["email"].strip() != r["email"].strip().lower() for r in crm)
    assert any(r["timezone"] == "" for r in crm) and any(r["timezone"] == "America/Los_Angeles" for r in crm)
    us = [r for r in crm if r["country"] in {"US", "USA", "United States"} and r["timezone"]]
    assert all(r["timezone"].startswith("America/") for r in us)
    for r in crm[7:]:
        e = r["email"].strip().lower()
        if e and e not in PLACEHOLDER_EMAILS and e.rpartition("@")[2] not in TYPO_DOMAINS:
            assert RESERVED.search(e), r["email"]
    # placeholder and misspelt addresses are never mailed and never consent
    never = PLACEHOLDER_EMAILS | {r["email"].strip().lower() for r in crm
                                  if r["email"].strip().lower().rpartition("@")[2] in TYPO_DOMAINS}
    assert not never & {m["email"].lower() for m in land.good["email_events"]}
    assert not never & {c["email"].strip().lower() for c in land.good["consent"]}
    assert Counter(r["source_system"] for r in crm).keys() == {"shop", "pos", "newsletter", "import"}


def test_products(land):
    prods = land.good["products"]
    assert len({p["category"] for p in prods}) == 8
    assert len({p["brand"] for p in prods}) >= 5
    assert all(p["currency"] == "EUR" and float(p["price"]) >= 0 for p in prods)
    assert all(p["in_stock"] in {"true", "false"} for p in prods)
    assert prods[0] == {"product_id": "P0001", "name": "Trailwise Summit GTX Hiking Boot", "category": "Shoes",
                        "brand": "Trailwise", "price": "189.00", "currency": "EUR", "in_stock": "true",
                        "url": "https://shop.example/products/P0001",
                        "image_url": "https://cdn.shop.example/img/P0001.jpg"}


def test_behaviour_mix(gen, land):
    base, _ = gen
    person_of = {r["customer_ref"]: r["person_id"] for r in read_csv(base / "demo_truth/identities.csv")}
    orders_per_person = Counter(person_of[o["customer_ref"]] for o in land.good["orders"])
    never = 1 - len(orders_per_person) / N
    assert 0.22 <= never <= 0.38
    one_off = sum(v == 1 for v in orders_per_person.values()) / len(orders_per_person)
    assert 0.4 <= one_off <= 0.8
    assert max(orders_per_person.values()) >= 8
    assert Counter(o["status"] for o in land.good["orders"])["refunded"] > 0
    types = Counter(e["event_type"] for e in land.good["events"])
    assert types["product_view"] > types["add_to_cart"] > types["checkout_started"] > 0
    assert sum(e["customer_ref"] is None for e in land.good["events"]) > 0.05 * len(land.good["events"])
    mail = Counter(m["event"] for m in land.good["email_events"])
    assert mail["delivered"] > mail["open"] > mail["click"] > 0
    for kind in ("bounce", "spamreport", "unsubscribe", "dropped"):
        assert mail[kind] > 0, kind
    latest = {}
    for c in sorted(land.good["consent"], key=lambda c: ts(c["changed_at"])):
        if c["purpose"] == "marketing_email":
            latest[c["email"].strip().lower()] = c["status"]
    with_email = {r["email"].strip().lower() for r in land.good["crm"] if r["email"].strip()}
    granted = sum(1 for e in with_email if latest.get(e) == "granted")
    assert 0.65 <= granted / len(with_email) <= 0.85
    assert Counter(c["status"] for c in land.good["consent"])["revoked"] > 0
    by_purpose = Counter((c["purpose"], c["status"]) for c in land.good["consent"])
    for key in [("marketing_sms", "granted"), ("marketing_sms", "revoked"), ("personalization", "revoked")]:
        assert by_purpose[key] > 0, key


def test_email_ids(land):
    mail = land.good["email_events"]
    assert len({m["sg_event_id"] for m in mail}) == len(mail)
    msg = defaultdict(set)
    for m in mail:
        msg[m["sg_message_id"]].add((m["email"], m["campaign_id"]))
    assert all(len(v) == 1 for v in msg.values())
    assert len({e["event_id"] for e in land.good["events"]}) == len(land.good["events"])
    assert len({o["order_id"] for o in land.good["orders"]}) == len(land.good["orders"])


def test_persona_crm_records(land):
    crm = {r["customer_ref"]: r for r in land.good["crm"][:7]}
    assert [(r["first_name"], r["last_name"], r["email"], r["country"], r["timezone"]) for r in crm.values()] == [
        ("Anna", "Schmidt", "anna.schmidt@example.com", "DE", "Europe/Berlin"),
        ("Ben", "Carter", "ben.carter@example.co.uk", "GB", "Europe/London"),
        ("Chloé", "Dubois", "chloe.dubois@example.fr", "FR", "Europe/Paris"),
        ("Dmitri", "Ivanov", "dmitri.ivanov@example.com", "US", "America/New_York"),
        ("Eva", "Novak", "eva.novak@example.com", "Austria", "Europe/Vienna"),
        ("Farid", "Haddad", "farid.haddad@example.com", "Deutschland", ""),
        ("Ana", "Schmidt", "  Anna.Schmidt@EXAMPLE.com ", "Germany", "Europe/Berlin")]
    assert days_before(ts(crm["CRM-000003"]["created_at"])) == 10


def test_persona_anna_loyal_vip(land):
    orders = land.orders_of("CRM-000001")
    assert len(orders) == 12 and all(o["status"] == "completed" for o in orders)
    days = [days_before(ts(o["ordered_at"])) for o in orders]
    assert len({ts(o["ordered_at"]).date() for o in orders}) == 12
    assert max(days) <= 400 and 5 <= min(days) < 6
    spend = sum(i["quantity"] * i["unit_price"] for o in orders for i in o["items"])
    assert spend > 1500
    dup = land.orders_of("CRM-000007")
    assert len(dup) == 1 and 100 <= days_before(ts(dup[0]["ordered_at"])) < 101
    bought = {i["product_id"] for o in orders + dup for i in o["items"]}
    recent_views = [e["product_id"] for e in land.web_of("CRM-000001")
                    if e["event_type"] == "product_view" and days_before(ts(e["occurred_at"])) <= 10]
    assert len(set(recent_views) - bought) == 3
    mail = land.mail_of("anna.schmidt@example.com")
    kinds = Counter(m["event"] for m in mail)
    assert kinds["open"] >= 0.6 * kinds["delivered"] and kinds["click"] >= 5
    assert any(m["email"] == "Anna.Schmidt@EXAMPLE.com" for m in mail)  # as written on the duplicate record


def test_persona_ben_lapsed(land):
    orders = land.orders_of("CRM-000002")
    assert len(orders) == 3 and 300 <= days_before(ts(orders[-1]["ordered_at"])) < 301
    assert all(days_before(ts(e["occurred_at"])) > 200 for e in land.web_of("CRM-000002"))
    mail = land.mail_of("ben.carter@example.co.uk")
    recent = [m for m in mail if days_before(datetime.fromtimestamp(m["timestamp"], timezone.utc)) <= 180]
    assert any(m["event"] == "delivered" for m in recent)
    assert not any(m["event"] in ("open", "click") for m in recent)


def test_persona_chloe_new_with_abandoned_cart(land):
    orders = land.orders_of("CRM-000003")
    assert len(orders) == 1 and 9 <= days_before(ts(orders[0]["ordered_at"])) < 10
    carts = [e for e in land.web_of("CRM-000003") if e["event_type"] == "add_to_cart"]
    recent = [e for e in carts if days_before(ts(e["occurred_at"])) < 3]
    assert len({e["product_id"] for e in recent}) == 2
    assert all(2 <= days_before(ts(e["occurred_at"])) < 2.1 for e in recent)
    assert all(ts(o["ordered_at"]) < ts(recent[0]["occurred_at"]) for o in orders)


def test_persona_dmitri_consent_revoked(land):
    consent = sorted((c for c in land.good["consent"] if c["email"] == "dmitri.ivanov@example.com"),
                     key=lambda c: ts(c["changed_at"]))
    assert [(c["status"], days_before(ts(c["changed_at"]))) for c in consent] == [("granted", 200), ("revoked", 20)]
    orders = land.orders_of("CRM-000004")
    assert len(orders) == 4 and 15 <= days_before(ts(orders[-1]["ordered_at"])) < 16
    mail = land.mail_of("dmitri.ivanov@example.com")
    assert mail and all(20 < days_before(datetime.fromtimestamp(m["timestamp"], timezone.utc)) < 200 for m in mail)


def test_persona_eva_unsubscribed_and_farid_bounced(land):
    for ref, email, event, days in (("CRM-000005", "eva.novak@example.com", "unsubscribe", 30),
                                    ("CRM-000006", "farid.haddad@example.com", "bounce", 40)):
        assert len(land.orders_of(ref)) == 2
        assert [c["status"] for c in land.good["consent"] if c["email"] == email] == ["granted"]
        mail = land.mail_of(email)
        stop = [m for m in mail if m["event"] == event]
        assert len(stop) == 1
        assert datetime.fromtimestamp(stop[0]["timestamp"], timezone.utc) == AS_OF - timedelta(days=days)
        later = [m for m in mail if m["timestamp"] > stop[0]["timestamp"]]
        assert all(m["event"] in ("processed", "dropped") for m in later)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="outside the landing folder"):
        write_demo_data(tmp_path / "landing", 50, 1, AS_OF, truth_dir=tmp_path / "landing" / "truth")
    with pytest.raises(ValueError, match="timezone-aware"):
        write_demo_data(tmp_path / "landing", 50, 1, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="customers must be >= 6"):
        write_demo_data(tmp_path / "landing", 5, 1, AS_OF)


def test_minimum_size_is_just_the_personas(tmp_path):
    s = write_demo_data(tmp_path / "landing", 6, 3, AS_OF, truth_dir=tmp_path / "t")
    assert (s.customers, s.crm_records) == (6, 7)
    assert s.orders == 25 and s.products == 50  # 12 + 1 (Anna, both records) + 3 + 1 + 4 + 2 + 2
    assert len(read_csv(tmp_path / "t" / "identities.csv")) == 7


def test_identity_cases_are_what_their_truth_says(gen, land):
    base, _ = gen
    crm = {r["customer_ref"]: r for r in land.good["crm"]}
    person = {r["customer_ref"]: r["person_id"] for r in read_csv(base / "demo_truth/identities.csv")}
    rows = read_csv(base / "demo_truth/identity_cases.csv")
    assert list(rows[0]) == ["customer_ref", "case", "corruptions", "household_id"]
    case = {r["customer_ref"]: r["case"] for r in rows}
    tags = {r["customer_ref"]: r["corruptions"] for r in rows}
    assert list(case) == list(person)
    counts = Counter(case.values())
    for k in ("changed_email_duplicate", "no_email_duplicate", "family_member", "family_shared_email",
              "placeholder_phone", "placeholder_email", "email_typo", "twin"):
        assert counts[k] >= 2, k
    refs_of = defaultdict(list)
    for ref, p in person.items():
        refs_of[p].append(ref)
    digits = lambda s: re.sub(r"\D", "", s)  # noqa: E731
    reformatted = 0
    for ref, k in case.items():
        r = crm[ref]
        is_dup = k.endswith("_duplicate") and ref != "CRM-000007"
        assert bool(tags[ref]) <= is_dup  # only duplicates carry corruptions
        if is_dup:
            first = crm[refs_of[person[ref]][0]]
            if r["phone"] and first["phone"] and "phone:changed" not in tags[ref]:
                assert digits(r["phone"])[-7:] == digits(first["phone"])[-7:]
                reformatted += r["phone"] != first["phone"]
            if not any(t.startswith(("postcode:", "city:")) for t in tags[ref].split(";")):
                assert (r["postcode"], r["city"]) == (first["postcode"], first["city"])
        elif k == "family_shared_email":
            others = [x for x, v in crm.items() if x != ref and v["email"].lower() == r["email"].lower()
                      and case[x] == "family_shared_email"]
            assert len(others) == 1 and person[others[0]] != person[ref]
            o = crm[others[0]]
            assert r["email"].startswith("the.") and r["first_name"].strip().lower() != o["first_name"].strip().lower()
            assert (r["last_name"], r["postcode"], r["phone"]) == (o["last_name"], o["postcode"], o["phone"])
        elif k == "email_typo":
            assert r["email"].rpartition("@")[2] in TYPO_DOMAINS
    assert reformatted >= 1


def test_phones_come_in_many_formats(land):
    phones = [r["phone"] for r in land.good["crm"] if r["phone"]]
    shapes = {re.sub(r"\d", "9", p) for p in phones}
    assert len(shapes) >= 40
    assert any(p.startswith("00") for p in phones) and any(p.startswith("(") for p in phones)
    assert any("-" in p for p in phones) and any("." in p for p in phones) and any("/" in p for p in phones)


def test_orders_are_paid_in_the_customers_currency_at_the_days_rate(gen, land):
    base, _ = gen
    rates = {(r["rate_date"], r["currency"]): float(r["eur_per_unit"]) for r in land.good["fx_rates"]}
    days = sorted({d for d, _ in rates})
    assert {c for _, c in rates} == {"GBP", "USD"} and len(rates) == 2 * len(days)
    first, last = datetime.fromisoformat(days[0]).date(), datetime.fromisoformat(days[-1]).date()
    assert (last - first).days + 1 == len(days) and last == (AS_OF - timedelta(seconds=1)).date()
    assert 1.0 < rates[(days[-1], "GBP")] < 1.4 and 0.75 < rates[(days[-1], "USD")] < 1.1
    crm = {r["customer_ref"]: r for r in land.good["crm"]}
    list_price = {p["product_id"]: float(p["price"]) for p in land.good["products"]}
    exact = total = 0
    for o in land.good["orders"]:
        country = crm[o["customer_ref"]]["country"]
        expected = {"United Kingdom": "GBP", "UK": "GBP", "GB": "GBP", "Great Britain": "GBP", "England": "GBP",
                    "United States": "USD", "USA": "USD", "US": "USD", "U.S.": "USD",
                    "United States of America": "USD"}.get(country)
        if expected is None and country:
            assert o["currency"] == "EUR", (o["order_id"], country)
        if o["currency"] == "EUR":
            continue
        assert o["currency"] == expected or not country
        rate = rates[(ts(o["ordered_at"]).date().isoformat(), o["currency"])]
        for i in o["items"]:
            full = round(round(list_price[i["product_id"]] * 100) / rate) / 100
            assert i["unit_price"] <= full + 0.01
            exact += abs(i["unit_price"] - full) < 0.005
            total += 1
    assert total > 100 and exact >= 0.5 * total
    assert {o["currency"] for o in land.orders_of("CRM-000002")} == {"GBP"}  # Ben lives in London
    assert {o["currency"] for o in land.orders_of("CRM-000004")} == {"USD"}  # Dmitri in New York
    assert {o["currency"] for o in land.orders_of("CRM-000001")} == {"EUR"}


def test_discounts_and_discount_seekers(land):
    list_price = {p["product_id"]: round(float(p["price"]) * 100) for p in land.good["products"]}
    share = defaultdict(lambda: [0, 0])
    off = []
    for o in land.good["orders"]:
        if o["currency"] != "EUR":
            continue
        for i in o["items"]:
            cents = round(i["unit_price"] * 100)
            lp = list_price[i["product_id"]]
            share[o["customer_ref"]][1] += 1
            if cents < lp:
                share[o["customer_ref"]][0] += 1
                off.append(1 - cents / lp)
    lines = sum(n for _, n in share.values())
    assert 0.12 <= len(off) / lines <= 0.35
    assert 0.09 <= min(off) and max(off) <= 0.41
    seekers = [c for c, (d, n) in share.items() if n >= 4 and d / n >= 0.6]
    assert len(seekers) >= 5


def test_the_vocabularies_are_the_contracts_choices_in_the_order_the_generator_assumes():
    from tailor.demo import vocabulary as v
    from tailor.sources.contracts import EMAIL_EVENTS

    # the named codes and the generator's weights (web, completed and shop the most) index these lists: a
    # contract that reorders its choices changes the demo's bytes, so it has to be a change made here as well
    assert [v.WEB_TYPES[i] for i in (v.PAGE_VIEW, v.PRODUCT_VIEW, v.ADD_TO_CART, v.CHECKOUT_STARTED)] == [
        "page_view", "product_view", "add_to_cart", "checkout_started"]
    assert v.PLATFORMS == ["web", "ios", "android"]
    assert v.ORDER_STATUS == ["completed", "refunded", "cancelled"]
    assert (v.CONSENT_STATUS[v.GRANTED], v.CONSENT_STATUS[v.REVOKED]) == ("granted", "revoked")
    assert [v.CONSENT_PURPOSES[i] for i in (v.PURPOSE_EMAIL, v.PURPOSE_SMS, v.PURPOSE_PERSONALIZATION)] == [
        "marketing_email", "marketing_sms", "personalization"]
    assert [v.SOURCE_SYSTEMS[i] for i in (v.SYSTEM_SHOP, v.SYSTEM_POS, v.SYSTEM_NEWSLETTER, v.SYSTEM_IMPORT)] == [
        "shop", "pos", "newsletter", "import"]
    assert len(v.SOURCE_SYSTEMS) == 4
    # the demo sends a subset of the ESP's events
    assert set(v.MAIL_TYPES) < set(EMAIL_EVENTS.choices("event_type"))
