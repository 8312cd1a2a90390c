"""Problems in marketer-edited rule files, and how they are told: ``<file>:<line>: <what is wrong>``.

Every reader of a rule file (segments, email rules, test cases) collects all the problems of a file in a
:class:`Problems` before reporting them, so one run of ``tailor rules check`` shows every mistake at once;
:class:`RuleFileError` carries them when a file cannot be used. Unknown names come with the closest valid one
(:func:`did_you_mean`), since most mistakes are typos.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One mistake: the 1-based line it is on (None when no line applies) and what is wrong."""

    line: int | None
    message: str


class RuleFileError(ValueError):
    """One or more problems in a marketer-edited rule file.

    ``path``: the file; ``line``: the line of the first problem (1-based, None if unknown);
    ``problems``: every :class:`Problem` found (the whole file is checked before raising).
    ``str(err)`` lists them as ``<path>:<line>: <message>``.
    """

    def __init__(self, path: str | Path, problems: Iterable[Problem] | str, line: int | None = None):
        if isinstance(problems, str):
            problems = [Problem(line, problems)]
        self.path = str(path)
        self.problems: list[Problem] = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        self.line = self.problems[0].line if self.problems else None
        lines = [format_problem(self.path, p.line, p.message) for p in self.problems]
        if len(lines) == 1:
            self.message = lines[0]
        else:
            self.message = f"{len(lines)} problems in {self.path}:\n" + "\n".join("  " + x for x in lines)
        super().__init__(self.message)


class Problems:
    """Collects the problems of one file; :meth:`raise_if_any` raises them together."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.items: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append(Problem(line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise RuleFileError(self.path, self.items)


def suggest(word: Any, options: Iterable[str]) -> str | None:
    """The closest valid name for a typo (case, prefix/containment, then difflib), or None."""
    if not isinstance(word, str):
        return None
    opts = sorted(set(options))
    w = word.strip().lower()
    for o in opts:
        if o.lower() == w:
            return o
    if len(w) >= 4:
        starts = [o for o in opts if o.lower().startswith(w) or w.startswith(o.lower())]
        if len(starts) == 1:
            return starts[0]
        inside = [o for o in opts if w in o.lower()]
        if len(inside) == 1:
            return inside[0]
    close = difflib.get_close_matches(w, opts, n=1, cutoff=0.5)
    return close[0] if close else None


def did_you_mean(word: Any, options: Iterable[str]) -> str:
    """`` — did you mean x?`` to append to a message, or "" when nothing is close."""
    s = suggest(word, options)
    return f" — did you mean {s}?" if s else ""


def format_problem(path: str | Path, line: int | None, message: str) -> str:
    return f"{path}:{line}: {message}" if line is not None else f"{path}: {message}"


def problem_lines(problems: Problems) -> list[str]:
    """The collected problems as output lines, in line order."""
    return [format_problem(problems.path, p.line, p.message)
            for p in sorted(problems.items, key=lambda p: (p.line is None, p.line or 0))]


def error_lines(err: Exception) -> list[str]:
    """Lines of a RuleFileError (one per problem)."""
    problems = getattr(err, "problems", None)
    path = getattr(err, "path", None)
    if problems is None or path is None:
        return [str(err)]
    return [format_problem(path, p.line, p.message) for p in problems]
