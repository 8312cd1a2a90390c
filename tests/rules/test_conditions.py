"""The condition language: parsing, validation errors (file + line), pandas semantics, durable_rules JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tailor.rules.condition import AllOf, Compare, Contains, InSet, Missing, Not, condition_fields
from tailor.rules.durable import json_number, to_durable
from tailor.rules.evaluate import evaluate
from tailor.rules.fields import field_kinds, spec_field_kinds
from tailor.rules.parser import ConditionParser
from tailor.rules.problems import Problems, RuleFileError, suggest
from tailor.rules.yaml_lines import LineLoader, load_yaml

SPEC_FIELD_KINDS = spec_field_kinds()
K = SPEC_FIELD_KINDS


def parse(raw, fields=K, *, path="<condition>", **kw):
    """One condition of loaded YAML, parsed as the rule file readers do (every problem raised at once)."""
    problems = Problems(path)
    c = ConditionParser(fields, problems, **kw).parse(raw, getattr(raw, "line", None))
    problems.raise_if_any()
    return c


def cond(text: str, fields=K, **kw):
    """A condition written as YAML text, read like a rule file's (with lines)."""
    return parse(yaml.load(text, Loader=LineLoader), fields, **kw)


def test_parse_builds_the_typed_ast():
    c = cond("""
all:
  - recency_days: {between: [90, 180]}
  - country: [DE, AT]
  - cart_abandoned: true
  - not: {in_segment: vip}
  - viewed_not_bought: {not_empty: true}
""")
    assert isinstance(c, AllOf)
    between, country, cart, not_vip, viewed = c.items
    assert between == AllOf((Compare("recency_days", "number", "gte", 90), Compare("recency_days", "number", "lte", 180)))
    assert country == InSet("country", "string", ("DE", "AT"))
    assert cart == Compare("cart_abandoned", "boolean", "eq", True)
    assert not_vip == Not(Contains("segments", "list", "vip"))
    assert viewed == Not(Missing("viewed_not_bought", "list"))
    assert condition_fields(c) == {"recency_days", "country", "cart_abandoned", "segments", "viewed_not_bought"}
    # lines are recorded (1-based, as in the file)
    assert country.line == 4 and not_vip.line == 6


def test_several_operators_under_one_field_mean_and_and_yaml12_booleans():
    c = cond("total_spend: {gte: 100, lt: 500}")
    assert c == AllOf((Compare("total_spend", "number", "gte", 100), Compare("total_spend", "number", "lt", 500)))
    # YAML 1.1 would turn NO (Norway) into false; our loader keeps it as text
    assert cond("country: NO") == Compare("country", "string", "eq", "NO")
    assert cond("country: {in: [no, yes, on]}") == InSet("country", "string", ("no", "yes", "on"))


def test_dates_are_parsed_to_utc_naive_timestamps():
    c = cond("last_order_at: {gte: 2024-06-30}")
    assert c == Compare("last_order_at", "datetime", "gte", pd.Timestamp("2024-06-30"))
    c = cond('created_at: {lt: "2024-06-30T10:00:00+02:00"}')
    assert c.value == pd.Timestamp("2024-06-30 08:00:00")


def test_to_durable_examples():
    assert to_durable(cond("recency_days: {gt: 30}")) == {"$gt": {"recency_days": 30}}
    assert to_durable(cond("in_segment: vip")) == {"$iany": {"segments": {"$i": "vip"}}}
    assert to_durable(cond("cart_abandoned: true")) == {"cart_abandoned": True}
    assert to_durable(cond("frequency: {between: [2, 5]}")) == {
        "$and": [{"$gte": {"frequency": 2}}, {"$lte": {"frequency": 5}}]}
    assert to_durable(cond("any: [{frequency: {gte: 5}}, {total_spend: {gte: 1000}}]")) == {
        "$or": [{"$gte": {"frequency": 5}}, {"$gte": {"total_spend": 1000}}]}
    # ne requires a value; not: is pushed down to the leaves (durable_rules has no negation)
    assert to_durable(cond("country: {ne: DE}")) == {"$and": [{"$ex": {"country": 1}}, {"$neq": {"country": "DE"}}]}
    assert to_durable(cond("not: {recency_days: {gt: 30}}")) == {
        "$or": [{"$nex": {"recency_days": 1}}, {"$lte": {"recency_days": 30}}]}
    assert to_durable(cond("not: {in_segment: vip}")) == {
        "$or": [{"$nex": {"segments": 1}}, {"$iall": {"segments": {"$neq": {"$i": "vip"}}}}]}
    assert to_durable(cond("top_category: {is_null: true}")) == {"$nex": {"top_category": 1}}
    # datetimes are compared as epoch seconds
    assert to_durable(cond("last_order_at: {gt: 2024-01-01}")) == {"$gt": {"last_order_at": 1704067200.0}}


