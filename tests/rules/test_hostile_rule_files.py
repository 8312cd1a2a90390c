"""Hostile rule files: `tailor rules check` and the pipeline refuse them alike, at once, with file:line, what was
counted and the limit (docs/rules.md, "Limits") — instead of running for minutes, crashing or passing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tailor.cli.main import main as cli
from tailor.rules import limits
from tailor.rules.email_rules import load_email_ruleset
from tailor.rules.fields import spec_field_kinds
from tailor.rules.problems import RuleFileError
from tailor.rules.yaml_lines import load_yaml
from tests.rules.hostile import (
    HEADER,
    ROOT,
    alias_bomb,
    alias_tree_rule,
    email_rules,
    segment_rules,
    write_rule_dir,
)
from tests.shipped import SHIPPED_BLOCKS

FIELDS = spec_field_kinds()


def check(capsys, rules_dir: Path) -> tuple[int, str]:
    code = cli(["rules", "check", "--rules-dir", str(rules_dir), "--templates-dir", str(ROOT / "email_templates")])
    return code, capsys.readouterr().out


def pipeline_error(rules_dir: Path) -> str:
    with pytest.raises(RuleFileError) as err:
        load_email_ruleset(rules_dir / "email_rules.yaml", rules_dir / "segments.yaml", FIELDS, SHIPPED_BLOCKS)
    return str(err.value)


def both_refuse(capsys, rules_dir: Path, *expected: str) -> str:
    """check and the pipeline refuse the rules folder, with the same message containing every ``expected``."""
    code, out = check(capsys, rules_dir)
    assert code == 1, out
    for text in expected:
        assert text in out, out
    message = pipeline_error(rules_dir)
    for text in expected:
        assert text in message, message
    return out


def test_a_six_level_alias_bomb_is_refused_with_the_line_of_the_alias(tmp_path, capsys):
    # 9 ** 6 = 531,441 tests from about 700 bytes: 16 s and 200 MB, then it passed
    d = write_rule_dir(tmp_path, alias_bomb(6))
    assert len((d / "email_rules.yaml").read_bytes()) < 1000
    out = both_refuse(capsys, d, f"email_rules.yaml:{_line_of(alias_bomb(6), '&a5 ')}:", "expand",
                      f"{limits.MAX_YAML_VALUES:,}")
    assert "aliases" in out


def test_an_eight_level_alias_bomb_is_refused_too(tmp_path):
    # never finished; in a child process so that the test ends even if it did not
    d = write_rule_dir(tmp_path, alias_bomb(8))
    out = subprocess.run([sys.executable, "-m", "tailor.cli.main", "rules", "check", "--rules-dir", str(d)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = _line_of(alias_bomb(8), "&a5 ")
    assert out.returncode == 1 and f"email_rules.yaml:{line}:" in out.stdout and "expand" in out.stdout, out.stdout


def _line_of(text: str, part: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if part in line)


def test_aliases_within_the_limit_still_work(tmp_path, capsys):
    shared = HEADER + """\
  - name: vip_de
    priority: 2
    when: &vip_de {all: [{in_segment: vip}, {country: DE}]}
    then: {hero: hero_vip}
  - name: vip_de_offer
    priority: 1
    when: *vip_de
    then: {offer: discount_offer}
