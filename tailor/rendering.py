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
* Per recipient only Jinja runs (autoescape on for HTML).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import html2text
import jinja2
import jinja2.meta
import jinja2.nodes
import numpy as np
import pandas as pd
import pandera.pandas as pa
from bs4 import BeautifulSoup, Tag
from bs4.element import PreformattedString
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml_to_html
from mjml.core.registry import components as _mjml_registry
from mjml.core.registry import register_core_components
from pandera.typing import Series

__all__ = [
    "SLOTS",
    "CONTEXT_VARIABLES",
    "SUPPORTED_COMPONENTS",
    "TemplateError",
    "RenderedEmail",
    "TemplateLibrary",
    "RenderedEmailsSchema",
    "format_money",
    "message_key",
    "render_emails",
    "render_subject",
    "send_mask",
    "html_to_text",
]

SLOTS: tuple[str, ...] = ("hero", "main", "offer", "note")

PRODUCT_FIELDS: tuple[str, ...] = ("product_id", "name", "price", "currency", "url", "image_url", "reason",
                                   "rank")  # rank: the shop's bestseller rank (bestsellers only)
_PRODUCT_LISTS = ("products", "cart_products", "bestsellers")

# Render context (docs/internal-spec.md) plus ``shop_url`` (storefront root used by call-to-action buttons).
_CONTEXT_DEFAULTS: dict[str, Any] = {
    "first_name": "there",
    "email": None,
    "customer_id": None,
    "campaign_id": None,
    "subject": "",
    "products": [],
    "cart_products": [],
    "bestsellers": [],
    "discount_percent": None,
    "discount_code": None,
    "unsubscribe_url": "",
    "preferences_url": "",
    "preheader": "",
    "company_name": "",
    "company_address": "",
    "shop_url": "",
}
CONTEXT_VARIABLES: frozenset[str] = frozenset(_CONTEXT_DEFAULTS)

# The layout must contain these (legal footer / one-click unsubscribe).
_LAYOUT_REQUIRED_VARIABLES = ("unsubscribe_url", "preferences_url", "company_address")

# --------------------------------------------------------------------------------------------------
# Supported MJML components
# --------------------------------------------------------------------------------------------------

register_core_components()

# Components whose content is passed through as HTML/text (MJML "ending tags"): Jinja inside them is text.
CONTENT_COMPONENTS: frozenset[str] = frozenset({
    "mj-text", "mj-button", "mj-table", "mj-raw", "mj-navbar-link", "mj-accordion-title",
    "mj-accordion-text", "mj-social-element", "mj-style", "mj-title", "mj-preview",
})

_COLUMN_CONTENT = frozenset({
    "mj-accordion", "mj-button", "mj-carousel", "mj-divider", "mj-image", "mj-navbar", "mj-raw",
    "mj-social", "mj-spacer", "mj-table", "mj-text",
})
# Allowed children per component (MJML's own nesting rules, restricted to what mjml 0.12 (Python) renders).
ALLOWED_CHILDREN: dict[str, frozenset[str]] = {
    "mjml": frozenset({"mj-head", "mj-body"}),
    "mj-head": frozenset({"mj-attributes", "mj-breakpoint", "mj-font", "mj-preview", "mj-style", "mj-title"}),
    "mj-body": frozenset({"mj-raw", "mj-section", "mj-wrapper", "mj-hero"}),
    "mj-wrapper": frozenset({"mj-raw", "mj-section", "mj-hero"}),
    "mj-section": frozenset({"mj-raw", "mj-column", "mj-group"}),
    "mj-group": frozenset({"mj-raw", "mj-column"}),
    "mj-column": _COLUMN_CONTENT,
    "mj-hero": _COLUMN_CONTENT,
    "mj-accordion": frozenset({"mj-accordion-element", "mj-raw"}),
    "mj-accordion-element": frozenset({"mj-accordion-title", "mj-accordion-text", "mj-raw"}),
    "mj-carousel": frozenset({"mj-carousel-image"}),
    "mj-navbar": frozenset({"mj-navbar-link", "mj-raw"}),
    "mj-social": frozenset({"mj-social-element", "mj-raw"}),
}
_LEAF_COMPONENTS = frozenset({"mj-image", "mj-divider", "mj-spacer", "mj-carousel-image", "mj-breakpoint", "mj-font"})