def test_json_number_avoids_exponent_notation_durable_cannot_parse():
    assert json_number(1e-05) == 0.0001 and json_number(-1e-05) == -0.0001
    assert json_number(1e20) == 1e15 and json_number(float("inf")) == 1e15
    assert json_number(float("nan")) is None
    assert json_number(0.5) == 0.5 and json_number(0.0) == 0.0
    for x in (1e-05, 1e20, -3e17, 2.5e-9):
        assert "e" not in json.dumps(json_number(x))


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "recency_days": [10.0, np.nan, 200.0, 95.0],
        "country": ["DE", None, "FR", "AT"],
        "cart_abandoned": [True, False, None, True],
        "viewed_not_bought": ['["P1","P2"]', "[]", None, ["P3"]],      # JSON text and python lists both work
        "segments": [["vip"], [], ["lapsed", "vip"], '["at_risk"]'],
        "last_order_at": pd.to_datetime(["2025-01-10", None, "2024-05-01", "2024-11-20"]),
    })


def ids(c, df) -> list[str]:
    mask = evaluate(c, df)
    assert mask.dtype == bool and list(mask.index) == list(df.index)
    return df.loc[mask, "customer_id"].tolist()


def test_missing_values_never_match_a_comparison(frame):
    assert ids(cond("recency_days: {gt: 5}"), frame) == ["a", "c", "d"]
    assert ids(cond("recency_days: {ne: 10}"), frame) == ["c", "d"]           # b (NaN) excluded
    assert ids(cond("country: {ne: DE}"), frame) == ["c", "d"]                # b (None) excluded
    assert ids(cond("country: {not_in: [DE]}"), frame) == ["c", "d"]
    assert ids(cond("recency_days: {is_null: true}"), frame) == ["b"]
    assert ids(cond("recency_days: {not_null: true}"), frame) == ["a", "c", "d"]
    # not: is boolean negation: it includes the customer without a value
    assert ids(cond("not: {recency_days: {gt: 50}}"), frame) == ["a", "b"]


def test_ranges_membership_booleans_dates(frame):
    assert ids(cond("recency_days: {between: [90, 200]}"), frame) == ["c", "d"]
    assert ids(cond("country: [DE, AT]"), frame) == ["a", "d"]
    assert ids(cond("cart_abandoned: true"), frame) == ["a", "d"]
    assert ids(cond("cart_abandoned: false"), frame) == ["b"]
    assert ids(cond("cart_abandoned: {ne: true}"), frame) == ["b"]           # None is not "not true"
    assert ids(cond("last_order_at: {gte: 2024-11-01}"), frame) == ["a", "d"]


def test_list_fields_json_text_or_python_lists(frame):
    assert ids(cond("viewed_not_bought: {not_empty: true}"), frame) == ["a", "d"]
    assert ids(cond("viewed_not_bought: {is_empty: true}"), frame) == ["b", "c"]
    assert ids(cond("viewed_not_bought: {contains: P2}"), frame) == ["a"]
    assert ids(cond("in_segment: vip"), frame) == ["a", "c"]
    assert ids(cond("in_segment: [at_risk, lapsed]"), frame) == ["c", "d"]
    assert ids(cond("segments: {not_contains: vip}"), frame) == ["b", "d"]


def test_combinators(frame):
    c = cond("""
any:
  - all:
      - in_segment: vip
      - recency_days: {lt: 100}
  - country: AT
""")
    assert ids(c, frame) == ["a", "d"]


def test_bad_list_cell_names_the_column_and_row(frame):
    frame.loc[2, "viewed_not_bought"] = "P1,P2"
    with pytest.raises(ValueError, match=r"column 'viewed_not_bought', row 2"):
        evaluate(cond("viewed_not_bought: {not_empty: true}"), frame)


