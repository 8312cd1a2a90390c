"""Subject lines: marketer-written templates from the rule files, validated when a rule file is read
(:func:`subject_problem`, which ``tailor rules check`` calls) and rendered per recipient (sandboxed Jinja, plain
text, whitespace collapsed, cut at a word past MAX_SUBJECT_CHARS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta

from tailor.content.environment import make_subject_env
from tailor.content.errors import TemplateError
from tailor.content.limits import MAX_SUBJECT_CHARS, MAX_SUBJECT_SOURCE_CHARS
from tailor.content.samples import SAMPLE_CONTEXTS
from tailor.content.sandbox import unsupported_syntax
from tailor.content.vocabulary import CONTEXT_DEFAULTS, DEFAULT_FIRST_NAME, SUBJECT_VARIABLES

_SUBJECT_ENV = make_subject_env()
_SUBJECT_CACHE: dict[str, jinja2.Template] = {}


def _source_problem(subject_template: str) -> str | None:
    if len(subject_template) > MAX_SUBJECT_SOURCE_CHARS:
        return (f"subject is {len(subject_template):,} characters long; the limit for a subject template is "
                f"{MAX_SUBJECT_SOURCE_CHARS:,} characters")
    return None


def _parse(subject_template: str) -> jinja2.nodes.Template:
    """The subject's AST; raises TemplateSyntaxError, or TemplateError for what the sandbox refuses to compile."""
    ast = _SUBJECT_ENV.parse(subject_template)
    refused = unsupported_syntax(ast)
    if refused is not None:
        raise TemplateError(refused[0])
    return ast


def subject_problem(subject_template: str) -> tuple[str, str | None] | None:
    """What is wrong with a subject template, or None: (message, the unknown placeholder if that is it).

    Checks the length of the source, the syntax, what the sandbox refuses, the placeholders, and renders it with
    the sample recipients: a limit it runs into, or a line longer than MAX_SUBJECT_CHARS, is a problem. Other
    errors of the sample render are not: they depend on the data (``{{ products[0].name }}`` with no products).
    """
    too_long = _source_problem(subject_template)
    if too_long:
        return too_long, None
    try:
        ast = _parse(subject_template)
    except jinja2.TemplateSyntaxError as exc:
        return f"subject is not a valid template: {exc.message}", None
    except TemplateError as exc:
        return f"subject: {exc}", None
    unknown = sorted(v for v in jinja2.meta.find_undeclared_variables(ast) if v not in SUBJECT_VARIABLES)
    if unknown:
        return f"unknown placeholder {{{{ {unknown[0]} }}}} in the subject", unknown[0]
    if "{" not in subject_template:
        longest = len(" ".join(subject_template.split()))
    else:
        try:
            template = _template(subject_template)
        except TemplateError as exc:   # e.g. an unknown filter, found when compiling
            return f"subject is not a valid template: {exc.problem}", None
        longest = 0
        for sample in SAMPLE_CONTEXTS:
            try:
                longest = max(longest, len(" ".join(template.render(sample).split())))
            except jinja2.exceptions.SecurityError as exc:   # the sandbox's refusals and Tailor's limits
                return f"subject cannot be rendered: {exc}", None
            except Exception:  # noqa: BLE001 - depends on the data, see the docstring
                continue
    if longest > MAX_SUBJECT_CHARS:
        where = " with a sample recipient" if "{" in subject_template else ""
        return (f"subject is {longest:,} characters long{where}; the limit is {MAX_SUBJECT_CHARS} characters "
                "(a subject made longer by a recipient's data is cut at a word)"), None
    return None


def _template(subject_template: str) -> jinja2.Template:
    template = _SUBJECT_CACHE.get(subject_template)
    if template is None:
        problem = _source_problem(subject_template)
        if problem:
            raise TemplateError(problem)
        try:
            template = _SUBJECT_ENV.from_string(_parse(subject_template))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"subject template {subject_template!r}: {exc.message}") from None
        except TemplateError as exc:
            raise TemplateError(f"subject template {subject_template!r}: {exc}") from None
        if len(_SUBJECT_CACHE) > 1024:
            _SUBJECT_CACHE.clear()
        _SUBJECT_CACHE[subject_template] = template
    return template


def _collapsed(subject_template: str, context: Mapping[str, Any]) -> str:
    """The subject rendered with ``context``, whitespace collapsed, not yet cut to its limit."""
    if "{" not in subject_template:
        problem = _source_problem(subject_template)
        if problem:
            raise TemplateError(problem)
        return " ".join(subject_template.split())
    template = _template(subject_template)
    ctx = {**CONTEXT_DEFAULTS, **context}
    if not ctx.get("first_name"):
        ctx["first_name"] = DEFAULT_FIRST_NAME
    try:
        subject = template.render(ctx)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"subject template {subject_template!r}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the message may quote the recipient's data: only its kind
        raise TemplateError(f"subject template {subject_template!r}: {type(exc).__name__}") from None
    return " ".join(subject.split())


def cut_subject(subject: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """``subject`` if it fits ``limit``, else cut at the last word that fits, with "…" (at a character when the
    last space is in the first half)."""
    if len(subject) <= limit:
        return subject
    cut = subject[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def render_subject(subject_template: str, context: Mapping[str, Any]) -> str:
    """Render a subject template (marketer-written, from the rule file) with a render context.

    Sandboxed Jinja without autoescaping (subjects are plain text); whitespace, including newlines,
    is collapsed to single spaces; a line longer than MAX_SUBJECT_CHARS is cut at a word. Never pass a
    *rendered* string back in here (template injection).
    """
    return cut_subject(_collapsed(subject_template, context))
