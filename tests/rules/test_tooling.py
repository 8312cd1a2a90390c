"""`tailor rules check | test | diff`: validation with file:line, example cases, diffs on the warehouse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.cli.main import main as cli
from tailor.content.vocabulary import template_blocks
from tailor.rules.diff import compare_decisions, compare_segments, format_decisions_diff
from tests.tables import empty_joined_tables, write_table

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
TEMPLATES = ROOT / "email_templates"
# segments as first shipped (frozen): the expectations below do not change when marketing edits rules/segments.yaml
SEGMENTS_V1 = ROOT / "tests" / "data" / "segments_v1.yaml"


def run(capsys, *args: str) -> tuple[int, str]:
    code = cli(["rules", *args])
    return code, capsys.readouterr().out


def rules_dir(tmp_path: Path, email_rules: str | None = None, segments: str | None = None) -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "segments.yaml").write_text(segments.lstrip("\n") if segments else SEGMENTS_V1.read_text(),
                                     encoding="utf-8")
    (d / "email_rules.yaml").write_text(email_rules.lstrip("\n") if email_rules else
                                        (RULES / "email_rules.yaml").read_text(), encoding="utf-8")
    return d


def test_block_listing_is_the_template_librarys_without_compiling():
    from tailor.content.library import TemplateLibrary

    blocks, problems = template_blocks(TEMPLATES)
    assert problems == []
    assert blocks == TemplateLibrary.load(TEMPLATES).blocks_by_slot


def test_block_listing_reports_a_block_without_a_slot(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "hero_x.mjml").write_text("<!--\nslot: hero\n-->\n<mj-section/>")
    (tmp_path / "blocks" / "odd.mjml").write_text("<!--\n\nslot: footer\n-->\n<mj-section/>")
    blocks, problems = template_blocks(tmp_path)
    assert blocks["hero"] == {"hero_x"}
    # the same reading of the header as the template library's, so the same message and line
    assert problems == [(tmp_path / "blocks" / "odd.mjml", 3, "unknown slot 'footer'; slots are hero, main, offer, note")]


def test_check_passes_on_the_shipped_rules_quickly_and_without_pandas():
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tailor.cli.main", "rules", "check"], cwd=ROOT, capture_output=True,
                         text=True)
    elapsed = time.perf_counter() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"OK: rules/segments.yaml \(\d+ segments\), rules/email_rules.yaml \(campaign 'spring_2025', "
                     r"7 active rules", out.stdout), out.stdout
    assert re.search(r"note: segments no active email rule uses: .*engaged", out.stdout), out.stdout
    assert elapsed < 5, elapsed     # ~0.5 s measured; loose for busy CI machines
    code = ("import sys; from tailor.rules.check import check_rules; r = check_rules('rules', 'email_templates'); "
            "assert r.ok, r.problems; print(sorted(m for m in ('pandas', 'numpy', 'pandera', 'mjml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


BROKEN_SEGMENTS = """
segments:
  - name: vip
    when: {total_spend: {gte: 1000}}
  - name: lapsed
    when: {recency_days: {greater: 180}}
"""

BROKEN_RULES = """
campaign: {id: spring_2025}
defaults:
  subject: "Hi {{ first_name }}"
  hero: hero_default
rules:
  - name: vip
    priority: 80
    when: {in_segment: vips}
    then: {hero: hero_vipp}
  - name: lapsed
    priority: 50
    when: {in_segment: lapsed}
    then: {main: discount_offer}
"""


def test_check_lists_every_problem_of_both_files_with_file_and_line(tmp_path, capsys):
    d = rules_dir(tmp_path, BROKEN_RULES, BROKEN_SEGMENTS)
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    seg, rules = d / "segments.yaml", d / "email_rules.yaml"
    expected = [
        f"{seg}:5: unknown operator 'greater' on field 'recency_days' — did you mean gt?",
        f"{rules}:8: unknown segment 'vips' — did you mean vip?",
        f"{rules}:9: rule 'vip': unknown block 'hero_vipp' for slot 'hero' — did you mean hero_vip?",
        f"{rules}:13: rule 'lapsed': block 'discount_offer' belongs in slot 'offer', not 'main'",
    ]
    lines = out.splitlines()
    for e in expected:
        assert any(line.startswith(e) for line in lines), e
    # 'lapsed' has a mistake in segments.yaml, but the rule naming it is not blamed for that
    assert "unknown segment 'lapsed'" not in out
    assert lines[-1].startswith("4 problems in 2 files")


def test_check_goes_on_after_a_yaml_syntax_error(tmp_path, capsys):
    d = rules_dir(tmp_path, BROKEN_RULES, "segments:\n  - name: vip\n    when: {total_spend: {gte: 1000}\n")
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    assert f"{d / 'segments.yaml'}:" in out and "YAML syntax error" in out
    assert f"{d / 'email_rules.yaml'}:9: rule 'vip': unknown block 'hero_vipp'" in out


SMALL_RULES = """
campaign: {id: c1}
defaults:
  subject: Hi
  hero: hero_default
