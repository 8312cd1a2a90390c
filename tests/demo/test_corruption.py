"""The duplicates' corruption (tailor.demo.duplicates, tailor.demo.corruption) and the truth that records it
(demo_truth/identity_cases.csv ``corruptions``; tailor.demo.truth scores against it).

The generated CRM file is re-read with the standard library; every duplicate is compared with its person's
primary record (which carries the true values) and names.csv: each corruption its tags claim must be visible in
the fields, and a field without a tag must be unchanged (up to case, blanks and the way a phone is written).
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from rapidfuzz.distance import Levenshtein

from tailor.demo import corruption as C
from tailor.demo.generator import write_demo_data
from tailor.demo.names import NICKNAMES
from tailor.demo.personas import ANNA_DUPLICATE, PERSONA_ADDRESSES, PERSONAS
from tailor.demo.streets import CITY_ALIASES, STREETS
from tailor.demo.truth import NO_SHARED_KEY, UNCORRUPTED, household_merges, quality_by_corruption, read_truth
from tailor.demo.vocabulary import CORRUPTIONS

AS_OF = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
N, SEED = 5000, 11
RESERVED = re.compile(r"@([a-z0-9-]+\.)*example\.(com|org|net)$")
ROWS = {"qwerty": ("qwertyuiop", "asdfghjkl", "zxcvbnm"), "qwertz": ("qwertzuiop", "asdfghjkl", "yxcvbnm"),
        "azerty": ("azertyuiop", "qsdfghjklm", "wxcvbn")}


def adjacent(a: str, b: str) -> bool:
    """Keys next to each other on a QWERTY, QWERTZ or AZERTY keyboard (case-insensitive)."""
    a, b = a.lower(), b.lower()
    for rows in ROWS.values():
        at = {ch: (r, c) for r, row in enumerate(rows) for c, ch in enumerate(row)}
        if a in at and b in at:
            (r1, c1), (r2, c2) = at[a], at[b]
            if (r1 == r2 and abs(c1 - c2) == 1) or (r2 == r1 - 1 and c2 - c1 in (0, 1)) or (
                    r2 == r1 + 1 and c1 - c2 in (0, 1)):
                return True
    return False


def char_edit_kind(true: str, seen: str) -> str | None:
    """Which single keyboard typo turns ``true`` into ``seen`` (case-insensitive), if one does."""
    t, s = true.lower(), seen.lower()
    if len(s) == len(t) + 1 and Levenshtein.distance(t, s) == 1:
        return "insert"
    if len(s) == len(t) - 1 and Levenshtein.distance(t, s) == 1:
        return "delete"
    if len(s) == len(t):
        diff = [i for i in range(len(t)) if t[i] != s[i]]
        if len(diff) == 1 and adjacent(t[diff[0]], s[diff[0]]):
            return "substitute"
        if len(diff) == 2 and diff[1] == diff[0] + 1 and (t[diff[0]], t[diff[1]]) == (s[diff[1]], s[diff[0]]):
            return "transpose"
    return None


def explained(true: str, seen: str, rules: list[tuple[str, str]], ignore_case: bool) -> bool:
    """``seen`` is ``true`` with one occurrence of one rule's pattern replaced."""
    t, s = (true.lower(), seen.lower()) if ignore_case else (true, seen)
    for old, new in rules:
        o, w = (old.lower(), new.lower()) if ignore_case else (old, new)
        start = t.find(o)
        while start >= 0:
            if (t[:start] + w + t[start + len(o):]).lower() == s.lower():
                return True
            start = t.find(o, start + 1)
    return False


def text_kind_ok(kind: str, true: str, seen: str) -> bool:
    """The corruption ``kind`` of a free-text field (name, city, street name) is what happened to it."""
    if kind == "missing":
        return seen == "" and true != ""
    if kind in C.CHAR_EDITS:
        return char_edit_kind(true, seen) == kind
    if kind == "phonetic":
        return explained(true, seen, C.PHONETIC, True)
    if kind == "ocr":
        return explained(true, seen, C.OCR, False)
    raise AssertionError(kind)


