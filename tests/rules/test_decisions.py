"""Email decisions with the real durable_rules engine: rules, priorities, gates, errors, volume, speed."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.rules.decide import decide
from tailor.rules.decisions_schema import EMAIL_DECISIONS_COLUMNS, EmailDecisionsSchema
from tailor.rules.email_rules import load_rule_file
from tailor.rules.evaluate import evaluate
from tailor.rules.facts import build_decision_input, build_facts
from tailor.rules.fields import field_kinds, spec_field_kinds
from tailor.rules.problems import RuleFileError
from tailor.rules.segments import assign_segments, load_segment_definitions
from tests.shipped import SHIPPED_BLOCKS
from tests.tables import empty_joined_tables, read_table, write_table

SPEC_FIELD_KINDS = spec_field_kinds()

ROOT = Path(__file__).resolve().parents[2]
RULES_YAML = ROOT / "rules" / "email_rules.yaml"
SEGMENTS_YAML = ROOT / "tests" / "data" / "segments_v1.yaml"   # frozen: not the shipped file marketing edits
DECIDED_AT = datetime(2025, 3, 1, 6, 0, 0)

# A customer in no shipped segment: one order 30 days ago, a year of tenure, a few emails, some opened.
BASE_PROFILE = {"email": "x@example.com", "first_name": "Ann", "country": "DE", "marketing_consent": True,
                "suppressed_reason": None, "personalization_consent": True}
BASE_FEATURES = {"order_count": 1, "frequency": 0, "total_spend": 80.0, "monetary_value": 80.0,
                 "recency_days": 30.0, "tenure_days": 365.0, "viewed_not_bought": "[]", "cart_abandoned": False,
                 "abandoned_cart_products": "[]", "top_category": "shoes", "emails_delivered": 4,
                 "email_opens": 1, "last_order_at": pd.Timestamp("2025-01-30")}


def make_input(*customers: dict) -> pd.DataFrame:
    """profiles + features + segments (from the shipped segments.yaml) -> the decision input."""
    rows = []
    for i, c in enumerate(customers):
        row = {"customer_id": c.get("customer_id", f"cus_{i:06d}"), **BASE_PROFILE, **BASE_FEATURES}
        row.update(c)
        rows.append(row)
    df = pd.DataFrame(rows)
    profile_cols = ["customer_id"] + list(BASE_PROFILE)
    profiles = df[profile_cols]
    features = df[["customer_id"] + [c for c in df.columns if c not in profile_cols]]
    customers_frame = profiles.merge(features, on="customer_id")
    defs = load_segment_definitions(SEGMENTS_YAML, field_kinds(customers_frame))
    segments = assign_segments(customers_frame, defs)
    return build_decision_input(profiles, features, segments)


@pytest.fixture(scope="module")
def shipped():
    inp = make_input({})
    defs = load_segment_definitions(SEGMENTS_YAML, SPEC_FIELD_KINDS)
    return load_rule_file(RULES_YAML, field_kinds(inp), SHIPPED_BLOCKS, known_segments=[d.name for d in defs])


def one(decisions: pd.DataFrame, customer_id: str = "cus_000000") -> dict:
    row = decisions.set_index("customer_id").loc[customer_id].to_dict()
    row["blocks"] = json.loads(row["blocks"])
    row["params"] = json.loads(row["params"])
    row["rules_fired"] = json.loads(row["rules_fired"])
    return row


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text.lstrip("\n"), encoding="utf-8")
    return p


def test_shipped_rule_file(shipped):
    assert shipped.campaign_id == "spring_2025"
    assert shipped.file_hash == hashlib.sha256(RULES_YAML.read_bytes()).hexdigest()
    assert [r.name for r in shipped.ranked] == ["cart_reminder", "vip_picks", "welcome", "winback_lapsed",
                                                "winback_at_risk", "browse_reminder", "reengage_unengaged"]
    assert shipped.fields == {"segments": "list"}   # only what the rules read is posted to the engine


def test_customer_matching_nothing_gets_defaults_without_crashing(tmp_path):
    # a fresh rule set whose very first fact matches no rule (a path that crashes durable_rules 2.0.28
    # when the state is deleted, unless handled as tailor.rules.engine does)
    inp = make_input({})
    rules = load_rule_file(RULES_YAML, field_kinds(inp), SHIPPED_BLOCKS)
    d = one(decide(inp, rules, DECIDED_AT))
    assert d["send"] is True or d["send"] == True  # noqa: E712 - numpy bool
    assert d["reason"] == "no_rule_matched"
    assert d["rules_fired"] == []
    assert d["blocks"] == {"hero": "hero_default", "main": "bestsellers"}
    assert d["params"] == {}
    assert d["subject"] == "New this spring at Tailor Shop, {{ first_name }}"


def test_vip_gets_hero_vip_and_the_vip_subject(shipped):
    out = decide(make_input({"frequency": 6, "total_spend": 640.0}), shipped, DECIDED_AT)
    d = one(out)
    assert d["send"] == True  # noqa: E712
    assert d["reason"] == "rule:vip_picks"
    assert d["rules_fired"] == ["vip_picks"]
    assert d["blocks"] == {"hero": "hero_vip", "main": "product_recommendations"}
    assert d["subject"] == "{{ first_name }}, a few picks just for you"
    assert d["campaign_id"] == "spring_2025" and d["rule_file_hash"] == shipped.file_hash
    assert d["decided_at"] == pd.Timestamp(DECIDED_AT)
    EmailDecisionsSchema.validate(out)


def test_shipped_priorities_layer_as_documented(shipped):
    # VIP (80) + lapsed (50) + cart abandoner (100): cart's subject and main, VIP's hero, lapsed's offer/note
    out = decide(make_input({"frequency": 7, "recency_days": 200.0, "cart_abandoned": True,
                             "abandoned_cart_products": '["P1"]'}), shipped, DECIDED_AT)
    d = one(out)
    assert d["rules_fired"] == ["cart_reminder", "vip_picks", "winback_lapsed"]
    assert d["reason"] == "rule:cart_reminder"
    assert d["subject"] == "You left something behind"
    assert d["blocks"] == {"hero": "hero_vip", "main": "abandoned_cart", "offer": "discount_offer",
                           "note": "reengagement_note"}
    assert d["params"] == {"discount_percent": 15, "discount_code": "COMEBACK15"}


def test_each_shipped_rule(shipped):
    inp = make_input(
        {"customer_id": "new", "tenure_days": 5.0, "order_count": 0, "recency_days": np.nan, "total_spend": 0.0},
        {"customer_id": "lapsed", "recency_days": 400.0},
        {"customer_id": "at_risk", "recency_days": 120.0},
        {"customer_id": "browser", "viewed_not_bought": '["P7","P8"]'},
        {"customer_id": "unengaged", "emails_delivered": 9, "email_opens": 0},
    )
    out = decide(inp, shipped, DECIDED_AT).set_index("customer_id")
    assert out.loc["new", "reason"] == "rule:welcome"
    assert json.loads(out.loc["new", "blocks"]) == {"hero": "hero_welcome", "main": "bestsellers"}
    assert out.loc["new", "subject"] == "Welcome to Tailor Shop, {{ first_name }}!"
    for who in ("lapsed", "at_risk"):
        assert json.loads(out.loc[who, "blocks"]) == {"hero": "hero_winback", "main": "bestsellers",
                                                      "offer": "discount_offer", "note": "reengagement_note"}
        assert json.loads(out.loc[who, "params"]) == {"discount_percent": 15, "discount_code": "COMEBACK15"}
    assert out.loc["lapsed", "reason"] == "rule:winback_lapsed"
    assert out.loc["at_risk", "reason"] == "rule:winback_at_risk"
    assert json.loads(out.loc["browser", "blocks"]) == {"hero": "hero_default", "main": "product_recommendations"}
    assert json.loads(out.loc["unengaged", "blocks"]) == {"hero": "hero_default", "main": "bestsellers",
                                                          "note": "reengagement_note"}


CONFLICT_RULES = """
campaign: {id: conflicts, name: Conflicts}
defaults:
  subject: Default subject
  hero: hero_default
  main: bestsellers
  params: {discount_code: BASE5, discount_percent: 5}
