"""`tailor rules check | test | diff`: the marketer's tools for ``rules/segments.yaml`` and ``rules/email_rules.yaml``.

* ``check`` validates both files against the field catalog (:func:`tailor.rules.fields.spec_field_kinds`: the
  columns of the customer table, read from the tables' pandera schemas without importing pandera),
  the template blocks and the segment names, and finds rules that can never change an email
  (:mod:`tailor.rules.check`). It is meant to run on every save: it imports neither pandas nor pandera nor the
  MJML compiler (see :class:`tailor.lazy_imports.LazyModule`), and reads the block list from the block
  files' headers.
* ``test`` runs the example cases in ``rules/tests/*.yaml`` through the real :func:`tailor.rules.decide.decide`
  (:mod:`tailor.rules.cases`).
* ``diff`` compares the decisions (or segment memberships) of two rule files on the current customers in the
  warehouse, before anything is sent (:mod:`tailor.rules.diff`).

Output lines about a file start with ``file:line:``; exit code 0 = all good, 1 = problems or failures.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from tailor.config import setting
from tailor.content.vocabulary import template_blocks
from tailor.rules.cases import format_result, load_cases, run_case
from tailor.rules.check import EMAIL_RULES_FILE, SEGMENTS_FILE, TESTS_DIR, check_rules
from tailor.rules.diff import diff_rule_files, read_customers, rule_file_kind
from tailor.rules.problems import RuleFileError, error_lines, problem_lines


def cmd_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    started = time.perf_counter()
    report = check_rules(args.rules_dir or setting("TAILOR_RULES_DIR"),
                         args.templates_dir or setting("TAILOR_TEMPLATES_DIR"))
    for line in report.problems:
        print(line, file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    print(f"{report.summary} — checked in {time.perf_counter() - started:.2f}s", file=out)
    return 0 if report.ok else 1


def cmd_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from tailor.rules.email_rules import load_email_ruleset
    from tailor.rules.fields import spec_field_kinds

    out = out or sys.stdout
    started = time.perf_counter()
    rules_dir = Path(args.rules_dir or setting("TAILOR_RULES_DIR"))
    templates_dir = Path(args.templates_dir or setting("TAILOR_TEMPLATES_DIR"))
    fields = dict(spec_field_kinds())
    blocks, block_problems = template_blocks(templates_dir)
    for line in block_problems:
        print(line, file=out)
    try:
        ruleset, definitions = load_email_ruleset(rules_dir / EMAIL_RULES_FILE, rules_dir / SEGMENTS_FILE, fields,
                                                  blocks)
    except RuleFileError as exc:
        for line in error_lines(exc):
            print(line, file=out)
        print("the rule files have mistakes (see `tailor rules check`); no case was run", file=out)
        return 1
    files = sorted((rules_dir / TESTS_DIR).glob("*.yaml")) + sorted((rules_dir / TESTS_DIR).glob("*.yml"))
    if args.files:
        files = [Path(f) for f in args.files]
    if not files:
        print(f"no test cases: write some in {rules_dir / TESTS_DIR}/*.yaml (see docs/rules.md)", file=out)
        return 1
    passed = failed = problems = 0
    decided_at = datetime.now(timezone.utc)
    for path in files:
        cases, file_problems = load_cases(path, known_fields=fields, blocks=blocks,
                                          segment_names=[d.name for d in definitions],
                                          rule_names=[r.name for r in ruleset.rules])
        print(f"{path}", file=out)
        for line in problem_lines(file_problems):
            print(f"  {line}", file=out)
        problems += len(file_problems.items)
        for case in cases:
            if args.k and args.k.lower() not in case.name.lower():
                continue
            result = run_case(case, ruleset, fields, definitions, decided_at)
            for line in format_result(result):
                print(f"  {line}", file=out)
            passed += result.passed
            failed += not result.passed
    tail = f", {problems} problem{'s' if problems != 1 else ''} in the case files" if problems else ""
    print(f"{passed} passed, {failed} failed{tail} ({time.perf_counter() - started:.2f}s)", file=out)
    return 0 if failed == 0 and problems == 0 and passed > 0 else 1


def cmd_diff(args: argparse.Namespace, out: TextIO | None = None, warehouse: Any = None) -> int:
    from tailor.warehouse.environment import warehouse_from_environment
    from tailor.warehouse.session import WarehouseBusy

    out = out or sys.stdout
    started = time.perf_counter()
    rules_dir = Path(args.rules_dir or setting("TAILOR_RULES_DIR"))
    templates_dir = Path(args.templates_dir or setting("TAILOR_TEMPLATES_DIR"))
    try:
        kind = rule_file_kind(args.old)
        new = args.new or str(rules_dir / (SEGMENTS_FILE if kind == "segments" else EMAIL_RULES_FILE))
        # read-only and without Dagster (seconds of imports for a command run before every change)
        customers, segments = read_customers(warehouse or warehouse_from_environment(read_only=True))
        lines = diff_rule_files(args.old, new, rules_dir=rules_dir, templates_dir=templates_dir,
                                customers=customers, segments=segments, examples=args.examples)
    except RuleFileError as exc:
        for line in error_lines(exc):
            print(line, file=out)
        return 1
    except (LookupError, ValueError, OSError, WarehouseBusy) as exc:
        print(f"error: {exc}", file=out)
        return 1
    for line in lines:
        print(line, file=out)
    print(f"(nothing was sent; {time.perf_counter() - started:.1f}s)", file=out)
    return 0


def register(subparsers: Any) -> None:
    """Add ``rules check|test|diff`` to the ``tailor`` command line."""
    rules = subparsers.add_parser("rules", help="check, test and diff the marketing rule files (rules/*.yaml)",
                                  description="Check, test and compare rules/segments.yaml and rules/email_rules.yaml.")
    sub = rules.add_subparsers(dest="rules_command", required=True)

    def dirs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rules-dir", help="folder with segments.yaml and email_rules.yaml (default: $TAILOR_RULES_DIR or rules)")
        p.add_argument("--templates-dir", help="email templates folder (default: $TAILOR_TEMPLATES_DIR or email_templates)")

    check = sub.add_parser("check", help="validate the rule files (fast: run it on every save)")
    dirs(check)
    check.set_defaults(func=cmd_check)

    test = sub.add_parser("test", help="run the example cases in rules/tests/*.yaml through the real decisions")
    dirs(test)
    test.add_argument("files", nargs="*", help="case files (default: every rules/tests/*.yaml)")
    test.add_argument("-k", help="only cases whose name contains this text")
    test.set_defaults(func=cmd_test)

    diff = sub.add_parser("diff", help="compare two rule files on the current customers in the warehouse")
    diff.add_argument("old", help="the old email rules or segments file (e.g. a copy from git)")
    diff.add_argument("new", nargs="?", help="the new file (default: the one of the same kind in --rules-dir)")
    dirs(diff)
    diff.add_argument("--examples", type=int, default=5, help="how many example customers to show (default 5)")
    diff.set_defaults(func=cmd_diff)

