"""The words rules and templates share — slots, the variables of a render context, the params rules may
set, product fields — and the block header (``<!-- slot: main -->``) that says which slot a block fills.

Standard library only: ``tailor rules check`` (run on every save) reads block headers and validates subjects
and params with it, without loading the MJML compiler or pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Layout order of the slots. The footer is always present and is not a slot.
SLOTS: tuple[str, ...] = ("hero", "main", "offer", "note")

#: Params the render context reads (tailor/content/context.py), with their kind in the condition language.
KNOWN_PARAMS: dict[str, str] = {"discount_percent": "number", "discount_code": "string", "preheader": "string"}

#: What a product in a context carries; ``rank`` is the shop's bestseller rank (bestsellers only).
PRODUCT_FIELDS: tuple[str, ...] = ("product_id", "name", "price", "currency", "url", "image_url", "reason", "rank")
PRODUCT_LISTS: tuple[str, ...] = ("products", "cart_products", "bestsellers")
#: Why a product is in a list: the eyebrow label of its card (``reason``). Recommended products bring their own.
REASON_VIEWED = "Because you viewed it"
REASON_BESTSELLER = "Bestseller"
REASON_CART = "In your cart"

#: The greeting's name for a recipient without a first name ("Hi there").
DEFAULT_FIRST_NAME = "there"

#: The render context of one recipient with its defaults (docs/templates.md); ``shop_url`` is the storefront
#: root that call-to-action buttons link to.
CONTEXT_DEFAULTS: dict[str, Any] = {
    "first_name": DEFAULT_FIRST_NAME,
    "email": None,
    "customer_id": None,
    "campaign_id": None,
    "subject": "",
    "products": [],
    "cart_products": [],
    "bestsellers": [],
    "discount_percent": None,
    "discount_code": None,
    "unsubscribe_url": "",
    "preferences_url": "",
    "preheader": "",
    "company_name": "",
    "company_address": "",
    "shop_url": "",
}
CONTEXT_VARIABLES: frozenset[str] = frozenset(CONTEXT_DEFAULTS)
#: The links of a context; with the products' ``url`` and ``image_url`` the only values that may start an
#: ``href``/``src`` (only absolute http(s) URLs reach the email: tailor/content/urls.py).
URL_VARIABLES: tuple[str, ...] = ("shop_url", "unsubscribe_url", "preferences_url")
PRODUCT_URL_FIELDS: tuple[str, ...] = ("url", "image_url")
#: A subject line may use every variable of the context but itself.
SUBJECT_VARIABLES: frozenset[str] = CONTEXT_VARIABLES - {"subject"}

#: Block files are ``blocks/<name>.mjml`` with a lower_snake_case name.
BLOCK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_RE = re.compile(r"\A(\s*)<!--(.*?)-->", re.S)
_HEADER_EXAMPLE = "<!--\nslot: main\ndescription: ...\n-->"


class BlockHeaderError(ValueError):
    """A block's header comment is missing or malformed; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class BlockHeader:
    slot: str
    description: str
    end: int        # offset just after the header comment


def read_block_header(text: str) -> BlockHeader:
    """The ``<!-- slot: ...  description: ... -->`` comment a block starts with; raises :class:`BlockHeaderError`."""
    m = _HEADER_RE.match(text)
    if not m:
        raise BlockHeaderError(f"missing slot declaration: a block must start with a comment like "
                               f"{_HEADER_EXAMPLE!r}", 1)
    first_line = text.count("\n", 0, m.start(2)) + 1
    fields: dict[str, str] = {}
    for offset, raw in enumerate(m.group(2).splitlines()):
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise BlockHeaderError(f"header line {line!r} is not 'key: value'", first_line + offset)
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    slot = fields.get("slot")
    if not slot:
        raise BlockHeaderError(f"missing slot declaration: the header comment needs a 'slot:' line "
                               f"({_HEADER_EXAMPLE!r})", first_line)
    if slot not in SLOTS:
        raise BlockHeaderError(f"unknown slot {slot!r}; slots are {', '.join(SLOTS)}",
                               text.count("\n", 0, text.find(slot, m.start(2))) + 1)
    return BlockHeader(slot=slot, description=fields.get("description", ""), end=m.end())


def template_blocks(templates_dir: str | Path) -> tuple[dict[str, set[str]], list[tuple[Path, int | None, str]]]:
    """slot -> block names of ``<templates_dir>/blocks/*.mjml``, read from the block headers alone — the same
    list as ``TemplateLibrary.load(dir).blocks_by_slot`` without compiling any MJML (which takes seconds).
    Returns (blocks by slot, problems as (file, line, message)). Full validation is ``TemplateLibrary.load``'s."""
    blocks: dict[str, set[str]] = {slot: set() for slot in SLOTS}
    problems: list[tuple[Path, int | None, str]] = []
    block_dir = Path(templates_dir) / "blocks"
    if not block_dir.is_dir():
        return blocks, [(block_dir, None, "templates folder without a blocks/ folder; give the right one with "
                                          "--templates-dir")]
    for path in sorted(block_dir.glob("*.mjml")):
        if not BLOCK_NAME_RE.match(path.stem):
            problems.append((path, None, "block file names must be lower_snake_case (letters, digits, _)"))
            continue
        try:
            header = read_block_header(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((path, None, f"cannot read the block: {exc}"))
        except BlockHeaderError as exc:
            problems.append((path, exc.line, str(exc)))
        else:
            blocks[header.slot].add(path.stem)
    return blocks, problems
