"""durable_rules' limits (docs/rules.md, "Limits"): rule files that used to crash, hang or break the engine are
decided, and a decision worker that dies fails the decision with its exit code instead of hanging the run.

The reproductions that used to crash the process (abort, exit 134) or hang it run in a child process
(:func:`tests.rules.hostile.decide_in_child`), so the test process survives them.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from tailor.rules.decide import decide
from tailor.rules.durable import FACT_MARKER, FACT_MARKER_VALUE
from tailor.rules.email_rules import load_rule_file
from tailor.rules.engine_plan import plan_engine, python_holds
from tailor.rules.evaluate import evaluate
from tailor.rules.facts import build_decision_input, build_facts
from tailor.rules.fields import field_kinds
from tailor.rules.limits import DURABLE_STACK, PLAN_STACK
from tests.rules.hostile import (
    ROOT,
    DyingRuleSet,
    alias_tree_rule,
    any_of_matching,
    decide_in_child,
    distinct_matching_rules,
    email_rules,
    segment_rules,
)
from tests.shipped import SHIPPED_BLOCKS

DECIDED_AT = datetime(2025, 3, 1, 6)
BIG_SPENDER = {"total_spend": 5000.0}


def _file(tmp_path, text: str):
    p = tmp_path / "email_rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _decided(tmp_path, text: str, customers, workers: int = 1) -> dict:
    code, answer, stderr = decide_in_child(_file(tmp_path, text), customers, workers=workers, timeout=240)
    assert code == 0, f"the child process died with exit code {code}: {stderr}"
    assert answer is not None and "error" not in answer, answer
    return answer


@pytest.mark.parametrize("n", [65, 300])
def test_many_rules_matching_one_customer_all_fire(tmp_path, n):
    # 65: munmap_chunk(): invalid pointer, exit 134; about 300: error 303
    answer = _decided(tmp_path, email_rules(distinct_matching_rules(n)), [BIG_SPENDER, {"total_spend": 10.0}])
    assert answer["rules_fired"][0] == [f"r{i}" for i in reversed(range(n))]     # highest priority first
    assert answer["rules_fired"][1] == [f"r{i}" for i in reversed(range(10))]
    assert answer["reason"][0] == f"rule:r{n - 1}"


def test_many_in_segment_rules_on_one_segment_all_fire(tmp_path):
    answer = _decided(tmp_path, email_rules(segment_rules(70)), [{"segments": ["vip"]}, {}])
    assert answer["rules_fired"] == [[f"s{i}" for i in reversed(range(70))], []]


def test_an_any_with_65_alternatives_that_hold_at_once(tmp_path):
    # error 303 when posting the customer
    answer = _decided(tmp_path, email_rules([any_of_matching(65)]), [BIG_SPENDER, {"total_spend": 0.5}])
    assert answer["rules_fired"] == [["wide"], []]


def test_a_729_test_alias_tree_is_decided(tmp_path):
    # nested all/any from aliases: error 113 when compiling the rule set
    answer = _decided(tmp_path, alias_tree_rule(6, 3), [BIG_SPENDER, {"total_spend": 0.5}])
    assert answer["rules_fired"] == [["aliased"], []]


def test_an_in_list_of_600_values_does_not_hang_the_engine(tmp_path):
    # 512 tests under one node: durable_rules loops forever compiling the rule set
    values = ", ".join(f"C{i}" for i in range(600))
    text = email_rules([f"{{name: many, priority: 1, when: {{top_category: [{values}]}}, then: {{hero: hero_vip}}}}"])
    answer = _decided(tmp_path, text, [{"top_category": "C599"}, {"top_category": "D"}, {}])
    assert answer["rules_fired"] == [["many"], [], []]


def test_300_rules_with_the_same_condition(tmp_path):
    # more than 256 rules ending on one node: error 108 when compiling
    rules = [f"{{name: same{i}, priority: {i}, when: {{total_spend: {{gte: 100}}}}, then: {{hero: hero_vip}}}}"
             for i in range(300)]
    answer = _decided(tmp_path, email_rules(rules), [BIG_SPENDER])
    assert len(answer["rules_fired"][0]) == 300 and answer["rules_fired"][0][0] == "same299"


def test_many_rules_are_decided_the_same_on_several_processes(tmp_path):
    text = email_rules(distinct_matching_rules(100) + segment_rules(60) + [any_of_matching(70)])
    customers = [{"total_spend": float(s), "segments": ["vip"] if s % 2 else []} for s in range(0, 120, 3)]
    one = _decided(tmp_path, text, customers, workers=1)
    two = _decided(tmp_path, text, customers, workers=2)
    assert one == two
    assert one["rules_fired"][-1][:3] == ["r99", "r98", "r97"] and "wide" in one["rules_fired"][-1]


def _ruleset(tmp_path, text: str, inp: pd.DataFrame):
    return load_rule_file(_file(tmp_path, text), field_kinds(inp), SHIPPED_BLOCKS)


def _input(rows: list[dict]) -> pd.DataFrame:
    base = {"email": "a@example.com", "marketing_consent": True, "suppressed_reason": None,
            "personalization_consent": True}
    frame = pd.DataFrame([{"customer_id": f"c{i}", **base, **r} for i, r in enumerate(rows)])
    return build_decision_input(frame)


def test_the_shipped_rules_are_one_durable_rules_rule_set():
    from tailor.rules.fields import spec_field_kinds

    rules = load_rule_file(ROOT / "rules" / "email_rules.yaml", spec_field_kinds(), SHIPPED_BLOCKS)
    plan = plan_engine(rules.ranked)
    assert len(plan.rulesets) == 1 and plan.in_python == ()
    assert plan.stack_bound <= PLAN_STACK < DURABLE_STACK


def test_wide_rules_are_split_over_rule_sets_within_the_stack_limit(tmp_path):
    inp = _input([BIG_SPENDER])
    rules = _ruleset(tmp_path, email_rules(distinct_matching_rules(200)), inp)
    plan = plan_engine(rules.ranked)
    assert len(plan.rulesets) >= 200 // PLAN_STACK
    assert all(group.stack_bound <= PLAN_STACK for group in plan.groups)
    # consecutive in rank order, every rule once
    assert [r.name for group in plan.rulesets for r in group] == [r.name for r in rules.ranked]


# Every operator, inside `any:`s too wide for durable_rules (so evaluated in Python) and as ordinary rules.
_OPERATORS = [
    "{recency_days: {gt: 30}}", "{recency_days: {ne: 90}}", "{country: {not_in: [DE, AT]}}", "{country: [FR, DE]}",
    "{top_category: {is_null: true}}", "{viewed_not_bought: {contains: P1}}", "{viewed_not_bought: {is_empty: true}}",
    "{cart_abandoned: true}", "{cart_abandoned: {ne: true}}", "{last_order_at: {gte: 2024-12-01}}",
    "{open_rate: {lt: 0.001}}", "{not: {country: {in: [DE]}}}", "{not: {viewed_not_bought: {contains: P2}}}",
    "{not: {all: [{recency_days: {between: [10, 60]}}, {country: {ne: FR}}]}}",
]


def test_python_and_durable_rules_and_pandas_agree_on_every_operator(tmp_path):
    rng = np.random.default_rng(11)
    rows = [{"recency_days": rng.choice([np.nan, 10.0, 30.0, 60.0, 90.0, 200.0]),
             "country": rng.choice([None, "DE", "AT", "FR"]), "top_category": rng.choice([None, "shoes"]),
             "viewed_not_bought": rng.choice(["[]", '["P1"]', '["P1","P2"]', '["P3"]']),
             "cart_abandoned": rng.choice([None, True, False]), "open_rate": rng.choice([np.nan, 0.00002, 0.5]),
             "last_order_at": rng.choice([pd.NaT, pd.Timestamp("2024-07-01"), pd.Timestamp("2025-02-01")]),
             "total_spend": rng.choice([0.5, 10.0, 100.0])}
            for _ in range(300)]
    inp = _input(rows)
    plain = [f"{{name: op{i}, priority: {100 + i}, when: {op}, then: {{hero: hero_vip}}}}"
             for i, op in enumerate(_OPERATORS)]
    padding = ", ".join(f"{{total_spend: {{gte: {k + 1}}}}}" for k in range(70))     # 70 alternatives: too wide
    wide = [f"{{name: wide{i}, priority: {i}, when: {{any: [{op}, {padding}]}}, then: {{hero: hero_vip}}}}"
            for i, op in enumerate(_OPERATORS)]
    rules = _ruleset(tmp_path, email_rules(plain + wide), inp)
    plan = plan_engine(rules.ranked)
    assert {r.name for r in plan.in_python} == {f"wide{i}" for i in range(len(_OPERATORS))}
    facts = build_facts(inp, rules.fields)
    fired = rules.fire(facts)
    by_name = {r.name: r for r in plan.rules}
    for i, names in enumerate(fired):
        expected = [r.name for r in rules.ranked if evaluate(r.condition, inp.iloc[[i]]).iloc[0]]
        assert list(names) == expected, f"customer {i}: {rows[i]}"
        # the Python evaluation of each rule's durable_rules condition agrees too
        fact = {**facts[i], FACT_MARKER: FACT_MARKER_VALUE}
        assert [n for n in by_name if python_holds(by_name[n].condition, fact)] == expected


def test_an_engine_error_is_an_error_not_a_crash():
    # The safety net behind the limits: a rule set compiled past them (here with the stack limit lifted) makes
    # durable_rules fail on the customer (error 303); deleting that customer's state used to corrupt the heap.
    code = (
        "import dataclasses\n"
        "from tailor.rules.condition import Compare\n"
        "from tailor.rules.engine import CompiledRules\n"
        "from tailor.rules.limits import PLAN_LIMITS\n"
        "class R:\n"
        "    def __init__(self, i):\n"
        "        self.name, self.condition = f'r{i}', Compare('total_spend', 'number', 'gte', i + 1)\n"
        "engine = CompiledRules([R(i) for i in range(70)], limits=dataclasses.replace(PLAN_LIMITS, stack=1000))\n"
        "for attempt in range(3):\n"
        "    try:\n"
        "        engine.fire_many([{'total_spend': 5000.0}])\n"
        "    except RuntimeError as exc:\n"
        "        print('refused:', exc, flush=True)\n"
        "print('fired', len(CompiledRules([R(i) for i in range(70)]).fire_many([{'total_spend': 5000.0}])[0]))\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("refused:") == 3, out.stdout
    assert "error 303" in out.stdout and "at most 64" in out.stdout
    assert "fired 70" in out.stdout           # within the limits, the same rules are decided


@pytest.mark.parametrize(("how", "when", "exit_text"), [
    ("abort", "decide", "SIGABRT"),
    ("exit", "init", "exit code 3"),
])
def test_a_decision_worker_that_dies_fails_the_decision_with_its_exit_code(how, when, exit_text):
    rules = load_rule_file(ROOT / "rules" / "email_rules.yaml", {"segments": "list"}, SHIPPED_BLOCKS)
    inp = _input([{"total_spend": float(i)} for i in range(40)])
    dying = DyingRuleSet.of(rules, how, when)
    with pytest.raises(RuntimeError, match=f"decision worker .*died.*{exit_text}"):
        decide(inp, dying, DECIDED_AT, workers=2)
    # the same customers decide normally afterwards (a new pool)
    assert json.loads(decide(inp, rules, DECIDED_AT, workers=2)["rules_fired"].iloc[0]) == []


def test_rule_sets_planned_at_the_measured_stack_limit_itself_never_fail():
    # The stack bound of a rule set is the sum of its rules' worst cases: planned with no margin at all (64, the
    # measured limit), random rule sets of nested all/any/not, shared tests and in_segment never make
    # durable_rules fail (planned for 150 instead, they do: error 303).
    import dataclasses
    import random

    from tailor.rules.condition import AllOf, AnyOf, Compare, Contains, InSet, Missing, Not
    from tailor.rules.engine import CompiledRules
    from tailor.rules.limits import DURABLE_EXPRESSIONS, PLAN_LIMITS

    def leaf(rng):
        f, k = rng.choice("abc"), rng.random()
        if k < 0.3:
            return Compare(f, "number", rng.choice(["gt", "gte", "lt", "lte", "eq", "ne"]), rng.randint(0, 4))
        if k < 0.45:
            return InSet(f, "number", tuple(rng.sample(range(6), rng.randint(1, 4))), rng.random() < 0.3)
        return Missing(f, "number") if k < 0.55 else Contains("segments", "list", rng.choice("pqrs"))

    def condition(rng, depth):
        if depth == 0 or rng.random() < 0.35:
            return leaf(rng)
        items = tuple(condition(rng, depth - 1) for _ in range(rng.randint(2, 6)))
        k = rng.random()
        return AnyOf(items) if k < 0.4 else AllOf(items) if k < 0.8 else Not(items[0])

    class Rule:
        def __init__(self, name, cond):
            self.name, self.condition = name, cond

    limits = dataclasses.replace(PLAN_LIMITS, stack=DURABLE_STACK, expressions=DURABLE_EXPRESSIONS)
    bounds = []
    for seed in range(40):
        rng = random.Random(seed)
        engine = CompiledRules([Rule(f"r{i}", condition(rng, 3)) for i in range(rng.randint(20, 120))], limits=limits)
        bounds.append(engine.plan.stack_bound)
        facts = [{**{x: rng.randint(0, 4) for x in "abc" if rng.random() < 0.8},
                  **({"segments": s} if (s := [x for x in "pqrs" if rng.random() < 0.7]) else {})} for _ in range(40)]
        engine.fire_many(facts)         # raises on error 303
    assert max(bounds) == DURABLE_STACK     # the rule sets do go up to the limit