rules:
  - name: low
    priority: 10
    when: {total_spend: {gte: 100}}
    then:
      subject: Low subject
      hero: hero_winback
      offer: discount_offer
      params: {discount_percent: 20}
  - name: high
    priority: 90
    when: {total_spend: {gte: 500}}
    then:
      hero: hero_vip
      main: null
      params: {discount_code: null}
  - name: tie_first
    priority: 50
    when: {country: FR}
    then: {note: reengagement_note, subject: First of the tie}
  - name: tie_second
    priority: 50
    when: {country: FR}
    then: {subject: Second of the tie}
  - name: stop
    priority: 5
    when: {order_count: {gte: 10}}
    then: {send: false}
  - name: switched_off
    enabled: false
    priority: 1000
    when: {order_count: {gte: 0}}
    then: {send: false}
"""


def test_priority_conflicts_resolve_as_documented(tmp_path):
    inp = make_input(
        {"customer_id": "both", "total_spend": 800.0},
        {"customer_id": "low_only", "total_spend": 200.0},
        {"customer_id": "tie", "country": "FR"},
        {"customer_id": "stopped", "order_count": 12, "total_spend": 800.0},
    )
    rules = load_rule_file(write(tmp_path, "rules.yaml", CONFLICT_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    out = decide(inp, rules, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    both = one(out, "both")
    assert both["rules_fired"] == ["high", "low"]                  # firing order: highest priority first
    assert both["reason"] == "rule:high"
    assert both["blocks"] == {"hero": "hero_vip", "offer": "discount_offer"}   # main cleared by high
    assert both["subject"] == "Low subject"                         # high sets no subject: low's stays
    assert both["params"] == {"discount_percent": 20}               # merged; high removed the code
    low = one(out, "low_only")
    assert low["blocks"] == {"hero": "hero_winback", "main": "bestsellers", "offer": "discount_offer"}
    assert low["params"] == {"discount_code": "BASE5", "discount_percent": 20}
    tie = one(out, "tie")
    assert tie["rules_fired"] == ["tie_first", "tie_second"]        # equal priority: first in the file wins
    assert tie["reason"] == "rule:tie_first" and tie["subject"] == "First of the tie"
    stopped = one(out, "stopped")
    assert stopped["send"] == False  # noqa: E712 - a rule may say "do not send"
    assert stopped["reason"] == "rule:high" and stopped["rules_fired"] == ["high", "low", "stop"]
    assert "switched_off" not in json.dumps(out["rules_fired"].tolist())


def test_gates_block_sending_but_keep_the_rules_fired(shipped):
    vip = {"frequency": 6}
    inp = make_input(
        {"customer_id": "no_consent", **vip, "marketing_consent": False},
        {"customer_id": "consent_unknown", **vip, "marketing_consent": None},
        {"customer_id": "bounced", **vip, "suppressed_reason": "bounce"},
        {"customer_id": "no_email", **vip, "email": None, "suppressed_reason": "bounce", "marketing_consent": False},
        {"customer_id": "blank_email", **vip, "email": "  "},
        {"customer_id": "fine", **vip},
    )
    out = decide(inp, shipped, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    got = {r.customer_id: (bool(r.send), r.reason, json.loads(r.rules_fired)) for r in out.itertuples()}
    assert got == {
        "no_consent": (False, "no_consent", ["vip_picks"]),
        "consent_unknown": (False, "no_consent", ["vip_picks"]),
        "bounced": (False, "suppressed:bounce", ["vip_picks"]),
        "no_email": (False, "no_email", ["vip_picks"]),            # no email beats suppression and consent
        "blank_email": (False, "no_email", ["vip_picks"]),
        "fine": (True, "rule:vip_picks", ["vip_picks"]),
    }
    # content is still decided (useful to see what they would have got)
    assert json.loads(out.set_index("customer_id").loc["no_consent", "blocks"])["hero"] == "hero_vip"


def test_decide_needs_the_gate_columns(shipped):
    inp = make_input({}).drop(columns=["marketing_consent"])
    with pytest.raises(ValueError, match="marketing_consent"):
        decide(inp, shipped, DECIDED_AT)


def test_aware_decided_at_is_stored_as_utc(shipped):
    at = datetime(2025, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    out = decide(make_input({}), shipped, at)
    assert out["decided_at"].iloc[0] == pd.Timestamp("2025-03-01 06:00:00")
    assert str(out["decided_at"].dtype) == "datetime64[ns]"


ENGINE_RULES = """
campaign: {id: engine_check}
defaults: {subject: Hi, hero: hero_default}
rules:
  - {name: r_gt, priority: 20, when: {recency_days: {gt: 60}}, then: {main: bestsellers}}
  - {name: r_ne, priority: 19, when: {country: {ne: DE}}, then: {main: bestsellers}}
  - {name: r_not, priority: 18, when: {not: {recency_days: {gt: 60}}}, then: {main: bestsellers}}
  - {name: r_not_in, priority: 17, when: {country: {not_in: [DE, AT]}}, then: {main: bestsellers}}
  - {name: r_not_not_in, priority: 16, when: {not: {country: {not_in: [DE, AT]}}}, then: {main: bestsellers}}
  - {name: r_null, priority: 15, when: {top_category: {is_null: true}}, then: {main: bestsellers}}
  - {name: r_list, priority: 14, when: {viewed_not_bought: {contains: P2}}, then: {main: bestsellers}}
  - {name: r_not_list, priority: 13, when: {viewed_not_bought: {not_contains: P2}}, then: {main: bestsellers}}
  - {name: r_empty, priority: 12, when: {viewed_not_bought: {is_empty: true}}, then: {main: bestsellers}}
  - {name: r_bool, priority: 11, when: {cart_abandoned: true}, then: {main: bestsellers}}
  - {name: r_not_bool, priority: 10, when: {not: {cart_abandoned: true}}, then: {main: bestsellers}}
  - {name: r_date, priority: 9, when: {last_order_at: {between: [2024-06-01, 2024-12-31]}}, then: {main: bestsellers}}
  - {name: r_any, priority: 8, when: {any: [{in_segment: vip}, {total_spend: {lt: 10.5}}]}, then: {main: bestsellers}}
  - {name: r_not_all, priority: 7, when: {not: {all: [{order_count: {gte: 1}}, {country: [DE]}]}}, then: {main: bestsellers}}
  - {name: r_tiny, priority: 6, when: {open_rate: {lt: 0.001}}, then: {main: bestsellers}}
