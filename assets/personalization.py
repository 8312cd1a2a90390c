"""Stage 5 — personalization: the rules engine decides, per customer, the blocks and subject; then render."""


from datetime import datetime, timezone

from dagster import MaterializeResult, MetadataValue, asset

from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.content import MarketingContent
from resources.warehouse import WarehouseResource
from tailor.content.context import RenderSettings
from tailor.content.context_loader import load_render_contexts
from tailor.content.library import TemplateLibrary
from tailor.content.render import RenderedEmailsSchema, render_emails
from tailor.rules.customer_table import customer_table_sql
from tailor.rules.decisions_schema import REASON_NO_CONSENT, REASON_NO_PERSONALIZATION, EmailDecisionsSchema
from tailor.rules.email_decisions import DecisionRun, decide_emails
from tailor.rules.ruleset import HOLDOUT


def _decision_metadata(run: DecisionRun) -> dict:
    decisions = run.decisions
    reasons = decisions["reason"].value_counts()
    meta = table_metadata(
        decisions,
        to_send=int(decisions["send"].sum()),
        not_sent=int((~decisions["send"]).sum()),
        blocked_no_consent=int(reasons.get(REASON_NO_CONSENT, 0)),
        held_out=int((decisions["variant"] == HOLDOUT).sum()),
        no_personalization_consent=int((decisions["reason"] == REASON_NO_PERSONALIZATION).sum()),
        decision_processes=run.workers,
        decide_seconds=run.seconds,
        decisions_per_second=int(len(decisions) / run.seconds) if run.seconds > 0 else 0,
    )
    in_experiment = decisions[decisions["experiment"].notna()]
    meta["reasons"] = MetadataValue.json({str(k): int(v) for k, v in reasons.items()})
    meta["campaign_id"] = run.ruleset.campaign_id
    meta["rule_file_hash"] = run.ruleset.file_hash
    meta["facts_used_fields"] = MetadataValue.json(run.ruleset.fields)
    meta["experiments"] = MetadataValue.json({
        str(exp): {str(v): int(n) for v, n in group["variant"].value_counts().sort_index().items()}
        for exp, group in in_experiment.groupby("experiment")
    })
    return meta


@asset(
    # the tables customer_table_sql joins, and the segments
    deps=["customer_profiles", "customer_features", "customer_predictions", "product_recommendations",
          "customer_segments"],
    kinds={"durable_rules"},
    description=(
        "Per customer: send or not, the content block per slot, the subject line and the reason — decided by "
        "durable_rules from rules/email_rules.yaml. Provenance per row: the rules that fired (in order), the "
        "rule file's hash, the values of exactly the fields the rules read (facts_used) and the experiment "
        "variant or holdout (sticky per customer). Customers without consent, suppressed, or held out by an "
        "experiment are never set to send; customers without personalization consent get the rule file's "
        "defaults (no rule reads their data). Decided on several processes for large customer bases "
        "(TAILOR_DECISION_WORKERS, default: every CPU)."
    ),
    check_specs=[schema_check_spec("email_decisions")],
    metadata=table_definition_metadata(EmailDecisionsSchema),
)
def email_decisions(warehouse: WarehouseResource, content: MarketingContent) -> MaterializeResult:
    with warehouse.session() as s:
        customers = s.query(customer_table_sql())
        segments = s.query("SELECT customer_id, segment FROM customer_segments")
        run = decide_emails(customers, segments, rules_file=content.email_rules_file,
                            segments_file=content.segments_file, templates_dir=content.templates_path,
                            decided_at=datetime.now(timezone.utc).replace(tzinfo=None))
        s.write_table("email_decisions", run.decisions)
    return MaterializeResult(
        metadata=_decision_metadata(run),
        check_results=[schema_check_result("email_decisions", EmailDecisionsSchema, run.decisions)])


@asset(
    deps=["email_decisions", "customer_profiles", "customer_features", "product_recommendations", "products",
          "orders", "order_items", "customer_identity_links"],  # the last three: the bestseller ranking
    kinds={"mjml"},
    description=(
        "The email of every customer set to send: MJML layout and chosen blocks compiled once per block "
        "combination, then filled per recipient (name, products) into HTML and a plain-text part. Personal "
        "products: viewed-not-bought first, then product_recommendations; the bestsellers block: the shop's "
        "bestsellers by units sold, minus what the recipient bought (ranked in the warehouse)."
    ),
    check_specs=[schema_check_spec("rendered_emails")],
    metadata=table_definition_metadata(RenderedEmailsSchema),
)
def rendered_emails(warehouse: WarehouseResource, content: MarketingContent) -> MaterializeResult:
    settings = RenderSettings(
        company_name=content.company_name, company_address=content.company_address,
        unsubscribe_base_url=content.unsubscribe_base_url, preferences_base_url=content.preferences_base_url,
        shop_url=content.shop_url,
    )
    library = TemplateLibrary.load(content.templates_path)   # validated before anything is read or written
    with warehouse.session() as s:
        decisions, contexts = load_render_contexts(s, settings)
        rendered = render_emails(decisions, contexts, library)
        s.write_table("rendered_emails", rendered)
    meta = table_metadata(
        rendered,
        mjml_compilations=library.compile_count,
        block_combinations=int(rendered["blocks"].nunique()) if len(rendered) else 0,
        mean_html_kb=float(rendered["html"].str.len().mean() / 1024) if len(rendered) else 0.0,
    )
    return MaterializeResult(
        metadata=meta, check_results=[schema_check_result("rendered_emails", RenderedEmailsSchema, rendered)])


ASSETS = [email_decisions, rendered_emails]
