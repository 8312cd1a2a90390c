"""The one error of templates and subjects: it names the file and, where it can, the line."""

from __future__ import annotations

from pathlib import Path


class TemplateError(ValueError):
    """A template file is invalid (or a block choice cannot be rendered). Names the file and line."""

    def __init__(self, problem: str, file: str | Path | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.line = line
        where = ""
        if self.file:
            where = f"{self.file}, line {line}: " if line else f"{self.file}: "
        super().__init__(f"{where}{problem}")
