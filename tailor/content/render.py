"""The ``rendered_emails`` table: every decision set to send, rendered with its recipient's context into a
subject line, HTML and plain text, keyed by the message key that makes its delivery idempotent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.content.errors import TemplateError
from tailor.content.library import TemplateLibrary
from tailor.content.subject import cut_subject, render_subject
from tailor.content.vocabulary import SLOTS
from tailor.delivery.keys import message_key
from tailor.warehouse.cells import json_object, true_mask
from tailor.warehouse.json_lists import COMPACT_JSON

RENDERED_EMAILS_COLUMNS = ["customer_id", "campaign_id", "message_key", "to_email", "subject", "html", "text", "blocks"]


class RenderedEmailsSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(nullable=False)
    campaign_id: Series[str] = pa.Field(nullable=False)
    message_key: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{32}$", unique=True)
    to_email: Series[str] = pa.Field(str_contains="@")
    subject: Series[str] = pa.Field(str_length={"min_value": 1})
    html: Series[str] = pa.Field(str_contains="</html>")
    text: Series[str] = pa.Field(str_length={"min_value": 1})
    blocks: Series[str] = pa.Field(str_startswith="{")

    class Config:
        strict = True
        ordered = True
        unique = ["customer_id", "campaign_id"]


def render_emails(decisions: pd.DataFrame, contexts: Mapping[str, Mapping[str, Any]],
                  library: TemplateLibrary) -> pd.DataFrame:
    """Render every decision with ``send`` exactly True into a ``rendered_emails`` row."""
    rows: list[dict[str, Any]] = []
    for row in decisions.loc[true_mask(decisions["send"])].itertuples(index=False):
        customer_id, campaign_id = row.customer_id, row.campaign_id
        context = contexts.get(customer_id)
        if context is None:
            raise ValueError(f"no render context for customer {customer_id!r} (campaign {campaign_id!r})")
        email = context.get("email")
        if not email:
            raise ValueError(f"render context of customer {customer_id!r} has no email")
        blocks = json_object(row.blocks)
        subject_template = row.subject if isinstance(row.subject, str) and row.subject.strip() else None
        try:
            if subject_template is not None:
                subject = render_subject(subject_template, context)
            else:
                subject = cut_subject(" ".join(str(context.get("subject") or "").split()))
            if not subject:
                raise ValueError(f"decision for customer {customer_id!r} (campaign {campaign_id!r}) has no subject")
            rendered = library.render(blocks, {**context, "subject": subject})
        except TemplateError as exc:   # which recipient, without their data: the id only
            raise TemplateError(f"customer {customer_id!r} (campaign {campaign_id!r}): {exc.problem}",
                                exc.file, exc.line) from None
        rows.append({
            "customer_id": customer_id,
            "campaign_id": campaign_id,
            "message_key": message_key(campaign_id, customer_id),
            "to_email": email,
            "subject": subject,
            "html": rendered.html,
            "text": rendered.text,
            "blocks": COMPACT_JSON.encode({slot: blocks[slot] for slot in SLOTS if blocks.get(slot)}),
        })
    frame = pd.DataFrame(rows, columns=RENDERED_EMAILS_COLUMNS).astype(object)
    return RenderedEmailsSchema.validate(frame)
