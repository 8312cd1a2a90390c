"""Stage 5 — personalization: the rules engine decides, per customer, the blocks and subject; then render."""


import time
from datetime import datetime, timezone

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.content import MarketingContent
from resources.warehouse import Warehouse
from tailor.content.context import RenderSettings, bestsellers_sql, build_render_contexts
from tailor.content.library import TemplateLibrary
from tailor.content.render import RenderedEmailsSchema, render_emails
from tailor.rules.customer_table import customer_table_sql
from tailor.rules.decide import decide, plan_workers
from tailor.rules.decisions_schema import PERSONALIZATION_CONSENT, REASON_NO_PERSONALIZATION, EmailDecisionsSchema
from tailor.rules.email_rules import load_rule_file
from tailor.rules.facts import build_decision_input
from tailor.rules.fields import field_kinds
from tailor.rules.segments import load_segment_definitions

GROUP = "personalization"
OWNERS = ["team:marketing"]


def personalization_assets(warehouse_kind: str) -> list:
    @asset(
        group_name=GROUP,
        # the tables customer_table_sql joins, and the segments
        deps=["customer_profiles", "customer_features", "customer_predictions", "product_recommendations",
              "customer_segments"],
        kinds={"durable_rules", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "personalization"},
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
    )
    def email_decisions(context: AssetExecutionContext, warehouse: Warehouse, content: MarketingContent) -> MaterializeResult:
        with warehouse.session() as s:
            customers = s.query(customer_table_sql())
            segments = s.query("SELECT customer_id, segment FROM customer_segments")
        facts = build_decision_input(customers, segments=segments)
        library = TemplateLibrary.load(content.templates_path)
        segment_names = {d.name for d in load_segment_definitions(content.segments_file, field_kinds(customers))}
        ruleset = load_rule_file(
            content.email_rules_file, field_kinds(facts), library.blocks_by_slot, known_segments=segment_names
        )
        # rule files are read above on every run (never cached at import): an edit applies to the next run
        workers = plan_workers(len(facts), None)   # TAILOR_DECISION_WORKERS, else every CPU, for large bases only
        started = time.perf_counter()
        decisions = decide(facts, ruleset, datetime.now(timezone.utc).replace(tzinfo=None), workers=workers)
        seconds = time.perf_counter() - started
        # nullable text columns as the string dtype, so that an all-null column is still created as text
        warehouse.write_table(
            "email_decisions", decisions.astype({"subject": "string", "experiment": "string", "variant": "string"})
        )
        reasons = decisions["reason"].value_counts()
        in_experiment = decisions[decisions["experiment"].notna()]
        meta = table_metadata(
            decisions,
            to_send=int(decisions["send"].sum()),
            not_sent=int((~decisions["send"]).sum()),
            blocked_no_consent=int(reasons.get("no_consent", 0)),
            held_out=int((decisions["variant"] == "holdout").sum()),
            no_personalization_consent=int((decisions["reason"] == REASON_NO_PERSONALIZATION).sum()),
            decision_processes=workers,
            decide_seconds=round(seconds, 2),
            decisions_per_second=int(len(decisions) / seconds) if seconds > 0 else 0,
        )
        # TRANSITION (docs/rules.md): without the column every customer counts as allowing personalization
        meta["personalization_consent_column"] = PERSONALIZATION_CONSENT in facts.columns
        meta["reasons"] = MetadataValue.json({str(k): int(v) for k, v in reasons.items()})
        meta["campaign_id"] = ruleset.campaign_id
        meta["rule_file_hash"] = ruleset.file_hash
        meta["facts_used_fields"] = MetadataValue.json(ruleset.fields)
        meta["experiments"] = MetadataValue.json({
            str(exp): {str(v): int(n) for v, n in group["variant"].value_counts().sort_index().items()}
            for exp, group in in_experiment.groupby("experiment")
        })
        return MaterializeResult(
            metadata=meta, check_results=[schema_check_result("email_decisions", EmailDecisionsSchema, decisions)]
        )

    @asset(
        group_name=GROUP,
        deps=["email_decisions", "customer_profiles", "customer_features", "product_recommendations", "products",
              "orders", "order_items", "customer_identity_links"],  # the last three: bestsellers_sql
        kinds={"mjml", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "personalization"},
        description=(
            "The email of every customer set to send: MJML layout and chosen blocks compiled once per block "
            "combination, then filled per recipient (name, products) into HTML and a plain-text part. Personal "
            "products: viewed-not-bought first, then product_recommendations; the bestsellers block: the shop's "
            "bestsellers by units sold, minus what the recipient bought (ranked in the warehouse)."
        ),
        check_specs=[schema_check_spec("rendered_emails")],
    )
    def rendered_emails(warehouse: Warehouse, content: MarketingContent) -> MaterializeResult:
        with warehouse.session() as s:
            decisions = s.query("SELECT * FROM email_decisions WHERE send")
            # only the recipients' rows and the columns the contexts use
            recipients = "SELECT DISTINCT customer_id FROM email_decisions WHERE send"
            profiles = s.query("SELECT customer_id, email, first_name FROM customer_profiles "
                               f"WHERE customer_id IN ({recipients})")
            features = s.query("SELECT customer_id, viewed_not_bought, abandoned_cart_products FROM customer_features "
                               f"WHERE customer_id IN ({recipients})")
            recommendations = s.query("SELECT customer_id, recommendations FROM product_recommendations "
                                      f"WHERE customer_id IN ({recipients})")
            # url and image_url are optional in the products contract: the catalogue copes without them
            products = s.query("SELECT * FROM products")
            bestsellers = s.query(bestsellers_sql())
        library = TemplateLibrary.load(content.templates_path)
        settings = RenderSettings(
            company_name=content.company_name,
            company_address=content.company_address,
            unsubscribe_base_url=content.unsubscribe_base_url,
            preferences_base_url=content.preferences_base_url,
            shop_url=content.shop_url,
        )
        contexts = build_render_contexts(
            decisions, profiles, features, products, recommendations, bestsellers, settings
        )
        rendered = render_emails(decisions, contexts, library)
        warehouse.write_table("rendered_emails", rendered)
        meta = table_metadata(
            rendered,
            mjml_compilations=library.compile_count,
            block_combinations=int(rendered["blocks"].nunique()) if len(rendered) else 0,
            mean_html_kb=float(rendered["html"].str.len().mean() / 1024) if len(rendered) else 0.0,
        )
        return MaterializeResult(
            metadata=meta, check_results=[schema_check_result("rendered_emails", RenderedEmailsSchema, rendered)]
        )

    return [email_decisions, rendered_emails]
