"""Stage 2 — profiles: one cleaned, deduplicated profile per real customer, with its consent state.

Three assets in order: ``crm_normalized`` (the matching view of every CRM record), ``customer_identity_links``
(which records are one person, read from that view) and ``customer_profiles``. Each can be materialized alone.
"""


from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.as_of import AsOfConfig, run_as_of
from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.warehouse import WarehouseResource
from tailor.identity.matching_view import CrmNormalizedSchema, normalize_records
from tailor.identity.profiles import CustomerProfilesSchema, profiles_from_warehouse
from tailor.identity.resolve import CustomerIdentityLinksSchema, identity_figures, resolve_identities
from tailor.sources.contracts import CRM_COLUMNS


@asset(
    deps=["crm_customers"],
    kinds={"pandas"},
    description=(
        "The matching view of every CRM record (normalised e-mail, placeholder flag, domain typo suggestion, ISO "
        "country, E.164 phone, name, postcode and city keys): identity resolution and customer_profiles read it, "
        "so nothing is normalised twice."
    ),
    check_specs=[schema_check_spec("crm_normalized")],
    metadata=table_definition_metadata(CrmNormalizedSchema),
)
def crm_normalized(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.session() as s:
        crm = s.query(f"SELECT {CRM_COLUMNS} FROM crm_customers ORDER BY customer_ref")
        norm = normalize_records(crm)
        s.write_table("crm_normalized", norm)
    # no preview: every column but the flags is personal data
    return MaterializeResult(
        metadata={
            "dagster/row_count": MetadataValue.int(len(norm)),
            "with_email": MetadataValue.int(int(norm["email_norm"].notna().sum())),
            "placeholder_emails": MetadataValue.int(int(norm["email_placeholder"].sum())),
            "with_phone": MetadataValue.int(int(norm["phone_e164"].notna().sum())),
            "without_country": MetadataValue.int(int(norm["country_iso"].isna().sum())),
        },
        check_results=[schema_check_result("crm_normalized", CrmNormalizedSchema, norm)],
    )


@asset(
    deps=["crm_customers", "crm_normalized"],
    kinds={"pandas"},
    description=(
        "Which CRM record became which master customer, by which rule (exact_email, exact_phone, "
        "fuzzy_name_address or single_record), with the score (for name + address: the Fellegi-Sunter match "
        "probability) and the record it matched_with. Placeholder and shared family e-mails/phones never merge "
        "people; a common name in a dense postcode alone does not either (docs/identity.md)."
    ),
    check_specs=[schema_check_spec("customer_identity_links")],
    metadata=table_definition_metadata(CustomerIdentityLinksSchema),
)
def customer_identity_links(warehouse: WarehouseResource) -> MaterializeResult:
    stats: dict = {}
    with warehouse.session() as s:
        crm = s.query(f"SELECT {CRM_COLUMNS} FROM crm_customers ORDER BY customer_ref")
        norm = s.query("SELECT * FROM crm_normalized ORDER BY customer_ref")
        links = resolve_identities(crm, normalized=norm, stats=stats)
        s.write_table("customer_identity_links", links)
    # counts only: precision and recall need the demo's ground truth (bench/, tests), not production data
    figures = identity_figures(links, stats)
    meta = table_metadata(links, customers=figures["customers"], records_merged=figures["records_merged"])
    for group in ("records_per_rule", "links_per_rule", "guards"):
        meta[group] = MetadataValue.json(figures[group])
    return MaterializeResult(
        metadata=meta,
        check_results=[schema_check_result("customer_identity_links", CustomerIdentityLinksSchema, links)],
    )


@asset(
    deps=["crm_customers", "crm_normalized", "customer_identity_links", "consent_events", "email_events"],
    kinds={"pandas"},
    description=(
        "One row per customer: normalised e-mail (with a flagged domain typo suggestion), names, E.164 phone, ISO "
        "country, time zone — the surviving value of each field (tailor/identity/survivorship.py) — and consent "
        "per purpose: marketing e-mail (with suppression by bounce, spam report, unsubscribe), SMS, "
        "personalization."
    ),
    check_specs=[schema_check_spec("customer_profiles")],
    metadata=table_definition_metadata(CustomerProfilesSchema),
)
def customer_profiles(context: AssetExecutionContext, config: AsOfConfig,
                      warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.session() as s:
        profiles = profiles_from_warehouse(s, as_of=run_as_of(context, config))
        s.write_table("customer_profiles", profiles)
    meta = table_metadata(
        profiles,
        customers=len(profiles),
        with_email=int(profiles["email"].notna().sum()),
        with_phone=int(profiles["phone"].notna().sum()),
        email_typos_flagged=int(profiles["email_typo_suggestion"].notna().sum()),
        marketing_consent=int(profiles["marketing_consent"].sum()),
        sms_consent=int(profiles["sms_consent"].sum()),
        personalization_consent=int(profiles["personalization_consent"].sum()),
        suppressed=int(profiles["suppressed_reason"].notna().sum()),
        source_records=int(profiles["source_record_count"].sum()),
    )
    meta["countries"] = MetadataValue.json(profiles["country"].value_counts().head(15).to_dict())
    return MaterializeResult(
        metadata=meta, check_results=[schema_check_result("customer_profiles", CustomerProfilesSchema, profiles)])


ASSETS = [crm_normalized, customer_identity_links, customer_profiles]
