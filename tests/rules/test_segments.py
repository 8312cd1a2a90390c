"""Segments: rules/segments.yaml loaded and validated, memberships assigned with hand-checked results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.rules.fields import field_kinds, spec_field_kinds
from tailor.rules.problems import RuleFileError
from tailor.rules.segments import CustomerSegmentsSchema, assign_segments, load_segment_definitions

SPEC_FIELD_KINDS = spec_field_kinds()

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS_YAML = ROOT / "tests" / "data" / "segments_v1.yaml"   # frozen: not the shipped file marketing edits

SHIPPED = ["new_customers", "vip", "at_risk", "lapsed", "browse_abandoners", "cart_abandoners", "engaged",
           "unengaged", "never_purchased"]


@pytest.fixture
def customers() -> pd.DataFrame:
    nan = np.nan
    return pd.DataFrame({
        "customer_id":       ["c1", "c2", "c3", "c4", "c5", "c6"],
        "tenure_days":       [10.0, 400.0, 300.0, 900.0, 30.0, nan],
        "order_count":       [0, 8, 2, 1, 1, 0],
        "frequency":         [0, 6, 1, 0, 0, 0],
        "total_spend":       [0.0, 1500.0, 120.0, 1000.0, 50.0, 0.0],
        "recency_days":      [nan, 20.0, 90.0, 181.0, 180.0, nan],
        "viewed_not_bought": ["[]", '["P1"]', "[]", None, ["P9"], "[]"],
        "cart_abandoned":    [False, True, False, False, False, False],
        "emails_delivered":  [1, 10, 6, 3, 5, 0],
        "email_opens":       [0, 4, 0, 3, 0, 0],
    })


EXPECTED = [
    ("c1", "new_customers"), ("c1", "never_purchased"),
    ("c2", "vip"), ("c2", "browse_abandoners"), ("c2", "cart_abandoners"), ("c2", "engaged"),
    ("c3", "at_risk"), ("c3", "unengaged"),
    ("c4", "vip"), ("c4", "lapsed"), ("c4", "engaged"),
    ("c5", "new_customers"), ("c5", "at_risk"), ("c5", "browse_abandoners"), ("c5", "unengaged"),
    ("c6", "never_purchased"),
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text.lstrip("\n"), encoding="utf-8")
    return p


def test_shipped_file_loads_with_the_catalog_of_the_schemas():
    # the shipped file (which marketing edits) uses only fields of the customer table's schemas
    shipped = load_segment_definitions(ROOT / "rules" / "segments.yaml", SPEC_FIELD_KINDS)
    assert {"new_customers", "vip", "lapsed", "cart_abandoners"} <= {d.name for d in shipped}


def test_frozen_file_loads_with_the_spec_catalog():
    defs = load_segment_definitions(SEGMENTS_YAML, SPEC_FIELD_KINDS)
    assert [d.name for d in defs] == SHIPPED
    vip = defs[1]
    assert vip.description.startswith("Frequent buyers")
    assert vip.path == str(SEGMENTS_YAML) and vip.line is not None
    assert SEGMENTS_YAML.read_text().splitlines()[vip.line - 1].strip() == "- name: vip"


def test_assign_segments_hand_checked(customers):
    defs = load_segment_definitions(SEGMENTS_YAML, field_kinds(customers))
    out = assign_segments(customers, defs)
    assert list(out.columns) == ["customer_id", "segment"]
    assert list(out.itertuples(index=False, name=None)) == EXPECTED
    CustomerSegmentsSchema.validate(out)


def test_boundaries_are_inclusive_where_documented(customers):
    out = assign_segments(customers, load_segment_definitions(SEGMENTS_YAML, field_kinds(customers)))
    members = {s: set(g["customer_id"]) for s, g in out.groupby("segment")}
    assert "c5" in members["new_customers"]        # tenure 30 <= 30
    assert {"c3", "c5"} <= members["at_risk"]       # 90 and 180 are both "between"
    assert "c4" in members["lapsed"] and "c4" not in members["at_risk"]   # 181
    assert "c4" in members["vip"]                   # total_spend 1000 >= 1000


def test_a_segment_changes_when_the_yaml_changes(tmp_path, customers):
    kinds = field_kinds(customers)
    base = """
