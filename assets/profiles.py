"""Stage 2 — profiles: one cleaned, deduplicated profile per real customer, with its consent state."""


from dagster import AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.warehouse import Warehouse
from tailor.identity.profiles import CRM_COLUMNS, CustomerProfilesSchema, profiles_from_warehouse
from tailor.identity.resolve import (
    RULES,
    CrmNormalizedSchema,
    CustomerIdentityLinksSchema,
    normalize_records,
    resolve_identities,
)

GROUP = "profiles"
OWNERS = ["team:data-engineering"]


def profile_assets(warehouse_kind: str) -> list:
    kinds = {"pandas", warehouse_kind}

    @multi_asset(
        name="customer_identity",
        specs=[
            AssetSpec(
                "customer_identity_links",
                group_name=GROUP,
                deps=["crm_customers"],
                kinds=kinds,
                owners=OWNERS,
                tags={"stage": "profiles"},
                description=(
                    "Which CRM record became which master customer, by which rule (exact_email, exact_phone, "
                    "fuzzy_name_address or single_record), with the score (for name + address: the "
                    "Fellegi-Sunter match probability) and the record it matched_with. Placeholder and shared "
                    "family e-mails/phones never merge people; a common name in a dense postcode alone does "
                    "not either (tailor/identity.py, docs/identity.md)."
                ),
            ),
            AssetSpec(
                "crm_normalized",
                group_name=GROUP,
                deps=["crm_customers"],
                kinds=kinds,
                owners=OWNERS,
                tags={"stage": "profiles"},
                description=(
                    "The matching view of every CRM record that identity resolution computed (normalised "
                    "e-mail, placeholder flag, domain typo suggestion, ISO country, E.164 phone, name, postcode "
                    "and city keys), kept so that customer_profiles reads it instead of normalising again."
                ),
            ),
        ],
        check_specs=[schema_check_spec("customer_identity_links"), schema_check_spec("crm_normalized")],
    )
    def customer_identity(warehouse: Warehouse):
        crm = warehouse.query(f"SELECT {CRM_COLUMNS} FROM crm_customers")
        stats: dict = {}
        # normalise once: resolution uses it now, profiles reads it back from crm_normalized
        norm = normalize_records(crm)
        links = resolve_identities(crm, normalized=norm, stats=stats)
        warehouse.write_table("customer_identity_links", links)
        warehouse.write_table("crm_normalized", norm)
        # Counts only: precision and recall need the demo's ground truth (bench/, tests), not production data.
        meta = table_metadata(
            links,
            customers=int(links["customer_id"].nunique()),
            records_merged=int((links["rule"] != "single_record").sum()),
        )
        meta["records_per_rule"] = MetadataValue.json({r: int((links["rule"] == r).sum()) for r in RULES})
        meta["links_per_rule"] = MetadataValue.json(
            {k.removesuffix("_links"): v for k, v in stats.items() if k.endswith("_links")})
        meta["guards"] = MetadataValue.json({
            k: v for k, v in stats.items()
            if k.endswith("_keys_rejected") or k.endswith("_name_mismatch") or k.startswith("fuzzy_")
        })
        yield MaterializeResult(
            asset_key="customer_identity_links",
            metadata=meta,
            check_results=[schema_check_result("customer_identity_links", CustomerIdentityLinksSchema, links)],
        )
        # no preview: every column but the flags is personal data
        yield MaterializeResult(
            asset_key="crm_normalized",
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
        group_name=GROUP,
        deps=["crm_customers", "crm_normalized", "customer_identity_links", "consent_events", "email_events"],
        kinds=kinds,
        owners=OWNERS,
        tags={"stage": "profiles"},
        description=(
            "One row per customer: normalised e-mail (with a flagged domain typo suggestion), names, E.164 "
            "phone, ISO country, time zone — the surviving value of each field (tailor/profiles.py "
            "SURVIVORSHIP) — and consent per purpose: marketing e-mail (with suppression by bounce, spam "
            "report, unsubscribe), SMS, personalization."
        ),
        check_specs=[schema_check_spec("customer_profiles")],
    )
    def customer_profiles(warehouse: Warehouse) -> MaterializeResult:
        with warehouse.session() as s:
            profiles = profiles_from_warehouse(s.query)
        warehouse.write_table("customer_profiles", profiles)
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
            metadata=meta,
            check_results=[schema_check_result("customer_profiles", CustomerProfilesSchema, profiles)],
        )

    return [customer_identity, customer_profiles]