rules:
  - name: vip
    priority: 80
    when: {in_segment: vip}
    then:
      hero: hero_vip
"""


@pytest.mark.parametrize("broken, line, hint", [
    (SMALL_RULES.replace("      hero: hero_vip\n", "      subject: Hello: world\n"), 10,
     'put the text in quotes: subject: "Hello: world"'),
    (SMALL_RULES.replace("  hero: hero_default", "\thero: hero_default"), 4, "use spaces, not tabs, to indent"),
    (SMALL_RULES.replace("    priority: 80", "   priority: 80"), 7,
     "check the indentation of this line against the one above (items of one list start at the same column)"),
    (SMALL_RULES + "  - name: other\n    priority: 10\n   - name: third\n", 13,
     "check the indentation of this line against the one above (items of one list start at the same column)"),
    (SMALL_RULES.replace("  subject: Hi", "  subject: {{ first_name }}, welcome back"), 3,
     'put the text in quotes: subject: "{{ first_name }}, welcome back"'),
    (SMALL_RULES.replace("  subject: Hi", "  subject: {{ first_name }}"), 3,
     'put the text in quotes: subject: "{{ first_name }}"'),
    (SMALL_RULES.replace("    when: {in_segment: vip}", "    when: {in_segment: vip"), 9,
     "the `{` on line 8 is not closed: end it with `}`"),
    (SMALL_RULES.replace("  - name: vip", "  -name: vip"), 7,
     "put a space after the `-` that starts a list item on line 6: - name: vip"),
], ids=["colon_in_subject", "tab", "indented_key", "list_items_not_aligned", "starts_with_braces",
        "only_a_placeholder", "unclosed_brace", "dash_without_space"])
def test_check_says_how_to_fix_a_yaml_syntax_error(tmp_path, capsys, broken, line, hint):
    d = rules_dir(tmp_path, broken)
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    reported = [x for x in out.splitlines() if x.startswith(f"{d / 'email_rules.yaml'}:{line}: ")]
    assert reported and hint in reported[0], out


def test_check_explains_a_comma_in_an_unquoted_subject_between_braces(tmp_path, capsys):
    d = rules_dir(tmp_path, SMALL_RULES.replace("    then:\n      hero: hero_vip\n",
                                                "    then: {subject: Hello, world, hero: hero_vip}\n"))
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    assert (f"{d / 'email_rules.yaml'}:9: rule 'vip': unknown slot or setting 'world' — a comma inside an unquoted "
            f"subject between {{ }} starts a new key: put the subject in quotes") in out


def test_check_reports_unreachable_rules(tmp_path, capsys):
    d = rules_dir(tmp_path, """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default, main: bestsellers}
rules:
  - name: vip_picks
    priority: 80
    when: {in_segment: vip}
    then: {hero: hero_vip, main: product_recommendations}
  - name: vip_welcome
    priority: 70
    when: {in_segment: vip}
    then: {hero: hero_welcome}
  - name: very_lapsed
    priority: 40
    when: {recency_days: {gt: 365}}
    then: {hero: hero_winback}
  - name: lapsed
    priority: 50
    when: {in_segment: lapsed}
    then: {hero: hero_winback, offer: discount_offer}
