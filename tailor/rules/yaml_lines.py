"""Reading rule files: YAML that remembers the line of every key and item, for ``file:line`` messages.

:func:`load_yaml` reads a marketer-edited file with :class:`LineLoader` — safe, YAML 1.2 booleans only (``NO``,
Norway, stays text), duplicate keys reported instead of silently overwritten — into :class:`LineDict` and
:class:`LineList`, so that every later check can say on which line a mistake is (:func:`line_of`). A syntax error
comes with a hint on what to change (:mod:`tailor.rules.yaml_hints`); a file past the limits of
:mod:`tailor.rules.yaml_limits` (size, lines, nesting, aliases) is refused before it is walked. Large files are
parsed with libyaml (:class:`FastLineLoader`). The checks every named entry of a rule
file shares (a rule, a segment) are here too: :func:`check_named_item`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tailor.rules.problems import Problems, RuleFileError, did_you_mean
from tailor.rules.yaml_hints import syntax_hint, unquoted_text_hint
from tailor.rules.yaml_limits import check_file, compose_bounded


class LineDict(dict):
    """A YAML mapping that remembers where it and each key start (1-based lines)."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that remembers where it and each item start (1-based lines)."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class LineLoader(yaml.SafeLoader):
    """Safe loader recording start lines; YAML-1.2 booleans (only true/false — `NO` stays the text "NO");
    duplicate keys are reported instead of silently overwritten (to ``problems``, when given)."""

    problems: Problems | None = None
    lines: Sequence[str] = ()      # the file's lines, for the hints of problems


LineLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        kline = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            if loader.problems is not None:
                text = loader.lines[kline - 1] if 0 < kline <= len(loader.lines) else ""
                hint = unquoted_text_hint(text)
                loader.problems.add(kline, "a key must be a plain name, not a list or mapping"
                                           + (f" — {hint}" if hint else ""))
            continue
        value = loader.construct_object(value_node, deep=True)
        if key in result:
            if loader.problems is not None:
                loader.problems.add(kline, f"duplicate key {key!r} (first given on line {result.key_lines[key]}); "
                                           "the second one would silently win")
            continue
        result[key] = value
        result.key_lines[key] = kline
    return result


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


_CLoader = getattr(yaml, "CSafeLoader", None)   # None: PyYAML built without libyaml


class FastLineLoader(_CLoader or yaml.SafeLoader):  # type: ignore[misc]
    """:class:`LineLoader` on libyaml's parser (about 10 times faster on large files); same constructors and
    resolvers. A file it cannot read is read again with :class:`LineLoader`, whose errors come with hints."""

    problems: Problems | None = None
    lines: Sequence[str] = ()


FastLineLoader.yaml_implicit_resolvers = LineLoader.yaml_implicit_resolvers
FastLineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
FastLineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_yaml(path: str | Path, problems: Problems | None = None) -> tuple[Any, bytes]:
    """Parse a rule file keeping line numbers. Returns (data, raw bytes).

    Syntax errors raise :class:`RuleFileError` at once (nothing else can be checked), with a hint on what to
    change where the cause is a common one; so does a file past the limits of :mod:`tailor.rules.yaml_limits`
    (size, lines, nesting, expanded aliases). Duplicate keys are added to ``problems`` (raised at once when no
    collector is given).
    """
    return _load(path, problems, fast=True)


def python_load_yaml(path: str | Path, problems: Problems | None = None) -> tuple[Any, bytes]:
    """:func:`load_yaml` with PyYAML's pure-Python parser only (what the fast one must agree with)."""
    return _load(path, problems, fast=False)


def _load(path: str | Path, problems: Problems | None, *, fast: bool) -> tuple[Any, bytes]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    check_file(path, raw)
    own = problems is None
    problems = problems if problems is not None else Problems(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RuleFileError(path, "the file is not valid UTF-8 text", line) from exc
    lines = text.splitlines()
    data: Any = _MISSING
    if fast and _CLoader is not None:
        scratch = Problems(path)
        try:
            data = _compose_and_construct(FastLineLoader, text, lines, scratch, path)
        except yaml.YAMLError:
            pass    # read again below, for the message and its hint
        else:
            problems.items.extend(scratch.items)
    if data is _MISSING:
        try:
            data = _compose_and_construct(LineLoader, text, lines, problems, path)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            what = exc.problem or str(exc)
            hint = syntax_hint(exc, lines)
            raise RuleFileError(path, f"YAML syntax error: {what}" + (f" — {hint}" if hint else ""), line) from exc
        except yaml.YAMLError as exc:
            raise RuleFileError(path, f"YAML syntax error: {exc}") from exc
    if own:
        problems.raise_if_any()
    return data, raw


_MISSING = object()


def _compose_and_construct(loader_class: type, text: str, lines: Sequence[str], problems: Problems,
                           path: Path) -> Any:
    loader = loader_class(text)
    loader.problems = problems
    loader.lines = lines
    try:
        node = compose_bounded(loader, path)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def line_of(container: Any, key: Any, default: int | None = None) -> int | None:
    """The line of ``container[key]`` (a key of a mapping, an index of a list), else of the container, else
    ``default``."""
    if isinstance(container, LineDict):
        return container.line_of(key)
    if isinstance(container, LineList) and isinstance(key, int):
        return container.line_of(key)
    return getattr(container, "line", default)


def describe_value(v: Any) -> str:
    """How a YAML value reads to a marketer, for error messages."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"true/false value {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, (_dt.date, _dt.datetime)):
        return f"date {v.isoformat()}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return repr(v)


def check_named_item(
    items: list[Any],
    index: int,
    problems: Problems,
    seen: dict[str, int | None],
    *,
    kind: str,
    keys: Iterable[str],
    name_re: re.Pattern[str],
    name_hint: str,
    required_keys_text: str,
) -> tuple[Any, str, bool] | None:
    """The checks every named entry of a rule file shares (a rule, a segment).

    Reports a non-mapping entry, unknown keys, a missing, malformed or duplicate ``name``. Returns None when
    the entry is not a mapping at all, else ``(name, label for messages, name_ok)``.
    """
    item = items[index]
    item_line = line_of(items, index)
    if not isinstance(item, dict):
        problems.add(item_line, f"each {kind} must be a mapping with {required_keys_text}; got {describe_value(item)}")
        return None
    keys = tuple(keys)
    for key in item:
        if key not in keys:
            problems.add(line_of(item, key), f"unknown key {key!r}{did_you_mean(key, keys)} in a {kind} "
                                             f"(keys: {', '.join(keys)})")
    name = item.get("name")
    label = f"{kind} {name!r}" if isinstance(name, str) else f"{kind} #{index + 1}"
    if "name" not in item:
        problems.add(item_line, f"{label}: missing required key `name`")
        return name, label, False
    if not isinstance(name, str) or not name_re.match(name):
        problems.add(line_of(item, "name"), f"{kind} name {describe_value(name)} is not valid: use {name_hint}")
        return name, label, False
    if name in seen:
        problems.add(line_of(item, "name"), f"duplicate {kind} name {name!r} (first defined on line {seen[name]})")
        return name, label, False
    seen[name] = line_of(item, "name")
    return name, label, True
