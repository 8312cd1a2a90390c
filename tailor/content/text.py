"""The plain-text part of an email, from its HTML: html2text without the head and the hidden preheader,
links as ``label (url)``, images left out, runs of blank lines collapsed."""

from __future__ import annotations

import re

import html2text

_PREVIEW_DIV_RE = re.compile(r"<div style=\"display:none;font-size:1px;[^\"]*\">.*?</div>", re.S)
_HEAD_RE = re.compile(r"<head\b.*?</head>", re.S | re.I)
_MD_LINK_RE = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


class _PlainText(html2text.HTML2Text):
    """html2text without Markdown escaping: the result is a text/plain part, not Markdown
    (otherwise "1. Scarf" becomes "1\\. Scarf")."""

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        super().handle_data(data, entity_char=True)


def html_to_raw_text(html: str) -> str:
    """html2text of ``html``, links as ``label (url)``, before :func:`tidy_text`. The library runs it once per
    block combination, on the compiled HTML with the Jinja tags still as tokens."""
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


def tidy_text(text: str) -> str:
    """Whitespace inside lines collapsed, no leading or repeated blank lines, one final newline."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def html_to_text(html: str) -> str:
    """Readable plain-text version of an HTML email (links as ``label (url)``)."""
    return tidy_text(html_to_raw_text(html))
