"""Stage 2 — profiles: one cleaned, deduplicated profile per real customer, with its consent state.

In order: ``crm_normalized`` (the matching view of every CRM record), ``identity_model`` (the trained Splink
linkage model, versioned in ``identity_models``; trained when there is none, retrained only when asked),
``customer_identity`` (one scoring run, two tables: ``customer_identity_links``, which records are one person, and
``identity_review``, the pairs a person should decide) and ``customer_profiles``. Each can be materialized alone.
"""

from importlib.metadata import version as package_version
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pydantic import Field

from assets.as_of import AsOfConfig, run_as_of
from assets.metadata import (
    masked_preview,
    schema_check_result,
    schema_check_spec,
    table_definition_metadata,
    table_metadata,
)
from resources.content import MarketingContent
from resources.warehouse import WarehouseResource
from tailor.identity.linkage import TRAINING, IdentityModel, TooFewRecords, linkage_records
from tailor.identity.matching_view import CrmNormalizedSchema, normalize_records
from tailor.identity.model_store import (
    IDENTITY_MODEL_WEIGHTS,
    IDENTITY_MODELS,
    IdentityModelsSchema,
    latest_model,
    model_row,
    stored_models,
    typed_empty,
)
from tailor.identity.profiles import CustomerProfilesSchema, profiles_from_warehouse
from tailor.identity.resolve import THRESHOLDS, CustomerIdentityLinksSchema, identity_figures, resolve
from tailor.identity.review import DECISIONS_FILE, IdentityReviewSchema, read_decisions
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


class IdentityModelConfig(Config):
    retrain: bool = Field(default=False, description="Train a new model version from the current CRM even though "
                                                     "one is stored. Without it, a model is trained only when "
                                                     "there is none yet (or it is of another Splink major version).")
    train_sample: int = Field(default=TRAINING.sample, description="Train on a random sample of at most this many "
                                                                    "records (every record is scored).")


@asset(
    deps=["crm_normalized"],
    kinds={"splink"},
    description=(
        "The trained identity-linkage model (Splink, Fellegi-Sunter: m/u probabilities estimated from the CRM, "
        "term-frequency adjustments for common names), stored versioned in the warehouse (`identity_models`, with "
        "the match weight of every comparison level in `identity_model_weights`) and shown here as metadata. "
        "Trained when no model exists yet; afterwards only when materialized with `retrain: true` (a routine run "
        "keeps the stored version and says what has changed since). customer_identity_links scores with it."
    ),
    check_specs=[schema_check_spec("identity_model", f"Every row of {IDENTITY_MODELS} written matches its pandera "
                                                  "schema.")],
    metadata=table_definition_metadata(IdentityModelsSchema),
)
def identity_model(context: AssetExecutionContext, config: IdentityModelConfig,
                   warehouse: WarehouseResource) -> MaterializeResult:
    from tailor.identity.linkage import current_fingerprint, fields_present, train_model, weights_markdown
    from tailor.identity.model_store import staleness, store_model, why_train

    splink_version = package_version("splink")
    note = ""
    with warehouse.session() as s:
        latest = latest_model(s)
        norm = s.query("SELECT * FROM crm_normalized ORDER BY customer_ref")
        records = linkage_records(norm, THRESHOLDS.max_records_per_key, THRESHOLDS.max_first_names_per_key)
        reason = why_train(latest, config.retrain, splink_version)
        model: IdentityModel | None = latest
        if reason:
            try:
                model = store_model(s, train_model(norm, sample=config.train_sample, records=records))
            except TooFewRecords as err:
                note = f"{err}: identity resolution links by the exact rules (and decisions) only"
                context.log.warning(note)
        rows = stored_models(s)
    meta: dict = {"dagster/row_count": MetadataValue.int(len(rows)), "retrained": MetadataValue.bool(model is not latest),
                  "tables": MetadataValue.text(f"{IDENTITY_MODELS}, {IDENTITY_MODEL_WEIGHTS}")}
    if reason:
        meta["why_trained"] = MetadataValue.text(reason)
    if note:
        meta["note"] = MetadataValue.text(note)
    if model is None:
        meta["model_version"] = MetadataValue.text("none")
    else:
        fields = fields_present(records)
        stale = [] if model is not latest else staleness(model, len(records), fields, current_fingerprint(fields))
        for line in stale:
            context.log.warning(f"identity model {model.label}: {line}; materialize identity_model with retrain: true")
        meta.update({
            "model_version": MetadataValue.text(model.label),
            "trained_at": MetadataValue.text(str(model.meta.get("trained_at"))),
            "splink_version": MetadataValue.text(str(model.meta.get("splink_version"))),
            "records_trained_on": MetadataValue.int(int(model.meta.get("records", 0))),
            "population_at_training": MetadataValue.int(int(model.meta.get("population", 0))),
            "prior": MetadataValue.float(float(model.meta.get("prior", 0.0))),
            "fields": MetadataValue.json(list(model.meta.get("fields", []))),
            "unseen_levels": MetadataValue.json(list(model.meta.get("unseen_levels", []))),
            "changed_since_training": MetadataValue.json(stale),
            "match_weights": MetadataValue.md(weights_markdown(model)),
        })
    checked = rows if len(rows) else typed_empty(IdentityModelsSchema)
    if model is not None and model is not latest:
        checked = model_row(model, int(model.version))
    return MaterializeResult(metadata=meta,
                             check_results=[schema_check_result("identity_model", IdentityModelsSchema, checked)])


