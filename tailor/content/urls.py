"""Which URLs may reach an email's ``href`` and ``src``: absolute http(s) URLs only (issue 11, item 4).

A product URL such as ``javascript:alert(1)`` written into ``<a href>`` runs script in some mail clients and in
every browser that opens the "view online" copy; ``data:`` and ``vbscript:`` URLs do the same, and a
protocol-relative ``//evil.example`` takes the scheme of wherever the email is shown. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

# scheme, "://", a host without spaces, controls or the characters that end it, then anything printable: no
# whitespace or control character anywhere (browsers drop tabs and newlines *inside* a URL, so "java\tscript:"
# is a javascript: URL to them), no C1 controls, no DEL
_HTTP_URL_RE = re.compile(r"https?://[^\x00-\x20\x7f-\x9f\s/?#\\@]+(?:@[^\x00-\x20\x7f-\x9f\s/?#\\@]+)?"
                          r"(?:[/?#][^\x00-\x20\x7f-\x9f\s]*)?", re.IGNORECASE)
# what HTML strips around an attribute value; other leading characters (\x01...) make the URL refused
_EDGE_WHITESPACE = " \t\n\r\f"


# every render checks the links of its context again and catalogue links repeat from one recipient to the next:
# the answers are remembered (a dict lookup instead of a regex match), forgotten all at once when there are many
_CHECKED: dict[str, str | None] = {}
_CHECKED_MAX = 50_000


def safe_http_url(value: Any) -> str | None:
    """``value`` (surrounding spaces and line breaks removed) if it is an absolute ``http://`` or ``https://`` URL
    with a host and no whitespace or control characters, else None."""
    if not isinstance(value, str):
        return None
    try:
        return _CHECKED[value]
    except KeyError:
        pass
    url = value.strip(_EDGE_WHITESPACE)
    result = url if _HTTP_URL_RE.fullmatch(url) else None
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[value] = result
    return result