"""


def test_durable_rules_and_pandas_agree_on_every_operator(tmp_path):
    nan = np.nan
    inp = make_input(
        {"recency_days": 90.0, "country": "DE", "top_category": None, "viewed_not_bought": '["P1","P2"]',
         "cart_abandoned": True, "last_order_at": pd.Timestamp("2024-07-01"), "total_spend": 5.0},
        {"recency_days": nan, "country": None, "viewed_not_bought": "[]", "cart_abandoned": None,
         "last_order_at": pd.NaT, "order_count": 0},
        {"recency_days": 10.0, "country": "FR", "viewed_not_bought": ["P3"], "cart_abandoned": False,
         "last_order_at": pd.Timestamp("2025-02-01"), "frequency": 9},
        {"recency_days": 60.0, "country": "AT", "viewed_not_bought": None, "total_spend": 10.5},
    )
    inp["open_rate"] = [0.00002, nan, 0.5, 0.0]     # 2e-05 must not break the engine's JSON parser
    rules = load_rule_file(write(tmp_path, "engine.yaml", ENGINE_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    fired = rules.fire(build_facts(inp, rules.fields))
    for i, names in enumerate(fired):
        expected = [r.name for r in rules.ranked if evaluate(r.condition, inp.iloc[[i]]).iloc[0]]
        assert list(names) == expected, f"customer {i}"
    # hand-checked for the first two customers
    assert list(fired[0]) == ["r_gt", "r_not_not_in", "r_null", "r_list", "r_bool", "r_date", "r_any", "r_tiny"]
    assert list(fired[1]) == ["r_not", "r_not_not_in", "r_not_list", "r_empty", "r_not_bool", "r_not_all"]


def test_facts_are_json_ready(tmp_path):
    inp = make_input({"recency_days": np.nan, "viewed_not_bought": '["P1"]', "top_category": None})
    inp["order_count"] = inp["order_count"].astype("int64")
    facts = build_facts(inp, {"recency_days": "number", "order_count": "number", "viewed_not_bought": "list",
                              "abandoned_cart_products": "list", "last_order_at": "datetime",
                              "top_category": "string", "cart_abandoned": "boolean", "segments": "list"})
    assert facts == [{"order_count": 1.0, "viewed_not_bought": ["P1"], "last_order_at": 1738195200.0,
                      "cart_abandoned": False, "segments": ["browse_abandoners"]}]   # NaN, None, [] omitted
    json.dumps(facts)


def test_three_thousand_customers_in_one_call_state_is_deleted(shipped):
    rng = np.random.default_rng(7)
    n = 3000
    rows = [{"customer_id": f"cus_{i:06d}",
             "frequency": int(rng.integers(0, 8)), "total_spend": float(rng.random() * 1500),
             "recency_days": float(rng.random() * 400) if rng.random() < 0.8 else np.nan,
             "tenure_days": float(rng.random() * 700), "cart_abandoned": bool(rng.random() < 0.1),
             "viewed_not_bought": '["P1"]' if rng.random() < 0.3 else "[]",
             "emails_delivered": int(rng.integers(0, 9)), "email_opens": int(rng.integers(0, 4)),
             "marketing_consent": bool(rng.random() < 0.9)} for i in range(n)]
    inp = make_input(*rows)
    out = decide(inp, shipped, DECIDED_AT)
    assert len(out) == n and list(out.columns) == list(EMAIL_DECISIONS_COLUMNS)
    EmailDecisionsSchema.validate(out)
    # every customer got exactly the rules whose condition holds, highest priority first
    masks = {r.name: evaluate(r.condition, inp).to_numpy() for r in shipped.ranked}
    expected = [json.dumps([r.name for r in shipped.ranked if masks[r.name][i]], separators=(",", ":"))
                for i in range(n)]
    assert out["rules_fired"].tolist() == expected
    assert out["reason"].str.startswith("rule:").sum() > 2000
    # no state is left behind: the engine knows none of the sessions it used
    engine = shipped.engine
    for sid in ("1", str(engine._sid // 2), str(engine._sid)):
        with pytest.raises(Exception, match="309"):
            engine.host.get_state(engine.name, sid)
    # and it keeps working for the next batch
    again = decide(inp, shipped, DECIDED_AT)
    pd.testing.assert_frame_equal(out, again)


def test_private_hosts_start_no_threads_and_do_not_interfere(tmp_path):
    inp = make_input({"frequency": 6})
    before = threading.active_count()
    a = load_rule_file(RULES_YAML, field_kinds(inp), SHIPPED_BLOCKS)
    b = load_rule_file(write(tmp_path, "b.yaml", CONFLICT_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    ra, rb = decide(inp, a, DECIDED_AT), decide(inp, b, DECIDED_AT)
    assert a.engine.name != b.engine.name
    assert threading.active_count() == before
    assert one(ra)["reason"] == "rule:vip_picks" and one(rb)["reason"] == "no_rule_matched"


def test_decisions_per_second(shipped, capsys):
    rng = np.random.default_rng(3)
    n = 20000
    base = make_input({})
    inp = pd.concat([base] * n, ignore_index=True)
    inp["customer_id"] = [f"cus_{i:06d}" for i in range(n)]
    seg_pool = [["vip"], ["vip", "lapsed"], ["cart_abandoners", "vip"], [], ["new_customers"], ["browse_abandoners"],
                ["at_risk", "unengaged"]]
    inp["segments"] = [list(seg_pool[k]) for k in rng.integers(0, len(seg_pool), n)]
    t = time.perf_counter()
    out = decide(inp, shipped, DECIDED_AT)
    rate = n / (time.perf_counter() - t)
    with capsys.disabled():
        print(f"\n[decide] {n} customers: {rate:,.0f} decisions/s")
    assert len(out) == n
    assert rate > 3000   # measured ~19,000/s on one core; a loose floor keeps slow CI machines green


def test_build_decision_input_joins_and_lists_segments():
    profiles = pd.DataFrame({"customer_id": ["a", "b", "c"], "email": ["a@x", "b@x", None]})
    features = pd.DataFrame({"customer_id": ["c", "a", "b"], "order_count": [0, 3, 1]})
    segments = pd.DataFrame({"customer_id": ["a", "a", "c"], "segment": ["vip", "lapsed", "vip"]})
    out = build_decision_input(profiles, features, segments)
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    assert out["order_count"].tolist() == [3, 1, 0]
    assert out["segments"].tolist() == [["vip", "lapsed"], [], ["vip"]]
    assert field_kinds(out)["segments"] == "list"
    # an already-joined customers frame + segments
    joined = profiles.merge(features, on="customer_id")
    assert build_decision_input(joined, segments=segments)["segments"].tolist() == [["vip", "lapsed"], [], ["vip"]]
    assert build_decision_input(joined, segments=segments.iloc[0:0])["segments"].tolist() == [[], [], []]


BAD_RULES = """
campaign:
  id: spring_2025
