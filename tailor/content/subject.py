"""Subject lines: marketer-written templates from the rule files, validated when a rule file is read and
rendered per recipient (sandboxed Jinja, plain text, whitespace collapsed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta

from tailor.content.environment import make_env
from tailor.content.errors import TemplateError
from tailor.content.vocabulary import CONTEXT_DEFAULTS, DEFAULT_FIRST_NAME, SUBJECT_VARIABLES

_SUBJECT_ENV = make_env(autoescape=False, sandboxed=True)
_SUBJECT_CACHE: dict[str, jinja2.Template] = {}


def subject_problem(subject_template: str) -> tuple[str, str | None] | None:
    """What is wrong with a subject template, or None: (message, the unknown placeholder if that is it)."""
    try:
        ast = _SUBJECT_ENV.parse(subject_template)
    except jinja2.TemplateSyntaxError as exc:
        return f"subject is not a valid template: {exc.message}", None
    unknown = sorted(v for v in jinja2.meta.find_undeclared_variables(ast) if v not in SUBJECT_VARIABLES)
    if unknown:
        return f"unknown placeholder {{{{ {unknown[0]} }}}} in the subject", unknown[0]
    return None


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
    ctx = {**CONTEXT_DEFAULTS, **context}
    if not ctx.get("first_name"):
        ctx["first_name"] = DEFAULT_FIRST_NAME
    try:
        subject = template.render(ctx)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"subject template {subject_template!r}: {exc}") from exc
    return " ".join(subject.split())