""")
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    f = d / "email_rules.yaml"
    assert (f"{f}:8: rule 'vip_welcome' (priority 70) can never change an email: every customer it matches also "
            f"matches rule 'vip_picks' (priority 80), which ranks higher and already sets everything it sets (hero)") in out
    assert f"{f}:12: rule 'very_lapsed' (priority 40) can never change an email" in out and "'lapsed' (priority 50)" in out
    # switching it off silences it
    f.write_text(f.read_text().replace("    priority: 70\n", "    priority: 70\n    enabled: false\n"))
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert "vip_welcome" not in out.split("note:")[0] and "very_lapsed" in out


def test_check_reports_experiment_mistakes_with_lines(tmp_path, capsys):
    d = rules_dir(tmp_path, """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default}
rules:
  - name: vip
    priority: 80
    when: {in_segment: vip}
    then: {hero: hero_vip}
    experiment:
      name: vip_subject_test
      holdout: 0.1
      variants:
        - {name: a, weight: 1, subject: "A"}
        - {name: a, weight: 0, subject: "B"}
""")
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    f = d / "email_rules.yaml"
    assert code == 1
    assert f"{f}:13: rule 'vip', experiment 'vip_subject_test': duplicate variant name 'a' (first defined on line 12)" in out
    assert f"{f}:13: rule 'vip', experiment 'vip_subject_test', variant 'a': weight must be a number above 0" in out
    (d / "email_rules.yaml").write_text(f.read_text().replace("{name: a, weight: 0", "{name: b, weight: 2"))
    code, out = run(capsys, "check", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 0 and "1 experiment: vip_subject_test" in out


def test_shipped_cases_pass(capsys):
    code, out = run(capsys, "test", "--rules-dir", str(RULES), "--templates-dir", str(TEMPLATES))
    assert code == 0, out
    assert "FAIL" not in out
    for name in ("VIP by spend gets the VIP hero and picks", "cart abandoner is reminded of the cart",
                 "lapsed customer gets the winback offer", "VIP without marketing consent is not sent",
                 "no rule matches -> the defaults"):
        assert f"PASS  {name}" in out
    assert re.match(r"\d+ passed, 0 failed", out.splitlines()[-1]), out


def test_a_failing_case_shows_what_differs(tmp_path, capsys):
    d = rules_dir(tmp_path)
    (d / "tests").mkdir()
    (d / "tests" / "mine.yaml").write_text("""
base_customer: {email: a@example.com, marketing_consent: true}
cases:
  - name: right
    customer: {total_spend: 1500}
    expect: {reason: "rule:vip_picks"}
  - name: wrong
    customer: {total_spend: 1500}
    expect:
      send: true
      blocks: {hero: hero_winback, main: product_recommendations}
      subject: Hello
""".lstrip())
    code, out = run(capsys, "test", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    assert "PASS  right" in out
    assert f"FAIL  wrong  ({d / 'tests' / 'mine.yaml'}:6)" in out
    lines = [x.strip() for x in out.splitlines()]
    i = lines.index('blocks.hero  expected "hero_winback"')
    assert lines[i + 1] == 'got      "hero_vip"'
    assert 'subject      expected "Hello"' in lines
    assert '(segments ["vip"], rules fired ["vip_picks"], reason rule:vip_picks)' in lines
    assert "1 passed, 1 failed" in out.splitlines()[-1]


def test_cases_can_pin_the_personalization_consent(tmp_path, capsys):
    d = rules_dir(tmp_path)
    (d / "tests").mkdir()
    (d / "tests" / "consent.yaml").write_text("""
base_customer: {email: a@example.com, marketing_consent: true, total_spend: 1500}
cases:
  - name: allowed by default
    expect: {reason: "rule:vip_picks", rules_fired: [vip_picks]}
  - name: revoked gets the defaults
    customer: {personalization_consent: false}
    expect:
      send: true
      reason: no_personalization_consent
      rules_fired: []
      blocks: {hero: hero_default, main: bestsellers}
      subject: "New this spring at Tailor Shop, {{ first_name }}"
""".lstrip())
    code, out = run(capsys, "test", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 0, out
    assert "PASS  allowed by default" in out and "PASS  revoked gets the defaults" in out


def test_a_broken_case_file_names_file_and_line(tmp_path, capsys):
    d = rules_dir(tmp_path)
    (d / "tests").mkdir()
    f = d / "tests" / "broken.yaml"
    f.write_text("""
