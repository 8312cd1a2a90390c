"""Segments: named groups of customers, defined by marketers in ``rules/segments.yaml``.

File format (see docs/rules.md)::

    segments:
      - name: vip
        description: Frequent or big spenders
        when:
          any:
            - frequency: {gte: 5}
            - total_spend: {gte: 1000}

Conditions use the condition language of :mod:`tailor.rules.parser`, on the customer's own fields only (not on
other segments); they are evaluated with pandas (:mod:`tailor.rules.evaluate`, vectorised), one boolean mask per
segment. Output: ``customer_segments`` in long format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.lazy_imports import LazyModule
from tailor.rules.condition import Condition, condition_fields
from tailor.rules.customer_table import SEGMENTS_FIELD
from tailor.rules.evaluate import evaluate
from tailor.rules.limits import MAX_SEGMENTS
from tailor.rules.parser import ConditionParser
from tailor.rules.problems import Problems, did_you_mean
from tailor.rules.yaml_lines import check_named_item, describe_value, line_of, load_yaml

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
else:
    pd = LazyModule("pandas", globals(), "pd")   # checking a segments file needs no pandas


SEGMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_TOP_KEYS = ("segments",)
_SEGMENT_KEYS = ("name", "description", "when")


@dataclass(frozen=True)
class SegmentDefinition:
    """One entry of ``segments:``, validated."""

    name: str
    description: str
    condition: Condition
    line: int | None
    path: str = ""

    @property
    def source(self) -> str:
        """``file:line`` where the segment is defined."""
        return f"{self.path}:{self.line}"


def load_segment_definitions(path: str | Path, known_fields: Mapping[str, str]) -> list[SegmentDefinition]:
    """Read and validate a segments file. Raises :class:`tailor.rules.problems.RuleFileError` listing every problem
    of the file."""
    problems = Problems(path)
    data, _ = load_yaml(path, problems)
    definitions = _parse(data, known_fields, problems, str(path))
    problems.raise_if_any()
    return definitions


def check_segment_file(path: str | Path, known_fields: Mapping[str, str]) -> tuple[list[SegmentDefinition], list[str], Problems]:
    """Validate a segments file without raising: (valid definitions, every segment name the file declares —
    also of segments with mistakes, so that rule files are not blamed for them —, problems).

    A YAML syntax error still raises :class:`tailor.rules.problems.RuleFileError` (nothing else can be read).
    """
    problems = Problems(path)
    data, _ = load_yaml(path, problems)
    definitions = _parse(data, known_fields, problems, str(path))
    return definitions, _declared_names(data), problems


def declared_segment_names(path: str | Path) -> list[str]:
    """Every segment name a segments file declares, in file order — also those of segments with mistakes (the
    conditions are not read). Only a file that cannot be read as YAML raises
    :class:`tailor.rules.problems.RuleFileError`."""
    data, _ = load_yaml(path, Problems(path))
    return _declared_names(data)


def _declared_names(data: object) -> list[str]:
    names: list[str] = []
    items = data.get("segments") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _parse(data: object, known_fields: Mapping[str, str], problems: Problems, path: str) -> list[SegmentDefinition]:
    if not isinstance(data, dict):
        problems.add(getattr(data, "line", 1), "the file must start with `segments:` followed by a list of segments")
        return []
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(line_of(data, key), f"unknown key {key!r}{did_you_mean(key, _TOP_KEYS)} "
                                             f"(the file has one key: segments)")
    if "segments" not in data:
        problems.add(data.line if hasattr(data, "line") else 1, "missing required key `segments:`")
        return []
    items = data["segments"]
    if not isinstance(items, list):
        problems.add(line_of(data, "segments"), "`segments:` must be a list; start each segment with `- name: ...`")
        return []
    if len(items) > MAX_SEGMENTS:
        problems.add(line_of(items, MAX_SEGMENTS), f"the file has {len(items):,} segments; a segments file may have "
                                                   f"at most {MAX_SEGMENTS:,} (those past it were not checked)")
        items = items[:MAX_SEGMENTS]
    fields = {k: v for k, v in known_fields.items() if k != SEGMENTS_FIELD}
    parser = ConditionParser(fields, problems, allow_segments=False)
    out: list[SegmentDefinition] = []
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        iline = line_of(items, i)
        checked = check_named_item(
            items, i, problems, seen, kind="segment", keys=_SEGMENT_KEYS, name_re=SEGMENT_NAME_RE,
            name_hint="lower-case letters, digits and _ (e.g. at_risk)", required_keys_text="name, description and when",
        )
        if checked is None:
            continue
        name, label, ok = checked
        description = item.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            problems.add(line_of(item, "description"), f"{label}: description must be text, got {describe_value(description)}")
            ok = False
        if "when" not in item:
            problems.add(iline, f"{label}: missing required key `when` (the condition customers must meet)")
            continue
        cond = parser.parse(item["when"], line_of(item, "when"))
        cond = parser.within_limits(cond, line_of(item, "when"), label)
        if cond is None or not ok:
            continue
        out.append(SegmentDefinition(name=name, description=description.strip(), condition=cond, line=iline, path=path))
    return out


def assign_segments(customers: pd.DataFrame, definitions: Sequence[SegmentDefinition]) -> pd.DataFrame:
    """Memberships in long format: one row (customer_id, segment) per customer and segment it belongs to.

    Rows are ordered by the customers' order in ``customers``, then by the order of the definitions.
    """
    if "customer_id" not in customers.columns:
        raise ValueError("assign_segments: the customers frame needs a customer_id column")
    missing = {}
    for d in definitions:
        absent = sorted(condition_fields(d.condition) - set(map(str, customers.columns)))
        if absent:
            missing[d.source] = absent
    if missing:
        detail = "; ".join(f"segment defined at {src} uses {', '.join(cols)}" for src, cols in missing.items())
        raise ValueError(f"assign_segments: fields missing from the customers frame: {detail}")
    if customers["customer_id"].duplicated().any():
        dup = customers.loc[customers["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"assign_segments: customer_id {dup!r} appears more than once in the customers frame")
    frame = customers.reset_index(drop=True)
    positions: list[pd.Series] = []
    order: list[pd.Series] = []
    names: list[str] = []
    for rank, d in enumerate(definitions):
        try:
            mask = evaluate(d.condition, frame)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"segment {d.name!r} ({d.source}): {exc}") from exc
        idx = mask.to_numpy().nonzero()[0]
        positions.append(pd.Series(idx))
        order.append(pd.Series([rank] * len(idx), dtype="int64"))
        names.extend([d.name] * len(idx))
    if not names:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=object), "segment": pd.Series([], dtype=object)})
    pos = pd.concat(positions, ignore_index=True)
    rank = pd.concat(order, ignore_index=True)
    long = pd.DataFrame({"pos": pos.to_numpy(), "rank": rank.to_numpy(), "segment": names})
    long = long.sort_values(["pos", "rank"], kind="stable")
    ids = frame["customer_id"].astype(object).to_numpy()[long["pos"].to_numpy()]
    return pd.DataFrame({"customer_id": ids, "segment": long["segment"].to_numpy(dtype=object)})


def _build_schema() -> type:
    """customer_segments' pandera model, built on first use (pandera costs ~2 s of imports; checking rule
    files does not need it). Exported as :data:`CustomerSegmentsSchema`."""
    # pandera resolves the (postponed) annotations in this module's globals
    global pa, Series
    import pandera.pandas as pa
    from pandera.typing import Series

    class CustomerSegmentsSchema(pa.DataFrameModel):
        """customer_segments: one row per (customer, segment) membership."""

        customer_id: Series[str] = pa.Field(nullable=False)
        segment: Series[str] = pa.Field(nullable=False, str_matches=SEGMENT_NAME_RE.pattern)

        class Config:
            strict = True
            unique = ["customer_id", "segment"]

    CustomerSegmentsSchema.__qualname__ = "CustomerSegmentsSchema"
    return CustomerSegmentsSchema


def __getattr__(name: str) -> Any:
    # `CustomerSegmentsSchema` is built on first access, then an ordinary module global
    if name == "CustomerSegmentsSchema":
        schema = globals()["CustomerSegmentsSchema"] = _build_schema()
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