defaults:
  subject: Hello {{ first_name }}
  hero: hero_default
rules:
  - name: vip
    priority: 80
    when:
      lifetime_vlaue: {gt: 500}
    then:
      hero: hero_vipp
  - name: lapsed
    priority: high
    when:
      recency_days: {gt: "abc"}
    then:
      main: discount_offer
  - name: vip
    priority: 10
    when:
      frequency: {atleast: 3}
    then:
      heor: hero_vip
      subject: "Hi {{ frist_name }}"
  - name: no_then
    priority: 5
    when: {in_segment: vip}
"""


def test_rule_file_errors_name_file_line_and_problem(tmp_path):
    p = write(tmp_path, "email_rules.yaml", BAD_RULES)
    with pytest.raises(RuleFileError) as exc:
        load_rule_file(p, SPEC_FIELD_KINDS, SHIPPED_BLOCKS)
    err = exc.value
    msg = str(err)
    assert err.path == str(p) and err.line == 10
    expected = [
        f"{p}:10: unknown field 'lifetime_vlaue' — did you mean monetary_value?",
        f"{p}:12: rule 'vip': unknown block 'hero_vipp' for slot 'hero' — did you mean hero_vip?",
        f"{p}:14: rule 'lapsed': priority must be a whole number such as 50, got text 'high'",
        f"{p}:16: wrong type for 'recency_days' (gt): recency_days is a number field but got text 'abc'",
        f"{p}:18: rule 'lapsed': block 'discount_offer' belongs in slot 'offer', not 'main'",
        f"{p}:19: duplicate rule name 'vip' (first defined on line 7)",
        f"{p}:22: unknown operator 'atleast' on field 'frequency' — did you mean gte?",
        f"{p}:24: rule 'vip': unknown slot or setting 'heor' — did you mean hero?",
        f"{p}:25: rule 'vip': unknown placeholder {{{{ frist_name }}}} in the subject — did you mean first_name?",
        f"{p}:26: rule 'no_then': missing required key `then`",
    ]
    for line in expected:
        assert line in msg, line
    assert len(err.problems) == len(expected)


def test_missing_sections_and_bad_values(tmp_path):
    p = write(tmp_path, "r.yaml", """
campaign: {name: no id}
defaults:
  hero: hero_default
  send: yes
  params: {discount_percent: 150, discount_cod: X}
rule:
  - name: a
""")
    with pytest.raises(RuleFileError) as exc:
        load_rule_file(p, SPEC_FIELD_KINDS, SHIPPED_BLOCKS)
    msg = str(exc.value)
    assert f"{p}:1: campaign: missing required key `id`" in msg
    assert f"{p}:2: defaults: missing required key `subject`" in msg
    assert f"{p}:4: defaults: send must be true or false, got text 'yes'" in msg
    assert f"{p}:5: defaults: discount_percent must be above 0 and at most 100, got 150" in msg
    assert f"{p}:5: defaults: unknown param 'discount_cod' — did you mean discount_code?" in msg
    assert f"{p}:6: unknown key 'rule' — did you mean rules?" in msg
    assert "missing required key `rules:`" in msg


def test_unknown_segment_is_reported_when_segments_are_known(tmp_path):
    p = write(tmp_path, "r.yaml", """
campaign: {id: c1}
defaults: {subject: Hi}
rules:
  - name: a
    priority: 1
    when: {in_segment: vipp}
    then: {hero: hero_vip}
""")
    with pytest.raises(RuleFileError, match=rf"{p.name}:6: unknown segment 'vipp' — did you mean vip\?"):
        load_rule_file(p, SPEC_FIELD_KINDS, SHIPPED_BLOCKS, known_segments=["vip", "lapsed"])


def test_facts_used_records_exactly_the_fields_the_rules_read(tmp_path):
    rules = write(tmp_path, "r.yaml", """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default, main: bestsellers}
rules:
  - name: big
    priority: 10
    when:
      all:
        - total_spend: {gte: 500}
        - last_order_at: {gte: 2025-01-01}
        - top_category: {not_null: true}
    then: {hero: hero_vip}
  - name: cart
    priority: 5
    when: {any: [{cart_abandoned: true}, {in_segment: vip}, {viewed_not_bought: {contains: P1}}]}
    then: {main: abandoned_cart}
  - name: off
    priority: 1
    enabled: false
    when: {country: DE}
    then: {hero: hero_welcome}
