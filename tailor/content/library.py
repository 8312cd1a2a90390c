"""Email rendering: MJML layout + blocks -> HTML and plain text, compiled once per block combination.

Design (see docs/templates.md):

* ``TemplateLibrary.load`` reads ``layout.mjml`` and ``blocks/*.mjml`` and validates every file up front
  (slot declaration, Jinja syntax and variables, only supported MJML components in allowed places,
  known attributes, real MJML compilation, a smoke render). Problems raise :class:`TemplateError`
  naming the file and, where possible, the line.
* MJML -> HTML is slow (~25 ms), so it runs once per distinct block combination. Before compiling,
  every Jinja tag is replaced by an inert placeholder token (``TLRJ<file>Z<n>Q``); tags standing between
  MJML components (``{% for %}`` around columns, ``{% if %}`` around sections) are wrapped into
  ``<mj-raw>`` so MJML keeps them in place instead of dropping them. After compilation the tokens are
  checked (control tags must survive exactly once) and restored, giving a Jinja template of the final
  HTML. The same tokenised HTML is converted with html2text into a Jinja template for the text part.
* Per recipient only Jinja runs (autoescape on for HTML), in Tailor's sandbox (tailor/content/sandbox.py): no
  Python internals, no change to the data, bounded values and output. Every URL of the context is checked to be
  an absolute http(s) URL first (:func:`_prepare_context`), and at load time every ``href``/``src`` with Jinja
  must start with such a URL or a fixed scheme (:func:`tailor.content.templates.check_links`).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from mjml import mjml_to_html

from tailor.content.environment import make_env
from tailor.content.errors import TemplateError
from tailor.content.samples import SAMPLE_CONTEXTS
from tailor.content.templates import (
    SLOT_MARKER_RE,
    TOKEN_RE,
    JinjaTag,
    TemplateSource,
    check_jinja,
    check_layout_slots,
    check_links,
    check_structure,
    guess_line,
    parse_header,
    protect_jinja,
    read_template,
)
from tailor.content.text import html_to_raw_text, html_to_text, tidy_text
from tailor.content.urls import safe_http_url
from tailor.content.vocabulary import (
    BLOCK_NAME_RE,
    CONTEXT_DEFAULTS,
    DEFAULT_FIRST_NAME,
    PRODUCT_FIELDS,
    PRODUCT_LISTS,
    SLOTS,
    URL_VARIABLES,
)

# The layout must contain these (legal footer / one-click unsubscribe).
_LAYOUT_REQUIRED_VARIABLES = ("unsubscribe_url", "preferences_url", "company_address")


@dataclass(frozen=True)
class RenderedEmail:
    html: str
    text: str


#: Where the Jinja tags of a compiled template stand: (first line, last line, the tag), lines of the template.
_Spans = tuple[tuple[int, int, JinjaTag], ...]


@dataclass(frozen=True)
class _Compiled:
    key: tuple[str | None, ...]
    files: str   # the files of the combination, for errors that no single tag explains
    html_template: jinja2.Template
    text_template: jinja2.Template | None  # None: fall back to html2text per recipient
    html_spans: _Spans
    text_spans: _Spans


class TemplateLibrary:
    """Validated layout + blocks; renders emails with a compile-once cache per block combination."""

    def __init__(self, templates_dir: Path, layout: TemplateSource, blocks: dict[str, TemplateSource]) -> None:
        self.templates_dir = templates_dir
        self._layout = layout
        self._blocks = blocks
        self._cache: dict[tuple[str | None, ...], _Compiled] = {}
        self._lock = threading.Lock()
        self._html_env = make_env(autoescape=True)
        self._text_env = make_env(autoescape=False, output="plain-text part of the email")
        #: Number of MJML compilations done for the render cache (validation compilations not included).
        self.compile_count = 0
        #: MJML compilations done while validating at load time.
        self.validation_compile_count = 0

    @classmethod
    def load(cls, templates_dir: Path | str) -> TemplateLibrary:
        templates_dir = Path(templates_dir)
        layout_path = templates_dir / "layout.mjml"
        if not layout_path.is_file():
            raise TemplateError("layout file not found", layout_path)
        env = make_env(autoescape=True)

        layout = TemplateSource(path=layout_path, name="layout", text=read_template(layout_path))
        check_jinja(layout, env)
        protect_jinja(layout, 0, layout.text)
        check_structure(layout, root_parent="document", allow_slots=True)
        check_layout_slots(layout)
        for var in _LAYOUT_REQUIRED_VARIABLES:
            if var not in layout.variables:
                raise TemplateError(f"the layout must use {{{{ {var} }}}} (legal footer)", layout_path)

        blocks: dict[str, TemplateSource] = {}
        block_dir = templates_dir / "blocks"
        paths = sorted(block_dir.glob("*.mjml")) if block_dir.is_dir() else []
        for index, path in enumerate(paths, start=1):
            name = path.stem
            if not BLOCK_NAME_RE.match(name):
                raise TemplateError("block file names must be lower_snake_case (letters, digits, _)", path)
            src = TemplateSource(path=path, name=name, text=read_template(path))
            work = parse_header(src)
            check_jinja(src, env)
            protect_jinja(src, index, work)
            check_structure(src, root_parent="mj-body", allow_slots=False)
            blocks[name] = src

        library = cls(templates_dir, layout, blocks)
        library._validate_compilation()
        return library

    def _validate_compilation(self) -> None:
        """Compile the empty layout and every block (alone, in its slot) and smoke-render them."""
        combos: list[tuple[tuple[str | None, ...], TemplateSource]] = [((None,) * len(SLOTS), self._layout)]
        for src in self._blocks.values():
            key = tuple(src.name if slot == src.slot else None for slot in SLOTS)
            combos.append((key, src))
        for key, src in combos:
            compiled = self._compile(key, blame=src.path)
            self.validation_compile_count += 1
            for sample in SAMPLE_CONTEXTS:
                html = self._render_parts(compiled, sample, sample=True, blame=src)[0]
                if TOKEN_RE.search(html):  # pragma: no cover - defensive
                    raise TemplateError("internal placeholder left in output", src.path)

    @property
    def blocks_by_slot(self) -> dict[str, set[str]]:
        """slot -> the names of the blocks that fill it."""
        result: dict[str, set[str]] = {slot: set() for slot in SLOTS}
        for src in self._blocks.values():
            result[src.slot].add(src.name)  # type: ignore[index]
        return result

    def render(self, blocks: Mapping[str, str | None] | str | None, context: Mapping[str, Any]) -> RenderedEmail:
        """HTML and plain text of one email: ``blocks`` (slot -> block name, or that as JSON text) rendered with
        ``context`` (missing keys take their defaults); compiles the block combination on first use."""
        key = self._key(blocks)
        compiled = self._get_compiled(key)
        html, text = self._render_parts(compiled, _prepare_context(context))
        return RenderedEmail(html=html, text=text)

    def _render_parts(self, compiled: _Compiled, ctx: Mapping[str, Any], *, sample: bool = False,
                      blame: TemplateSource | None = None) -> tuple[str, str]:
        """(HTML, plain text) of one context; any error becomes a :class:`TemplateError` naming the file and line
        of the tag that failed. ``sample``: a sample context (its data may be quoted); ``blame``: the file to name
        when no tag explains the error (default: every file of the combination)."""
        spans = compiled.html_spans
        try:
            html = compiled.html_template.render(ctx)
            if compiled.text_template is None:
                return html, html_to_text(html)
            spans = compiled.text_spans
            return html, tidy_text(compiled.text_template.render(ctx))
        except Exception as exc:  # noqa: BLE001 - every render error names its template, see _render_error
            raise _render_error(exc, spans, compiled, sample=sample, blame=blame) from (exc if sample else None)

    def _key(self, blocks: Mapping[str, str | None] | str | None) -> tuple[str | None, ...]:
        if blocks is None:
            blocks = {}
        elif isinstance(blocks, str):
            blocks = json.loads(blocks) if blocks.strip() else {}
        unknown_slots = set(blocks) - set(SLOTS)
        if unknown_slots:
            raise TemplateError(f"unknown slot(s) {sorted(unknown_slots)}; slots are {list(SLOTS)}")
        key: list[str | None] = []
        for slot in SLOTS:
            name = blocks.get(slot) or None
            if name is not None:
                src = self._blocks.get(name)
                if src is None:
                    raise TemplateError(f"unknown block {name!r} for slot {slot!r} "
                                        f"(known: {sorted(self.blocks_by_slot[slot])})")
                if src.slot != slot:
                    raise TemplateError(f"block {name!r} belongs to slot {src.slot!r}, not {slot!r}", src.path)
            key.append(name)
        return tuple(key)

    def _get_compiled(self, key: tuple[str | None, ...]) -> _Compiled:
        compiled = self._cache.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._cache.get(key)
                if compiled is None:
                    compiled = self._compile(key)
                    self.compile_count += 1
                    self._cache[key] = compiled
        return compiled

    def _compile(self, key: tuple[str | None, ...], blame: Path | None = None) -> _Compiled:
        """Compile one block combination to Jinja templates (HTML + text). ``blame``: the file to name
        in errors that cannot be traced to one Jinja tag (default: all files of the combination)."""
        sources = [self._layout] + [self._blocks[name] for name in key if name]
        files = str(blame) if blame is not None else ", ".join(str(s.path) for s in sources)
        bodies = {slot: (self._blocks[name].protected if name else "") for slot, name in zip(SLOTS, key)}
        document = SLOT_MARKER_RE.sub(lambda m: bodies[m.group(1)], self._layout.protected)
        try:
            result = mjml_to_html(document)
        except Exception as exc:  # mjml raises KeyError/ValueError/AssertionError on bad input
            raise TemplateError(f"MJML compilation failed: {type(exc).__name__}: {exc}", files) from exc
        html = result.html
        if result.errors:
            raise TemplateError(f"MJML compilation errors: {'; '.join(result.errors)}", files)

        tags = [tag for src in sources for tag in src.tags]
        counts = Counter(TOKEN_RE.findall(html))
        for tag in tags:
            seen = counts.get(tag.token, 0)
            if tag.kind == "stmt" and seen != 1:
                how = "dropped" if seen == 0 else f"duplicated {seen} times"
                raise TemplateError(f"Jinja tag {tag.source!r} was {how} by MJML compilation; control tags "
                                    "must stand between components or inside content components", tag.file, tag.line)
            if tag.kind == "expr" and seen == 0:
                raise TemplateError(f"Jinja expression {tag.source!r} was dropped by MJML compilation (MJML "
                                    "parses this attribute itself, e.g. width/padding/height)", tag.file, tag.line)
        by_token = {tag.token: tag for tag in tags}
        check_links(html, by_token, self._html_env)
        html_source, html_spans = _restore(html, by_token)
        try:
            html_template = self._html_env.from_string(html_source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"compiled template is not valid Jinja: {exc.message}", files) from exc

        text_template: jinja2.Template | None = None
        text_spans: _Spans = ()
        text_source = html_to_raw_text(html)
        text_counts = Counter(TOKEN_RE.findall(text_source))
        if all(text_counts.get(t.token, 0) == 1 for t in tags if t.kind == "stmt"):
            restored, text_spans = _restore(text_source, by_token)
            try:
                text_template = self._text_env.from_string(restored)
            except jinja2.TemplateSyntaxError:  # pragma: no cover - falls back to per-recipient html2text
                text_template = None
        return _Compiled(key=key, files=files, html_template=html_template, text_template=text_template,
                         html_spans=html_spans, text_spans=text_spans)


def _restore(text: str, by_token: Mapping[str, JinjaTag]) -> tuple[str, _Spans]:
    """``text`` with every token replaced by its Jinja tag, and the lines each tag spans in the result (a render
    error reports a line of the compiled template; the spans lead back to the file and line of the tag)."""
    pieces: list[str] = []
    spans: list[tuple[int, int, JinjaTag]] = []
    line, last = 1, 0
    for m in TOKEN_RE.finditer(text):
        before = text[last:m.start()]
        line += before.count("\n")
        tag = by_token[m.group()]
        pieces += (before, tag.source)
        end = line + tag.source.count("\n")
        spans.append((line, end, tag))
        line, last = end, m.end()
    pieces.append(text[last:])
    return "".join(pieces), tuple(spans)


def _failed_line(exc: BaseException) -> int | None:
    """The line of the compiled template where ``exc`` was raised: Jinja rewrites the traceback so that the
    frames of template code carry the template's own line numbers (file name ``<template>`` for from_string)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_error(exc: Exception, spans: _Spans, compiled: _Compiled, *, sample: bool,
                  blame: TemplateSource | None) -> TemplateError:
    """A :class:`TemplateError` for a failed render naming the file and line of the tag that failed. Jinja's
    and Tailor's messages name types and attributes, not values; other exceptions (``float("Anna")``) may quote
    the recipient's data, so outside sample renders only their type is given."""
    if isinstance(exc, jinja2.TemplateError) or sample:
        detail = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    else:
        detail = type(exc).__name__
    problem = (f"rendering with a sample context failed: {detail}" if sample
               else f"rendering blocks {_describe(compiled.key)} failed: {detail}")
    line = _failed_line(exc)
    hits = [(tag, tag.line + line - first) for first, last, tag in spans if line is not None and first <= line <= last]
    if hits:
        named = [hit for hit in hits if _error_word(detail) in hit[0].source]
        tag, tag_line = (named or hits)[0]
        return TemplateError(problem, tag.file, tag_line)
    if blame is not None:
        return TemplateError(problem, blame.path, guess_line(blame.text, detail))
    return TemplateError(problem, compiled.files)