def test_field_kinds_from_a_frame():
    df = pd.DataFrame({
        "customer_id": ["a", "b"],
        "recency_days": [1.5, np.nan],
        "order_count": pd.array([1, None], dtype="Int64"),
        "marketing_consent": [True, False],
        "cart_abandoned": pd.Series([True, None], dtype=object),
        "created_at": pd.to_datetime(["2024-01-01", None]),
        "viewed_not_bought": ['["P1"]', "[]"],
        "top_category": [None, None],          # all null: falls back to the spec's kind
        "custom_list": ['["x"]', '["y"]'],     # JSON-list text is recognised
        "segments": [["vip"], []],
    })
    assert field_kinds(df) == {
        "customer_id": "string", "recency_days": "number", "order_count": "number",
        "marketing_consent": "boolean", "cart_abandoned": "boolean", "created_at": "datetime",
        "viewed_not_bought": "list", "top_category": "string", "custom_list": "list", "segments": "list",
    }


def test_suggest():
    assert suggest("lifetime_vlaue", K) == "monetary_value"
    assert suggest("recency", K) == "recency_days"
    assert suggest("frequncy", K) == "frequency"
    assert suggest("xyzzy", K) is None


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text.lstrip("\n"), encoding="utf-8")
    return p


def parse_file(path: Path):
    data, _ = load_yaml(path)
    return parse(data["when"], K, path=path)


def test_errors_name_file_line_and_problem_all_at_once(tmp_path):
    p = write(tmp_path, "cond.yaml", """
when:
  all:
    - lifetime_vlaue: {gt: 100}
    - recency_days: {gt: "abc"}
    - recency_days: {greater_than: 3}
    - frequency: {gte: 5}
    - country: {gt: DE}
""")
    with pytest.raises(RuleFileError) as exc:
        parse_file(p)
    err = exc.value
    msg = str(err)
    assert err.path == str(p) and err.line == 3
    assert len(err.problems) == 4
    assert f"{p}:3: unknown field 'lifetime_vlaue' — did you mean monetary_value?" in msg
    assert f"{p}:4: wrong type for 'recency_days' (gt): recency_days is a number field but got text 'abc'" in msg
    assert f"{p}:5: unknown operator 'greater_than' on field 'recency_days' — did you mean gt?" in msg
    assert f"{p}:7: operator 'gt' cannot be used on 'country', which is a text field" in msg


def test_single_error_message_is_one_line(tmp_path):
    p = write(tmp_path, "one.yaml", "when:\n  tenure_days: {lte: thirty}\n")
    with pytest.raises(RuleFileError) as exc:
        parse_file(p)
    assert str(exc.value).startswith(f"{p}:2: wrong type for 'tenure_days'")


def test_more_errors(tmp_path):
    p = write(tmp_path, "more.yaml", """
when:
  all:
    - frequency:
    - country: 49
    - cart_abandoned: yes
    - viewed_not_bought: P1
    - gt: 3
    - any: {frequency: 1}
    - segments: {is_null: true}
    - total_spend: {between: [1000, 10]}
    - open_rate: {lt: 0.00001}
""")
    with pytest.raises(RuleFileError) as exc:
        parse_file(p)
    msg = str(exc.value)
    assert f"{p}:3: no condition given for field 'frequency'" in msg
    assert f"{p}:4: wrong type for 'country' (eq): country is a text field but got number 49; " \
           f"if you mean the text, put it in quotes: \"49\"" in msg
    assert f"{p}:5: wrong type for 'cart_abandoned' (eq): cart_abandoned is a true/false field; write true or false" in msg
    assert f"{p}:6: 'viewed_not_bought' is a list field: write `viewed_not_bought: {{contains: P1}}`" in msg
    assert f"{p}:7: operator 'gt' must be written under a field" in msg
    assert f"{p}:8: `any:` needs a list of conditions" in msg
    assert f"{p}:9: operator 'is_null' cannot be used on 'segments', which is a list field — use is_empty" in msg
    assert f"{p}:10: `between` on 'total_spend': the low value 1000 is above the high value 10" in msg
    assert f"{p}:11: number 1e-05 for 'open_rate' is out of range" in msg


def test_yaml_syntax_error_and_duplicate_keys_have_lines(tmp_path):
    p = write(tmp_path, "broken.yaml", "when:\n  all:\n    - frequency: {gte: 5\n    - x: 1\n")
    with pytest.raises(RuleFileError, match=r"broken\.yaml:\d+: YAML syntax error"):
        load_yaml(p)
    p = write(tmp_path, "dup.yaml", "when:\n  frequency: {gte: 5}\n  frequency: {lte: 9}\n")
    with pytest.raises(RuleFileError) as exc:
        load_yaml(p)
    assert f"{p}:3: duplicate key 'frequency' (first given on line 2)" in str(exc.value)


