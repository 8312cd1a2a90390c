"""``tailor rules diff``: what a changed rule file would change for today's customers, before anything is sent.

Both files — email rules, or segments and then the current email rules on top — decide the customers read from
the warehouse (read-only, without Dagster: :func:`read_customers`), and the two sets of decisions are compared
customer by customer. The comparisons are pure functions on frames (:func:`compare_decisions`,
:func:`compare_segments`); the report shows counts per kind of change and a few example customers, by id only.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.content.vocabulary import template_blocks
from tailor.rules.check import EMAIL_RULES_FILE, SEGMENTS_FILE
from tailor.rules.condition import condition_segments

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from tailor.warehouse.session import Warehouse


@dataclass
class DecisionsDiff:
    """How the decisions of two rule files differ on the same customers (see :func:`compare_decisions`)."""

    customers: int
    changed: int                                  # send, blocks, subject or params differ
    changed_and_sent: int                         # ... and at least one of the two decisions sends
    send_changed: int
    newly_sent: int
    no_longer_sent: int
    blocks_changed: int
    subject_changed: int
    params_changed: int
    reason_changed: int
    slot_changes: dict[str, Counter] = field(default_factory=dict)    # slot -> Counter[(old, new)]
    subject_changes: Counter = field(default_factory=Counter)         # Counter[(old, new)]
    reason_changes: Counter = field(default_factory=Counter)
    examples: list[tuple[str, list[str]]] = field(default_factory=list)   # (customer_id, what changes)
    only_old: int = 0
    only_new: int = 0


def _loads(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v if isinstance(v, dict) else ({} if v is None or v != v else v)


def _short(v: Any) -> str:
    """A block name (or ``(none)`` for an empty slot)."""
    return "(none)" if v is None else str(v)


#: Characters of a shortened subject shown before the first one that differs from the other subject.
_CONTEXT_BEFORE_CHANGE = 12
_WORD_START = re.compile(r"\s+(?=\w)")


def subject_change(old: str | None, new: str | None, width: int) -> tuple[str, str]:
    """Two subjects as shown side by side: quoted, each at most about ``width`` characters, and told apart.

    Long subjects are shortened around where they first differ, so that two subjects that share a long
    beginning never look alike: "We miss you, {{ first_name }} — here is 15% off" and "… 20% off" become
    ``"…here is 15% off"`` and ``"…here is 20% off"``.
    """
    if old is None or new is None:
        return _shortened(old, 0, width), _shortened(new, 0, width)
    differs_at = len(os.path.commonprefix([old, new]))
    start = 0
    if differs_at > width - _CONTEXT_BEFORE_CHANGE and max(len(old), len(new)) > width:
        start = differs_at - _CONTEXT_BEFORE_CHANGE
        word = _WORD_START.search(old, start, differs_at)    # begin at a word where one is close
        if word is not None:
            start = word.end()
    return _shortened(old, start, width), _shortened(new, start, width)


def _shortened(text: str | None, start: int, width: int) -> str:
    """``text[start:]`` quoted, at most ``width`` characters of it, with "…" where something is left out."""
    if text is None:
        return "(none)"
    shown = text[start:]
    if start > 0:
        shown = "…" + shown
    if len(shown) > width:
        shown = shown[: width - 1] + "…"
    return json.dumps(shown, ensure_ascii=False)


def compare_decisions(old: pd.DataFrame, new: pd.DataFrame, examples: int = 5) -> DecisionsDiff:
    """Compare two ``email_decisions`` frames customer by customer (``customer_id``, ``send``, ``reason``,
    ``subject``, ``blocks``, ``params``; blocks/params as JSON text or dicts). Pure: no I/O.

    ``examples``: how many customers to show — one per kind of change, most frequent kind first.
    """
    import pandas as pd

    cols = ["customer_id", "send", "reason", "subject", "blocks", "params"]
    merged = pd.merge(old[cols], new[cols], on="customer_id", how="outer", suffixes=("_old", "_new"), indicator=True)
    only_old = int((merged["_merge"] == "left_only").sum())
    only_new = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    diff = DecisionsDiff(customers=len(both), changed=0, changed_and_sent=0, send_changed=0, newly_sent=0,
                         no_longer_sent=0, blocks_changed=0, subject_changed=0, params_changed=0, reason_changed=0,
                         only_old=only_old, only_new=only_new)
    kinds: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for r in both.itertuples(index=False):
        changes: list[str] = []
        kind: list[str] = []
        s_old, s_new = bool(r.send_old), bool(r.send_new)
        if s_old != s_new:
            diff.send_changed += 1
            diff.newly_sent += s_new
            diff.no_longer_sent += s_old
            changes.append(f"send {str(s_old).lower()} -> {str(s_new).lower()}")
            kind.append(f"send:{s_new}")
        same_blocks = isinstance(r.blocks_old, str) and r.blocks_old == r.blocks_new
        b_old, b_new = ({}, {}) if same_blocks else (_loads(r.blocks_old) or {}, _loads(r.blocks_new) or {})
        if b_old != b_new:
            diff.blocks_changed += 1
            for slot in [*b_old, *(s for s in b_new if s not in b_old)]:
                if b_old.get(slot) != b_new.get(slot):
                    diff.slot_changes.setdefault(slot, Counter())[(b_old.get(slot), b_new.get(slot))] += 1
                    changes.append(f"{slot} {_short(b_old.get(slot))} -> {_short(b_new.get(slot))}")
                    kind.append(f"{slot}:{b_old.get(slot)}>{b_new.get(slot)}")
        subj_old = r.subject_old if isinstance(r.subject_old, str) else None
        subj_new = r.subject_new if isinstance(r.subject_new, str) else None
        if subj_old != subj_new:
            diff.subject_changed += 1
            diff.subject_changes[(subj_old, subj_new)] += 1
            changes.append("subject {} -> {}".format(*subject_change(subj_old, subj_new, 36)))
            kind.append(f"subject:{subj_new}")
        same_params = isinstance(r.params_old, str) and r.params_old == r.params_new
        p_old, p_new = ({}, {}) if same_params else (_loads(r.params_old) or {}, _loads(r.params_new) or {})
        if p_old != p_new:
            diff.params_changed += 1
            changes.append(f"params {json.dumps(p_old, sort_keys=True)} -> {json.dumps(p_new, sort_keys=True)}")
            kind.append("params")
        if r.reason_old != r.reason_new:
            diff.reason_changed += 1
            diff.reason_changes[(r.reason_old, r.reason_new)] += 1
        if changes:
            diff.changed += 1
            diff.changed_and_sent += s_old or s_new
            if r.reason_old != r.reason_new:
                changes.append(f"reason {r.reason_old} -> {r.reason_new}")
            kinds.setdefault(tuple(kind), []).append((str(r.customer_id), changes))
    ranked = sorted(kinds.values(), key=lambda v: (-len(v), v[0][0]))
    picked = [min(group) for group in ranked[:examples]]
    if len(picked) < examples:       # fewer kinds than examples wanted: fill up with more of the biggest kinds
        rest = sorted(c for group in ranked for c in group if c not in picked)
        picked += rest[: examples - len(picked)]
    diff.examples = picked
    return diff


@dataclass
class SegmentsDiff:
    """How segment memberships differ between two segment files on the same customers."""

    customers: int
    sizes: dict[str, tuple[int | None, int | None]]    # segment -> (members before, after); None: not defined
    joined: dict[str, int]
    left: dict[str, int]
    changed: int                                        # customers whose set of segments changes
    examples: list[tuple[str, list[str]]] = field(default_factory=list)   # (customer_id, ["+vip", "-lapsed"])


def compare_segments(old: pd.DataFrame, new: pd.DataFrame, customer_ids: Sequence[Any],
                     old_names: Sequence[str] | None = None, new_names: Sequence[str] | None = None,
                     examples: int = 5) -> SegmentsDiff:
    """Compare two ``customer_segments`` frames (long format: customer_id, segment) over ``customer_ids``.
    ``old_names``/``new_names``: the segments each file defines (so that empty segments are listed). Pure."""
    old_sets: dict[str, set[str]] = {}
    new_sets: dict[str, set[str]] = {}
    for frame, sets in ((old, old_sets), (new, new_sets)):
        for cid, seg in zip(frame["customer_id"].astype(str).tolist(), frame["segment"].astype(str).tolist()):
            sets.setdefault(cid, set()).add(seg)
    o_names = list(old_names) if old_names is not None else sorted(set(old["segment"].astype(str)))
    n_names = list(new_names) if new_names is not None else sorted(set(new["segment"].astype(str)))
    names = list(dict.fromkeys([*n_names, *o_names]))
    old_count = Counter(s for v in old_sets.values() for s in v)
    new_count = Counter(s for v in new_sets.values() for s in v)
    joined: Counter = Counter()
    left: Counter = Counter()
    changed: list[tuple[str, list[str]]] = []
    for cid in sorted({str(c) for c in customer_ids}):
        a, b = old_sets.get(cid, set()), new_sets.get(cid, set())
        if a != b:
            for s in b - a:
                joined[s] += 1
            for s in a - b:
                left[s] += 1
            changed.append((cid, [f"+{s}" for s in names if s in b - a] + [f"-{s}" for s in names if s in a - b]))
    sizes = {s: (old_count.get(s, 0) if s in o_names else None, new_count.get(s, 0) if s in n_names else None)
             for s in names}
    kinds: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for cid, what in changed:
        kinds.setdefault(tuple(what), []).append((cid, what))
    ranked = sorted(kinds.values(), key=lambda v: (-len(v), v[0][0]))
    picked = [group[0] for group in ranked[:examples]]
    if len(picked) < examples:
        picked += [c for c in changed if c not in picked][: examples - len(picked)]
    return SegmentsDiff(customers=len(set(map(str, customer_ids))), sizes=sizes, joined=dict(joined),
                        left=dict(left), changed=len(changed), examples=picked)


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "0%"


def format_decisions_diff(d: DecisionsDiff, top: int = 3) -> list[str]:
    """The report lines of a :class:`DecisionsDiff`, with the ``top`` most frequent changes of each kind."""
    if d.changed == 0:
        return [f"No change: all {d.customers:,} customers get the same decision (send, blocks, subject, params)."]
    lines = [f"{d.changed:,} of {d.customers:,} customers ({_pct(d.changed, d.customers)}) would get a different "
             f"decision; {d.changed_and_sent:,} of them are sent an email under the old or the new rules."]
    lines.append(f"  send     {d.send_changed:>8,}   (+{d.newly_sent:,} now sent, -{d.no_longer_sent:,} no longer sent)")
    lines.append(f"  blocks   {d.blocks_changed:>8,}")
    for slot, counter in d.slot_changes.items():
        for (a, b), n in counter.most_common(top):
            lines.append(f"             {slot}: {_short(a)} -> {_short(b)}  {n:,}")
    lines.append(f"  subject  {d.subject_changed:>8,}")
    for (a, b), n in d.subject_changes.most_common(top):
        shown_old, shown_new = subject_change(a, b, 40)
        lines.append(f"             {shown_old} -> {shown_new}  {n:,}")
    lines.append(f"  params   {d.params_changed:>8,}")
    lines.append(f"  reason   {d.reason_changed:>8,}")
    for (a, b), n in d.reason_changes.most_common(top):
        lines.append(f"             {a} -> {b}  {n:,}")
    if d.examples:
        lines.append("Examples (customer ids only):")
        for cid, changes in d.examples:
            lines.append(f"  {cid}  " + "; ".join(changes))
    if d.only_old or d.only_new:
        lines.append(f"({d.only_old:,} customers only in the old decisions, {d.only_new:,} only in the new)")
    return lines


def format_segments_diff(d: SegmentsDiff) -> list[str]:
    """The report lines of a :class:`SegmentsDiff`: one line per segment, then examples."""
    lines = []
    width = max([len(s) for s in d.sizes] + [7])
    lines.append(f"  {'segment':<{width}}  {'before':>8}  {'after':>8}  {'joined':>7}  {'left':>7}")
    for s, (a, b) in d.sizes.items():
        fa = "—" if a is None else f"{a:,}"
        fb = "—" if b is None else f"{b:,}"
        note = "  (new)" if a is None else ("  (removed)" if b is None else "")
        lines.append(f"  {s:<{width}}  {fa:>8}  {fb:>8}  {'+' + format(d.joined.get(s, 0), ','):>7}  "
                     f"{'-' + format(d.left.get(s, 0), ','):>7}{note}")
    lines.append(f"{d.changed:,} of {d.customers:,} customers ({_pct(d.changed, d.customers)}) change segments.")
    if d.examples:
        lines.append("Examples (customer ids only):")
        for cid, what in d.examples:
            lines.append(f"  {cid}  {' '.join(what)}")
    return lines


def rule_file_kind(path: str | Path) -> str:
    """``"segments"`` or ``"email_rules"``, from the file's top-level keys."""
    from tailor.rules.problems import RuleFileError
    from tailor.rules.yaml_lines import load_yaml

    data, _ = load_yaml(path)
    if isinstance(data, dict):
        if "segments" in data:
            return "segments"
        if {"rules", "campaign", "defaults"} & set(data):
            return "email_rules"
    raise RuleFileError(path, "neither a segments file (`segments:`) nor an email rules file (`campaign:`, "
                              "`defaults:`, `rules:`)", getattr(data, "line", 1))