def _error_word(message: str) -> str:
    """The attribute or variable a Jinja error message names ('' if none): picks between tags on one line."""
    m = re.search(r"attribute '(\w+)'|'(\w+)' is undefined", message)
    return (m.group(1) or m.group(2)) if m else "\0"


def _describe(key: tuple[str | None, ...]) -> str:
    return ", ".join(f"{slot}={name}" for slot, name in zip(SLOTS, key) if name) or "(layout only)"


def _prepare_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context as templates see it: defaults filled in, every product with every field, and every URL an
    absolute http(s) URL (docs/templates.md, "Links"): a product link that is not falls back to the shop's URL,
    an image or any other link that is not is left out (None / "")."""
    ctx = {**CONTEXT_DEFAULTS, **context}
    if not ctx.get("first_name"):
        ctx["first_name"] = DEFAULT_FIRST_NAME
    for key in URL_VARIABLES:
        ctx[key] = safe_http_url(ctx[key]) or ""
    shop_url = ctx["shop_url"] or None
    for key in PRODUCT_LISTS:
        items = ctx.get(key) or []
        ctx[key] = [{**_NO_PRODUCT_FIELDS, **item, "url": safe_http_url(item.get("url")) or shop_url,
                     "image_url": safe_http_url(item.get("image_url"))} for item in items]
    return ctx


_NO_PRODUCT_FIELDS = dict.fromkeys(PRODUCT_FIELDS)