def split_street(street: str, house_number: str) -> tuple[str, str]:
    """(street name, house number) of a record: the number is in its own column or in the street line."""
    if house_number:
        return street, house_number
    m = re.match(r"^(\d+[A-Z]?(?: bis| ter)?) (.+)$", street) or re.match(
        r"^(.+?) (\d+(?:[a-cA-C]|-[AB12]| hs|/[AB])?)$", street)
    if not m:
        return street, ""
    return (m.group(2), m.group(1)) if m.group(1)[0].isdigit() else (m.group(1), m.group(2))


def abbreviated(true: str, seen: str) -> bool:
    """``seen`` writes a street type of ``true`` in another of its forms ("Straße" -> "Str.", "ul." -> "")."""
    norm = lambda x: " ".join(x.lower().split())  # noqa: E731
    t, s = norm(true), norm(seen)
    for _, kinds in STREETS.values():
        for _, _, forms in kinds:
            for a in forms:
                for b in forms:
                    if a != b and a and a.lower() in t and norm(t.replace(a.lower(), b.lower(), 1)) == s:
                        return True
    return False


def date_digit(true: str, seen: str) -> bool:
    diff = [i for i in range(len(true)) if true[i] != seen[i]] if len(true) == len(seen) else []
    return len(diff) == 1 or (true[4:] == seen[4:] and abs(int(true[:4]) - int(seen[:4])) == 20)


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("corruption")
    write_demo_data(root / "landing", N, SEED, AS_OF)
    with open(root / "landing/crm/crm-0001.csv", encoding="utf-8", newline="") as fh:
        crm = {r["customer_ref"]: r for r in csv.DictReader(fh) if r["customer_ref"]}
    truth = read_truth(root / "demo_truth")
    names = pd.read_csv(root / "demo_truth/names.csv", dtype=str, keep_default_na=False).set_index("person_id")
    refs = defaultdict(list)
    for ref, pid in zip(truth["customer_ref"], truth["person_id"]):
        refs[pid].append(ref)
    tags = {r: set(t.split(";")) - {""} for r, t in zip(truth["customer_ref"], truth["corruptions"])}
    return {"root": root, "crm": crm, "truth": truth, "names": names, "refs": refs, "tags": tags}


def duplicates(demo):
    """(duplicate record, primary record, true first name, true last name, the duplicate's tags by field)."""
    case = dict(zip(demo["truth"]["customer_ref"], demo["truth"]["case"]))
    for pid, refs in demo["refs"].items():
        if pid == "person-0000001":
            continue
        primary = demo["crm"][refs[0]]
        for ref in refs[1:]:
            assert case[ref].endswith("_duplicate")
            by_field = defaultdict(set)
            for t in demo["tags"][ref]:
                f, _, k = t.partition(":")
                by_field[f].add(k)
            assert all(len(k) == 1 for f, k in by_field.items()), (ref, by_field)  # one corruption per field
            yield demo["crm"][ref], primary, demo["names"].loc[pid, "first_name"], demo["names"].loc[
                pid, "last_name"], {f: next(iter(k)) for f, k in by_field.items()}


def test_every_corruption_occurs_and_only_known_ones(demo):
    counts = Counter(t for ts in demo["tags"].values() for t in ts)
    assert set(counts) <= set(CORRUPTIONS)
    rare = {t: counts[t] for t in CORRUPTIONS if counts[t] < 3}
    assert not rare, rare


