"""The sandbox every template and subject line renders in (docs/templates.md, "Security and limits").

Templates are written by whoever edits ``email_templates/``, subjects by marketers in the rule file: neither may
run code, reach Python internals, change the recipient data or make the renderer allocate without bound.
Jinja's ImmutableSandboxedEnvironment does the first three (no ``_`` attributes, no unsafe callables, no
list/dict mutation); :class:`TailorSandbox` adds the limits of :mod:`tailor.content.limits`:

* ``*``, ``+``, ``**``, ``%`` (intercepted operators) and ``~`` (compiled through :meth:`TailorSandbox.join_values`)
  refuse to build a value over MAX_VALUE_CHARS *before* building it, and so do list, tuple and dict literals and
  ``dict()``/``namespace()``. Nested lists are measured as printing them would (:func:`weight`), so sharing one
  list many times does not get around the limit;
* methods of text that take a size (``ljust``, ``replace``, ``join``, ``format``...) are checked before they run;
* filters are Jinja's minus the ones that build text from a size argument or print unescaped data; ``join``,
  ``replace``, ``map`` and ``tojson`` are bounded; ``range()`` gives at most MAX_RANGE numbers;
* output is collected with a limit (:meth:`TailorSandbox.concat`), so a loop stops as soon as it is too long.

Not bounded: the CPU time of loops or recursive macros that print nothing. Every block is sample-rendered when the
library loads and every subject when the rule file is checked, so such a template hangs there, before any email.

Jinja only (python-liquid will replace it): the static checks read Jinja's AST, the rest hooks Jinja's sandbox.
"""

from __future__ import annotations

import math
import re
import string
import types
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace, do_tojson, sync_do_join, sync_do_map
from jinja2.runtime import Context, EvalContext, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_context, pass_eval_context
from markupsafe import soft_str

from tailor.content.limits import MAX_JSON_INDENT, MAX_POWER_BITS, MAX_RANGE, MAX_VALUE_CHARS


class TemplateLimitError(SecurityError):
    """A template asked for more than a limit of :mod:`tailor.content.limits` allows (a Jinja runtime error)."""


#: Jinja filters templates cannot use, and why (the load-time check quotes the reason).
UNAVAILABLE_FILTERS: dict[str, str] = {
    "safe": "recipient data is always escaped; write HTML in the template itself",
    "urlize": "it turns text into links; write <a href=\"{{ ... }}\"> with a URL variable",
    "xmlattr": "it writes HTML attributes from data",
    "center": "it builds text from a width argument",
    "indent": "it builds text from a width argument",
    "wordwrap": "it builds text from a width argument",
    "format": "it pads text to any width; join text with ~",
    "batch": "it builds lists from a size argument",
    "slice": "it builds lists from a size argument",
    "pprint": "it prints Python objects",
    "random": "an email must render the same way every time",
}
_SIZED = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace)


def weight(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """How big ``value`` prints: characters of text, plus one per item of a list, tuple, set or dict, a part that
    appears several times counted each time (but measured once); stops counting past ``limit``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    return _weight(value, {}, limit)


def _weight(value: Any, memo: dict[int, int], limit: int) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    known = memo.get(id(value))   # only objects reachable from the value are looked up: their ids stay unique
    if known is not None:
        return known
    memo[id(value)] = 0
    total = 1
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    if isinstance(value, dict):
        for key, item in value.items():
            total += _weight(key, memo, limit) + _weight(item, memo, limit)
            if total > limit:
                break
    else:
        for item in value:
            total += _weight(item, memo, limit)
            if total > limit:
                break
    memo[id(value)] = total
    return total


def check_size(size: int, what: str) -> None:
    """Refuse a value of ``size`` (see :func:`weight`) over MAX_VALUE_CHARS; ``what`` says what would build it."""
    if size > MAX_VALUE_CHARS:
        raise TemplateLimitError(f"{what} would make a value of {size:,} characters; the limit for one value is "
                                 f"{MAX_VALUE_CHARS:,} characters")


def _check_replace(text: str | bytes, old: Any, new: Any, count: Any, what: str) -> None:
    if not isinstance(old, type(text)) or not isinstance(new, type(text)):
        return   # str.replace raises its own TypeError
    found = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    check_size(len(text) + found * (len(new) - len(old)), what)


_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _width(number: str) -> int:
    return int(number) if len(number) <= 18 else 10**18


def _check_printf(fmt: str, args: Any) -> None:
    """``fmt % args``: no width or precision above the limit, nor taken from an argument (``%*d``) above it."""
    star = False
    for m in _PRINTF_RE.finditer(fmt):
        for number in m.groups():
            star = star or number == "*"
            if number and number != "*":
                check_size(_width(number), "a %-format width")
    if star:
        for value in args if isinstance(args, tuple) else (args,):
            if isinstance(value, int):
                check_size(value, "a %-format width")


def _check_format_fields(fmt: str) -> None:
    """``fmt.format(...)``: no field width above the limit, none taken from an argument (``{:{w}}``)."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return   # malformed: format() raises its own error
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            raise TemplateLimitError("format widths taken from an argument ({:{w}}) are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            check_size(_width(number), "a format width")


_SIZE_ARGUMENT_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "to_bytes"})


