"""Reading a rule file's YAML within bounds: its size and lines, and a composer that counts while it reads.

PyYAML shares the value an alias (``*name``) names, but everything that reads the result walks it as a tree: a few
hundred bytes of nested aliases (``&a [*b, *b, ...]``, "billion laughs") are millions of tests for the condition
parser, and 8 levels never finished. :func:`compose_bounded` builds the same nodes as PyYAML's composer, without
recursion, and refuses — with the line where it happens — a file whose values, once every alias is expanded, are
more than :data:`~tailor.rules.limits.MAX_YAML_VALUES`, that nests deeper than
:data:`~tailor.rules.limits.MAX_YAML_DEPTH` (100,000 nested ``{not:`` was a RecursionError), or where an alias is
used inside what it names (a value that never ends). :func:`check_file` refuses files larger than
:data:`~tailor.rules.limits.MAX_FILE_BYTES` or longer than :data:`~tailor.rules.limits.MAX_FILE_LINES` before
anything is parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tailor.rules.limits import MAX_FILE_BYTES, MAX_FILE_LINES, MAX_YAML_DEPTH, MAX_YAML_VALUES
from tailor.rules.problems import RuleFileError


def check_file(path: str | Path, raw: bytes) -> None:
    """Refuse a file over :data:`MAX_FILE_BYTES` or :data:`MAX_FILE_LINES` (named on the first line past it)."""
    if len(raw) > MAX_FILE_BYTES:
        raise RuleFileError(path, f"the file is {len(raw):,} bytes; a rule file may have at most {MAX_FILE_BYTES:,} "
                                  f"bytes (split it, or remove what it does not need)",
                            raw[:MAX_FILE_BYTES].count(b"\n") + 1)
    lines = raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0)
    if lines > MAX_FILE_LINES:
        raise RuleFileError(path, f"the file has {lines:,} lines; a rule file may have at most {MAX_FILE_LINES:,} "
                                  f"lines (split it, or remove what it does not need)", MAX_FILE_LINES + 1)


class _Open:
    """A list or mapping being composed."""

    __slots__ = ("node", "anchor", "values_before", "key")

    def __init__(self, node: Node, anchor: str | None, values_before: int):
        self.node, self.anchor, self.values_before = node, anchor, values_before
        self.key: Node | None = None       # a mapping's key waiting for its value


def compose_bounded(loader: Any, path: str | Path) -> Node | None:
    """The root node of the single document ``loader`` (a PyYAML parser and resolver) reads, like PyYAML's
    ``get_single_node``, within the limits above. YAML errors are raised as PyYAML raises them."""
    loader.get_event()                                   # stream start
    if loader.check_event(StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()                                   # document start
    root = _compose_document(loader, path)
    loader.get_event()                                   # document end
    if not loader.check_event(StreamEndEvent):
        event = loader.get_event()
        raise ComposerError("expected a single document in the stream", root.start_mark,
                            "but found another document", event.start_mark)
    loader.get_event()
    return root


def _compose_document(loader: Any, path: str | Path) -> Node:
    anchors: dict[str, Node] = {}
    sizes: dict[str, int] = {}                           # anchor -> values once expanded
    stack: list[_Open] = []
    values = 0                                           # values so far, every alias expanded
    aliases = False
    root: Node | None = None
    while root is None:
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            name = event.anchor
            if name not in anchors:
                raise ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
            if name not in sizes:
                start = anchors[name].start_mark.line + 1
                raise RuleFileError(path, f"the alias *{name} is used inside itself (inside &{name}, which starts on "
                                          f"line {start}): it would never end; write the value out instead", line)
            node, size, aliases = anchors[name], sizes[name], True
        elif isinstance(event, (ScalarEvent, SequenceStartEvent, MappingStartEvent)):
            if event.anchor is not None and event.anchor in anchors:
                raise ComposerError(f"found duplicate anchor {event.anchor!r}; first occurrence",
                                    anchors[event.anchor].start_mark, "second occurrence", event.start_mark)
            node = _new_node(loader, event, path)
            if event.anchor is not None:
                anchors[event.anchor] = node
            if not isinstance(event, ScalarEvent):
                stack.append(_Open(node, event.anchor, values))
                values += 1
                _check(path, values, len(stack), aliases, line)
                continue
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            done = stack.pop()
            node = done.node
            node.end_mark = event.end_mark
            if done.anchor is not None:
                sizes[done.anchor] = values - done.values_before
            size = 0                                     # already counted while it was open
        else:  # pragma: no cover - the parser only yields these inside a document
            raise ComposerError(None, None, f"unexpected {type(event).__name__}", event.start_mark)
        values += size
        _check(path, values, len(stack), aliases, line)
        if not stack:
            root = node
        else:
            _attach(stack[-1], node)
    return root


#: Digits of a whole number in a rule file (Python refuses to read more than 4,300; rules take at most 15).
_MAX_INT_DIGITS = 100


def _new_node(loader: Any, event: Any, path: str | Path) -> Node:
    tag = event.tag
    if isinstance(event, ScalarEvent):
        if tag is None or tag == "!":
            tag = loader.resolve(ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:int" and len(event.value) > _MAX_INT_DIGITS:
            raise RuleFileError(path, f"a number of {len(event.value):,} digits; rules support numbers up to "
                                      f"999,999,999,999,999", event.start_mark.line + 1)
        return ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
    kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
    if tag is None or tag == "!":
        tag = loader.resolve(kind, None, event.implicit)
    return kind(tag, [], event.start_mark, None, flow_style=event.flow_style)


def _attach(parent: _Open, node: Node) -> None:
    if isinstance(parent.node, SequenceNode):
        parent.node.value.append(node)
    elif parent.key is None:
        parent.key = node
    else:
        parent.node.value.append((parent.key, node))
        parent.key = None


def _check(path: str | Path, values: int, depth: int, aliases: bool, line: int) -> None:
    if depth > MAX_YAML_DEPTH:
        raise RuleFileError(path, f"lists and mappings nest more than {MAX_YAML_DEPTH} deep here; rule files may "
                                  f"nest at most {MAX_YAML_DEPTH} deep (all: and any: take several conditions: "
                                  f"write them side by side rather than inside each other)", line)
    if values > MAX_YAML_VALUES:
        if aliases:
            raise RuleFileError(path, f"the aliases (*name) expand the file to more than {MAX_YAML_VALUES:,} values "
                                      f"here (each list, mapping and single value counted where an alias repeats "
                                      f"it); rule files may have at most {MAX_YAML_VALUES:,}: use fewer or smaller "
                                      f"aliases", line)
        raise RuleFileError(path, f"the file has more than {MAX_YAML_VALUES:,} values here (lists, mappings and "
                                  f"single values); rule files may have at most {MAX_YAML_VALUES:,}", line)