LINKS, REVIEW = "customer_identity_links", "identity_review"


@multi_asset(
    name="customer_identity",
    specs=[
        AssetSpec(LINKS, deps=["crm_customers", "crm_normalized", "identity_model"], kinds={"splink"},
                  description=(
                      "Which CRM record became which master customer, by which rule (exact_email, exact_phone, "
                      "probabilistic, manual_merge or single_record), with the score and the record it matched_with; "
                      "for the model's links also the match probability, the match weight, the model version and the "
                      "evidence (JSON: what each comparison contributed). Scored with the latest identity_model "
                      "(never retrained here), vetoes and decisions applied. Placeholder and shared family "
                      "e-mails/phones never merge people, nor do different first names at one address "
                      "(docs/identity.md)."),
                  metadata=table_definition_metadata(CustomerIdentityLinksSchema)),
        AssetSpec(REVIEW, deps=["crm_normalized", "identity_model"], kinds={"splink"},
                  description=(
                      "Pairs the model is unsure about (match probability in the review band, no veto, still two "
                      "customers, not decided yet) with their evidence, strongest first: decide them in "
                      f"`rules/{DECISIONS_FILE}` (merge or split), the next run honours it. Written by the same "
                      "scoring run as customer_identity_links."),
                  metadata=table_definition_metadata(IdentityReviewSchema)),
    ],
    check_specs=[schema_check_spec(LINKS), schema_check_spec(REVIEW)],
    can_subset=True,
)
def customer_identity(context: AssetExecutionContext, warehouse: WarehouseResource, content: MarketingContent):
    decisions_path = Path(content.rules_dir) / DECISIONS_FILE
    decisions = read_decisions(decisions_path)  # a malformed file fails the run, naming file:line
    with warehouse.session() as s:
        norm = s.query("SELECT * FROM crm_normalized ORDER BY customer_ref")
        model = latest_model(s)
        result = resolve(norm[["customer_ref"]], normalized=norm, model=model, decisions=decisions)
        s.write_table(LINKS, result.links)
        s.write_table(REVIEW, result.review)
    if model is None:
        context.log.warning("no identity model stored (see identity_model): records were linked by the exact rules "
                            "and the decisions only")
    links, review, stats = result.links, result.review, result.stats
    # counts only: precision and recall need the demo's ground truth (bench/, tests), not production data
    figures = identity_figures(links, stats)
    model_meta = {"model_version": MetadataValue.text(model.label if model is not None else "none (exact rules only)"),
                  "link_min_probability": MetadataValue.float(THRESHOLDS.link_min_probability),
                  "decisions_file": MetadataValue.path(str(decisions_path))}
    link_meta = table_metadata(links, customers=figures["customers"], records_merged=figures["records_merged"])
    for group in ("records_per_rule", "links_per_rule", "guards"):
        link_meta[group] = MetadataValue.json(figures[group])
    link_meta.update(model_meta)
    review_meta = table_metadata(review, decisions=len(decisions))
    review_meta["preview"] = masked_preview(review.drop(columns=["customer_id_a", "customer_id_b"]), rows=10)
    review_meta["review_band"] = MetadataValue.text(
        f"{THRESHOLDS.review_min_probability} <= match probability < {THRESHOLDS.link_min_probability}")
    review_meta.update(model_meta)
    outputs = {LINKS: (link_meta, CustomerIdentityLinksSchema, links),
               REVIEW: (review_meta, IdentityReviewSchema, review)}
    for key, (meta, schema, table) in outputs.items():
        if AssetKey(key) in context.selected_asset_keys:
            yield MaterializeResult(asset_key=key, metadata=meta, check_results=[schema_check_result(key, schema, table)])
        else:   # written by the same run: say so rather than hide it
            meta["written_with"] = MetadataValue.text(", ".join(k for k in outputs if k != key))
            context.log_event(AssetMaterialization(asset_key=key, metadata=meta))


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


ASSETS = [crm_normalized, identity_model, customer_identity, customer_profiles]
