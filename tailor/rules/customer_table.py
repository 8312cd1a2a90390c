"""The customer table that segment and email rules read — its SQL and its field catalog — without heavy imports.

The rules see one row per customer: ``customer_profiles`` joined with ``customer_features``, the chosen columns of
``customer_predictions`` and ``product_recommendations`` (:data:`CUSTOMER_TABLES`). This module builds

* :func:`customer_table_sql` — the join (Snowflake dialect; the warehouse transpiles it for DuckDB), and
* :func:`customer_field_kinds` — every field a rule may use, with its kind in the condition language, read from
  the pandera schemas of those tables. Adding a column to a schema makes it usable in rules, with no list to edit.

Both are used by ``tailor rules check`` (on every save) and ``tailor rules diff``, which must not pay for pandas,
pandera or Dagster (seconds of imports): the schema classes are *read* from their modules' source with
:mod:`ast`, not imported. tests/rules/test_conditions.py checks that this reading matches the imported pandera schemas.

How a schema column becomes a field kind: the ``Series[...]`` dtype — ``str`` -> text, ``bool`` -> true/false,
int and float types -> number, ``pd.Timestamp``/``pa.DateTime``/``datetime`` -> date — and a text column with a
column check named ``json_list...`` (``@pa.check("viewed_not_bought", name="json_list_max_10")``) is a list.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class CustomerTable:
    """A table joined into the customer table, and where its pandera schema is defined."""

    table: str
    module: str                   # module that defines the schema (read, not imported)
    schema: str                   # the pandera DataFrameModel class
    columns: str | None = None    # a dict literal in that module naming the columns joined (None: all of them)
    alias: str | None = None      # the sub-query's alias when only some columns are joined


#: In join order. customer_id joins them (LEFT JOINs on the profiles: every customer has a row).
CUSTOMER_TABLES: tuple[CustomerTable, ...] = (
    CustomerTable("customer_profiles", "tailor.identity.profiles", "CustomerProfilesSchema"),
    CustomerTable("customer_features", "tailor.features.customer_features", "CustomerFeaturesSchema"),
    # predictions and recommendations also have an `as_of`, which customer_features already brings
    CustomerTable("customer_predictions", "tailor.models.predictions", "CustomerPredictionsTableSchema",
                  columns="PREDICTION_FIELD_KINDS", alias="predictions"),
    CustomerTable("product_recommendations", "tailor.models.recommendations", "ProductRecommendationsSchema",
                  columns="RECOMMENDATION_FIELD_KINDS", alias="recommendations"),
)

#: Segment memberships, added to every customer by the decisions (email rules only: ``in_segment``).
SEGMENTS_FIELD = "segments"


class SchemaReadError(RuntimeError):
    """A schema module could not be read as expected (names the file and line)."""


def customer_table_sql() -> str:
    """The fields segment and email rules may use, one row per customer (ordered by customer_id)."""
    sql = f"SELECT * FROM {CUSTOMER_TABLES[0].table} "
    for t in CUSTOMER_TABLES[1:]:
        if t.columns is None:
            sql += f"LEFT JOIN {t.table} USING (customer_id) "
        else:
            cols = ", ".join(["customer_id", *joined_columns(t)])
            sql += f"LEFT JOIN (SELECT {cols} FROM {t.table}) {t.alias} USING (customer_id) "
    return sql + "ORDER BY customer_id"


@lru_cache(maxsize=None)
def customer_field_kinds() -> dict[str, str]:
    """Every field of the customer table -> its kind (number, string, boolean, datetime, list), plus ``segments``.

    Cached: the schemas are code, read once per process. Raises :class:`SchemaReadError` when a schema cannot be
    read (a missing module or class, a dtype the condition language has no kind for)."""
    kinds: dict[str, str] = {}
    for t in CUSTOMER_TABLES:
        schema = schema_kinds(t.module, t.schema)
        wanted = joined_columns(t) if t.columns is not None else list(schema)
        for name in wanted:
            if name not in schema:
                raise SchemaReadError(f"{_source(t.module)}: {t.columns} names {name!r}, which {t.schema} does not have")
            kinds.setdefault(name, schema[name])   # customer_id and as_of come from the first table that has them
    kinds[SEGMENTS_FIELD] = "list"
    return kinds


# The dtype names of pandera, numpy and pandas with their field kind (numbers: see _kind_of_dtype).
_TEXT_TYPES = {"str", "String", "STRING", "object", "Object", "Category"}
_BOOL_TYPES = {"bool", "Bool", "BOOL", "bool_", "boolean", "BooleanDtype"}
_DATE_TYPES = {"Timestamp", "DateTime", "datetime", "datetime64", "DatetimeTZDtype", "Date", "date"}


def _kind_of_dtype(name: str) -> str | None:
    """The field kind of a pandera/numpy/pandas dtype name, or None."""
    if name in _BOOL_TYPES:
        return "boolean"
    if name in _TEXT_TYPES:
        return "string"
    if name in _DATE_TYPES:
        return "datetime"
    base = name.lower().removesuffix("dtype").rstrip("0123456789_")   # int64, Int64Dtype, UINT8, float32 ...
    if base in ("int", "uint", "float", "decimal"):
        return "number"
    return None


def _dtype_name(node: ast.expr) -> str | None:
    """``np.int64`` -> "int64", ``str`` -> "str", ``Annotated[pd.DatetimeTZDtype, ...]`` -> "DatetimeTZDtype"."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):   # a string annotation
        try:
            return _dtype_name(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Subscript):    # Annotated[X, ...] / Optional[X]
        inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
        return _dtype_name(inner)
    return None


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)    # imports only the (empty) parent package
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise SchemaReadError(f"cannot find the source of module {module!r} (the customer table's schemas are read "
                              f"from it)")
    return Path(spec.origin)