def test_corruption_rates_are_plausible(demo):
    dups = list(duplicates(demo))
    n = len(dups)
    assert 0.12 * N <= n <= 0.2 * N  # 10 % of the people, 1.5 duplicates each on average
    field = Counter(f for *_, t in dups for f in t)
    share = {f: field[f] / n for f in field}
    # e-mail and phone: most duplicates do not keep both; the field corruptions: mostly names
    assert 0.45 <= share["email"] <= 0.7 and 0.4 <= share["phone"] <= 0.7
    assert 0.2 <= share["first_name"] <= 0.45 and 0.15 <= share["last_name"] <= 0.4
    assert 0.08 <= share["postcode"] <= 0.25 and 0.05 <= share["city"] <= 0.2
    assert 0.08 <= share["street"] + share.get("house_number", 0) <= 0.3
    assert 0.08 <= share["date_of_birth"] <= 0.25
    assert 0.01 <= share["names"] <= 0.06  # swapped
    corrupted = sum(any(f not in ("email", "phone", "country") for f in t) for *_, t in dups)
    assert 0.7 <= corrupted / n <= 0.95
    kinds = Counter(k for *_, t in dups for k in t.values())
    typos = sum(kinds[k] for k in C.CHAR_EDITS)
    assert all(0.15 * typos <= kinds[k] <= 0.35 * typos for k in C.CHAR_EDITS)
    assert kinds["nickname"] >= 0.01 * n and kinds["phonetic"] >= 0.03 * n and kinds["ocr"] >= 0.01 * n


def test_each_tag_is_what_happened_and_untagged_fields_are_unchanged(demo):
    checked = Counter()
    for d, p, first, last, t in duplicates(demo):
        f, ln = d["first_name"].strip(), d["last_name"].strip()
        if t.get("names") == "swapped":
            f, ln = ln, f
            assert f and ln
        for seen, true, name in ((f, first, "first_name"), (ln, last, "last_name")):
            kind = t.get(name)
            if kind is None:
                assert seen.lower() == true.lower(), (d["customer_ref"], name, seen, true)
            elif kind == "nickname":
                assert seen in [n for c in NICKNAMES.values() for n in c.get(true, [])] or seen.lower() in [
                    n.lower() for c in NICKNAMES.values() for n in c.get(true, [])], (seen, true)
            else:
                assert text_kind_ok(kind, true, seen), (d["customer_ref"], name, kind, true, seen)
            checked[(name, kind)] += 1
        pe, de = p["email"].strip().lower(), d["email"].strip().lower()
        kind = t.get("email")
        if kind is None:
            assert de == pe
        elif kind == "typo":
            (pl, _, pd_), (dl, _, dd) = pe.partition("@"), de.partition("@")
            assert pd_ == dd and char_edit_kind(pl, dl) is not None, (pe, de)
        elif kind == "changed":
            assert de and de != pe and RESERVED.search(de)
        else:
            assert de == "" and pe != ""
        pp, dp = digits(p["phone"]), digits(d["phone"])
        kind = t.get("phone")
        if kind is None:
            assert pp[-7:] == dp[-7:], (p["phone"], d["phone"])
        elif kind == "changed":
            assert dp and dp[-7:] != pp[-7:]
        else:
            assert dp == "" and pp != ""
        if t.get("country") == "missing":
            assert d["country"] == ""
        kind, true, seen = t.get("postcode"), p["postcode"], d["postcode"]
        diff = [i for i in range(len(true)) if len(seen) == len(true) and true[i] != seen[i]]
        if kind is None:
            assert seen == true
        elif kind == "missing":
            assert seen == "" != true
        elif kind == "digit":
            assert len(diff) == 1 and true[diff[0]].isdigit() and seen[diff[0]].isdigit(), (true, seen)
        elif kind == "transpose":
            assert len(diff) == 2 and diff[1] == diff[0] + 1 and sorted(true) == sorted(seen), (true, seen)
        else:
            assert len(diff) == 1 and (true[diff[0]], seen[diff[0]]) in C.POSTCODE_OCR, (true, seen)
        kind, true, seen = t.get("city"), p["city"], d["city"]
        if kind is None:
            assert seen == true
        elif kind == "exonym":
            assert seen in CITY_ALIASES[true]
        else:
            assert text_kind_ok(kind, true, seen), ("city", kind, true, seen)
        (pn, pnum), (dn, dnum) = split_street(p["street"], p["house_number"]), split_street(d["street"],
                                                                                          d["house_number"])
        kind, hn = t.get("street"), t.get("house_number")
        if kind == "missing":
            assert d["street"] == d["house_number"] == d["address_line2"] == "" != p["street"]
        else:
            assert (dnum == pnum) == (hn is None), (p["street"], p["house_number"], d["street"], d["house_number"])
            if hn == "missing":
                assert dnum == "" != pnum
            elif hn == "wrong":
                assert dnum and pnum and dnum != pnum
            if kind is None:
                assert dn.lower() == pn.lower(), (p["street"], d["street"])
            elif kind == "abbreviation":
                assert abbreviated(pn, dn), (pn, dn)
            else:
                assert text_kind_ok(kind, pn, dn), ("street", kind, pn, dn)
            if t.get("address_line2") == "missing":
                assert d["address_line2"] == "" != p["address_line2"]
            else:
                assert d["address_line2"] == p["address_line2"]
        kind, true, seen = t.get("date_of_birth"), p["date_of_birth"], d["date_of_birth"]
        if kind is None:
            assert seen == true
        elif kind == "missing":
            assert seen == "" != true
        elif kind == "placeholder":
            assert seen == "1900-01-01" != true
        elif kind == "day_month_swapped":
            assert seen == f"{true[:4]}-{true[8:10]}-{true[5:7]}" != true
        else:
            assert date_digit(true, seen), (true, seen)
        for name, kind in t.items():
            checked[(name, kind)] += 1
    assert {tuple(x.split(":")) for x in CORRUPTIONS} <= set(checked)


