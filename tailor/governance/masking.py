"""Masking of personal data before it reaches logs or Dagster metadata."""

from __future__ import annotations

import re


def mask_email(email: str | None) -> str:
    """Keep the first character of the local part and the domain: ``anna@x.com`` -> ``a***@x.com``."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


_EMAIL_IN_TEXT = re.compile(r"[^\s<>\"'(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_emails_in_text(text: str) -> str:
    """Mask every email address inside free text (reasons, provider errors)."""
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