@lru_cache(maxsize=None)
def _module_ast(module: str) -> tuple[Path, ast.Module]:
    path = _source(module)
    return path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def schema_kinds(module: str, schema: str) -> dict[str, str]:
    """The columns of a pandera ``DataFrameModel`` class, read from its module's source: name -> kind."""
    path, tree = _module_ast(module)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == schema), None)
    if cls is None:
        raise SchemaReadError(f"{path}: no class {schema} (the pandera schema of a table the rules read)")
    lists: set[str] = set()
    for node in cls.body:    # @pa.check("col", name="json_list...") marks a JSON-list text column
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and _dtype_name(dec.func) == "check"
                        and any(k.arg == "name" and isinstance(k.value, ast.Constant)
                                and str(k.value.value).startswith("json_list") for k in dec.keywords)):
                    lists |= {a.value for a in dec.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    kinds: dict[str, str] = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        ann = node.annotation
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            ann = ast.parse(ann.value, mode="eval").body
        if not (isinstance(ann, ast.Subscript) and _dtype_name(ann.value) == "Series"):
            continue    # Index[...] and plain class attributes are not columns
        name = node.target.id
        dtype = _dtype_name(ann.slice)
        kind = _kind_of_dtype(dtype) if dtype else None
        if kind is None:
            raise SchemaReadError(f"{path}:{node.lineno}: {schema}.{name}: no field kind for the dtype "
                                  f"{ast.unparse(ann.slice)!r}; teach tailor/rules/customer_table.py this dtype")
        if name in lists:
            if kind != "string":
                raise SchemaReadError(f"{path}:{node.lineno}: {schema}.{name} has a json_list check but is not text")
            kind = "list"
        kinds[name] = kind
    return kinds


def joined_columns(t: CustomerTable) -> list[str]:
    """The column names of the dict literal ``t.columns`` in ``t.module`` (e.g. PREDICTION_FIELD_KINDS)."""
    path, tree = _module_ast(t.module)
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == t.columns and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError as exc:
                raise SchemaReadError(f"{path}:{node.lineno}: {t.columns} must be a literal dict or list of column "
                                      f"names") from exc
            return [str(c) for c in value]
    raise SchemaReadError(f"{path}: no module-level {t.columns} (the columns of {t.table} the rules read)")
