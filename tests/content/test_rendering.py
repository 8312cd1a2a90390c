"""Tests for the template library (tailor.content.library and the modules it builds on) and render_emails, with
the real mjml compiler and the shipped templates."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.content.environment import format_money
from tailor.content.errors import TemplateError
from tailor.content.library import TemplateLibrary
from tailor.content.mjml_components import SUPPORTED_COMPONENTS
from tailor.content.render import RenderedEmailsSchema, render_emails
from tailor.content.subject import render_subject
from tailor.content.text import html_to_text
from tailor.content.vocabulary import SLOTS
from tailor.delivery.keys import message_key

TEMPLATES = Path(__file__).resolve().parents[2] / "email_templates"

SPEC_BLOCKS = {
    "hero": {"hero_welcome", "hero_vip", "hero_winback", "hero_default"},
    "main": {"product_recommendations", "abandoned_cart", "bestsellers"},
    "offer": {"discount_offer"},
    "note": {"reengagement_note"},
}

VIP_BLOCKS = {"hero": "hero_vip", "main": "product_recommendations", "offer": "discount_offer", "note": None}


def product(pid: str, name: str, price: float, reason: str) -> dict:
    return {
        "product_id": pid,
        "name": name,
        "price": price,
        "currency": "EUR",
        "url": f"https://shop.example/products/{pid}",
        "image_url": f"https://cdn.shop.example/img/{pid}.jpg",
        "reason": reason,
    }


def vip_context(**overrides) -> dict:
    ctx = {
        "first_name": "Anna",
        "email": "anna.k@example.com",
        "customer_id": "cus_000042",
        "campaign_id": "spring_2025",
        "subject": "Anna, your private preview is open",
        "products": [
            product("P0001", "Merino Wool Scarf", 49.9, "Because you viewed it"),
            product("P0002", "Linen Shirt", 79.0, "Popular in Apparel"),
            product("P0003", "Leather Weekender Bag", 249.0, "Bestseller"),
            product("P0004", "Fourth Product Not Shown", 9.0, "Bestseller"),
        ],
        "cart_products": [product("P0005", "Canvas Sneakers", 89.0, "In your cart")],
        "bestsellers": [product("P0006", "Ceramic Mug Set", 34.5, "Bestseller")],
        "discount_percent": 15,
        "discount_code": "VIP15",
        "unsubscribe_url": "https://shop.example/unsubscribe?m=abc123",
        "preferences_url": "https://shop.example/preferences?m=abc123",
        "preheader": "Your 15% thank-you is inside, Anna.",
        "company_name": "Tailor Shop",
        "company_address": "Tailor Shop GmbH, Musterstraße 1, 10115 Berlin, Germany",
        "shop_url": "https://shop.example",
    }
    ctx.update(overrides)
    return ctx


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(TEMPLATES)


def test_shipped_blocks_match_spec_and_all_compile(library: TemplateLibrary) -> None:
    assert library.blocks_by_slot == SPEC_BLOCKS
    # layout alone + one compilation per block at load time; none of them counted as render compilations
    assert library.validation_compile_count == 1 + 9
    assert library.compile_count == 0


@pytest.mark.parametrize("slot,block", sorted((s, b) for s, names in SPEC_BLOCKS.items() for b in names))
def test_every_block_renders_real_html_and_text(library: TemplateLibrary, slot: str, block: str) -> None:
    blocks = {s: None for s in SLOTS} | {slot: block}
    email = library.render(blocks, vip_context())
    assert email.html.startswith("<!doctype html>")
    assert "TLRJ" not in email.html and "{{" not in email.html and "{%" not in email.html
    # footer is always there
    assert "https://shop.example/unsubscribe?m=abc123" in email.html
    assert "https://shop.example/preferences?m=abc123" in email.html
    assert "Musterstraße 1, 10115 Berlin" in email.html
    assert "Unsubscribe (https://shop.example/unsubscribe?m=abc123)" in email.text
    assert "Musterstraße 1, 10115 Berlin" in email.text


def test_supported_components_come_from_mjml_registry() -> None:
    from mjml.core.registry import components

    assert SUPPORTED_COMPONENTS <= set(components)
    core = {"mj-section", "mj-column", "mj-text", "mj-button", "mj-image", "mj-raw", "mj-carousel"}
    assert core <= SUPPORTED_COMPONENTS
    assert "mj-html-attributes" not in SUPPORTED_COMPONENTS


def test_vip_render_puts_name_products_and_offer_into_html_and_text(library: TemplateLibrary) -> None:
    email = library.render(VIP_BLOCKS, vip_context())
    html, text = email.html, email.text
    for part in (html, text):
        assert "Anna, your private preview is open" in part
        assert "Picked for you, Anna" in part
        for name in ("Merino Wool Scarf", "Linen Shirt", "Leather Weekender Bag"):
            assert name in part
        assert "€49.90" in part and "€79.00" in part and "€249.00" in part
        assert "15% off your next order" in part
        assert "VIP15" in part
        assert "Fourth Product Not Shown" not in part  # max 3 products
    assert html.count('class="mj-column-per-33-33') == 3
    assert 'src="https://cdn.shop.example/img/P0001.jpg"' in html
    assert 'href="https://shop.example/products/P0003"' in html
    assert "<title>\n      Anna, your private preview is open\n    </title>" in html
    assert "Your 15% thank-you is inside, Anna." in html  # preheader
    # text part: readable, links as "label (url)", no preheader/markup noise
    assert "Merino Wool Scarf (https://shop.example/products/P0001)" in text
    assert "View product (https://shop.example/products/P0002)" in text
    assert "Your 15% thank-you is inside" not in text
    assert "<" not in text and "](" not in text and "**" not in text


def test_html_escaping_of_recipient_values(library: TemplateLibrary) -> None:
    ctx = vip_context(first_name="<script>alert('x')</script>")
    ctx["products"][0] = product("P0001", 'Salt & Pepper "Deluxe"', 19.0, "Because you viewed it")
    email = library.render(VIP_BLOCKS, ctx)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;, your private preview is open" in email.html
    assert 'alt="Salt &amp; Pepper &#34;Deluxe&#34;"' in email.html
    # the text part is text/plain: the value appears verbatim, never interpreted
    assert "<script>alert('x')</script>, your private preview is open" in email.text
    assert 'Salt & Pepper "Deluxe" (https://shop.example/products/P0001)' in email.text


def test_missing_first_name_and_missing_keys_fall_back(library: TemplateLibrary) -> None:
    email = library.render({"hero": "hero_welcome"}, {"first_name": None, "company_name": "Tailor Shop",
                                                      "unsubscribe_url": "https://u", "preferences_url": "https://p",
                                                      "company_address": "Addr 1"})
    assert "Hello there, we're so glad you're here" in email.html
    assert "Hello there, we're so glad you're here" in email.text


def test_empty_lists_render_without_product_grid(library: TemplateLibrary) -> None:
    ctx = vip_context(products=[], cart_products=[], discount_percent=None, discount_code=None)
    email = library.render({"main": "product_recommendations", "offer": "discount_offer"}, ctx)
    assert "Picked for you" not in email.html
    assert "% off your next order" not in email.html
    cart = library.render({"main": "abandoned_cart"}, ctx)
    assert "Your cart is waiting for you, Anna." in cart.text


def test_cached_text_template_equals_html2text_of_rendered_html(library: TemplateLibrary) -> None:
    for blocks in (VIP_BLOCKS, {"hero": "hero_winback", "main": "abandoned_cart", "note": "reengagement_note"},
                   {"hero": "hero_default", "main": "bestsellers"}):
        ctx = vip_context(first_name="Anna_Maria")
        ctx["products"][0] = product("P0001", "1. Scarf - *Limited* #1", 19.0, "Because you viewed it")
        email = library.render(blocks, ctx)
        assert email.text == html_to_text(email.html)
    assert "1. Scarf - *Limited* #1 (https://shop.example/products/P0001)" in library.render(VIP_BLOCKS, ctx).text


def test_render_rejects_unknown_block_and_wrong_slot(library: TemplateLibrary) -> None:
    with pytest.raises(TemplateError, match="unknown block 'hero_gold'"):
        library.render({"hero": "hero_gold"}, vip_context())
    with pytest.raises(TemplateError, match="block 'discount_offer' belongs to slot 'offer', not 'hero'"):
        library.render({"hero": "discount_offer"}, vip_context())
    with pytest.raises(TemplateError, match="unknown slot"):
        library.render({"sidebar": "hero_vip"}, vip_context())


def test_render_subject_collapses_whitespace_without_escaping() -> None:
    subject = render_subject("{{ first_name }},   your\n  {{ discount_percent }}% code ", vip_context(
        first_name="Tom & Jerry"))
    assert subject == "Tom & Jerry, your 15% code"
    with pytest.raises(TemplateError, match="subject template"):
        render_subject("{{ first_name ", vip_context())


def test_format_money() -> None:
    assert format_money(49.9, "EUR") == "€49.90"
    assert format_money(1234.5, "USD") == "$1,234.50"
    assert format_money(12, "CHF") == "12.00 CHF"
    assert format_money(None, "EUR") == ""


def test_compile_cache_compiles_each_combination_once() -> None:
    library = TemplateLibrary.load(TEMPLATES)
    combos = [VIP_BLOCKS, {"hero": "hero_winback", "main": "bestsellers", "note": "reengagement_note"}]
    for i in range(500):
        email = library.render(combos[i % 2], vip_context(first_name=f"Customer{i}"))
        assert f"Customer{i}" in email.html
    assert library.compile_count == 2
    # slot order / missing slots / None values do not create new cache entries
    library.render({"offer": "discount_offer", "main": "product_recommendations", "hero": "hero_vip"}, vip_context())
    library.render(json.dumps({"hero": "hero_vip", "main": "product_recommendations", "offer": "discount_offer"}),
                   vip_context())
    assert library.compile_count == 2


def test_render_throughput_with_warm_cache(library: TemplateLibrary) -> None:
    contexts = [vip_context(first_name=f"Customer{i}") for i in range(2000)]
    library.render(VIP_BLOCKS, contexts[0])  # warm the cache
    start = time.perf_counter()
    for ctx in contexts:
        library.render(VIP_BLOCKS, ctx)
    elapsed = time.perf_counter() - start
    rate = len(contexts) / elapsed
    print(f"\nrender throughput (warm cache, html + text): {rate:,.0f} recipients/s ({elapsed:.2f} s for 2,000)")
    assert rate > 200


LOOP_BLOCK = """<!--
slot: main
description: test block with loops and conditionals between MJML components
-->
{% if products %}
<mj-section>
  {% for p in products %}
  <mj-column width="33.33%">
    {% if p.image_url %}
    <mj-image src="{{ p.image_url }}" alt="{{ p.name }}" />
    {% endif %}
    <mj-text>{{ loop.index }}. {{ p.name }}{% if p.price > 100 %} (premium){% endif %}</mj-text>
  </mj-column>
  {% endfor %}
