"""What email rules set — ``defaults:``, a rule's ``then:``, an experiment variant — read into an ``Outcome``.

An outcome (:class:`tailor.rules.ruleset.Outcome`) names one block per slot (null empties the slot), the subject, params and ``send``; only what the file
says is set. Blocks are checked against the template library's (slot by slot: a block in the wrong slot is named
as such), subjects against the placeholders the renderer knows, params against their kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor.content.subject import subject_problem
from tailor.content.vocabulary import KNOWN_PARAMS, SUBJECT_VARIABLES
from tailor.rules.problems import Problems, did_you_mean
from tailor.rules.ruleset import Outcome
from tailor.rules.yaml_lines import describe_value, line_of

#: What an outcome may set besides the slots.
SETTINGS = ("subject", "params", "send")


class OutcomeParser:
    """Reads outcomes against the template library's slots and blocks, adding every problem to ``problems``."""

    def __init__(self, slots: tuple[str, ...], blocks: Mapping[str, set[str]], problems: Problems):
        self.slots = slots
        self.blocks = blocks
        self.problems = problems
        self.slot_of = {b: s for s, names in blocks.items() for b in names}

    def parse(self, raw: Mapping[str, Any], line: int | None, label: str, *, is_defaults: bool) -> Outcome | None:
        """The outcome ``raw`` describes, or None when it has mistakes. ``label`` starts every message."""
        before = len(self.problems.items)
        subject: str | None = None
        blocks: dict[str, str | None] = {}
        params: dict[str, Any] = {}
        send: bool | None = None
        for key, value in raw.items():
            kline = line_of(raw, key, line)
            if key in self.slots:
                if self._block_ok(key, value, kline, label):
                    blocks[key] = value
            elif key == "subject":
                subject = self._subject(value, kline, label)
            elif key == "send":
                if not isinstance(value, bool):
                    self.problems.add(kline, f"{label}: send must be true or false, got {describe_value(value)}")
                else:
                    send = value
            elif key == "params":
                params = self._params(value, kline, label, is_defaults)
            elif key == "blocks" and isinstance(value, dict):
                self.problems.add(kline, f"{label}: write the slots directly under "
                                         f"`{'defaults' if is_defaults else 'then'}:` (e.g. `hero: hero_vip`), "
                                         f"without a `blocks:` level")
            else:
                self._unknown_key(raw, key, kline, label)
        if is_defaults and "subject" not in raw:
            self.problems.add(line, "defaults: missing required key `subject` (the subject when no rule sets one)")
        if len(self.problems.items) > before:
            return None
        return Outcome(subject=subject, blocks=blocks, params=params, send=send)

    def _block_ok(self, slot: str, value: Any, line: int | None, label: str) -> bool:
        if value is None or (isinstance(value, str) and value in self.blocks[slot]):
            return True
        if not isinstance(value, str):
            self.problems.add(line, f"{label}: slot {slot!r} takes one block name (or null to leave it empty), "
                                    f"got {describe_value(value)}")
        elif value in self.slot_of:
            self.problems.add(line, f"{label}: block {value!r} belongs in slot {self.slot_of[value]!r}, not {slot!r}")
        else:
            self.problems.add(line, f"{label}: unknown block {value!r} for slot {slot!r}"
                                    f"{did_you_mean(value, self.blocks[slot])} "
                                    f"(blocks for {slot}: {', '.join(sorted(self.blocks[slot])) or 'none'})")
        return False

    def _unknown_key(self, raw: Mapping[str, Any], key: Any, line: int | None, label: str) -> None:
        subject = raw.get("subject")
        if raw[key] is None and isinstance(subject, str) and line_of(raw, "subject") == line:
            # `{subject: Hello, world}`: between braces, the comma ended the subject and `world` became a key
            hint = " — a comma inside an unquoted subject between { } starts a new key: put the subject in quotes"
        else:
            hint = did_you_mean(key, list(self.slots) + list(SETTINGS))
            if not hint and isinstance(key, str) and key in self.slot_of:
                hint = f" — {key!r} is a block; write `{self.slot_of[key]}: {key}`"
        self.problems.add(line, f"{label}: unknown slot or setting {key!r}{hint} "
                                f"(slots: {', '.join(self.slots)}; settings: {', '.join(SETTINGS)})")

    def _subject(self, value: Any, line: int | None, label: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problems.add(line, f"{label}: subject must be non-empty text, got {describe_value(value)}")
            return None
        found = subject_problem(value)
        if found is not None:
            message, unknown = found
            if unknown is not None:
                message += (f"{did_you_mean(unknown, SUBJECT_VARIABLES)} "
                            f"(placeholders: {', '.join(sorted(SUBJECT_VARIABLES))})")
            self.problems.add(line, f"{label}: {message}")
            return None
        return value

    def _params(self, value: Any, line: int | None, label: str, is_defaults: bool) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.add(line, f"{label}: params must be a mapping such as `{{discount_percent: 15, "
                                    f"discount_code: COMEBACK15}}`, got {describe_value(value)}")
            return {}
        out: dict[str, Any] = {}
        for k, v in value.items():
            kline = line_of(value, k, line)
            kind = KNOWN_PARAMS.get(k) if isinstance(k, str) else None
            if kind is None:
                self.problems.add(kline, f"{label}: unknown param {k!r}{did_you_mean(k, KNOWN_PARAMS)} "
                                         f"(params: {', '.join(KNOWN_PARAMS)})")
                continue
            if v is None:
                if not is_defaults:
                    out[k] = None   # removes a param set by defaults or a lower-priority rule
                continue
            if kind == "number":
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.problems.add(kline, f"{label}: param {k!r} must be a number, got {describe_value(v)}")
                    continue
                if k == "discount_percent" and not (0 < v <= 100):
                    self.problems.add(kline, f"{label}: discount_percent must be above 0 and at most 100, got {v}")
                    continue
            elif not isinstance(v, str) or not v.strip():
                tip = f'; put it in quotes: "{v}"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                self.problems.add(kline, f"{label}: param {k!r} must be text, got {describe_value(v)}{tip}")
                continue
            out[k] = v
        return out