def test_in_segment_needs_the_segments_field_and_checks_names():
    fields = {k: v for k, v in K.items() if k != "segments"}
    with pytest.raises(RuleFileError, match="needs the `segments` field"):
        cond("in_segment: vip", fields)
    with pytest.raises(RuleFileError, match=r"unknown segment 'vipp' — did you mean vip\?"):
        cond("in_segment: vipp", known_segments=["vip", "lapsed"])


def test_implies_identical_and_narrower_conditions():
    from tailor.rules.implication import implies

    yes = [
        ("recency_days: {gt: 200}", "recency_days: {gt: 180}"),
        ("recency_days: {gte: 181}", "recency_days: {gt: 180}"),
        ("recency_days: {between: [90, 120]}", "recency_days: {between: [80, 180]}"),
        ("recency_days: {between: [90, 120]}", "recency_days: {ne: 150}"),
        ("recency_days: {gt: 10}", "recency_days: {not_null: true}"),
        ("recency_days: {is_null: true}", "not: {recency_days: {gt: 5}}"),
        ("country: DE", "country: [DE, AT]"),
        ("country: [DE, AT]", "country: {not_in: [FR]}"),
        ("country: {not_in: [FR, IT]}", "country: {ne: FR}"),
        ("cart_abandoned: true", "cart_abandoned: {ne: false}"),
        ("in_segment: vip", "in_segment: [vip, lapsed]"),
        ("in_segment: vip", "segments: {not_empty: true}"),
        ("all: [{in_segment: vip}, {country: DE}]", "in_segment: vip"),
        ("any: [{country: DE}, {country: AT}]", "country: [DE, AT, CH]"),
        ("last_order_at: {gte: 2025-02-01}", "last_order_at: {gt: 2025-01-01}"),
        ("not: {in_segment: [vip, lapsed]}", "not: {in_segment: vip}"),
        ("order_count: 0", "order_count: {lt: 1}"),
    ]
    for a, b in yes:
        assert implies(cond(a), cond(b)), (a, b)
    no = [
        ("recency_days: {gt: 180}", "recency_days: {gt: 200}"),
        ("recency_days: {gt: 180}", "recency_days: {gte: 180.5}"),
        ("recency_days: {gte: 180}", "recency_days: {gt: 180}"),
        ("in_segment: [vip, lapsed]", "in_segment: vip"),
        ("not: {recency_days: {gt: 5}}", "recency_days: {is_null: true}"),
        ("country: {ne: FR}", "country: {not_in: [FR, IT]}"),
        ("in_segment: vip", "country: DE"),
        ("recency_days: {lt: 10}", "recency_days: {gt: 5}"),
    ]
    for a, b in no:
        assert not implies(cond(a), cond(b)), (a, b)


def test_implies_through_segment_definitions():
    from tailor.rules.implication import implies

    segs = {"lapsed": cond("recency_days: {gt: 180}"),
            "vip": cond("any: [{frequency: {gte: 5}}, {total_spend: {gte: 1000}}]")}
    assert implies(cond("recency_days: {gt: 365}"), cond("in_segment: lapsed"), segs)
    assert implies(cond("total_spend: {gte: 5000}"), cond("in_segment: vip"), segs)
    assert implies(cond("in_segment: lapsed"), cond("recency_days: {gt: 100}"), segs)
    assert not implies(cond("total_spend: {gte: 500}"), cond("in_segment: vip"), segs)
    assert not implies(cond("recency_days: {gt: 365}"), cond("in_segment: lapsed"))   # without the definitions


def test_negation_normal_form_pushes_not_down():
    from tailor.rules.condition import AnyOf
    from tailor.rules.implication import negation_normal_form

    c = negation_normal_form(cond("not: {all: [{country: DE}, {not: {order_count: {gte: 1}}}]}"))
    assert c == AnyOf((Not(Compare("country", "string", "eq", "DE")), Compare("order_count", "number", "gte", 1)))


def test_date_literals_are_read_without_pandas_as_pandas_reads_them():
    import datetime as dt

    from tailor.rules.parser import parse_datetime_literal

    assert parse_datetime_literal("2024-06-30") == pd.Timestamp("2024-06-30")
    assert parse_datetime_literal("2024-06-30T10:00:00Z") == pd.Timestamp("2024-06-30 10:00:00")
    assert parse_datetime_literal("2024-06-30T10:00:00+02:00") == pd.Timestamp("2024-06-30 08:00:00")
    assert parse_datetime_literal(dt.date(2024, 6, 30)) == pd.Timestamp("2024-06-30")
    assert parse_datetime_literal("2024/06/30") == pd.Timestamp("2024-06-30")      # other spellings: via pandas
    assert parse_datetime_literal("soon") is None and parse_datetime_literal(5) is None
    assert type(parse_datetime_literal("2024-06-30")) is dt.datetime