cases:
  - name: typo
    customer: {total_spendd: 3, country: 49, last_order_at: someday}
    segments: [vipp]
    expect:
      hero: hero_vip
      rules_fired: [vip_pick]
  - name: typo
    expect: {}
""".lstrip())
    code, out = run(capsys, "test", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 1
    for e in [
        f"{f}:3: case 'typo': unknown field 'total_spendd' — did you mean total_spend?",
        f"{f}:3: case 'typo': country must be text (put it in quotes: \"49\"), got number 49",
        f"{f}:3: case 'typo': last_order_at must be a date such as 2025-03-01",
        f"{f}:4: case 'typo': unknown segment 'vipp' — did you mean vip?",
        f"{f}:6: case 'typo': unknown key 'hero' — slots go under `blocks:`",
        f"{f}:7: case 'typo': unknown rule 'vip_pick' — did you mean vip_picks?",
        f"{f}:8: duplicate case name 'typo' (first defined on line 2)",
        f"{f}:9: case 'typo': `expect:` must be a mapping",
    ]:
        assert e in out, e
    assert "0 passed, 0 failed, 8 problems in the case files" in out


def test_cases_see_experiments(tmp_path, capsys):
    from tailor.rules.email_rules import load_rule_file
    from tailor.rules.fields import spec_field_kinds
    from tests.shipped import SHIPPED_BLOCKS

    d = rules_dir(tmp_path, """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default}
rules:
  - name: vip
    priority: 80
    when: {in_segment: vip}
    then: {hero: hero_vip}
    experiment:
      name: vip_subject_test
      holdout: 0.5
      variants: [{name: a, subject: "Subject A"}, {name: b, subject: "Subject B"}]
""")
    exp = load_rule_file(d / "email_rules.yaml", spec_field_kinds(), SHIPPED_BLOCKS).rules[0].experiment
    ids = [f"cus_{i}" for i in range(40)]
    held = next(c for c in ids if exp.assign(c) == "holdout")
    in_a = next(c for c in ids if exp.assign(c) == "a")
    (d / "tests").mkdir()
    (d / "tests" / "exp.yaml").write_text(f"""
base_customer: {{email: a@example.com, marketing_consent: true, total_spend: 1500}}
cases:
  - name: held out
    customer: {{customer_id: {held}}}
    expect: {{send: false, reason: "holdout:vip_subject_test", experiment: vip_subject_test, variant: holdout}}
  - name: variant a
    customer: {{customer_id: {in_a}}}
    expect: {{send: true, subject: Subject A, variant: a, blocks: {{hero: hero_vip}}}}
