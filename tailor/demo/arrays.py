"""Vectorised helpers of the generator: weighted draws, templates, groups, and tables held as dicts of
equally long columns."""

from __future__ import annotations

import numpy as np


def pick(rng: np.random.Generator, items: list, weights, size: int) -> np.ndarray:
    """``size`` indexes into ``items``, drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(items), size=size, p=w / w.sum())


def fill_template(rng: np.random.Generator, tmpl: np.ndarray) -> np.ndarray:
    """Replace '#' by random digits and '@' by random capitals in an S array of templates."""
    n = len(tmpl)
    if n == 0:
        return tmpl
    w = tmpl.dtype.itemsize
    m = tmpl.view(np.uint8).reshape(n, w).copy()
    digits = rng.integers(48, 58, size=(n, w), dtype=np.uint8)
    letters = rng.integers(65, 91, size=(n, w), dtype=np.uint8)
    m = np.where(m == ord("#"), digits, m)
    m = np.where(m == ord("@"), letters, m)
    return np.ascontiguousarray(m).view(f"S{w}").ravel()


def group_positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: owner index and 0-based position of every element."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - starts[owner]


def concat_columns(parts: list[dict]) -> dict:
    """Tables (dicts of equally long columns) one after the other; the first non-empty one names the columns."""
    parts = [p for p in parts if p]
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def take_rows(table: dict, idx) -> dict:
    """The rows ``idx`` (indexes, a mask or a slice) of every column."""
    return {k: v[idx] for k, v in table.items()}


def tight(a: np.ndarray) -> np.ndarray:
    """A byte-string array at the width of its longest value (padding columns cost memory at 1M rows)."""
    if a.dtype.kind != "S":
        return a
    return a.astype(f"S{max(int(np.strings.str_len(a).max(initial=0)), 1)}")
