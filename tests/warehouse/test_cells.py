"""The one reading of warehouse cells (tailor/warehouse/cells.py) and of JSON text (tailor/warehouse/json_lists.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.warehouse.cells import NotAList, is_missing, is_true, json_list, list_cell
from tailor.warehouse.json_lists import COMPACT_JSON, json_list_of, json_object_of

ROOT = Path(__file__).resolve().parents[2]


def test_what_counts_as_missing_and_as_true():
    for value in (None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT")):
        assert is_missing(value), value
    for value in (0, "", "nan", False, [], np.datetime64("2024-01-01"), pd.Timestamp("2024-01-01")):
        assert not is_missing(value), value
    assert is_true(True) and is_true(np.bool_(True))
    assert not any(is_true(v) for v in (False, np.bool_(False), 1, "true", None, float("nan")))


def test_list_cells_the_rules_read_and_the_lenient_reading_of_the_render_contexts():
    cell = ["a"]
    assert list_cell(cell) is cell
    assert list_cell(' ["a", 1] ') == ["a", 1] and list_cell(np.array(["a"])) == ["a"] and list_cell(("a",)) == ["a"]
    assert list_cell(None) == list_cell(float("nan")) == list_cell("") == list_cell("null") == []
    with pytest.raises(NotAList, match="expected a JSON list"):
        list_cell('{"a": 1}')
    with pytest.raises(ValueError, match="expected a list or a JSON list"):
        list_cell(5)
    assert json_list('{"a": 1}') == [] and json_list(5) == [] and json_list('["P1"]') == ["P1"]
    with pytest.raises(json.JSONDecodeError):
        json_list("[not json")


def test_json_text_is_compact_and_checked_by_kind():
    assert COMPACT_JSON.encode({"hero": "hero_vip", "note": "für dich"}) == '{"hero":"hero_vip","note":"für dich"}'
    assert json_object_of('{"hero": "hero_vip"}', str) == {"hero": "hero_vip"}
    assert json_object_of('{"hero": 1}', str) is None and json_object_of("[]") is None and json_object_of(None) is None
    assert json_list_of('["a", 1]') == ["a", 1] and json_list_of('["a", 1]', str) is None
    assert json_list_of("{}") is None and json_list_of("not json") is None


def test_reading_cells_imports_neither_numpy_nor_pandas():
    code = ("import sys; import tailor.warehouse.cells, tailor.warehouse.json_lists; "
            "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