def test_importing_the_condition_language_does_not_import_pandas():
    import subprocess
    import sys

    code = ("import sys, tailor.rules.parser, tailor.rules.segments, tailor.rules.email_rules, tailor.rules.check; "
            "print(sorted(m for m in ('pandas', 'numpy', 'pandera') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def _pandera_kind(column) -> str:
    """The field kind of an imported pandera column (the truth the static reading must match)."""
    if any(str(c.name).startswith("json_list") for c in column.checks):
        return "list"
    dtype = str(column.dtype).lower()
    if dtype in ("str", "string", "object"):
        return "string"
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.startswith("datetime"):
        return "datetime"
    if dtype.rstrip("0123456789").lstrip("u") in ("int", "float"):
        return "number"
    raise AssertionError(f"unexpected dtype {dtype}")


def test_field_catalog_is_read_from_the_pandera_schemas_of_the_customer_table():
    import importlib

    from tailor.rules.customer_table import CUSTOMER_TABLES, customer_field_kinds, joined_columns, schema_kinds

    catalog = customer_field_kinds()
    for t in CUSTOMER_TABLES:
        imported = getattr(importlib.import_module(t.module), t.schema).to_schema()
        truth = {name: _pandera_kind(col) for name, col in imported.columns.items()}
        assert schema_kinds(t.module, t.schema) == truth, t.schema
        for name in (joined_columns(t) if t.columns else truth):
            assert catalog[name] == truth[name]
    # hand-checked samples of each kind, and the segments of the email rules
    assert catalog["total_spend"] == "number" and catalog["country"] == "string" and catalog["segments"] == "list"
    assert catalog["marketing_consent"] == "boolean" and catalog["last_order_at"] == "datetime"
    assert catalog["viewed_not_bought"] == "list" and catalog["abandoned_cart_products"] == "list"
    assert SPEC_FIELD_KINDS == catalog
    assert "as_of" in catalog and list(catalog).count("customer_id") == 1


def test_a_new_schema_column_is_a_field_without_editing_a_list(tmp_path, monkeypatch):
    from tailor.rules.customer_table import SchemaReadError, schema_kinds

    (tmp_path / "extra_schema_mod.py").write_text('''
import numpy as np
import pandera.pandas as pa
from pandera.typing import Series

class ExtraSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(unique=True)
    loyalty_points: Series[np.int64] = pa.Field(ge=0)
    vip_since: Series[pa.DateTime] = pa.Field(nullable=True)
    gift_wrap: Series[bool]
    wishlist: Series[str]
    ratio: Series["float"]

    @pa.check("wishlist", name="json_list")
    def _wishlist(cls, s): return s

class Broken(pa.DataFrameModel):
    customer_id: Series[str]
    blob: Series[bytes]
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert schema_kinds("extra_schema_mod", "ExtraSchema") == {
        "customer_id": "string", "loyalty_points": "number", "vip_since": "datetime", "gift_wrap": "boolean",
        "wishlist": "list", "ratio": "number"}
    with pytest.raises(SchemaReadError, match=r"extra_schema_mod\.py:19: Broken\.blob: no field kind for the dtype 'bytes'"):
        schema_kinds("extra_schema_mod", "Broken")
    with pytest.raises(SchemaReadError, match="no class Missing"):
        schema_kinds("extra_schema_mod", "Missing")


def test_customer_table_sql_joins_the_catalogs_tables():
    from tailor.rules.customer_table import customer_table_sql

    sql = customer_table_sql()
    assert sql.startswith("SELECT * FROM customer_profiles LEFT JOIN customer_features USING (customer_id) ")
    assert "LEFT JOIN (SELECT customer_id, prediction_status, " in sql and "FROM customer_predictions) predictions" in sql
    assert "LEFT JOIN (SELECT customer_id, recommended_products FROM product_recommendations) recommendations" in sql
    assert sql.endswith("ORDER BY customer_id")
    # the pipeline's segments asset uses the same SQL (assets/segments.py re-exports it)
    from tailor.rules.customer_table import customer_table_sql as assets_sql

    assert assets_sql() == sql