def test_many_duplicates_share_no_email_or_phone(demo):
    none = total = 0
    for d, p, *_ in duplicates(demo):
        total += 1
        same_mail = d["email"].strip().lower() == p["email"].strip().lower() != ""
        same_phone = digits(d["phone"])[-7:] == digits(p["phone"])[-7:] != ""
        none += not (same_mail or same_phone)
    assert 0.25 <= none / total <= 0.6


def test_personas_stay_intact(demo):
    crm, truth = demo["crm"], demo["truth"].set_index("customer_ref")
    for p, a in zip(PERSONAS + [ANNA_DUPLICATE], PERSONA_ADDRESSES):
        r = crm[f"CRM-{p[0]:06d}"]
        assert (r["first_name"], r["last_name"], r["email"], r["phone"], r["country"], r["city"], r["postcode"],
                r["timezone"]) == p[2:10]
        assert (r["street"], r["address_line2"], r["house_number"], r["date_of_birth"]) == a
        assert truth.loc[r["customer_ref"], "corruptions"] == "" and truth.loc[r["customer_ref"], "household_id"] == ""
    persons = truth["person_id"]
    assert (persons == "person-0000001").sum() == 2 and truth.loc["CRM-000007", "person_id"] == "person-0000001"
    assert all((persons == f"person-{i:07d}").sum() == 1 for i in range(2, 7))