""")
    inp = make_input({"customer_id": "a", "total_spend": 800.0, "frequency": 6, "viewed_not_bought": '["P1","P2"]'},
                     {"customer_id": "b", "total_spend": np.nan, "top_category": None, "last_order_at": pd.NaT,
                      "order_count": 0})
    ruleset = load_rule_file(rules, field_kinds(inp), SHIPPED_BLOCKS)
    out = decide(inp, ruleset, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    a, b = (json.loads(x) for x in out["facts_used"])
    # the fields of the active rules only (country belongs to a switched-off rule), with the customer's values
    assert a == {"cart_abandoned": False, "last_order_at": "2025-01-30T00:00:00", "segments": ["vip", "browse_abandoners"],
                 "top_category": "shoes", "total_spend": 800.0, "viewed_not_bought": ["P1", "P2"]}
    assert b == {"cart_abandoned": False, "last_order_at": None, "segments": ["never_purchased"], "top_category": None,
                 "total_spend": None, "viewed_not_bought": []}
    assert one(out, "a")["rules_fired"] == ["big", "cart"]
    assert out["experiment"].isna().all() and out["variant"].isna().all()


def test_facts_used_masks_an_email_field_and_keeps_ints(tmp_path):
    rules = write(tmp_path, "r.yaml", """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default}
rules:
  - name: r
    priority: 1
    when: {all: [{email: {not_null: true}}, {order_count: {gte: 1}}]}
    then: {hero: hero_vip}
""")
    inp = make_input({"email": "anna.k@example.com", "order_count": 3})
    out = decide(inp, load_rule_file(rules, field_kinds(inp), SHIPPED_BLOCKS), DECIDED_AT)
    assert json.loads(out["facts_used"].iloc[0]) == {"email": "a***@example.com", "order_count": 3}
    assert "anna.k@" not in out["facts_used"].iloc[0]


def test_schema_requires_the_provenance_columns(shipped):
    out = decide(make_input({"frequency": 6}), shipped, DECIDED_AT)
    assert list(out.columns) == list(EMAIL_DECISIONS_COLUMNS)
    assert {"facts_used", "experiment", "variant", "rules_fired", "rule_file_hash"} <= set(out.columns)
    assert json.loads(out["facts_used"].iloc[0]) == {"segments": ["vip"]}
    with pytest.raises(Exception, match="facts_used"):
        EmailDecisionsSchema.validate(out.drop(columns=["facts_used"]))
    bad = out.copy()
    bad["facts_used"] = "[1]"
    with pytest.raises(Exception, match="json_object"):
        EmailDecisionsSchema.validate(bad)


EXPERIMENT_RULES = """
campaign: {id: c1}
defaults: {subject: "Default", hero: hero_default, main: bestsellers}
rules:
  - name: cart
    priority: 100
    when: {in_segment: cart_abandoners}
    then: {main: abandoned_cart}
  - name: vip_test
    priority: 80
    when: {in_segment: vip}
    then: {hero: hero_vip, subject: "Rule subject"}
    experiment:
      name: vip_subject_test
      holdout: 0.1
      variants:
        - {name: a, weight: 1, subject: "Subject A"}
        - {name: b, weight: 3, subject: "Subject B", hero: hero_default, params: {discount_percent: 5}}
  - name: lapsed_test
    priority: 50
    when: {in_segment: lapsed}
    experiment:
      name: lapsed_offer
      variants:
        - {name: with_offer, offer: discount_offer}
        - {name: plain}
