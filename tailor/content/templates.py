"""One template file, read and checked before MJML compiles it: the block header, Jinja syntax and variables,
the MJML structure (supported components in allowed places, known attributes) and the layout's slot markers.

MJML would drop or mangle Jinja, so every Jinja tag is first swapped for an inert token (``TLRJ<file>Z<n>Q``);
:class:`tailor.content.library.TemplateLibrary` compiles the tokenised MJML and puts the tags back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
from bs4 import BeautifulSoup, Tag
from bs4.element import PreformattedString

from tailor.content.errors import TemplateError
from tailor.content.limits import MAX_TEMPLATE_FILE_CHARS
from tailor.content.mjml_components import (
    ALLOWED_CHILDREN,
    CONTENT_COMPONENTS,
    LEAF_COMPONENTS,
    MJML_REGISTRY,
    SUPPORTED_COMPONENTS,
    UNIVERSAL_ATTRIBUTES,
)
from tailor.content.sandbox import unsupported_syntax
from tailor.content.vocabulary import (
    CONTEXT_VARIABLES,
    PRODUCT_URL_FIELDS,
    SLOTS,
    URL_VARIABLES,
    BlockHeaderError,
    read_block_header,
)

_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TOKEN_PREFIX = "TLRJ"
TOKEN_RE = re.compile(rf"{_TOKEN_PREFIX}\d+Z\d+Q")
SLOT_MARKER_RE = re.compile(r"<tailor-slot\s+name\s*=\s*[\"']([^\"']*)[\"']\s*/?>(?:\s*</tailor-slot>)?")


def _blank(text: str) -> str:
    """Replace every character except newlines by a space (keeps offsets and line numbers)."""
    return re.sub(r"[^\n]", " ", text)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class JinjaTag:
    token: str
    source: str  # original Jinja text, e.g. "{{ first_name }}"
    kind: str  # "expr" | "stmt"
    file: str
    line: int


@dataclass
class TemplateSource:
    """One preprocessed template file."""

    path: Path
    name: str
    text: str  # original file content
    slot: str | None = None
    protected: str = ""  # MJML with Jinja replaced by tokens (header comment removed)
    check_text: str = ""  # same lines as the file; Jinja blanked, control tags between components as <mj-raw>
    tags: list[JinjaTag] = field(default_factory=list)
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


def protect_jinja(src: TemplateSource, file_index: int, work: str) -> None:
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
    tags: list[JinjaTag] = []
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
        tags.append(JinjaTag(token, source, kind, display, line))
    pieces.append(work[last:])
    check.append(work[last:])
    src.check_text = "".join(check)
    src.protected = "".join(pieces)
    src.tags = tags


def check_structure(src: TemplateSource, *, root_parent: str, allow_slots: bool) -> None:
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
            if name in LEAF_COMPONENTS:
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
    component = MJML_REGISTRY.get(name)
    if component is None:
        return
    allowed = set(component.allowed_attrs())
    if not allowed:
        return  # mj-raw, mj-group and head components don't declare attributes
    allowed |= set(component.default_attrs()) | UNIVERSAL_ATTRIBUTES
    for attr in tag.attrs:
        if attr not in allowed:
            raise TemplateError(f"unknown attribute {attr!r} on <{name}> (allowed: {', '.join(sorted(allowed))})",
                                display, tag.sourceline)


def read_template(path: Path) -> str:
    """The file's text; a file that is not UTF-8 or longer than MAX_TEMPLATE_FILE_CHARS is a
    :class:`TemplateError`."""
    if path.stat().st_size > 4 * MAX_TEMPLATE_FILE_CHARS:   # surely too long (UTF-8: up to 4 bytes a character)
        raise TemplateError(f"the file is {path.stat().st_size:,} bytes long; the limit for a template file is "
                            f"{MAX_TEMPLATE_FILE_CHARS:,} characters", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"not valid UTF-8: {exc}", path) from exc
    if len(text) > MAX_TEMPLATE_FILE_CHARS:
        raise TemplateError(f"the file is {len(text):,} characters long; the limit for a template file is "
                            f"{MAX_TEMPLATE_FILE_CHARS:,} characters", path)
    return text


def parse_header(src: TemplateSource) -> str:
    """Read the ``<!-- slot: ... -->`` header of a block; return the text with the header blanked."""
    try:
        header = read_block_header(src.text)
    except BlockHeaderError as exc:
        raise TemplateError(str(exc), src.path, exc.line) from None
    src.slot = header.slot
    return _blank(src.text[:header.end]) + src.text[header.end:]


def check_jinja(src: TemplateSource, env: jinja2.Environment) -> None:
    """Jinja syntax, what the sandbox refuses before running anything (``{% include %}``, ``_`` attributes...),
    filters and variables (only the context's, see ``CONTEXT_VARIABLES``); fills ``src.variables``."""
    try:
        ast = env.parse(src.text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Jinja syntax error: {exc.message}", src.path, exc.lineno) from exc
    refused = unsupported_syntax(ast)
    if refused is not None:
        raise TemplateError(refused[0], src.path, refused[1])
    try:
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


def check_layout_slots(layout: TemplateSource) -> None:
    """The layout has each slot marker exactly once, in slot order."""
    found = [(m.group(1), _line_of(layout.protected, m.start())) for m in SLOT_MARKER_RE.finditer(layout.protected)]
    names = [name for name, _ in found]
    for name, line in found:
        if name not in SLOTS:
            raise TemplateError(f"unknown slot {name!r} in <tailor-slot>; slots are {', '.join(SLOTS)}",
                                layout.path, line)
    if names != list(SLOTS):
        raise TemplateError(f"the layout must contain each slot marker exactly once in this order: "
                            f"{', '.join(SLOTS)} (found: {', '.join(names) or 'none'})", layout.path)


def guess_line(text: str, message: str) -> int | None:
    """The line a Jinja render error most likely comes from: the first use of the attribute or variable it
    names."""
    m = re.search(r"attribute '(\w+)'|'(\w+)' is undefined", message)
    if not m:
        return None
    word = m.group(1) or m.group(2)
    pos = re.search(r"[.\s{(]" + re.escape(word) + r"\b", text)
    return _line_of(text, pos.start()) if pos else None


# attributes whose value a mail client or browser follows or loads (MJML writes href/src, mj-section
# background-url also as background=...)
_URL_ATTRIBUTE_RE = re.compile(r"""[\s"'](href|src|background|action|formaction|poster|xlink:href)\s*=\s*"""
                               r"""(?:"([^"]*)"|'([^']*)')""", re.I)
_FIXED_SCHEME_RE = re.compile(r"(?:https?://|mailto:|tel:|#)", re.I)
_URL_FILTERS = frozenset({"default", "d", "e", "escape", "trim", "string"})


def _is_url_expression(node: jinja2.nodes.Node | None) -> bool:
    """A URL variable of the context, a product's url/image_url, or a choice between them (``a or b``, ``a if c
    else b``, ``a | default(b)``): values the renderer checks to be http(s) URLs (tailor/content/urls.py)."""
    if isinstance(node, jinja2.nodes.Name):
        return node.name in URL_VARIABLES
    if isinstance(node, jinja2.nodes.Getattr):
        return node.attr in PRODUCT_URL_FIELDS
    if isinstance(node, jinja2.nodes.Getitem):
        return isinstance(node.arg, jinja2.nodes.Const) and node.arg.value in PRODUCT_URL_FIELDS
    if isinstance(node, jinja2.nodes.CondExpr):
        return _is_url_expression(node.expr1) and (node.expr2 is None or _is_url_expression(node.expr2))
    if isinstance(node, jinja2.nodes.Or):
        return _is_url_expression(node.left) and _is_url_expression(node.right)
    if isinstance(node, jinja2.nodes.Filter):
        return node.name in _URL_FILTERS and _is_url_expression(node.node) and all(map(_is_url_expression, node.args))
    return False


def check_links(html: str, by_token: dict[str, JinjaTag], env: jinja2.Environment) -> None:
    """Every ``href``/``src`` of the compiled (tokenised) HTML that holds Jinja starts either with a fixed
    scheme (``https://``, ``mailto:``, ``tel:``, ``#``) or with an expression of :func:`_is_url_expression`, so no
    recipient data can choose the scheme (``javascript:``, ``data:``...)."""
    for m in _URL_ATTRIBUTE_RE.finditer(html):
        attribute, value = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        first = TOKEN_RE.search(value)
        if first is None:
            continue
        tag = by_token[first.group()]
        prefix = value[:first.start()]
        if prefix and prefix == prefix.lstrip() and _FIXED_SCHEME_RE.match(prefix):
            continue
        if not prefix and tag.kind == "expr":
            body = env.parse(tag.source).body
            output = body[0] if len(body) == 1 and isinstance(body[0], jinja2.nodes.Output) else None
            if output is not None and len(output.nodes) == 1 and _is_url_expression(output.nodes[0]):
                continue
        raise TemplateError(
            f"{attribute}=\"{prefix}{tag.source}...\" must start with a URL variable ({', '.join(URL_VARIABLES)}, a "
            "product's url or image_url, or a choice between them) or with https://, mailto:, tel: or #: only "
            "those are checked to be http(s) links before they reach an email", tag.file, tag.line)