""".lstrip())
    code, out = run(capsys, "test", "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 0, out
    assert "2 passed, 0 failed" in out


def _decisions(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "send", "reason", "subject", "blocks", "params"])


def test_compare_decisions_counts_changes_and_picks_examples():
    d = json.dumps
    old = _decisions([
        ("c1", True, "no_rule_matched", "Hi", d({"hero": "hero_default", "main": "bestsellers"}), "{}"),
        ("c2", True, "rule:vip", "VIP", d({"hero": "hero_vip"}), "{}"),
        ("c3", True, "rule:vip", "VIP", d({"hero": "hero_vip"}), "{}"),
        ("c4", False, "no_consent", "Hi", d({"hero": "hero_default"}), "{}"),
        ("c5", True, "rule:winback", "Back", d({"hero": "hero_winback", "offer": "discount_offer"}),
         d({"discount_percent": 15})),
        ("gone", True, "no_rule_matched", "Hi", "{}", "{}"),
    ])
    new = _decisions([
        ("c1", True, "no_rule_matched", "Hi", d({"hero": "hero_default", "main": "bestsellers"}), "{}"),
        ("c2", True, "rule:vip2", "Hello VIP", d({"hero": "hero_welcome"}), "{}"),
        ("c3", True, "rule:vip2", "Hello VIP", d({"hero": "hero_welcome"}), "{}"),
        ("c4", False, "no_consent", "Hi", d({"hero": "hero_vip"}), "{}"),
        ("c5", False, "rule:stop", "Back", d({"hero": "hero_winback", "offer": "discount_offer"}),
         d({"discount_percent": 20})),
    ])
    diff = compare_decisions(old, new, examples=2)
    assert (diff.customers, diff.changed, diff.changed_and_sent) == (5, 4, 3)
    assert (diff.send_changed, diff.newly_sent, diff.no_longer_sent) == (1, 0, 1)
    assert (diff.blocks_changed, diff.subject_changed, diff.params_changed, diff.reason_changed) == (3, 2, 1, 3)
    assert diff.slot_changes == {"hero": Counter({("hero_vip", "hero_welcome"): 2, ("hero_default", "hero_vip"): 1})}
    assert diff.subject_changes == Counter({("VIP", "Hello VIP"): 2})
    assert (diff.only_old, diff.only_new) == (1, 0)
    # one example per kind of change, the most frequent kind first
    assert [cid for cid, _ in diff.examples] == ["c2", "c4"]
    assert diff.examples[0][1] == ["hero hero_vip -> hero_welcome", 'subject "VIP" -> "Hello VIP"',
                                   "reason rule:vip -> rule:vip2"]
    assert compare_decisions(old, old).changed == 0


def test_diff_shows_where_two_long_subjects_differ():
    blocks = json.dumps({"hero": "hero_winback"})
    old = _decisions([("c1", True, "rule:winback", "We miss you, {{ first_name }} — here is 15% off", blocks, "{}")])
    new = _decisions([("c1", True, "rule:winback", "We miss you, {{ first_name }} — here is 20% off", blocks, "{}")])
    diff = compare_decisions(old, new)
    assert diff.examples == [("c1", ['subject "…here is 15% off" -> "…here is 20% off"'])]
    assert '             "…here is 15% off" -> "…here is 20% off"  1' in format_decisions_diff(diff)
    # subjects that differ early are shortened at the end
    other = _decisions([("c1", True, "rule:vip", "{{ first_name }}, a few picks just for you", blocks, "{}")])
    assert compare_decisions(other, new).examples[0][1] == [
        'subject "{{ first_name }}, a few picks just …" -> "We miss you, {{ first_name }} — her…"',
        "reason rule:vip -> rule:winback"]


def test_compare_segments_counts_joins_and_leaves():
    old = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "segment": ["vip", "lapsed", "vip", "lapsed"]})
    new = pd.DataFrame({"customer_id": ["a", "b", "b", "d"], "segment": ["vip", "vip", "big", "big"]})
    diff = compare_segments(old, new, ["a", "b", "c", "d", "e"], old_names=["vip", "lapsed", "unused"],
                            new_names=["vip", "big"])
    assert diff.customers == 5 and diff.changed == 4
    assert diff.sizes == {"vip": (2, 2), "big": (None, 2), "lapsed": (2, None), "unused": (0, None)}
    assert diff.joined == {"big": 2} and diff.left == {"lapsed": 2}
    assert dict(diff.examples) == {"a": ["-lapsed"], "b": ["+big"], "c": ["-lapsed"], "d": ["+big"]}




@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A DuckDB warehouse with profiles, features and segments of 300 customers (as the pipeline leaves them)."""
    from resources.warehouse import DuckDBWarehouse
    from tailor.rules.fields import field_kinds
    from tailor.rules.segments import assign_segments, load_segment_definitions

    rng = np.random.default_rng(5)
    n = 300
    ids = [f"cus_{i:06d}" for i in range(n)]
    profiles = pd.DataFrame({
        "customer_id": ids, "email": [f"person{i}@example.com" for i in range(n)], "first_name": "Kim",
        "country": "DE", "marketing_consent": rng.random(n) < 0.85, "suppressed_reason": None, "personalization_consent": True,
    })
    orders = rng.integers(0, 9, n)
    features = pd.DataFrame({
        "customer_id": ids, "order_count": orders, "frequency": np.maximum(orders - 1, 0),
        "total_spend": orders * rng.random(n) * 300, "recency_days": np.where(orders > 0, rng.random(n) * 400, np.nan),
        "tenure_days": rng.random(n) * 800, "viewed_not_bought": np.where(rng.random(n) < 0.3, '["P1"]', "[]"),
        "cart_abandoned": rng.random(n) < 0.1, "abandoned_cart_products": "[]", "top_category": "shoes",
        "emails_delivered": rng.integers(0, 9, n), "email_opens": rng.integers(0, 4, n),
    })
    customers = profiles.merge(features, on="customer_id")
    segments = assign_segments(customers, load_segment_definitions(SEGMENTS_V1, field_kinds(customers)))
    path = tmp_path / "warehouse.duckdb"
    wh = DuckDBWarehouse(path=str(path))
    for name, df in (("customer_profiles", profiles), ("customer_features", features), ("customer_segments", segments),
                     *empty_joined_tables(ids)):
        write_table(wh, name, df)
    monkeypatch.setenv("TAILOR_WAREHOUSE_PATH", str(path))
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT", raising=False)
    return {"customers": customers, "segments": segments}