"""


def _vips(n: int, start: int = 0) -> pd.DataFrame:
    inp = make_input({"frequency": 6})
    out = pd.concat([inp] * n, ignore_index=True)
    out["customer_id"] = [f"cus_{i:06d}" for i in range(start, start + n)]
    return out


@pytest.fixture(scope="module")
def experiment_rules(tmp_path_factory):
    p = tmp_path_factory.mktemp("exp") / "rules.yaml"
    p.write_text(EXPERIMENT_RULES.lstrip(), encoding="utf-8")
    return load_rule_file(p, field_kinds(make_input({})), SHIPPED_BLOCKS)


def test_experiment_variants_apply_on_top_of_the_rule_and_holdout_is_never_sent(experiment_rules):
    out = decide(_vips(2000), experiment_rules, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    assert set(out["experiment"]) == {"vip_subject_test"}
    rows = {v: out[out["variant"] == v] for v in ("a", "b", "holdout")}
    a, b, held = (rows[k].iloc[0] for k in ("a", "b", "holdout"))
    assert a["subject"] == "Subject A" and json.loads(a["blocks"])["hero"] == "hero_vip" and bool(a["send"])
    assert b["subject"] == "Subject B" and json.loads(b["blocks"])["hero"] == "hero_default"
    assert json.loads(b["params"]) == {"discount_percent": 5}
    assert a["reason"] == b["reason"] == "rule:vip_test"
    # holdout: the rule's own `then`, never sent, reason names the experiment
    assert not rows["holdout"]["send"].any()
    assert set(rows["holdout"]["reason"]) == {"holdout:vip_subject_test"}
    assert held["subject"] == "Rule subject" and json.loads(held["rules_fired"]) == ["vip_test"]


def test_experiment_assignment_is_sticky(experiment_rules):
    first = decide(_vips(3000), experiment_rules, DECIDED_AT).set_index("customer_id")["variant"]
    again = decide(_vips(3000), experiment_rules, DECIDED_AT).set_index("customer_id")["variant"]
    pd.testing.assert_series_equal(first, again)
    # more customers, in another order: the first 3000 keep their variant
    grown = _vips(6000).sample(frac=1.0, random_state=5)
    bigger = decide(grown, experiment_rules, DECIDED_AT + timedelta(days=3)).set_index("customer_id")["variant"]
    pd.testing.assert_series_equal(bigger.loc[first.index], first)
    # it depends only on (experiment name, customer id)
    exp = experiment_rules.experiment_rules[0].experiment
    assert [exp.assign(c) for c in first.index[:50]] == first.iloc[:50].tolist()


def test_experiment_proportions_on_twenty_thousand_customers(experiment_rules):
    n = 20000
    out = decide(_vips(n), experiment_rules, DECIDED_AT)
    share = out["variant"].value_counts() / n
    assert abs(share["holdout"] - 0.10) < 0.01
    assert abs(share["a"] - 0.90 * 0.25) < 0.015
    assert abs(share["b"] - 0.90 * 0.75) < 0.015
    assert not out.loc[out["variant"] == "holdout", "send"].any()
    assert out.loc[out["variant"] != "holdout", "send"].all()


def test_changing_the_holdout_does_not_reshuffle_variants(experiment_rules):
    exp = experiment_rules.experiment_rules[0].experiment
    from dataclasses import replace
    bigger_holdout = replace(exp, holdout=0.3)
    ids = [f"cus_{i:06d}" for i in range(5000)]
    before = [exp.assign(c) for c in ids]
    after = [bigger_holdout.assign(c) for c in ids]
    assert all(x == y for x, y in zip(before, after) if y != "holdout")          # variants kept
    assert all(y == "holdout" for x, y in zip(before, after) if x == "holdout")   # holdout only grows


def test_one_experiment_per_customer_the_highest_priority_one(experiment_rules):
    inp = make_input({"customer_id": "lapsed_vip", "frequency": 6, "recency_days": 300.0},
                     {"customer_id": "lapsed", "recency_days": 300.0},
                     {"customer_id": "cart_vip", "frequency": 6, "cart_abandoned": True},
                     {"customer_id": "plain"})
    out = decide(inp, experiment_rules, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    got = out.set_index("customer_id")
    assert got.loc["lapsed_vip", "experiment"] == "vip_subject_test"
    assert got.loc["lapsed", "experiment"] == "lapsed_offer"
    assert got.loc["lapsed", "variant"] in ("with_offer", "plain")
    lapsed_blocks = json.loads(got.loc["lapsed", "blocks"])
    assert ("offer" in lapsed_blocks) == (got.loc["lapsed", "variant"] == "with_offer")
    # the experiment of a rule that is not the highest fired still applies (cart outranks vip_test)
    assert got.loc["cart_vip", "experiment"] == "vip_subject_test"
    assert pd.isna(got.loc["plain", "experiment"]) and pd.isna(got.loc["plain", "variant"])


def test_gates_beat_the_holdout_reason_but_keep_the_assignment(experiment_rules):
    inp = _vips(400)
    inp["marketing_consent"] = False
    out = decide(inp, experiment_rules, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    assert set(out["reason"]) == {"no_consent"} and not out["send"].any()
    assert (out["variant"] == "holdout").sum() > 10       # still recorded, for the analysis


def test_schema_rejects_a_holdout_that_is_sent(experiment_rules):
    out = decide(_vips(300), experiment_rules, DECIDED_AT)
    bad = out.copy()
    bad.loc[bad["variant"] == "holdout", "send"] = True
    with pytest.raises(Exception, match="holdout_never_sent"):
        EmailDecisionsSchema.validate(bad)
    bad = out.copy()
    bad.loc[0, "variant"] = None
    with pytest.raises(Exception, match="experiment_and_variant_together"):
        EmailDecisionsSchema.validate(bad)


def test_experiment_mistakes_name_file_and_line(tmp_path):
    p = write(tmp_path, "r.yaml", """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default}
rules:
  - name: one
    priority: 2
    when: {in_segment: vip}
    experiment:
      name: test
      holdout: 1
      colour: blue
      variants:
        - {name: a, weight: 0}
        - {name: a, weight: -1}
        - {name: holdout}
        - {name: c, weight: "1", hero: hero_vipp}
  - name: two
    priority: 1
    when: {in_segment: vip}
    experiment: {name: test, holdout: "10%", variants: []}
  - name: three
    priority: 1
    when: {in_segment: vip}
    experiment: {name: other}
""")
    with pytest.raises(RuleFileError) as exc:
        load_rule_file(p, SPEC_FIELD_KINDS, SHIPPED_BLOCKS)
    msg = str(exc.value)
    expected = [
        f"{p}:9: rule 'one', experiment 'test': holdout must be a number from 0 up to (not including) 1, got number 1; write a share, e.g. 0.01 for 1%",
        f"{p}:10: rule 'one': unknown key 'colour' in the experiment",
        f"{p}:12: rule 'one', experiment 'test', variant 'a': weight must be a number above 0",
        f"{p}:13: rule 'one', experiment 'test': duplicate variant name 'a' (first defined on line 12)",
        f"{p}:13: rule 'one', experiment 'test', variant 'a': weight must be a number above 0",
        f"{p}:14: rule 'one', experiment 'test': 'holdout' cannot be a variant name",
        f"{p}:15: rule 'one', experiment 'test', variant 'c': weight must be a number above 0 (the variant's share is its weight / the sum of weights), got text '1'",
        f"{p}:15: rule 'one', experiment 'test', variant 'c': unknown block 'hero_vipp' for slot 'hero' — did you mean hero_vip?",
        f"{p}:19: rule 'two': duplicate experiment name 'test' (first defined on line 8)",
        f"{p}:19: rule 'two', experiment 'test': holdout must be a number from 0 up to (not including) 1, got text '10%'; write a share such as 0.1 for 10%",
        f"{p}:19: rule 'two', experiment 'test': `variants:` must be a list with at least one variant (`- name: a`), got an empty list",
        f"{p}:23: rule 'three', experiment 'other': missing required key `variants`",
    ]
    for line in expected:
        assert line in msg, line
    assert len(exc.value.problems) == len(expected)


def test_decisions_per_second_with_provenance_and_an_experiment(experiment_rules, capsys):
    rng = np.random.default_rng(11)
    n = 20000
    base = make_input({})
    inp = pd.concat([base] * n, ignore_index=True)
    inp["customer_id"] = [f"cus_{i:06d}" for i in range(n)]
    pool = [["vip"], ["vip", "lapsed"], ["cart_abandoners", "vip"], [], ["lapsed"], ["browse_abandoners"]]
    inp["segments"] = [list(pool[k]) for k in rng.integers(0, len(pool), n)]
    decide(inp.head(5), experiment_rules, DECIDED_AT)
    t = time.perf_counter()
    out = decide(inp, experiment_rules, DECIDED_AT)
    rate = n / (time.perf_counter() - t)
    with capsys.disabled():
        print(f"\n[decide + experiments + facts_used] {n} customers: {rate:,.0f} decisions/s")
    assert len(out) == n and out["experiment"].notna().sum() > n // 2
    assert rate > 3000   # same loose floor as test_decisions_per_second (measured: see the report)


def _unreachable(tmp_path, rules_text: str) -> list[str]:
    from tailor.rules.reachability import unreachable_rules

    defs = load_segment_definitions(SEGMENTS_YAML, SPEC_FIELD_KINDS)
    rs = load_rule_file(write(tmp_path, "r.yaml", rules_text), SPEC_FIELD_KINDS, SHIPPED_BLOCKS,
                        known_segments=[d.name for d in defs])
    return [u.rule.name for u in unreachable_rules(rs, {d.name: d.condition for d in defs})]


HEAD = """
campaign: {id: c1}
defaults: {subject: Hi, hero: hero_default, main: bestsellers}
rules:
"""


def test_unreachable_rules_are_found(tmp_path):
    rules = HEAD + """
  - {name: vip, priority: 80, when: {in_segment: vip}, then: {hero: hero_vip, main: product_recommendations}}
  - {name: vip_again, priority: 70, when: {in_segment: vip}, then: {hero: hero_welcome}}
  - {name: rich, priority: 60, when: {total_spend: {gte: 5000}}, then: {main: bestsellers}}
  - {name: rich_de, priority: 60, when: {all: [{total_spend: {gte: 5000}}, {country: DE}]}, then: {hero: hero_winback}}
  - {name: lapsed, priority: 50, when: {recency_days: {gt: 180}}, then: {hero: hero_winback, note: reengagement_note}}
  - {name: very_lapsed, priority: 40, when: {in_segment: lapsed, recency_days: {gt: 365}}, then: {note: reengagement_note}}
  - {name: tie_first, priority: 30, when: {country: [DE, AT]}, then: {offer: discount_offer}}
  - {name: tie_second, priority: 30, when: {country: DE}, then: {offer: discount_offer}}