#: Components Tailor accepts: registered in mjml's own component registry *and* covered by the nesting
#: table above (``mj-html-attributes`` is registered but not supported by Tailor).
SUPPORTED_COMPONENTS: frozenset[str] = frozenset(
    name for name in _mjml_registry
    if name in ALLOWED_CHILDREN or name in CONTENT_COMPONENTS or name in _LEAF_COMPONENTS
    or name == "mj-attributes"
)
_UNIVERSAL_ATTRIBUTES = frozenset({"css-class", "mj-class"})

# --------------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class RenderedEmail:
    html: str
    text: str


# --------------------------------------------------------------------------------------------------
# Jinja environments
# --------------------------------------------------------------------------------------------------

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def format_money(value: Any, currency: str | None = "EUR") -> str:
    """``49.9, "EUR"`` -> ``"€49.90"``; unknown currencies as ``"49.90 CHF"``. Jinja filter ``money``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    amount = f"{float(value):,.2f}"
    code = (currency or "").upper()
    symbol = _CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{symbol}{amount}"
    return f"{amount} {code}".strip()


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _make_env(*, autoescape: bool, sandboxed: bool = False) -> jinja2.Environment:
    cls = SandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,
    )
    env.filters["money"] = format_money
    return env


# --------------------------------------------------------------------------------------------------
# Source preprocessing: protect Jinja from MJML
# --------------------------------------------------------------------------------------------------

_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TOKEN_PREFIX = "TLRJ"
_TOKEN_RE = re.compile(r"TLRJ\d+Z\d+Q")
_HEADER_RE = re.compile(r"\A(\s*)<!--(.*?)-->", re.S)
_SLOT_MARKER_RE = re.compile(r"<tailor-slot\s+name\s*=\s*[\"']([^\"']*)[\"']\s*/?>(?:\s*</tailor-slot>)?")
_BLOCK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_PREVIEW_DIV_RE = re.compile(r"<div style=\"display:none;font-size:1px;[^\"]*\">.*?</div>", re.S)
_HEAD_RE = re.compile(r"<head\b.*?</head>", re.S | re.I)
_MD_LINK_RE = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _blank(text: str) -> str:
    """Replace every character except newlines by a space (keeps offsets and line numbers)."""
    return re.sub(r"[^\n]", " ", text)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class _JinjaTag:
    token: str
    source: str  # original Jinja text, e.g. "{{ first_name }}"
    kind: str  # "expr" | "stmt"
    file: str
    line: int


@dataclass
class _Source:
    """One preprocessed template file."""

    path: Path
    name: str
    text: str  # original file content
    slot: str | None = None
    description: str = ""
    protected: str = ""  # MJML with Jinja replaced by tokens (header comment removed)
    check_text: str = ""  # same lines as the file; Jinja blanked, control tags between components as <mj-raw>
    tags: list[_JinjaTag] = field(default_factory=list)
    variables: frozenset[str] = frozenset()


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_TAG_RE = re.compile(r"<[^<>]*>")
_CONTENT_RE = re.compile(
    r"<(" + "|".join(sorted(map(re.escape, CONTENT_COMPONENTS), key=len, reverse=True)) + r")\b[^<>]*?(?<!/)>"
    r"(.*?)</\1\s*>",
    re.S,
)
_MJ_HEAD_RE = re.compile(r"<mj-head\b.*?</mj-head\s*>", re.S)
_JINJA_MARK = "tailor-jinja-control-tag"


def _protect(src: _Source, file_index: int, work: str) -> None:
    """Fill ``src.protected`` / ``src.tags`` from ``work`` (the file text with the header blanked)."""
    display = str(src.path)
    if _TOKEN_PREFIX in work:
        raise TemplateError(f"the text {_TOKEN_PREFIX!r} is reserved by Tailor's renderer", display,
                            _line_of(work, work.index(_TOKEN_PREFIX)))
    blanked = _JINJA_RE.sub(lambda m: _blank(m.group()), work)
    inline_spans = _spans(_COMMENT_RE, blanked) + _spans(_TAG_RE, blanked)
    inline_spans += [m.span(2) for m in _CONTENT_RE.finditer(blanked)]
    head_spans = _spans(_MJ_HEAD_RE, blanked)

    def inside(offset: int, spans: list[tuple[int, int]]) -> bool:
        return any(start <= offset < end for start, end in spans)

    pieces: list[str] = []
    check: list[str] = []
    tags: list[_JinjaTag] = []
    last = 0
    for m in _JINJA_RE.finditer(work):
        pieces.append(work[last:m.start()])
        check.append(work[last:m.start()])
        last = m.end()
        source = m.group()
        line = _line_of(work, m.start())
        if source.startswith("{#"):
            check.append(_blank(source))
            continue  # Jinja comments are dropped before MJML sees them
        kind = "expr" if source.startswith("{{") else "stmt"
        token = f"{_TOKEN_PREFIX}{file_index}Z{len(tags)}Q"
        if inside(m.start(), inline_spans):
            pieces.append(token)
            check.append(_blank(source))
        elif inside(m.start(), head_spans):
            raise TemplateError(
                f"Jinja tag {source!r} stands between <mj-head> components; only the content of "
                "<mj-title>, <mj-preview> and <mj-style> may contain Jinja", display, line)
        elif kind == "expr":
            raise TemplateError(
                f"Jinja expression {source!r} stands between MJML components, where MJML drops text; "
                "put it inside <mj-text>, <mj-button> or an attribute value", display, line)
        else:
            pieces.append(f"<mj-raw>{token}</mj-raw>")
            check.append(f"<mj-raw {_JINJA_MARK}></mj-raw>" + "\n" * source.count("\n"))
        tags.append(_JinjaTag(token, source, kind, display, line))
    pieces.append(work[last:])
    check.append(work[last:])
    src.check_text = "".join(check)
    src.protected = "".join(pieces)
    src.tags = tags


# --------------------------------------------------------------------------------------------------
# Structural validation (supported components, nesting, attributes, stray text)
# --------------------------------------------------------------------------------------------------


def _check_structure(src: _Source, *, root_parent: str, allow_slots: bool) -> None:
    """Validate the MJML structure of ``src.check_text``. ``root_parent`` is the implicit parent of
    top-level elements ("document" for the layout, "mj-body" for blocks)."""
    display = str(src.path)
    blanked = src.check_text
    soup = BeautifulSoup(blanked, "html.parser")

    def fail(problem: str, node: Any) -> None:
        raise TemplateError(problem, display, getattr(node, "sourceline", None))

    def walk(node: Tag, parent: str) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString):  # comments, doctype, CDATA
                continue
            if not isinstance(child, Tag):
                text = str(child).strip()
                if text:
                    line = _line_of(blanked, blanked.find(text)) if text in blanked else None
                    raise TemplateError(
                        f"text {text[:40]!r} outside a content component is dropped by MJML; "
                        "put it inside <mj-text>", display, line)
                continue
            name = child.name
            if name == "tailor-slot":
                if not allow_slots:
                    fail("<tailor-slot> markers are only allowed in layout.mjml", child)
                if parent not in ("mj-body", "mj-wrapper"):
                    fail(f"<tailor-slot> must be a direct child of <mj-body> or <mj-wrapper>, not <{parent}>", child)
                continue
            if name == "mj-include":
                fail("<mj-include> is not supported: blocks are composed into the layout by Tailor", child)
            if name not in SUPPORTED_COMPONENTS and name != "mjml":
                if name.startswith("mj-"):
                    fail(f"unknown or unsupported MJML component <{name}> (supported: "
                         f"{', '.join(sorted(SUPPORTED_COMPONENTS))})", child)
                fail(f"HTML tag <{name}> is not allowed here; HTML must be inside <mj-text>, "
                     "<mj-button> or <mj-raw>", child)
            if parent == "document":
                if name != "mjml":
                    fail(f"layout.mjml must have <mjml> as its root element, found <{name}>", child)
            else:
                allowed = ALLOWED_CHILDREN.get(parent, frozenset())
                if name == "mj-raw" and _JINJA_MARK in child.attrs and name not in allowed:
                    fail(f"a Jinja control tag cannot stand directly inside <{parent}> (MJML renders its "
                         "children itself); loop/branch around the whole component instead", child)
                if name not in allowed:
                    fail(f"<{name}> is not allowed inside <{parent}> (allowed: "
                         f"{', '.join(sorted(allowed)) or 'no child elements'})", child)
            _check_attributes(child, display)
            if name in CONTENT_COMPONENTS:
                continue
            if name == "mj-attributes":
                for default in child.find_all(True, recursive=False):
                    if default.name not in SUPPORTED_COMPONENTS and default.name not in ("mj-all", "mj-class"):
                        fail(f"<mj-attributes> sets defaults for unknown component <{default.name}>", default)
                    if default.name == "mj-class" and not default.get("name"):
                        fail("<mj-class> needs a name attribute", default)
                continue
            if name in _LEAF_COMPONENTS:
                if child.find(True) is not None:
                    fail(f"<{name}> cannot have child elements", child)
                continue
            walk(child, name)

    walk(soup, root_parent)


def _check_attributes(tag: Tag, display: str) -> None:
    name = tag.name
    if name == "mj-style" and str(tag.get("inline", "")).strip() == "inline":
        raise TemplateError('<mj-style inline="inline"> needs the optional css_inline package, which '
                            "is not installed; use a normal <mj-style>", display, tag.sourceline)
    component = _mjml_registry.get(name)
    if component is None:
        return
    allowed = set(component.allowed_attrs())
    if not allowed:
        return  # mj-raw, mj-group and head components don't declare attributes
    allowed |= set(component.default_attrs()) | _UNIVERSAL_ATTRIBUTES
    for attr in tag.attrs:
        if attr not in allowed:
            raise TemplateError(f"unknown attribute {attr!r} on <{name}> (allowed: {', '.join(sorted(allowed))})",
                                display, tag.sourceline)


# --------------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------------


class _PlainText(html2text.HTML2Text):
    """html2text without Markdown escaping: the result is a text/plain part, not Markdown
    (otherwise "1. Scarf" becomes "1\\. Scarf")."""

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        super().handle_data(data, entity_char=True)


def _html2text(html: str) -> str:
    conv = _PlainText()
    conv.body_width = 0
    conv.ignore_images = True
    conv.ignore_tables = True
    conv.ignore_emphasis = True
    conv.unicode_snob = True
    conv.use_automatic_links = False
    conv.skip_internal_links = True
    body = _HEAD_RE.sub("", _PREVIEW_DIV_RE.sub("", html))
    markdown = conv.handle(body)

    def link(m: re.Match[str]) -> str:
        bang, label, url = m.groups()
        label = " ".join(label.split())
        if bang or not label:
            return ""  # image / image-only link: the product name link next to it carries the URL
        return f"{label} ({url})"

    return _MD_LINK_RE.sub(link, markdown)


def _tidy_text(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def html_to_text(html: str) -> str:
    """Readable plain-text version of an HTML email (links as ``label (url)``)."""
    return _tidy_text(_html2text(html))


# --------------------------------------------------------------------------------------------------
# Compiled combination
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    key: tuple[str | None, ...]
    html_template: jinja2.Template
    text_template: jinja2.Template | None  # None: fall back to html2text per recipient


def _sample_product(i: int, reason: str) -> dict[str, Any]:
    return {"product_id": f"P{i:04d}", "name": f"Sample product {i}", "price": 10.0 * i, "currency": "EUR",
            "url": f"https://shop.example/p/P{i:04d}", "image_url": f"https://shop.example/img/P{i:04d}.jpg",
            "reason": reason}


_SAMPLE_CONTEXTS: tuple[dict[str, Any], ...] = (
    {
        **_CONTEXT_DEFAULTS, "first_name": "Anna", "email": "anna@example.com", "customer_id": "cus_000001",
        "campaign_id": "sample", "subject": "Sample", "preheader": "Sample preheader",
        "products": [_sample_product(i, "Because you viewed it") for i in (1, 2, 3)],
        "cart_products": [_sample_product(i, "In your cart") for i in (4, 5)],
        "bestsellers": [{**_sample_product(i, "Bestseller"), "rank": i - 5} for i in (6, 7, 8)],
        "discount_percent": 10, "discount_code": "SAMPLE10",
        "unsubscribe_url": "https://shop.example/unsubscribe?m=0", "preferences_url": "https://shop.example/p?m=0",
        "company_name": "Tailor Shop", "company_address": "Main St 1, Berlin", "shop_url": "https://shop.example",
    },
    {**_CONTEXT_DEFAULTS},
)


class TemplateLibrary:
    """Validated layout + blocks; renders emails with a compile-once cache per block combination."""

    def __init__(self, templates_dir: Path, layout: _Source, blocks: dict[str, _Source]) -> None:
        self.templates_dir = templates_dir
        self._layout = layout
        self._blocks = blocks
        self._cache: dict[tuple[str | None, ...], _Compiled] = {}
        self._lock = threading.Lock()
        self._html_env = _make_env(autoescape=True)
        self._text_env = _make_env(autoescape=False)
        #: Number of MJML compilations done for the render cache (validation compilations not included).
        self.compile_count = 0
        #: MJML compilations done while validating at load time.
        self.validation_compile_count = 0

    # ---------------------------------------------------------------- loading / validation
    @classmethod
    def load(cls, templates_dir: Path | str) -> TemplateLibrary:
        templates_dir = Path(templates_dir)
        layout_path = templates_dir / "layout.mjml"
        if not layout_path.is_file():
            raise TemplateError("layout file not found", layout_path)
        env = _make_env(autoescape=True)

        layout = _Source(path=layout_path, name="layout", text=_read(layout_path))
        _check_jinja(layout, env)
        _protect(layout, 0, layout.text)
        _check_structure(layout, root_parent="document", allow_slots=True)
        _check_layout_slots(layout)
        for var in _LAYOUT_REQUIRED_VARIABLES:
            if var not in layout.variables:
                raise TemplateError(f"the layout must use {{{{ {var} }}}} (legal footer)", layout_path)

        blocks: dict[str, _Source] = {}
        block_dir = templates_dir / "blocks"
        paths = sorted(block_dir.glob("*.mjml")) if block_dir.is_dir() else []
        for index, path in enumerate(paths, start=1):
            name = path.stem
            if not _BLOCK_NAME_RE.match(name):
                raise TemplateError("block file names must be lower_snake_case (letters, digits, _)", path)
            src = _Source(path=path, name=name, text=_read(path))
            work = _parse_header(src)
            _check_jinja(src, env)
            _protect(src, index, work)
            _check_structure(src, root_parent="mj-body", allow_slots=False)
            blocks[name] = src

        library = cls(templates_dir, layout, blocks)
        library._validate_compilation()
        return library

    def _validate_compilation(self) -> None:
        """Compile the empty layout and every block (alone, in its slot) and smoke-render them."""
        combos: list[tuple[tuple[str | None, ...], _Source]] = [((None,) * len(SLOTS), self._layout)]
        for src in self._blocks.values():
            key = tuple(src.name if slot == src.slot else None for slot in SLOTS)
            combos.append((key, src))
        for key, src in combos:
            compiled = self._compile(key, blame=src.path)
            self.validation_compile_count += 1
            for sample in _SAMPLE_CONTEXTS:
                try:
                    html = compiled.html_template.render(sample)
                    if compiled.text_template is not None:
                        compiled.text_template.render(sample)
                except jinja2.TemplateError as exc:
                    raise TemplateError(f"rendering with a sample context failed: {exc}", src.path,
                                        _guess_line(src.text, str(exc))) from exc
                if "TLRJ" in html:  # pragma: no cover - defensive
                    raise TemplateError("internal placeholder left in output", src.path)

    # ---------------------------------------------------------------- public API
    @property
    def blocks_by_slot(self) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {slot: set() for slot in SLOTS}
        for src in self._blocks.values():
            result[src.slot].add(src.name)  # type: ignore[index]
        return result

    def block_description(self, name: str) -> str:
        return self._blocks[name].description

    def render(self, blocks: Mapping[str, str | None] | str | None, context: Mapping[str, Any]) -> RenderedEmail:
        key = self._key(blocks)
        compiled = self._get_compiled(key)
        ctx = _prepare_context(context)
        html = compiled.html_template.render(ctx)
        if compiled.text_template is not None:
            text = _tidy_text(compiled.text_template.render(ctx))
        else:
            text = html_to_text(html)
        return RenderedEmail(html=html, text=text)

    def render_subject(self, subject_template: str, context: Mapping[str, Any]) -> str:
        """Render a subject line (Jinja, sandboxed, no autoescape); whitespace is collapsed."""
        return render_subject(subject_template, context)

    # ---------------------------------------------------------------- internals
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
        document = _SLOT_MARKER_RE.sub(lambda m: bodies[m.group(1)], self._layout.protected)
        try:
            result = mjml_to_html(document)
        except Exception as exc:  # mjml raises KeyError/ValueError/AssertionError on bad input
            raise TemplateError(f"MJML compilation failed: {type(exc).__name__}: {exc}", files) from exc
        html = result.html
        if result.errors:
            raise TemplateError(f"MJML compilation errors: {'; '.join(result.errors)}", files)

        tags = [tag for src in sources for tag in src.tags]
        counts = Counter(_TOKEN_RE.findall(html))
        for tag in tags:
            seen = counts.get(tag.token, 0)
            if tag.kind == "stmt" and seen != 1:
                how = "dropped" if seen == 0 else f"duplicated {seen} times"
                raise TemplateError(f"Jinja tag {tag.source!r} was {how} by MJML compilation; control tags "
                                    "must stand between components or inside content components", tag.file, tag.line)
            if tag.kind == "expr" and seen == 0:
                raise TemplateError(f"Jinja expression {tag.source!r} was dropped by MJML compilation (MJML "
                                    "parses this attribute itself, e.g. width/padding/height)", tag.file, tag.line)
        by_token = {tag.token: tag.source for tag in tags}

        def restore(text: str) -> str:
            return _TOKEN_RE.sub(lambda m: by_token[m.group()], text)

        try:
            html_template = self._html_env.from_string(restore(html))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"compiled template is not valid Jinja: {exc.message}", files) from exc

        text_template: jinja2.Template | None = None
        text_source = _html2text(html)
        text_counts = Counter(_TOKEN_RE.findall(text_source))
        if all(text_counts.get(t.token, 0) == 1 for t in tags if t.kind == "stmt"):
            try:
                text_template = self._text_env.from_string(restore(text_source))
            except jinja2.TemplateSyntaxError:  # pragma: no cover - falls back to per-recipient html2text
                text_template = None
        return _Compiled(key=key, html_template=html_template, text_template=text_template)


# --------------------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"not valid UTF-8: {exc}", path) from exc


def _parse_header(src: _Source) -> str:
    """Read the ``<!-- slot: ... -->`` header of a block; return the text with the header blanked."""
    m = _HEADER_RE.match(src.text)
    example = "<!--\nslot: main\ndescription: ...\n-->"
    if not m:
        raise TemplateError(f"missing slot declaration: a block must start with a comment like {example!r}",
                            src.path, 1)
    fields: dict[str, str] = {}
    for offset, raw in enumerate(m.group(2).splitlines()):
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise TemplateError(f"header line {line!r} is not 'key: value'", src.path,
                                _line_of(src.text, m.start(2)) + offset)
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    slot = fields.get("slot")
    if not slot:
        raise TemplateError(f"missing slot declaration: the header comment needs a 'slot:' line ({example!r})",
                            src.path, _line_of(src.text, m.start(2)))
    if slot not in SLOTS:
        raise TemplateError(f"unknown slot {slot!r}; slots are {', '.join(SLOTS)}", src.path,
                            _line_of(src.text, src.text.find(slot, m.start(2))))
    src.slot = slot
    src.description = fields.get("description", "")
    return _blank(src.text[:m.end()]) + src.text[m.end():]


def _check_jinja(src: _Source, env: jinja2.Environment) -> None:
    try:
        ast = env.parse(src.text)
        env.compile(ast)  # also checks that filters/tests exist
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Jinja syntax error: {exc.message}", src.path, exc.lineno) from exc
    except jinja2.TemplateAssertionError as exc:  # pragma: no cover - subclass of syntax error in Jinja 3
        raise TemplateError(f"Jinja error: {exc}", src.path, exc.lineno) from exc
    variables = jinja2.meta.find_undeclared_variables(ast)
    unknown = sorted(v for v in variables if v not in CONTEXT_VARIABLES and v not in env.globals)
    if unknown:
        line = None
        for node in ast.find_all(jinja2.nodes.Name):
            if node.name == unknown[0]:
                line = node.lineno
                break
        raise TemplateError(f"unknown variable(s) {', '.join(unknown)}; available: "
                            f"{', '.join(sorted(CONTEXT_VARIABLES))}", src.path, line)
    src.variables = frozenset(variables)


def _check_layout_slots(layout: _Source) -> None:
    found = [(m.group(1), _line_of(layout.protected, m.start())) for m in _SLOT_MARKER_RE.finditer(layout.protected)]
    names = [name for name, _ in found]
    for name, line in found:
        if name not in SLOTS:
            raise TemplateError(f"unknown slot {name!r} in <tailor-slot>; slots are {', '.join(SLOTS)}",
                                layout.path, line)
    if names != list(SLOTS):
        raise TemplateError(f"the layout must contain each slot marker exactly once in this order: "
                            f"{', '.join(SLOTS)} (found: {', '.join(names) or 'none'})", layout.path)


def _guess_line(text: str, message: str) -> int | None:
    m = re.search(r"attribute '(\w+)'|'(\w+)' is undefined", message)
    if not m:
        return None
    word = m.group(1) or m.group(2)
    pos = re.search(r"[.\s{(]" + re.escape(word) + r"\b", text)
    return _line_of(text, pos.start()) if pos else None


def _prepare_context(context: Mapping[str, Any]) -> dict[str, Any]:
    ctx = {**_CONTEXT_DEFAULTS, **context}
    if not ctx.get("first_name"):
        ctx["first_name"] = "there"
    for key in _PRODUCT_LISTS:
        items = ctx.get(key) or []
        ctx[key] = [{**dict.fromkeys(PRODUCT_FIELDS), **item} for item in items]
    return ctx


_SUBJECT_ENV = _make_env(autoescape=False, sandboxed=True)
_SUBJECT_CACHE: dict[str, jinja2.Template] = {}


def render_subject(subject_template: str, context: Mapping[str, Any]) -> str:
    """Render a subject template (marketer-written, from the rule file) with a render context.

    Sandboxed Jinja without autoescaping (subjects are plain text); whitespace, including newlines,
    is collapsed to single spaces. Never pass a *rendered* string back in here (template injection).
    """
    if "{" not in subject_template:
        return " ".join(subject_template.split())
    template = _SUBJECT_CACHE.get(subject_template)
    if template is None:
        try:
            template = _SUBJECT_ENV.from_string(subject_template)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"subject template {subject_template!r}: {exc.message}") from exc
        if len(_SUBJECT_CACHE) > 1024:
            _SUBJECT_CACHE.clear()
        _SUBJECT_CACHE[subject_template] = template
    ctx = {**_CONTEXT_DEFAULTS, **context}
    if not ctx.get("first_name"):
        ctx["first_name"] = "there"
    try:
        subject = template.render(ctx)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"subject template {subject_template!r}: {exc}") from exc
    return " ".join(subject.split())


# --------------------------------------------------------------------------------------------------
# Table: rendered_emails
# --------------------------------------------------------------------------------------------------


def message_key(campaign_id: str, customer_id: str) -> str:
    """Stable id of one email: ``sha256("<campaign_id>|<customer_id>")`` hex, first 32 characters."""
    return hashlib.sha256(f"{campaign_id}|{customer_id}".encode()).hexdigest()[:32]


RENDERED_EMAILS_COLUMNS = ["customer_id", "campaign_id", "message_key", "to_email", "subject", "html", "text", "blocks"]


class RenderedEmailsSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(nullable=False)
    campaign_id: Series[str] = pa.Field(nullable=False)
    message_key: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{32}$", unique=True)
    to_email: Series[str] = pa.Field(str_contains="@")
    subject: Series[str] = pa.Field(str_length={"min_value": 1})
    html: Series[str] = pa.Field(str_contains="</html>")
    text: Series[str] = pa.Field(str_length={"min_value": 1})
    blocks: Series[str] = pa.Field(str_startswith="{")

    class Config:
        strict = True
        ordered = True
        unique = ["customer_id", "campaign_id"]


def send_mask(decisions: pd.DataFrame) -> pd.Series:
    """Rows of email_decisions with ``send`` exactly True (bool/numpy bool; None/NA/NaN count as False)."""
    return decisions["send"].map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v)).astype(bool)


def _parse_blocks(value: Any) -> dict[str, str | None]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return json.loads(value) if str(value).strip() else {}


def render_emails(decisions: pd.DataFrame, contexts: Mapping[str, Mapping[str, Any]],
                  library: TemplateLibrary) -> pd.DataFrame:
    """Render every decision with ``send == True`` into a ``rendered_emails`` row."""
    rows: list[dict[str, Any]] = []
    for row in decisions.loc[send_mask(decisions)].itertuples(index=False):
        customer_id, campaign_id = row.customer_id, row.campaign_id
        context = contexts.get(customer_id)
        if context is None:
            raise ValueError(f"no render context for customer {customer_id!r} (campaign {campaign_id!r})")
        email = context.get("email")
        if not email:
            raise ValueError(f"render context of customer {customer_id!r} has no email")
        blocks = _parse_blocks(row.blocks)
        subject_template = row.subject if isinstance(row.subject, str) and row.subject.strip() else None
        if subject_template is not None:
            subject = library.render_subject(subject_template, context)
        else:
            subject = " ".join(str(context.get("subject") or "").split())
        if not subject:
            raise ValueError(f"decision for customer {customer_id!r} (campaign {campaign_id!r}) has no subject")
        rendered = library.render(blocks, {**context, "subject": subject})
        rows.append({
            "customer_id": customer_id,
            "campaign_id": campaign_id,
            "message_key": message_key(campaign_id, customer_id),
            "to_email": email,
            "subject": subject,
            "html": rendered.html,
            "text": rendered.text,
            "blocks": json.dumps({slot: blocks[slot] for slot in SLOTS if blocks.get(slot)}),
        })
    frame = pd.DataFrame(rows, columns=RENDERED_EMAILS_COLUMNS).astype(object)
    return RenderedEmailsSchema.validate(frame)
