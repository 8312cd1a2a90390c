"""The key that makes a send idempotent: one message per campaign and customer."""

from __future__ import annotations

import hashlib


def message_key(campaign_id: str, customer_id: str) -> str:
    """Stable id of one email: ``sha256("<campaign_id>|<customer_id>")`` hex, first 32 characters."""
    return hashlib.sha256(f"{campaign_id}|{customer_id}".encode()).hexdigest()[:32]