def test_diff_of_email_rules_on_the_current_customers(tmp_path, warehouse, capsys):
    old = tmp_path / "old_rules.yaml"
    old.write_text((RULES / "email_rules.yaml").read_text())
    new_rules = (RULES / "email_rules.yaml").read_text().replace("      hero: hero_vip\n", "      hero: hero_welcome\n")
    d = rules_dir(tmp_path, new_rules)
    code, out = run(capsys, "diff", str(old), "--rules-dir", str(d), "--templates-dir", str(TEMPLATES))
    assert code == 0, out
    vips = set(warehouse["segments"].loc[warehouse["segments"]["segment"] == "vip", "customer_id"])
    assert "Email decisions of 300 current customers" in out
    assert f"{len(vips):,} of 300 customers" in out
    assert f"hero: hero_vip -> hero_welcome  {len(vips):,}" in out
    assert "send            0" in out
    assert "Examples (customer ids only):" in out and "@" not in out
    assert "(nothing was sent" in out.splitlines()[-1]


def test_diff_of_segment_files_shows_memberships_and_the_effect_on_emails(tmp_path, warehouse, capsys):
    old = tmp_path / "old_segments.yaml"
    old.write_text(SEGMENTS_V1.read_text())
    new_segments = SEGMENTS_V1.read_text().replace("total_spend: {gte: 1000}", "total_spend: {gte: 500}")
    d = rules_dir(tmp_path, segments=new_segments)
    code, out = run(capsys, "diff", str(old), str(d / "segments.yaml"), "--rules-dir", str(d),
                    "--templates-dir", str(TEMPLATES))
    assert code == 0, out
    c = warehouse["customers"]
    vip_old = (c["frequency"] >= 5) | (c["total_spend"] >= 1000)
    vip_new = (c["frequency"] >= 5) | (c["total_spend"] >= 500)
    joined = int((vip_new & ~vip_old).sum())
    assert joined > 0
    assert any(line.split()[:6] == ["vip", str(int(vip_old.sum())), str(int(vip_new.sum())), f"+{joined}", "-0"][:5]
               for line in out.splitlines() if line.strip().startswith("vip "))
    assert f"{joined} of 300 customers" in out
    assert "Effect on the email decisions" in out and "@" not in out


def test_diff_before_the_pipeline_ran(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAILOR_WAREHOUSE_PATH", str(tmp_path / "empty.duckdb"))
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT", raising=False)
    code, out = run(capsys, "diff", str(RULES / "email_rules.yaml"), "--rules-dir", str(RULES),
                    "--templates-dir", str(TEMPLATES))
    assert code == 1 and "run the pipeline once" in out


def test_diff_of_a_broken_file_names_file_and_line(tmp_path, warehouse, capsys):
    old = tmp_path / "old.yaml"
    old.write_text(BROKEN_RULES.lstrip())
    code, out = run(capsys, "diff", str(old), "--rules-dir", str(rules_dir(tmp_path)), "--templates-dir", str(TEMPLATES))
    assert code == 1 and f"{old}:9: rule 'vip': unknown block 'hero_vipp'" in out


def test_diff_reads_the_warehouse_without_importing_dagster(tmp_path, warehouse):
    old = tmp_path / "old_rules.yaml"
    old.write_text((RULES / "email_rules.yaml").read_text())
    d = rules_dir(tmp_path)
    code = ("import sys; from tailor.cli.main import main; "
            f"rc = main(['rules', 'diff', {str(old)!r}, '--rules-dir', {str(d)!r}, '--templates-dir', {str(TEMPLATES)!r}]); "
            "print('dagster loaded:', sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_snowflake', 'dagster_duckdb'))); "
            "sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No change: all 300 customers get the same decision" in out.stdout
    assert "dagster loaded: []" in out.stdout