</mj-section>
{% else %}
<mj-section><mj-column><mj-text>Nothing for you today</mj-text></mj-column></mj-section>
{% endif %}
{# a Jinja comment between sections #}
"""


def make_templates(tmp_path: Path, blocks: dict[str, str], layout: str | None = None) -> Path:
    root = tmp_path / "email_templates"
    (root / "blocks").mkdir(parents=True)
    if layout is None:
        shutil.copy(TEMPLATES / "layout.mjml", root / "layout.mjml")
    else:
        (root / "layout.mjml").write_text(layout, encoding="utf-8")
    for name, text in blocks.items():
        (root / "blocks" / f"{name}.mjml").write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_jinja_loops_between_mjml_components(tmp_path: Path, count: int) -> None:
    library = TemplateLibrary.load(make_templates(tmp_path, {"loop_block": LOOP_BLOCK}))
    items = [product("P1", "Scarf", 40.0, "x"), product("P2", "Bag", 240.0, "x"), product("P3", "Hat", 20.0, "x")]
    items[2]["image_url"] = None
    email = library.render({"main": "loop_block"}, vip_context(products=items[:count]))
    assert email.html.count('class="mj-column-per-33-33') == count
    if count == 0:
        assert "Nothing for you today" in email.html
    else:
        assert "1. Scarf" in email.html and "1. Scarf" in email.text
    if count >= 2:
        assert "2. Bag (premium)" in email.html
    if count == 3:
        assert "3. Hat" in email.html
        assert email.html.count("<img ") == 2  # product without image_url renders no <img>
    assert "a Jinja comment" not in email.html


HEADER = "<!--\nslot: main\n-->\n"
BAD_BLOCKS = {
    "unknown_component": (
        HEADER + "<mj-section>\n  <mj-column>\n    <mj-countdown to=\"2025-12-24\" />\n  </mj-column>\n</mj-section>\n",
        6, "unknown or unsupported MJML component <mj-countdown>"),
    "broken_jinja": (
        HEADER + "<mj-section>\n  {% for p in products %}\n  <mj-column><mj-text>{{ p.name }}</mj-text></mj-column>\n"
        "</mj-section>\n", None, "Jinja syntax error"),
    "unknown_slot": ("<!--\nslot: sidebar\n-->\n<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>\n",
                     2, "unknown slot 'sidebar'"),
    "missing_slot": ("<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>\n",
                     1, "missing slot declaration"),
    "unknown_variable": (HEADER + "<mj-section><mj-column>\n<mj-text>Hi {{ frist_name }}</mj-text>\n"
                         "</mj-column></mj-section>\n", 5, "unknown variable(s) frist_name"),
    "unknown_filter": (HEADER + "<mj-section><mj-column>\n<mj-text>{{ first_name | shout }}</mj-text>\n"
                       "</mj-column></mj-section>\n", 5, "No filter named 'shout'"),
    "html_in_column": (HEADER + "<mj-section>\n<mj-column>\n<div>hello</div>\n</mj-column>\n</mj-section>\n",
                       6, "HTML tag <div> is not allowed here"),
    "text_in_column": (HEADER + "<mj-section>\n<mj-column>\nHello {{ first_name }}\n</mj-column>\n</mj-section>\n",
                       None, "between MJML components"),
    "wrong_nesting": (HEADER + "<mj-section>\n<mj-text>hello</mj-text>\n</mj-section>\n",
                      5, "<mj-text> is not allowed inside <mj-section>"),
    "unknown_attribute": (HEADER + "<mj-section background-colour=\"#fff\">\n<mj-column><mj-text>x</mj-text>"
                          "</mj-column>\n</mj-section>\n", 4, "unknown attribute 'background-colour' on <mj-section>"),
    "jinja_in_computed_attribute": (
        HEADER + "<mj-section>\n<mj-column width=\"{{ discount_percent }}%\">\n<mj-text>x</mj-text>\n"
        "</mj-column>\n</mj-section>\n", 5, "was dropped by MJML compilation"),
    "jinja_inside_carousel": (
        HEADER + "<mj-section><mj-column><mj-carousel>\n{% for p in products %}\n"
        "<mj-carousel-image src=\"{{ p.image_url }}\" />\n{% endfor %}\n</mj-carousel></mj-column></mj-section>\n",
        5, "Jinja control tag cannot stand directly inside <mj-carousel>"),
    "mj_include": (HEADER + "<mj-include path=\"other.mjml\" />\n", 4, "<mj-include> is not supported"),
    "bad_product_attribute": (
        HEADER + "<mj-section><mj-column>\n{% for p in products %}\n<mj-text>{{ p.nmae.upper() }}</mj-text>\n"
        "{% endfor %}\n</mj-column></mj-section>\n", 6, "sample context failed"),
}


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
def test_bad_block_raises_template_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, message = BAD_BLOCKS[case]
    root = make_templates(tmp_path, {"good_block": LOOP_BLOCK, f"bad_{case}": text})
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(root)
    err = info.value
    assert err.file == str(root / "blocks" / f"bad_{case}.mjml"), str(err)
    assert f"bad_{case}.mjml" in str(err)
    assert message in str(err)
    if line is not None:
        assert err.line == line, str(err)
    if case == "broken_jinja":
        assert err.line is not None


def test_text_part_falls_back_to_html2text_when_a_control_tag_is_not_in_the_text(tmp_path: Path) -> None:
    # a control tag inside <mj-preview> lives in the hidden preheader, which the text part leaves out
    layout = (TEMPLATES / "layout.mjml").read_text(encoding="utf-8").replace(
        "<mj-preview>{{ preheader }}</mj-preview>",
        "<mj-preview>{% if preheader %}{{ preheader }}{% else %}News{% endif %}</mj-preview>")
    library = TemplateLibrary.load(make_templates(tmp_path, {"loop_block": LOOP_BLOCK}, layout=layout))
    email = library.render({"main": "loop_block"}, vip_context())
    assert library._cache[(None, "loop_block", None, None)].text_template is None
    assert "Your 15% thank-you is inside, Anna." in email.html
    assert email.text == html_to_text(email.html)
    assert "1. Merino Wool Scarf" in email.text


def test_mj_style_inline_is_rejected(tmp_path: Path) -> None:
    layout = (TEMPLATES / "layout.mjml").read_text(encoding="utf-8").replace("<mj-style>", '<mj-style inline="inline">')
    root = make_templates(tmp_path, {}, layout=layout)
    with pytest.raises(TemplateError, match=r"layout\.mjml, line \d+: <mj-style inline=\"inline\"> needs"):
        TemplateLibrary.load(root)


@pytest.mark.parametrize("mutation,message", [
    (lambda s: s.replace('<tailor-slot name="offer" />', ""), "each slot marker exactly once"),
    (lambda s: s.replace('<tailor-slot name="note" />', '<tailor-slot name="sidebar" />'), "unknown slot 'sidebar'"),
    (lambda s: s.replace("{{ unsubscribe_url }}", "https://example.com"), "must use {{ unsubscribe_url }}"),
    (lambda s: s.replace("<mj-title>{{ subject }}</mj-title>", "<mj-title>{{ subject }</mj-title>"), "Jinja syntax"),
    # MJML copies the title into an aria-label: a control tag there would be duplicated
    (lambda s: s.replace("<mj-title>{{ subject }}</mj-title>",
                         "<mj-title>{% if subject %}{{ subject }}{% endif %}</mj-title>"), "duplicated 2 times"),
])
def test_bad_layout_raises_template_error(tmp_path: Path, mutation, message: str) -> None:
    layout = mutation((TEMPLATES / "layout.mjml").read_text(encoding="utf-8"))
    root = make_templates(tmp_path, {}, layout=layout)
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(root)
    assert "layout.mjml" in str(info.value)
    assert message in str(info.value)


def test_message_key() -> None:
    key = message_key("spring_2025", "cus_000042")
    assert key == hashlib.sha256(b"spring_2025|cus_000042").hexdigest()[:32]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert message_key("spring_2025", "cus_000043") != key


def decisions_frame() -> pd.DataFrame:
    now = pd.Timestamp("2025-03-01 08:00:00")
    return pd.DataFrame([
        {"customer_id": "cus_000042", "campaign_id": "spring_2025", "send": True, "reason": "rule:vip",
         "subject": "{{ first_name }}, your private preview is open", "blocks": json.dumps(VIP_BLOCKS | {"note": None}),
         "params": json.dumps({"discount_percent": 15, "discount_code": "VIP15"}),
         "rules_fired": '["vip"]', "rule_file_hash": "ab" * 32, "decided_at": now},
        {"customer_id": "cus_000043", "campaign_id": "spring_2025", "send": False, "reason": "no_consent",
         "subject": None, "blocks": "{}", "params": "{}", "rules_fired": "[]", "rule_file_hash": "ab" * 32,
         "decided_at": now},
        {"customer_id": "cus_000044", "campaign_id": "spring_2025", "send": True, "reason": "rule:winback",
         "subject": "We miss you, {{ first_name }}",
         "blocks": '{"hero":"hero_winback","main":"bestsellers","note":"reengagement_note"}',
         "params": "{}", "rules_fired": '["winback"]', "rule_file_hash": "ab" * 32, "decided_at": now},
    ])


def test_render_emails_matches_schema_and_skips_send_false(library: TemplateLibrary) -> None:
    contexts = {
        "cus_000042": vip_context(),
        "cus_000044": vip_context(first_name="Ben", email="ben@example.com", customer_id="cus_000044",
                                  discount_percent=None, discount_code=None),
    }
    out = render_emails(decisions_frame(), contexts, library)
    RenderedEmailsSchema.validate(out)
    assert list(out.columns) == ["customer_id", "campaign_id", "message_key", "to_email", "subject", "html",
                                 "text", "blocks"]
    assert out["customer_id"].tolist() == ["cus_000042", "cus_000044"]
    anna, ben = out.iloc[0], out.iloc[1]
    assert anna["subject"] == "Anna, your private preview is open"
    assert ben["subject"] == "We miss you, Ben"
    assert anna["message_key"] == message_key("spring_2025", "cus_000042")
    assert anna["to_email"] == "anna.k@example.com"
    assert json.loads(anna["blocks"]) == {"hero": "hero_vip", "main": "product_recommendations",
                                          "offer": "discount_offer"}
    assert "Linen Shirt" in anna["html"] and "VIP15" in anna["text"]
    assert "We've missed you, Ben" in ben["html"] and "Our bestsellers right now" in ben["text"]
    assert "Ceramic Mug Set" in ben["html"]


def test_render_emails_send_column_with_missing_values(library: TemplateLibrary) -> None:
    decisions = decisions_frame().astype({"send": object})
    decisions.loc[0, "send"] = None  # NA-like values never mean "send"
    decisions.loc[2, "send"] = np.True_
    out = render_emails(decisions, {"cus_000044": vip_context(first_name="Ben", email="ben@example.com")}, library)
    assert out["customer_id"].tolist() == ["cus_000044"]


def test_render_emails_empty_and_missing_context(library: TemplateLibrary) -> None:
    decisions = decisions_frame()
    empty = render_emails(decisions[decisions["send"] == False], {}, library)  # noqa: E712
    assert empty.empty and list(empty.columns) == list(RenderedEmailsSchema.to_schema().columns)
    with pytest.raises(ValueError, match="no render context for customer 'cus_000044'"):
        render_emails(decisions, {"cus_000042": vip_context()}, library)
