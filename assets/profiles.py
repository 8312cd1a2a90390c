"""Stage 2 — profiles: one cleaned, deduplicated profile per real customer, with its consent state."""


from dagster import MaterializeResult, MetadataValue, asset

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.warehouse import Warehouse
from tailor.profiles import (
    HARD_SUPPRESSION_EVENTS,
    UNSUBSCRIBE_EVENTS,
    CustomerIdentityLinksSchema,
    CustomerProfilesSchema,
    build_customer_profiles,
    resolve_identities,
)

GROUP = "profiles"
OWNERS = ["team:data-engineering"]


def profile_assets(warehouse_kind: str) -> list:
    kinds = {"pandas", warehouse_kind}

    @asset(
        group_name=GROUP,
        deps=["crm_customers"],
        kinds=kinds,
        owners=OWNERS,
        tags={"stage": "profiles"},
        description=(
            "Which source record became which master customer, by which rule and score "
            "(exact match on the normalised email)."
        ),
        check_specs=[schema_check_spec("customer_identity_links")],
    )
    def customer_identity_links(warehouse: Warehouse) -> MaterializeResult:
        crm = warehouse.query("SELECT customer_ref, email FROM crm_customers")
        links = resolve_identities(crm)
        warehouse.write_table("customer_identity_links", links)
        merged = int((links["rule"] == "exact_email").sum())
        return MaterializeResult(
            metadata=table_metadata(links, records_merged=merged, customers=int(links["customer_id"].nunique())),
            check_results=[schema_check_result("customer_identity_links", CustomerIdentityLinksSchema, links)],
        )

    @asset(
        group_name=GROUP,
        deps=["crm_customers", "customer_identity_links", "consent_events", "email_events"],
        kinds=kinds,
        owners=OWNERS,
        tags={"stage": "profiles"},
        description=(
            "One row per customer: normalised email, name, ISO country, time zone, the surviving value of each "
            "field (tailor/profiles.py SURVIVORSHIP), marketing consent and suppression (bounce, spam report, "
            "unsubscribe)."
        ),
        check_specs=[schema_check_spec("customer_profiles")],
    )
    def customer_profiles(warehouse: Warehouse) -> MaterializeResult:
        suppressing = ", ".join(f"'{e}'" for e in (*UNSUBSCRIBE_EVENTS, *HARD_SUPPRESSION_EVENTS))
        with warehouse.session() as s:
            crm = s.query("SELECT * FROM crm_customers")
            links = s.query("SELECT * FROM customer_identity_links")
            consent = s.query("SELECT email, purpose, status, changed_at FROM consent_events")
            # Only the events that change consent are needed: filter in the warehouse, not in pandas.
            esp = s.query(f"SELECT email, event_type, occurred_at FROM email_events WHERE event_type IN ({suppressing})")
        profiles = build_customer_profiles(crm, links, consent, esp)
        warehouse.write_table("customer_profiles", profiles)
        meta = table_metadata(
            profiles,
            customers=len(profiles),
            with_email=int(profiles["email"].notna().sum()),
            marketing_consent=int(profiles["marketing_consent"].sum()),
            suppressed=int(profiles["suppressed_reason"].notna().sum()),
            source_records=len(crm),
        )
        meta["countries"] = MetadataValue.json(profiles["country"].value_counts().head(15).to_dict())
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("customer_profiles", CustomerProfilesSchema, profiles)],
        )

    return [customer_identity_links, customer_profiles]
