"""The contract of every landing source: where its files are, their format and their columns.

docs/data-contracts.md explains each one for people; this module is the same contract for the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "integer", "number", "boolean", "timestamp", "unix_timestamp"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "string"
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    rename_to: str | None = None  # the column's name in the warehouse table, when it differs

    @property
    def table_name(self) -> str:
        return self.rename_to or self.name


@dataclass(frozen=True)
class SourceContract:
    name: str  # the warehouse table (and asset) it lands in
    folder: str  # below the landing folder
    file_format: Literal["csv", "ndjson"]
    columns: tuple[Column, ...]
    unique_key: str | None = None  # a row whose key repeats is quarantined, not double counted
    nested: tuple[Column, ...] = field(default=())  # for orders: the columns of each line item

    @property
    def suffixes(self) -> tuple[str, ...]:
        return (".csv",) if self.file_format == "csv" else (".ndjson", ".jsonl")

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


CRM_CUSTOMERS = SourceContract(
    name="crm_customers",
    folder="crm",
    file_format="csv",
    unique_key="customer_ref",
    columns=(
        Column("customer_ref", required=True),
        Column("email"),
        Column("first_name"),
        Column("last_name"),
        Column("phone"),
        Column("country"),
        Column("city"),
        Column("postcode"),
        Column("timezone"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("source_system", choices=("shop", "pos", "newsletter", "import")),  # for source-priority survivorship
    ),
)

PRODUCTS = SourceContract(
    name="products",
    folder="products",
    file_format="csv",
    unique_key="product_id",
    columns=(
        Column("product_id", required=True),
        Column("name", required=True),
        Column("category", required=True),
        Column("brand"),
        Column("price", "number", required=True, minimum=0),
        Column("currency", required=True),
        Column("in_stock", "boolean"),
        Column("url"),
        Column("image_url"),
    ),
)

ORDERS = SourceContract(
    name="orders",
    folder="orders",
    file_format="ndjson",
    unique_key="order_id",
    columns=(
        Column("order_id", required=True),
        Column("customer_ref", required=True),
        Column("ordered_at", "timestamp", required=True),
        Column("currency", required=True),
        Column("status", required=True, choices=("completed", "refunded", "cancelled")),
    ),
    nested=(
        Column("product_id", required=True),
        Column("quantity", "integer", required=True, minimum=1),
        Column("unit_price", "number", required=True, minimum=0),
    ),
)

WEB_EVENTS = SourceContract(
    name="web_events",
    folder="events",
    file_format="ndjson",
    unique_key="event_id",
    columns=(
        Column("event_id", required=True),
        Column("customer_ref"),
        Column("anonymous_id"),
        Column("event_type", required=True, choices=("page_view", "product_view", "add_to_cart", "checkout_started")),
        Column("product_id"),
        Column("occurred_at", "timestamp", required=True),
        Column("platform", choices=("web", "ios", "android")),
        Column("session_id"),
    ),
)

EMAIL_EVENTS = SourceContract(
    name="email_events",
    folder="email_events",
    file_format="ndjson",
    unique_key="event_id",
    columns=(
        Column("sg_event_id", required=True, rename_to="event_id"),
        Column("sg_message_id", rename_to="message_id"),
        Column("email", required=True),
        Column(
            "event",
            required=True,
            rename_to="event_type",
            choices=(
                "processed", "delivered", "open", "click", "bounce", "dropped", "deferred",
                "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe",
            ),
        ),
        Column("timestamp", "unix_timestamp", required=True, rename_to="occurred_at"),
        Column("url"),
        Column("campaign_id"),
    ),
)

CONSENT_EVENTS = SourceContract(
    name="consent_events",
    folder="consent",
    file_format="csv",
    columns=(
        Column("email", required=True),
        Column("purpose", required=True, choices=("marketing_email", "marketing_sms", "personalization")),
        Column("status", required=True, choices=("granted", "revoked")),
        Column("changed_at", "timestamp", required=True),
        Column("source"),
    ),
)

ALL_SOURCES: tuple[SourceContract, ...] = (
    CRM_CUSTOMERS, PRODUCTS, ORDERS, WEB_EVENTS, EMAIL_EVENTS, CONSENT_EVENTS,
)
SOURCES_BY_NAME = {c.name: c for c in ALL_SOURCES}
