"""The key that makes a send idempotent (one message per campaign and customer) and the links that carry it.

The unsubscribe link in the rendered body and the List-Unsubscribe header of the sent message are the same
``<base>?m=<message_key>``: the key identifies the message, so no link ever carries the raw address.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode


def message_key(campaign_id: str, customer_id: str) -> str:
    """Stable id of one email: ``sha256("<campaign_id>|<customer_id>")`` hex, first 32 characters."""
    return hashlib.sha256(f"{campaign_id}|{customer_id}".encode()).hexdigest()[:32]


def keyed_link(base_url: str, key: str) -> str:
    """``<base_url>?m=<key>``, or ``&m=<key>`` when the base already has a query string."""
    return f"{base_url}{'&' if '?' in base_url else '?'}{urlencode({'m': key})}"