"""
    assert _unreachable(tmp_path, rules) == ["vip_again", "rich", "rich_de", "very_lapsed", "tie_second"]


def test_rules_that_still_change_something_are_not_unreachable(tmp_path):
    rules = HEAD + """
  - {name: vip, priority: 80, when: {in_segment: vip}, then: {hero: hero_vip}}
  - {name: vip_main, priority: 70, when: {in_segment: vip}, then: {hero: hero_welcome, main: product_recommendations}}
  - {name: wider, priority: 60, when: {in_segment: [vip, lapsed]}, then: {hero: hero_winback}}
  - {name: params, priority: 50, when: {in_segment: vip}, then: {params: {discount_code: X}}}
  - {name: lower, priority: 40, when: {total_spend: {gte: 500}}, then: {hero: hero_winback}}
  - {name: not_vip, priority: 30, when: {not: {in_segment: vip}}, then: {hero: hero_winback}}
  - name: held_out
    priority: 20
    when: {in_segment: vip}
    experiment: {name: e1, holdout: 0.1, variants: [{name: a}]}
"""
    assert _unreachable(tmp_path, rules) == []


def test_shipped_rules_have_no_unreachable_rule(shipped):
    from tailor.rules.reachability import unreachable_rules

    defs = load_segment_definitions(SEGMENTS_YAML, SPEC_FIELD_KINDS)
    assert unreachable_rules(shipped, {d.name: d.condition for d in defs}) == []


# reads a feature (total_spend) and a segment, so that "no features used" is visible in facts_used
CONSENT_RULES = """
campaign: {id: c1}
defaults: {subject: "Hello", hero: hero_default, main: bestsellers, send: true}
rules:
  - name: big_spender
    priority: 90
    when: {total_spend: {gte: 500}}
    then: {hero: hero_vip, subject: "Big"}
  - name: vip_test
    priority: 80
    when: {in_segment: vip}
    then: {main: product_recommendations}
    experiment:
      name: vip_exp
      variants: [{name: a}, {name: b, subject: "B"}]
