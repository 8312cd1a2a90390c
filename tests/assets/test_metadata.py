"""What the UI shows of a table never carries personal data: previews and failed-check examples."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from assets.metadata import figure, masked_preview, schema_check_result, table_metadata


def test_a_preview_masks_addresses_and_drops_personal_columns():
    rendered = pd.DataFrame({"customer_id": ["cus_000001"], "to_email": ["anna.schmidt@example.com"],
                             "subject": ["Anna, a few picks for you"], "html": ["<p>Hi Anna</p>"], "blocks": ["{}"]})
    text = masked_preview(rendered).value
    assert "a***@example.com" in text and "anna.schmidt" not in text
    assert "Anna" not in text and "cus_000001" in text


def test_a_quarantine_preview_does_not_quote_the_refused_values():
    rows = pd.DataFrame({"source": ["crm"], "file": ["crm/a.csv"], "line": [3],
                         "raw": ["CRM-1,ann@x.example,+49 30 1234"], "reason": ["phone: '+49 30 1234' is not a phone"]})
    text = masked_preview(rows).value
    assert "1234" not in text and "phone: '…' is not a phone" in text


def test_a_failed_check_does_not_show_personal_values():
    schema = pa.DataFrameSchema({"customer_id": pa.Column(str), "phone": pa.Column(str, pa.Check.str_startswith("+"))})
    result = schema_check_result("t", schema, pd.DataFrame({"customer_id": ["c1"], "phone": ["030 1234567"]}))
    assert not result.passed
    shown = result.metadata["first_failures"].value
    assert "030 1234567" not in shown and "(personal data, not shown)" in shown


def test_figures_are_rounded_for_reading_and_plotting():
    assert figure(186.0418236520145).value == 186.042
    assert figure(3).value == 3 and table_metadata(pd.DataFrame({"a": [1]}), x=0.1234567891)["x"].value == 0.123457
