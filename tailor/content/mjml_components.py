"""The MJML components Tailor supports and where each may stand: the ones the pure-Python ``mjml`` package
renders (its own registry), restricted to MJML's nesting rules."""

from __future__ import annotations

from mjml.core.registry import components as MJML_REGISTRY
from mjml.core.registry import register_core_components

# mjml's component registry (name -> component class, with its attributes) is empty until this call; every
# module of Tailor reads it as MJML_REGISTRY from here, so it is always filled. The tables below are checked
# against it.
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

LEAF_COMPONENTS = frozenset({"mj-image", "mj-divider", "mj-spacer", "mj-carousel-image", "mj-breakpoint", "mj-font"})

#: Components Tailor accepts: registered in mjml's own component registry *and* covered by the nesting
#: table above (``mj-html-attributes`` is registered but not supported by Tailor).
SUPPORTED_COMPONENTS: frozenset[str] = frozenset(
    name for name in MJML_REGISTRY
    if name in ALLOWED_CHILDREN or name in CONTENT_COMPONENTS or name in LEAF_COMPONENTS
    or name == "mj-attributes"
)

UNIVERSAL_ATTRIBUTES = frozenset({"css-class", "mj-class"})