"""


def test_without_personalization_consent_the_defaults_apply_and_nothing_is_read(tmp_path):
    vip = {"frequency": 6, "total_spend": 900.0}
    inp = make_input(
        {"customer_id": "allowed", **vip, "personalization_consent": True},
        {"customer_id": "revoked", **vip, "personalization_consent": False},
        {"customer_id": "unknown", **vip, "personalization_consent": None},       # only an explicit true counts
        {"customer_id": "revoked_no_mail", **vip, "personalization_consent": False, "marketing_consent": False},
    )
    rules = load_rule_file(write(tmp_path, "r.yaml", CONSENT_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    out = decide(inp, rules, DECIDED_AT)
    EmailDecisionsSchema.validate(out)
    got = {r.customer_id: (bool(r.send), r.reason, r.subject, json.loads(r.blocks), json.loads(r.rules_fired),
                           json.loads(r.facts_used), r.experiment) for r in out.itertuples()}
    allowed = got.pop("allowed")
    assert allowed[1] == "rule:big_spender" and allowed[4] == ["big_spender", "vip_test"]
    assert allowed[5] == {"segments": ["vip"], "total_spend": 900.0} and allowed[6] == "vip_exp"
    defaults = (True, "no_personalization_consent", "Hello", {"hero": "hero_default", "main": "bestsellers"}, [], {},
                None)
    assert got == {
        "revoked": defaults,
        "unknown": defaults,
        # the consent gate still decides whether to send (and its reason wins); the content stays the defaults
        "revoked_no_mail": (False, "no_consent", *defaults[2:]),
    }


def test_a_table_without_the_consent_column_is_refused_naming_it(tmp_path):
    inp = make_input({"frequency": 6, "total_spend": 900.0}).drop(columns=["personalization_consent"])
    rules = load_rule_file(write(tmp_path, "r.yaml", CONSENT_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    with pytest.raises(ValueError, match="no 'personalization_consent' column"):
        decide(inp, rules, DECIDED_AT)


def test_no_personalization_customers_are_never_posted_to_the_engine(tmp_path):
    inp = make_input(*({"customer_id": f"c{i}", "personalization_consent": i % 2 == 0} for i in range(10)))
    rules = load_rule_file(write(tmp_path, "r.yaml", CONSENT_RULES), field_kinds(inp), SHIPPED_BLOCKS)
    before = rules.engine._sid
    out = decide(inp, rules, DECIDED_AT)
    assert rules.engine._sid - before == 5         # one session per consenting customer only
    assert (out["reason"] == "no_personalization_consent").sum() == 5


def _mixed(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(23)
    rows = [{"customer_id": f"cus_{i:06d}", "frequency": int(rng.integers(0, 8)),
             "total_spend": float(rng.random() * 1500), "recency_days": float(rng.random() * 400),
             "cart_abandoned": bool(rng.random() < 0.2), "tenure_days": float(rng.random() * 700),
             "marketing_consent": bool(rng.random() < 0.9), "personalization_consent": bool(rng.random() < 0.9),
             "email": None if rng.random() < 0.05 else f"p{i}@example.com"} for i in range(n)]
    return make_input(*rows)


def test_several_processes_give_exactly_the_single_process_result(experiment_rules):
    inp = _mixed(3000).sample(frac=1.0, random_state=4).reset_index(drop=True)   # ids not sorted: order is kept
    single = decide(inp, experiment_rules, DECIDED_AT, workers=1)
    parallel = decide(inp, experiment_rules, DECIDED_AT, workers=2)    # 6 chunks of 375 over two processes
    pd.testing.assert_frame_equal(parallel, single)
    assert parallel["customer_id"].tolist() == inp["customer_id"].tolist()
    # the comparison covers every kind of outcome
    reasons = set(single["reason"])
    assert {"no_personalization_consent", "no_consent", "no_email", "no_rule_matched"} <= reasons
    assert any(r.startswith("holdout:") for r in reasons) and single["variant"].isin(["a", "b"]).any()
    EmailDecisionsSchema.validate(parallel)


def test_worker_counts(monkeypatch):
    from tailor.rules.decide import MIN_CUSTOMERS_PER_WORKER, chunk_size, decision_workers, plan_workers

    monkeypatch.setenv("TAILOR_DECISION_WORKERS", "3")
    assert decision_workers() == 3
    assert plan_workers(10_000, None) == 1                       # small bases stay in this process
    assert plan_workers(2 * MIN_CUSTOMERS_PER_WORKER, None) == 2
    assert plan_workers(1_000_000, None) == 3
    assert plan_workers(5, 8) == 5 and plan_workers(0, 2) == 1   # explicit counts: at most one per customer
    monkeypatch.delenv("TAILOR_DECISION_WORKERS")
    assert decision_workers() == len(__import__("os").sched_getaffinity(0))
    monkeypatch.setenv("TAILOR_DECISION_WORKERS", "zero")
    with pytest.raises(ValueError, match="TAILOR_DECISION_WORKERS must be a whole number"):
        decision_workers()
    with pytest.raises(ValueError, match="workers must be a whole number"):
        plan_workers(10, 0)
    assert chunk_size(1_000_000, 2) == 20_000 and chunk_size(3000, 2) == 375 and chunk_size(1, 2) == 1


def test_a_rule_set_travels_to_a_worker_without_its_engine(shipped):
    import pickle

    shipped.engine   # compiled here
    copy = pickle.loads(pickle.dumps(shipped))
    assert copy._engine is None and copy.file_hash == shipped.file_hash
    inp = make_input({"frequency": 6})
    pd.testing.assert_frame_equal(decide(inp, copy, DECIDED_AT), decide(inp, shipped, DECIDED_AT))
    assert copy.engine.name != shipped.engine.name     # its own host and ruleset


def test_a_changed_rule_file_applies_to_the_next_run_in_the_same_process(tmp_path, monkeypatch):
    """Materialize customer_segments + email_decisions, edit both rule files, materialize again: the second run
    uses the new files — same process, same Definitions object, nothing re-imported."""
    from dagster import AssetKey, materialize

    import tailor.definitions
    from resources.warehouse import DuckDBWarehouse

    rules = tmp_path / "rules"
    rules.mkdir()
    monkeypatch.setenv("TAILOR_RULES_DIR", str(rules))
    monkeypatch.setenv("TAILOR_WAREHOUSE_PATH", str(tmp_path / "wh.duckdb"))
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT", raising=False)
    defs = tailor.definitions.defs                      # built at import, before these rule files existed
    (rules / "segments.yaml").write_text(SEGMENTS_YAML.read_text())
    (rules / "email_rules.yaml").write_text(RULES_YAML.read_text())

    ids = ["cus_000001", "cus_000002"]
    inp = make_input({"customer_id": ids[0], "frequency": 6, "total_spend": 700.0},   # vip
                     {"customer_id": ids[1], "total_spend": 600.0})                    # vip only with >= 500
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    profile_cols = ["customer_id", *BASE_PROFILE]
    write_table(wh, "customer_profiles", inp[profile_cols])
    write_table(wh, "customer_features", inp[["customer_id", *BASE_FEATURES]])
    for table, frame in empty_joined_tables(ids):
        write_table(wh, table, frame)
    keys = [AssetKey("customer_segments"), AssetKey("email_decisions")]

    def run() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        # the assets as the Definitions object resolved them, with its resources bound
        result = materialize([defs.resolve_assets_def(k) for k in keys], selection=keys)
        assert result.success
        meta = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
        decisions = read_table(wh, "email_decisions").set_index("customer_id")
        return read_table(wh, "customer_segments"), decisions, meta

    segments, decisions, meta = run()
    assert sorted(segments.loc[segments["segment"] == "vip", "customer_id"]) == [ids[0]]
    assert decisions.loc[ids[0], "reason"] == "rule:vip_picks" and decisions.loc[ids[1], "reason"] == "no_rule_matched"
    old_hash = decisions.loc[ids[0], "rule_file_hash"]
    assert meta["email_decisions"]["rule_file_hash"].value == old_hash

    # marketing edits both files: vip from 500 EUR, and VIPs get the welcome hero
    (rules / "segments.yaml").write_text(SEGMENTS_YAML.read_text().replace("total_spend: {gte: 1000}",
                                                                           "total_spend: {gte: 500}"))
    new_rules = RULES_YAML.read_text().replace("      hero: hero_vip\n", "      hero: hero_welcome\n")
    assert new_rules != RULES_YAML.read_text()
    (rules / "email_rules.yaml").write_text(new_rules)

    segments, decisions, meta = run()
    assert sorted(segments.loc[segments["segment"] == "vip", "customer_id"]) == ids
    for cid in ids:
        assert decisions.loc[cid, "reason"] == "rule:vip_picks"
        assert json.loads(decisions.loc[cid, "blocks"])["hero"] == "hero_welcome"
        assert decisions.loc[cid, "rule_file_hash"] == hashlib.sha256(new_rules.encode()).hexdigest() != old_hash
    assert meta["email_decisions"]["rule_file_hash"].value == decisions.loc[ids[0], "rule_file_hash"]
    # the Definitions object holds where the rules are (an environment variable), never what they say
    content = defs.resources["content"]
    assert "hero_vip" not in repr(content) and "rules_dir" in repr(content)