def test_the_truth_scores_a_linkage_per_corruption_and_household(demo):
    truth = demo["truth"]
    crm = pd.DataFrame(demo["crm"].values())
    # the perfect linkage: every person one customer
    perfect = pd.DataFrame({"source_record_id": truth["customer_ref"], "customer_id": truth["person_id"]})
    q = quality_by_corruption(perfect, truth, crm)
    assert (q["recall"] == 1).all() and (q["precision"] == 1).all()
    assert set(CORRUPTIONS) <= set(q.index) and {UNCORRUPTED, NO_SHARED_KEY, "all", "*:missing"} <= set(q.index)
    assert q.loc["all", "true_pairs"] == sum(len(r) * (len(r) - 1) // 2 for r in demo["refs"].values())
    # nothing merged: recall 0 everywhere; households merged: the false merges are counted
    alone = pd.DataFrame({"source_record_id": truth["customer_ref"], "customer_id": truth["customer_ref"]})
    assert (quality_by_corruption(alone, truth)["recall"] == 0).all()
    home = truth["household_id"].where(truth["household_id"] != "", truth["person_id"])
    merged = pd.DataFrame({"source_record_id": truth["customer_ref"], "customer_id": home})
    h = household_merges(merged, truth)
    assert (h["merged"] == h["pairs_of_different_people"]).all() and (h["households"] > 0).all()
    assert (household_merges(perfect, truth)["merged"] == 0).all()


def test_quality_by_corruption_counts_pairs():
    truth = pd.DataFrame({"customer_ref": list("ABCDE"), "person_id": ["p1", "p1", "p1", "p2", "p2"],
                          "case": ["primary", "same_email_duplicate", "changed_email_duplicate", "primary",
                                   "no_email_duplicate"],
                          "corruptions": ["", "first_name:insert", "postcode:digit;first_name:delete", "",
                                          "postcode:digit"], "household_id": [""] * 5})
    links = pd.DataFrame({"source_record_id": list("ABCDE"), "customer_id": ["c1", "c1", "c2", "c2", "c3"]})
    q = quality_by_corruption(links, truth)
    # true pairs AB AC BC DE; predicted AB CD; correct AB
    assert q.loc["all", ["true_pairs", "found_pairs", "predicted_pairs"]].tolist() == [4, 1, 2]
    assert q.loc["first_name:insert", ["true_pairs", "found_pairs", "predicted_pairs"]].tolist() == [2, 1, 1]
    assert q.loc["postcode:digit", ["true_pairs", "found_pairs", "predicted_pairs", "precision"]].tolist() == [
        3, 0, 1, 0.0]
    assert q.loc["*:insert", "recall"] == 0.5 and q.loc["persons with 3 records", "true_pairs"] == 3
    with pytest.raises(ValueError, match="share"):
        quality_by_corruption(links.iloc[:3], truth)


def test_char_edits_are_single_keyboard_typos():
    rng = np.random.default_rng(3)
    names = np.array([x.encode() for x in ["Schneider", "Łukasz", "Müller", "Ann", "Jo", "Élodie", "O'Brien",
                                           "van der Meer"] * 50])
    for code, kind in enumerate(C.CHAR_EDITS):
        out, applied = C.char_edit(rng, names, np.full(len(names), code), np.zeros(len(names), dtype=np.int64))
        for a, b, k in zip(names, out, applied):
            a, b = a.decode(), b.decode()
            assert char_edit_kind(a, b) == C.CHAR_EDITS[k], (kind, a, b)
            assert a[0] == b[0]  # the first letter is kept
        assert (applied == code).mean() > 0.5  # "Jo" and the like fall back to an insertion
    again, _ = C.char_edit(np.random.default_rng(5), names, np.zeros(len(names), dtype=np.int64),
                           np.zeros(len(names), dtype=np.int64))
    assert (again == C.char_edit(np.random.default_rng(5), names, np.zeros(len(names), dtype=np.int64),
                                 np.zeros(len(names), dtype=np.int64))[0]).all()


def test_pattern_replacements_digits_and_tags():
    rng = np.random.default_rng(1)
    words = np.array([b"Philipp", b"Meier", b"Stra\xc3\x9fe", b"Lena"])
    out, ok = C.replace_pattern(rng, words, [("ph", "f"), ("ei", "ai"), ("ß", "ss")], True)
    assert out.tolist() == [b"Filipp", b"Maier", b"Strasse", b"Lena"] and ok.tolist() == [True, True, True, False]
    out, ok = C.replace_pattern(rng, np.array([b"Marnie", b"Anna"]), [("rn", "m")], False)
    assert out.tolist() == [b"Mamie", b"Anna"] and ok.tolist() == [True, False]
    codes = np.array([b"10115", b"SW1A 1AA", b"ABC"])
    out, ok = C.wrong_digit(rng, codes)
    assert ok.tolist() == [True, True, False] and [Levenshtein.distance(a, b) for a, b in zip(codes, out)] == [1, 1, 0]
    out, ok = C.swap_digits(rng, np.array([b"10115", b"1111", b"12-345"]))
    assert ok.tolist() == [True, False, True] and sorted(out[0].decode()) == sorted("10115") and out[1] == b"1111"
    tags = np.array([[True, False, True], [False, False, False], [False, True, False]])
    assert C.tag_text(tags, ["a:x", "b:y", "c:z"]).tolist() == [b"a:x;c:z", b"", b"b:y"]
    assert C.utf8_upper(np.array(["Müller".encode()]))[0].decode() == "MÜLLER"
