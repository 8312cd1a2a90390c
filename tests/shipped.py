"""What the project ships, read the way the pipeline reads it: the repository root and the block library."""

from __future__ import annotations

from pathlib import Path

from tailor.content.vocabulary import template_blocks

ROOT = Path(__file__).resolve().parents[1]
#: slot -> block names of email_templates/blocks (from the block headers)
SHIPPED_BLOCKS: dict[str, set[str]] = template_blocks(ROOT / "email_templates")[0]