def _checked_method_call(owner: str | bytes | int, name: str, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call of a built-in method of text or a number before it runs; returns the arguments to call with
    (``join``'s iterable, read once into a list)."""
    what = f".{name}()"
    if name in _SIZE_ARGUMENT_METHODS:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and value > MAX_VALUE_CHARS:
                check_size(value, what)
    elif name in ("translate", "maketrans"):
        raise SecurityError(f"{what} is not available in templates")
    elif isinstance(owner, int):
        return args
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            check_size(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * size, what)
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1), what)
    elif name == "join" and args:
        items = list(args[0])
        check_size(len(owner) * max(len(items) - 1, 0) + sum(weight(i) for i in items), what)
        return (items, *args[1:])
    return args


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(value)
    size = len(str(d)) * max(len(items) - 1, 0)
    if attribute is None:
        size += sum(weight(i) for i in items)
    check_size(size, "|join")
    return sync_do_join(eval_ctx, items, d, attribute)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    _check_replace(str(s), str(old), str(new), -1 if count is None else count, "|replace")
    return do_replace(eval_ctx, s, old, new, count)


def _budgeted(items: Iterable[Any]) -> Iterator[Any]:
    total = 0
    for item in items:
        total += weight(item)
        check_size(total, "|map")
        yield item


@pass_context
def _map(context: Context, value: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    # map is where one small argument turns into a new value per item: the values it makes share one budget
    return _budgeted(sync_do_map(context, value, *args, **kwargs))


@pass_eval_context
def _tojson(eval_ctx: EvalContext, value: Any, indent: Any = None) -> Any:
    if indent is not None and (not isinstance(indent, int) or indent > MAX_JSON_INDENT):
        raise TemplateLimitError(f"|tojson indent must be a number up to {MAX_JSON_INDENT}")
    return do_tojson(eval_ctx, value, indent)


def bounded_range(*args: int) -> range:
    """``range()`` in templates: at most MAX_RANGE numbers."""
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:
        count = MAX_RANGE + 1
    if count > MAX_RANGE:
        raise TemplateLimitError(f"range() of more than {MAX_RANGE:,} numbers is not allowed in templates")
    return numbers


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` and list/tuple/dict literals measured by the environment first."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # the same choice of escaping as Jinja's visit_Concat (markup_join / str_join)
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write(f"environment.join_values({markup}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._measured(super().visit_List, node, node.items, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":   # an assignment target: {% for a, b in ... %}
            super().visit_Tuple(node, frame)
        else:
            self._measured(super().visit_Tuple, node, node.items, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        parts = [part for pair in node.items for part in (pair.key, pair.value)]
        self._measured(super().visit_Dict, node, parts, frame)

    def _measured(self, visit: Any, node: nodes.Expr, parts: list[nodes.Node], frame: Frame) -> None:
        if all(isinstance(part, nodes.Const) for part in parts):
            visit(node, frame)   # constants only: no bigger than the template text
            return
        self.write("environment.measured(")
        visit(node, frame)
        self.write(")")


class TailorSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with Tailor's limits. ``output_limit``: characters one render may produce;
    past it rendering fails, or with ``cut_output`` stops and keeps the first ``output_limit`` characters."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self, *, output_limit: int, output_name: str, cut_output: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.output_limit = output_limit
        self.output_name = output_name
        self.cut_output = cut_output
        self.globals["range"] = bounded_range
        self.globals.pop("lipsum", None)   # lorem ipsum of any length: nothing an email needs
        self.filters = {name: f for name, f in self.filters.items() if name not in UNAVAILABLE_FILTERS}
        self.filters.update({"join": _join, "replace": _replace, "map": _map, "tojson": _tojson})

    def concat(self, pieces: Iterable[str]) -> str:  # type: ignore[override]
        """Jinja joins every render's output with this: counting as it goes (32 pieces at a time, summed in C),
        a loop stops within a few pieces of the limit instead of building the whole output first."""
        it = iter(pieces)
        out: list[str] = []
        size = 0
        while chunk := list(islice(it, 32)):
            out += chunk
            size += sum(map(len, chunk))
            if size > self.output_limit:
                if self.cut_output:
                    return "".join(out)[:self.output_limit]
                raise TemplateLimitError(f"the rendered {self.output_name} is over {self.output_limit:,} "
                                         "characters, its limit")
        return "".join(out)

    def join_values(self, markup: bool, values: tuple[Any, ...]) -> str:
        """``a ~ b``: Jinja's markup_join / str_join, refusing a result over the limit before it is built."""
        texts = [soft_str(v) if markup else str(v) for v in values]
        check_size(sum(map(len, texts)), "joining text with ~")
        return markup_join(texts) if markup else "".join(texts)

    def measured(self, value: Any) -> Any:
        check_size(weight(value), f"a {type(value).__name__} literal")
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SIZED) and isinstance(times, int) and times > 1:
                    check_size(weight(seq) * times, f"repeating a value {times:,} times")
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                check_size(weight(left) + weight(right), "adding two values with +")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                bits = right * math.log2(abs(left))
                if bits > MAX_POWER_BITS:
                    raise TemplateLimitError(f"a power of about {bits:,.0f} bits; the limit is {MAX_POWER_BITS:,}")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, types.BuiltinMethodType):
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, (str, bytes, int)):
                args = _checked_method_call(owner, __obj.__name__, args, kwargs)
        elif __obj is dict or __obj is Namespace:
            check_size(sum(weight(a) for a in (*args, *kwargs.values())), f"{getattr(__obj, '__name__', '')}()")
        return super().call(__context, __obj, *args, **kwargs)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an Undefined that fails only when used, and a further attribute of it then fails with
        # "no attribute" instead: refused at the access, the error says what was refused
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe and "
                            "not allowed in templates")

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_fields(value.__self__)
        return wrapped


_COMPOSITION = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "import",
                nodes.Extends: "extends"}
_CHECKED_NODES = (*_COMPOSITION, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.EvalContextModifier)


def _internal(name: str) -> str:
    return (f"access to attribute {name!r} is unsafe and not allowed in templates (names starting with _ are "
            "Python internals)")


def _private_const(node: nodes.Node | None) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value.startswith("_"):
        return node.value
    return None


def _node_problem(node: nodes.Node) -> str | None:
    kind = _COMPOSITION.get(type(node))
    if kind is not None:
        return (f"{{% {kind} %}} is not supported: every template file is checked and compiled on its own and "
                "Tailor puts the blocks into the layout's slots; put shared markup in layout.mjml")
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return _internal(node.attr)
    if isinstance(node, nodes.Getitem) and _private_const(node.arg):
        return _internal(node.arg.value)  # type: ignore[attr-defined]
    if isinstance(node, nodes.Filter):
        if node.name in UNAVAILABLE_FILTERS:
            return f"the filter {node.name!r} is not available in email templates: {UNAVAILABLE_FILTERS[node.name]}"
        if node.name == "attr" and node.args and _private_const(node.args[0]):
            return _internal(node.args[0].value)  # type: ignore[attr-defined]
    if isinstance(node, nodes.EvalContextModifier) and any(o.key == "autoescape" for o in node.options):
        return "{% autoescape %} is not allowed: recipient data is always escaped"
    return None


def unsupported_syntax(ast: nodes.Template) -> tuple[str, int] | None:
    """The first thing in a parsed template that Tailor refuses before running it, as (message, line): an
    ``{% include %}``/``{% import %}``/``{% extends %}``, a ``_`` attribute written out, an unavailable filter,
    ``{% autoescape %}``. Names built at run time are the sandbox's to refuse."""
    found: list[tuple[int, int, str]] = []

    def walk(node: nodes.Node, depth: int) -> None:
        message = _node_problem(node) if isinstance(node, _CHECKED_NODES) else None
        if message is not None:
            found.append((node.lineno, -depth, message))
        for child in node.iter_child_nodes():
            walk(child, depth + 1)

    walk(ast, 0)
    if not found:
        return None
    # first line; on it the innermost node, which comes first in the text (a.__init__.__globals__: __init__)
    line, _, message = min(found, key=lambda item: item[:2])
    return message, line


def sandbox_env(*, autoescape: bool, output_limit: int, output_name: str, cut_output: bool = False,
                finalize: Any = None) -> jinja2.Environment:
    """A :class:`TailorSandbox` with Tailor's options: unknown variables are errors, blocks trimmed, no cache."""
    return TailorSandbox(
        output_limit=output_limit, output_name=output_name, cut_output=cut_output,
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        finalize=finalize, auto_reload=False, cache_size=0,
    )
