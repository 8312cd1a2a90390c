"""What to change when a rule file is not valid YAML: a hint for the common causes, written with the line's own text.

PyYAML says where the file stopped making sense ("mapping values are not allowed here", "expected <block end>,
but found '<scalar>'"), not what to do about it. Behind nearly every syntax error in a rule file is one of a few
mistakes — text with a ``:`` or starting with ``{{`` left without quotes, a tab, a line indented differently from
its neighbours, a ``-`` or ``:`` without the space after it, a bracket or quote never closed — and each has a
one-line fix. :func:`syntax_hint` names it, quoting the corrected line where it can
(``put the text in quotes: subject: "Hello: world"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import yaml

_INDENTATION = "check the indentation of this line against the one above (items of one list start at the same column)"

# `key: value` on one line (also as a list item `- key: value`); the value up to a trailing comment
_KEY_VALUE = re.compile(r"^\s*(?:-\s+)*(?P<key>[A-Za-z0-9_.-]+)\s*:\s+(?P<value>.*?)(?:\s+#.*)?$")

# a key glued to its value (`subject:Hello`): YAML reads the whole line as text
_NO_SPACE_AFTER_COLON = re.compile(r"^\s*(?:-\s+)*(?P<key>[A-Za-z0-9_.-]+):(?P<value>[^\s].*)$")

# a list item without the space after its dash (`-name: x`)
_DASH_WITHOUT_SPACE = re.compile(r"^\s*-[^\s-]")

# how unquoted text may not start: these characters mean something else in YAML
_SPECIAL_STARTS = ("{{", "@", "`", "%", "!", "|", ">", "*", "&")

# `|` / `>` alone start a multi-line text, which is fine
_BLOCK_TEXT_START = re.compile(r"^[|>][-+]?[1-9]?$")


def syntax_hint(error: yaml.MarkedYAMLError, lines: Sequence[str]) -> str | None:
    """A hint a marketer can act on for a YAML syntax error in a file with these lines, or None."""
    mark, problem = error.problem_mark, error.problem or ""
    if error.context == "while scanning a quoted scalar" and error.context_mark is not None:
        return (f"the quote opened on line {error.context_mark.line + 1} is not closed: end the text with the same "
                f"quote")
    if mark is None or not 0 <= mark.line < len(lines):
        return None
    line = lines[mark.line]
    if "'\\t'" in problem:
        indenting = not line[: mark.column].strip()
        return "use spaces, not tabs, to indent" if indenting else "use spaces, not tabs (or put the text in quotes)"
    quote = unquoted_text_hint(line)
    if quote is not None:
        return quote
    if problem.startswith(("expected ',' or '}'", "expected ',' or ']'")):
        return _flow_hint(error, lines)
    if problem == "mapping values are not allowed here":
        return _colon_hint(line, mark.column, lines[: mark.line])
    if problem.startswith(("expected <block end>", "did not find expected")):
        return _dash_hint(line, "this line") or _INDENTATION
    return None


def _dash_hint(line: str, where: str) -> str | None:
    """For a list item written ``-name: x``."""
    if _DASH_WITHOUT_SPACE.match(line):
        return f"put a space after the `-` that starts a list item on {where}: {line.strip().replace('-', '- ', 1)}"
    return None


def unquoted_text_hint(line: str) -> str | None:
    """The fix for a value that YAML cannot read as text as written: one starting with ``{{`` (or another
    character with a meaning of its own), or one that starts in quotes and goes on after the closing quote."""
    found = _KEY_VALUE.match(line)
    if found is None:
        return None
    key, value = found["key"], found["value"]
    if value.startswith(_SPECIAL_STARTS) and not _BLOCK_TEXT_START.match(value):
        start = "{{" if value.startswith("{{") else value[0]
        return f"put the text in quotes: {key}: {_quoted(value)} (unquoted text cannot start with {start})"
    if value[:1] in ("'", '"'):
        closing = value.find(value[0], 1)
        if 0 < closing < len(value) - 1:
            return f"put the whole text in quotes: {key}: {_quoted(value)}"
    return None


def _colon_in_text(key: str, value: str) -> str:
    return f"put the text in quotes: {key}: {_quoted(value)} (a colon inside unquoted text reads as a new key)"


def _quoted(text: str) -> str:
    """``text`` as a YAML quoted string: in double quotes, or in single quotes when it has a ``"`` or a ``\\``."""
    if '"' in text or "\\" in text:
        return "'" + text.replace("'", "''") + "'"
    return f'"{text}"'


def _colon_hint(line: str, column: int, lines_above: Sequence[str]) -> str:
    """"mapping values are not allowed here": a colon inside text, or a line that continues the text above."""
    found = _KEY_VALUE.match(line)
    if found is not None and column >= found.start("value"):
        return _colon_in_text(found["key"], found["value"])
    above = next(((i, text) for i, text in reversed(list(enumerate(lines_above)))
                  if text.strip() and not text.lstrip().startswith("#")), None)
    if above is not None:
        number, text = above[0] + 1, above[1]
        dash = _dash_hint(text, f"line {number}")
        if dash is not None:
            return dash
        glued = _NO_SPACE_AFTER_COLON.match(text)
        if glued is not None:
            return f"put a space after the colon on line {number}: {glued['key']}: {glued['value']}"
    return _INDENTATION


def _flow_hint(error: yaml.MarkedYAMLError, lines: Sequence[str]) -> str | None:
    """"expected ',' or '}'": text with a colon inside ``{...}``/``[...]``, or a bracket never closed."""
    mark, opened = error.problem_mark, error.context_mark
    closing = "}" if (error.problem or "").startswith("expected ',' or '}'") else "]"
    if opened is None:
        return None
    if opened.line != mark.line:
        opening = "{" if closing == "}" else "["
        return f"the `{opening}` on line {opened.line + 1} is not closed: end it with `{closing}`"
    line, column = lines[mark.line], mark.column
    start = max(line.rfind(c, 0, column) for c in "{[,")     # the key: value pair around the colon
    ends = [i for i in (line.find(c, column) for c in ",}]") if i >= 0]
    pair = line[start + 1: min(ends) if ends else len(line)].strip()
    key, sep, value = pair.partition(": ")
    if sep and line[column] == ":":
        return _colon_in_text(key, value.strip())
    return f"a `{closing}` is missing, or text inside the brackets needs quotes"