def read_customers(warehouse: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current customers (the customer table the rules read) and their segments, from the warehouse."""
    from tailor.rules.customer_table import customer_table_sql

    with warehouse.session() as s:
        missing = [t for t in ("customer_profiles", "customer_features", "customer_segments") if not s.table_exists(t)]
        if missing:
            raise LookupError(f"the warehouse has no {', '.join(missing)} yet: run the pipeline once "
                              f"(`tailor demo` or materialize the assets)")
        customers = s.query(customer_table_sql())
        segments = s.query("SELECT customer_id, segment FROM customer_segments")
    return customers, segments


def diff_rule_files(old: str | Path, new: str | Path, *, rules_dir: str | Path, templates_dir: str | Path,
                    customers: pd.DataFrame, segments: pd.DataFrame, examples: int = 5,
                    decided_at: datetime | None = None) -> list[str]:
    """The report lines of ``tailor rules diff`` for two files of the same kind on the given customers.
    Raises RuleFileError when a file has mistakes."""
    from tailor.rules.decide import decide
    from tailor.rules.email_rules import load_email_ruleset, load_rule_file
    from tailor.rules.facts import build_decision_input
    from tailor.rules.fields import field_kinds
    from tailor.rules.segments import assign_segments, load_segment_definitions

    decided_at = decided_at or datetime.now(timezone.utc)
    kind = rule_file_kind(old)
    if rule_file_kind(new) != kind:
        raise ValueError(f"{old} and {new} are not the same kind of file (segments vs email rules)")
    blocks, _ = template_blocks(templates_dir)
    rules_dir = Path(rules_dir)
    lines: list[str] = []
    if kind == "email_rules":
        facts = build_decision_input(customers, segments=segments)
        fields = field_kinds(facts)
        rs_old, _ = load_email_ruleset(old, rules_dir / SEGMENTS_FILE, fields, blocks)
        rs_new, _ = load_email_ruleset(new, rules_dir / SEGMENTS_FILE, fields, blocks)
        lines.append(f"Email decisions of {len(facts):,} current customers (segments as in the warehouse):")
        for tag, rs in (("old", rs_old), ("new", rs_new)):
            lines.append(f"  {tag}: {rs.path}  (campaign {rs.campaign_id!r}, {len(rs.ranked)} active rules, "
                         f"hash {rs.file_hash[:12]})")
        d = compare_decisions(decide(facts, rs_old, decided_at), decide(facts, rs_new, decided_at), examples)
        return lines + format_decisions_diff(d)

    kinds = field_kinds(customers)
    defs_old = load_segment_definitions(old, kinds)
    defs_new = load_segment_definitions(new, kinds)
    mem_old, mem_new = assign_segments(customers, defs_old), assign_segments(customers, defs_new)
    lines.append(f"Segments of {len(customers):,} current customers:")
    lines.append(f"  old: {old}  ({len(defs_old)} segments)")
    lines.append(f"  new: {new}  ({len(defs_new)} segments)")
    sd = compare_segments(mem_old, mem_new, customers["customer_id"].tolist(),
                          [d.name for d in defs_old], [d.name for d in defs_new], examples)
    lines += format_segments_diff(sd)
    # what it does to the emails, with the current email rules
    rules_path = rules_dir / EMAIL_RULES_FILE
    facts_old = build_decision_input(customers, segments=mem_old)
    facts_new = build_decision_input(customers, segments=mem_new)
    ruleset = load_rule_file(rules_path, field_kinds(facts_new), blocks)
    used = {s for r in ruleset.ranked for s in condition_segments(r.condition)}
    gone = sorted(used - {d.name for d in defs_new})
    lines.append(f"Effect on the email decisions of {rules_path}:")
    if gone:
        lines.append(f"  warning: {rules_path} uses segment(s) {', '.join(gone)} that {new} does not define — the "
                     f"pipeline would stop with an error until the rules are changed too")
    d = compare_decisions(decide(facts_old, ruleset, decided_at), decide(facts_new, ruleset, decided_at), examples)
    return lines + ["  " + x for x in format_decisions_diff(d)]