"""
    d = write_rule_dir(tmp_path, shared)
    code, out = check(capsys, d)
    assert code == 0, out
    ruleset, _ = load_email_ruleset(d / "email_rules.yaml", d / "segments.yaml", FIELDS, SHIPPED_BLOCKS)
    assert ruleset.rules[0].condition == ruleset.rules[1].condition
    # and a 729-test alias tree is within them (the engine test decides it)
    code, out = check(capsys, write_rule_dir(tmp_path, alias_tree_rule(6, 3)))
    assert code == 0, out


def test_an_alias_that_contains_itself_is_refused(tmp_path, capsys):
    text = HEADER + ("  - name: loop\n    priority: 1\n    when: &w {all: [{in_segment: vip}, *w]}\n"
                     "    then: {hero: hero_vip}\n")
    out = both_refuse(capsys, write_rule_dir(tmp_path, text), "email_rules.yaml:12:", "*w", "inside itself")
    assert "quotes" not in out          # not the hint for unquoted text


@pytest.mark.parametrize("depth", [60, 100_000])
def test_too_deep_nesting_is_refused(tmp_path, capsys, depth):
    # 100,000 levels: RecursionError (a traceback instead of a message)
    text = HEADER + ("  - name: deep\n    priority: 1\n    when: " + "{not: " * depth + "{in_segment: vip}"
                     + "}" * depth + "\n    then: {hero: hero_vip}\n")
    both_refuse(capsys, write_rule_dir(tmp_path, text), "email_rules.yaml:12:", "nest",
                f"at most {limits.MAX_YAML_DEPTH}")


def test_a_file_larger_than_the_limit_is_refused(tmp_path, capsys):
    padding = "".join(f"# {'x' * 96}\n" for _ in range(limits.MAX_FILE_BYTES // 99 + 10))
    d = write_rule_dir(tmp_path, email_rules(segment_rules(3)) + padding)
    size = len((d / "email_rules.yaml").read_bytes())
    both_refuse(capsys, d, "email_rules.yaml:", f"{size:,} bytes", f"at most {limits.MAX_FILE_BYTES:,} bytes")


def test_a_file_with_more_lines_than_the_limit_is_refused(tmp_path, capsys):
    d = write_rule_dir(tmp_path, email_rules(segment_rules(3)) + "\n" * limits.MAX_FILE_LINES)
    both_refuse(capsys, d, f"email_rules.yaml:{limits.MAX_FILE_LINES + 1}:", f"at most {limits.MAX_FILE_LINES:,} lines")


def test_more_rules_than_the_limit_are_refused(tmp_path, capsys):
    n = limits.MAX_RULES + 1
    d = write_rule_dir(tmp_path, email_rules(segment_rules(n)))
    both_refuse(capsys, d, f"email_rules.yaml:{10 + limits.MAX_RULES}:", f"{n:,} rules",
                f"at most {limits.MAX_RULES:,}")


def test_more_segments_than_the_limit_are_refused(tmp_path, capsys):
    n = limits.MAX_SEGMENTS + 1
    segments = "segments:\n" + "".join(f"  - {{name: s{i}, when: {{total_spend: {{gte: {i}}}}}}}\n" for i in range(n))
    d = write_rule_dir(tmp_path, email_rules(segment_rules(1)), segments.replace("s0,", "vip,"))
    code, out = check(capsys, d)
    assert code == 1 and f"segments.yaml:{1 + n}:" in out and f"{n:,} segments" in out, out


def test_a_condition_with_more_tests_than_the_limit_is_refused(tmp_path, capsys):
    values = ", ".join(f"C{i}" for i in range(limits.MAX_CONDITION_TESTS + 1))
    rule = f"{{name: huge, priority: 1, when: {{top_category: [{values}]}}, then: {{hero: hero_vip}}}}"
    both_refuse(capsys, write_rule_dir(tmp_path, email_rules([rule])), "email_rules.yaml:10:", "rule 'huge'",
                f"{limits.MAX_CONDITION_TESTS + 1:,} tests", f"at most {limits.MAX_CONDITION_TESTS:,}")


def test_a_file_with_more_tests_in_all_than_the_limit_is_refused(tmp_path, capsys):
    per_rule = limits.MAX_CONDITION_TESTS
    n = limits.MAX_FILE_TESTS // per_rule + 1
    values = ", ".join(f"C{i}" for i in range(per_rule))
    rules = [f"{{name: big{k}, priority: {k}, when: {{top_category: [{values}]}}, then: {{hero: hero_vip}}}}"
             for k in range(n)]
    both_refuse(capsys, write_rule_dir(tmp_path, email_rules(rules)), f"{n * per_rule:,} tests",
                f"at most {limits.MAX_FILE_TESTS:,}")


def test_check_refuses_a_subject_past_the_content_limits_with_file_and_line(tmp_path, capsys):
    # `{{ 'x' * 200000000 }}` used to pass the check; the subject limits are tailor.content's, reported by check
    rule = "{name: big, priority: 1, when: {in_segment: vip}, then: {subject: \"{{ 'x' * 200000000 }}\"}}"
    both_refuse(capsys, write_rule_dir(tmp_path, email_rules([rule])), "email_rules.yaml:10: rule 'big': subject",
                "limit")


def test_the_fast_yaml_reader_reads_what_the_python_one_does(tmp_path):
    from tailor.rules.yaml_lines import python_load_yaml

    for path in [ROOT / "rules" / "email_rules.yaml", ROOT / "rules" / "segments.yaml",
                 ROOT / "rules" / "tests" / "shipped_rules.yaml"]:
        fast, raw = load_yaml(path)
        slow, _ = python_load_yaml(path)
        assert fast == slow and _lines(fast) == _lines(slow), path


def _lines(data) -> list:
    out = []
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            out.append(("map", x.line, sorted(x.key_lines.items(), key=str)))
            stack.extend(x.values())
        elif isinstance(x, list):
            out.append(("list", x.line, x.item_lines))
            stack.extend(x)
    return out


def _ruleset(rules):
    from tailor.rules.ruleset import EmailRuleSet, Outcome

    return EmailRuleSet(path="email_rules.yaml", campaign_id="c", campaign_name="c", file_hash="h",
                        defaults=Outcome(subject="s"), rules=rules, slots=("hero", "main", "offer", "note"))


def test_the_search_for_rules_that_never_change_an_email_is_bounded():
    # 10,000 rules (a 100,009-line file) took more than 500 s: every rule compared with every higher one
    from tailor.rules.condition import Compare
    from tailor.rules.reachability import search_unreachable
    from tailor.rules.ruleset import EmailRule, Outcome

    hero = Outcome(blocks={"hero": "hero_vip"})
    rules = [EmailRule(name=f"r{i}", description="", priority=i, line=10 + i, then=hero,
                       condition=Compare("total_spend", "number", "gte", i + 1)) for i in range(3000)]
    result = search_unreachable(_ruleset(rules), max_steps=100_000)
    assert not result.complete and result.steps <= 100_000
    assert result.found == [] and result.unchecked is not None and result.unchecked.name.startswith("r")
    complete = search_unreachable(_ruleset(rules[:300]))
    assert complete.complete and complete.unchecked is None and complete.found == []


def test_the_bounded_search_finds_what_comparing_every_pair_finds():
    import random

    from tailor.rules.implication import implies
    from tailor.rules.reachability import search_unreachable
    from tailor.rules.ruleset import EmailRule, Experiment, Outcome, Variant
    from tests.rules.test_conditions import cond

    segments = {"vip": cond("any: [{frequency: {gte: 5}}, {total_spend: {gte: 1000}}]"),
                "lapsed": cond("recency_days: {gt: 180}"), "engaged": cond("email_opens: {gte: 3}")}
    pool = ["in_segment: vip", "in_segment: lapsed", "in_segment: engaged", "total_spend: {gte: 2000}",
            "recency_days: {gt: 365}", "all: [{in_segment: vip}, {country: DE}]",
            "any: [{in_segment: vip}, {in_segment: lapsed}]",
            "country: [DE, AT]", "country: DE", "not: {in_segment: engaged}", "email_opens: {gte: 5}",
            "top_category: {is_null: true}", "viewed_not_bought: {contains: P1}", "frequency: {gte: 6}"]
    settings = [Outcome(blocks={"hero": "hero_vip"}), Outcome(subject="x"), Outcome(blocks={"main": "bestsellers"}),
                Outcome(subject="y", blocks={"hero": "hero_winback"}), Outcome(params={"discount_percent": 10}),
                Outcome()]
    rng = random.Random(5)
    for _ in range(20):
        rules = []
        for i in range(40):
            experiment = None
            if rng.random() < 0.15:
                variant_b = rng.choice([Outcome(subject="z"), Outcome()])
                experiment = Experiment(name=f"e{i}", holdout=rng.choice([0.0, 0.1]),
                                        variants=(Variant("a", 1.0, Outcome()), Variant("b", 1.0, variant_b)))
            rules.append(EmailRule(name=f"r{i}", description="", priority=rng.randint(0, 9),
                                   condition=cond(rng.choice(pool)), then=rng.choice(settings), line=i + 1,
                                   experiment=experiment))
        ruleset = _ruleset(rules)
        fast = search_unreachable(ruleset, segments)
        assert fast.complete
        found = {(u.rule.name, tuple(h.name for h in u.covered_by), u.settings) for u in fast.found}
        assert found == _every_pair(ruleset, segments, implies)


def _every_pair(ruleset, segments, implies) -> set:
    """The search as it was: every rule against every higher one."""
    out = set()
    for i, rule in enumerate(ruleset.ranked):
        covering = [h for h in ruleset.ranked[:i] if implies(rule.condition, h.condition, segments)]
        if not covering:
            continue
        settings = rule.then.settings()
        if rule.experiment is not None and not any(h.experiment is not None for h in covering):
            if rule.experiment.holdout > 0:
                continue
            settings |= rule.experiment.settings()
        covered = set().union(*(h.then.settings() for h in covering))
        if settings <= covered:
            needed = tuple(h for h in covering if h.then.settings() & settings) or (covering[0],)
            order = {s: k for k, s in enumerate(("subject",) + ruleset.slots + ("send",))}
            ordered = tuple(sorted(settings, key=lambda s: (order.get(s, 99), s)))
            out.add((rule.name, tuple(h.name for h in needed), ordered))
    return out


def test_check_says_when_rules_are_split_over_rule_sets_or_evaluated_in_python(tmp_path, capsys):
    from tests.rules.hostile import any_of_matching, distinct_matching_rules

    wide = any_of_matching(70, "{offer: discount_offer}")
    d = write_rule_dir(tmp_path, email_rules(distinct_matching_rules(65) + [wide]))
    code, out = check(capsys, d)
    assert code == 0, out
    assert "note: the 66 active rules are decided in 2 durable_rules rule sets" in out, out
    assert "email_rules.yaml:75: rule 'wide' is evaluated in Python, not by durable_rules: up to 70 of its tests" in out
    code, out = check(capsys, write_rule_dir(tmp_path, email_rules(segment_rules(3))))
    assert "durable_rules" not in out          # nothing to say for ordinary files


def test_check_says_where_the_search_for_unreachable_rules_stopped(tmp_path, capsys):
    # 500 rules (the limit) whose conditions all look alike: more comparisons than the search may make
    rules = [f"{{name: r{i}, priority: {i}, when: {{all: [{{in_segment: vip}}, {{total_spend: {{gte: {i + 1}}}}}]}}, "
             f"then: {{hero: hero_vip}}}}" for i in range(limits.MAX_RULES)]
    code, out = check(capsys, write_rule_dir(tmp_path, email_rules(rules)))
    assert code == 0, out
    assert f"the search for rules that can never change an email stopped after {limits.MAX_REACHABILITY_STEPS:,} " \
           f"steps (the limit): rule 'r" in out, out


def test_a_number_with_thousands_of_digits_is_refused(tmp_path, capsys):
    # Python refuses to read integers of more than 4,300 digits: a ValueError traceback instead of a message
    rule = "{name: big, priority: 1, when: {total_spend: {gte: " + "1" * 5000 + "}}, then: {hero: hero_vip}}"
    both_refuse(capsys, write_rule_dir(tmp_path, email_rules([rule])), "email_rules.yaml:10:", "5,000 digits")
