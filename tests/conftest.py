"""Shared fixtures: small landing folders written by hand, and a temporary DuckDB warehouse."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=UserWarning, module="fakesnow")


@pytest.fixture
def warehouse(tmp_path: Path):
    from resources.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path