segments:
  - name: vip
    description: big spenders
    when:
      total_spend: {gte: %s}
"""
    strict = load_segment_definitions(write(tmp_path, "a.yaml", base % 1200), kinds)
    loose = load_segment_definitions(write(tmp_path, "b.yaml", base % 100), kinds)
    assert assign_segments(customers, strict)["customer_id"].tolist() == ["c2"]
    assert assign_segments(customers, loose)["customer_id"].tolist() == ["c2", "c3", "c4"]


def test_empty_result_has_the_schema(customers):
    defs = load_segment_definitions(SEGMENTS_YAML, field_kinds(customers))
    out = assign_segments(customers.iloc[0:0], defs)
    assert list(out.columns) == ["customer_id", "segment"] and len(out) == 0
    CustomerSegmentsSchema.validate(out)


def test_missing_column_is_a_clear_error(customers):
    defs = load_segment_definitions(SEGMENTS_YAML, SPEC_FIELD_KINDS)
    with pytest.raises(ValueError, match=r"segments_v1\.yaml:\d+ uses tenure_days"):
        assign_segments(customers.drop(columns=["tenure_days"]), defs)


def test_file_errors_name_file_and_line(tmp_path):
    p = write(tmp_path, "segments.yaml", """
segments:
  - name: vip
    description: big spenders
    when:
      lifetime_vlaue: {gte: 1000}
  - name: vip
    when:
      in_segment: lapsed
  - name: Lapsed Customers
    when:
      recency_days: {gt: "half a year"}
  - name: no_condition
    descripton: forgot the when
""")
    with pytest.raises(RuleFileError) as exc:
        load_segment_definitions(p, SPEC_FIELD_KINDS)
    msg = str(exc.value)
    assert exc.value.path == str(p) and exc.value.line == 5
    assert f"{p}:5: unknown field 'lifetime_vlaue' — did you mean monetary_value?" in msg
    assert f"{p}:6: duplicate segment name 'vip' (first defined on line 2)" in msg
    assert f"{p}:8: `in_segment` cannot be used here" in msg
    assert f"{p}:9: segment name text 'Lapsed Customers' is not valid" in msg
    assert f"{p}:11: wrong type for 'recency_days' (gt)" in msg
    assert f"{p}:13: unknown key 'descripton' — did you mean description?" in msg
    assert f"{p}:12: segment 'no_condition': missing required key `when`" in msg


def test_top_level_shape_errors(tmp_path):
    p = write(tmp_path, "s.yaml", "segmnets:\n  - name: a\n")
    with pytest.raises(RuleFileError) as exc:
        load_segment_definitions(p, SPEC_FIELD_KINDS)
    assert f"{p}:1: unknown key 'segmnets' — did you mean segments?" in str(exc.value)
    assert "missing required key `segments:`" in str(exc.value)


def test_check_segment_file_returns_every_declared_name_and_all_problems(tmp_path):
    from tailor.rules.segments import check_segment_file, declared_segment_names

    p = tmp_path / "segments.yaml"
    p.write_text("""segments:
  - name: vip
    when: {total_spend: {gte: 1000}}
  - name: lapsed
    when: {recency_dayz: {gt: 180}}
  - name: vip
    when: {frequency: {gte: 5}}
""", encoding="utf-8")
    definitions, names, problems = check_segment_file(p, SPEC_FIELD_KINDS)
    assert [d.name for d in definitions] == ["vip"]
    assert names == ["vip", "lapsed"]          # lapsed has a mistake, but rule files may still name it
    lines = [(x.line, x.message) for x in problems.items]
    assert (5, "unknown field 'recency_dayz' — did you mean recency_days?") in lines
    assert (6, "duplicate segment name 'vip' (first defined on line 2)") in lines
    assert declared_segment_names(p) == names     # the names alone, without the field catalog


def test_segments_schema_is_still_importable_and_validates():
    import tailor.rules.segments as seg

    schema = seg.CustomerSegmentsSchema
    assert schema is CustomerSegmentsSchema and schema.__name__ == "CustomerSegmentsSchema"
    with pytest.raises(Exception):
        schema.validate(pd.DataFrame({"customer_id": ["a"], "segment": ["Not Valid"]}))
