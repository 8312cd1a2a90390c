"""The contract of every landing source: where its files are, their format and their columns.

docs/data-contracts.md explains each one for people; this module is the same contract for the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pycountry

Kind = Literal[
    "string", "integer", "number", "boolean", "timestamp", "unix_timestamp", "date",
    "currency",  # an ISO 4217 code, upper case (pycountry's list)
    "money",  # an exact decimal amount in the row's currency, at most that currency's minor unit of decimals
    "rate",  # an exact positive decimal (FX rates)
]


# ISO 4217 minor units (decimals) of the currencies that do not use 2. pycountry knows the codes but not
# their minor units, so the exceptions are listed here (ISO 4217 list one, 2024 edition). Codes whose minor
# unit is "N.A." (precious metals, SDR, test and fund codes) are no money to price goods in and are refused.
MINOR_UNITS_NOT_2: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
         "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


NOT_MONEY = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"})


def currency_minor_units() -> dict[str, int]:
    """Every ISO 4217 currency code that prices can be in, with its number of decimals."""
    return {
        c.alpha_3: MINOR_UNITS_NOT_2.get(c.alpha_3, 2)
        for c in pycountry.currencies
        if c.alpha_3 not in NOT_MONEY
    }


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "string"
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    rename_to: str | None = None  # the column's name in the warehouse table, when it differs
    exclusive_minimum: bool = False  # the value must be above ``minimum`` (a rate of 0 is no rate)
    # For dates: a value before ``earliest`` (ISO date) is bad, and with ``not_after_arrival`` one later than the
    # file's arrival (plus the clock-skew tolerance) too; timestamps are always judged against the arrival.
    earliest: str | None = None
    not_after_arrival: bool = False

    @property
    def table_name(self) -> str:
        return self.rename_to or self.name


@dataclass(frozen=True)
class SourceContract:
    name: str  # the warehouse table (and asset) it lands in
    folder: str  # below the landing folder
    file_format: Literal["csv", "ndjson"]
    columns: tuple[Column, ...]
    # A row whose key (one column, or several) repeats inside one file is quarantined, not double counted.
    unique_key: str | tuple[str, ...] | None = None
    # Event ids are unique ACROSS files: a repeat of a key already loaded from any file (a replayed export,
    # overlapping files, the same file twice) is not loaded again but counted as a duplicate of the first.
    dedupe_across_files: bool = False
    # Records, not events: a key in several files is one record updated over time, and the latest version is the
    # row kept (``version_column`` when present, else the file that arrived last; docs/data-contracts.md).
    latest_wins: bool = False
    version_column: str | None = None  # the record's own update time (table name), when it has one
    nested: tuple[Column, ...] = field(default=())  # for orders: the columns of each line item
    depends_on: tuple[str, ...] = ()  # sources whose tables this source's ingestion reads (orders: fx_rates)

    @property
    def suffixes(self) -> tuple[str, ...]:
        return (".csv",) if self.file_format == "csv" else (".ndjson", ".jsonl")

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def choices(self, column: str) -> tuple[str, ...]:
        """The allowed values of ``column`` (its landing or its table name); KeyError when it has no list."""
        for c in (*self.columns, *self.nested):
            if column in (c.name, c.table_name) and c.choices is not None:
                return c.choices
        raise KeyError(f"{self.name}: no column {column!r} with a list of choices")

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The landing names of the unique key's columns (empty when the source has none)."""
        if self.unique_key is None:
            return ()
        table_names = (self.unique_key,) if isinstance(self.unique_key, str) else self.unique_key
        by_table = {c.table_name: c.name for c in self.columns}
        return tuple(by_table[t] for t in table_names)


CRM_CUSTOMERS = SourceContract(
    name="crm_customers",
    folder="crm",
    file_format="csv",
    unique_key="customer_ref",
    latest_wins=True,
    version_column="updated_at",
    columns=(
        Column("customer_ref", required=True),
        Column("email"),
        Column("first_name"),
        Column("last_name"),
        Column("phone"),
        Column("country"),
        Column("city"),
        Column("postcode"),
        # Street address (optional: a file without these columns loads as before). ``street`` is address line 1 as
        # exported, usually with the house number ("Hauptstr. 5a", "12 High St"); ``house_number`` when the export
        # has it in a field of its own. Matching keys: tailor.identity.address.
        Column("street"),
        Column("address_line2"),
        Column("house_number"),
        Column("timezone"),
        # An ISO 8601 calendar date (1980-05-17). Before 1900 or after the file arrived is no birth date: a typo or
        # a system's "unknown" (0001-01-01, 9999-12-31), quarantined like an unreadable one (docs/data-contracts.md).
        Column("date_of_birth", "date", earliest="1900-01-01", not_after_arrival=True),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("source_system", choices=("shop", "pos", "newsletter", "import")),  # for source-priority survivorship
    ),
)

#: The select list of the contract's columns of ``crm_customers`` (the table has lineage columns besides): what
#: identity resolution and customer_profiles read.
CRM_COLUMNS = ", ".join(c.table_name for c in CRM_CUSTOMERS.columns)


PRODUCTS = SourceContract(
    name="products",
    folder="products",
    file_format="csv",
    unique_key="product_id",
    latest_wins=True,
    columns=(
        Column("product_id", required=True),
        Column("name", required=True),
        Column("category", required=True),
        Column("brand"),
        Column("price", "money", required=True, minimum=0),
        Column("currency", "currency", required=True),
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
    dedupe_across_files=True,
    depends_on=("fx_rates",),
    columns=(
        Column("order_id", required=True),
        Column("customer_ref", required=True),
        Column("ordered_at", "timestamp", required=True),
        Column("currency", "currency", required=True),
        Column("status", required=True, choices=("completed", "refunded", "cancelled")),
    ),
    nested=(
        Column("product_id", required=True),
        Column("quantity", "integer", required=True, minimum=1),
        Column("unit_price", "money", required=True, minimum=0),
    ),
)


WEB_EVENTS = SourceContract(
    name="web_events",
    folder="events",
    file_format="ndjson",
    unique_key="event_id",
    dedupe_across_files=True,
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
    dedupe_across_files=True,
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


# What a person can consent to (or object to): each purpose has its own history in the consent log.
CONSENT_PURPOSES = ("marketing_email", "marketing_sms", "personalization")


CONSENT_EVENTS = SourceContract(
    name="consent_events",
    folder="consent",
    file_format="csv",
    columns=(
        Column("email", required=True),
        Column("purpose", required=True, choices=CONSENT_PURPOSES),
        Column("status", required=True, choices=("granted", "revoked")),
        Column("changed_at", "timestamp", required=True),
        Column("source"),
    ),
)


FX_RATES = SourceContract(
    name="fx_rates",
    folder="fx_rates",
    file_format="csv",
    unique_key=("rate_date", "currency"),
    columns=(
        Column("rate_date", "date", required=True),
        Column("currency", "currency", required=True),
        Column("eur_per_unit", "rate", required=True, minimum=0, exclusive_minimum=True),
    ),
)


# In dependency order: fx_rates before orders (orders are converted to EUR at ingestion).
ALL_SOURCES: tuple[SourceContract, ...] = (
    CRM_CUSTOMERS, PRODUCTS, FX_RATES, ORDERS, WEB_EVENTS, EMAIL_EVENTS, CONSENT_EVENTS,
)
