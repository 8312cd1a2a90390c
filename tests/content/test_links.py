"""Only absolute http(s) URLs reach an email's href and src (issue 11, item 4): product links and images from the
catalogue, the shop, unsubscribe and preferences links, through the context builder and through the renderer."""

from __future__ import annotations

import pytest

from tailor.content.context import RenderSettings
from tailor.content.library import TemplateLibrary
from tailor.content.urls import safe_http_url
from tests.content.test_context import SETTINGS, build, decisions_frame, products_frame
from tests.content.test_rendering import TEMPLATES, VIP_BLOCKS, vip_context

# each carries a marker that must not appear anywhere in the rendered email
HOSTILE = [
    "javascript:alert('marker')",
    "JaVaScRiPt:alert('marker')",
    "  javascript:alert('marker')",
    "\x01javascript:alert('marker')",
    "java\tscript:alert('marker')",
    "data:text/html;base64,PHNjcmlwdD5tYXJrZXI8L3NjcmlwdD4=#marker",
    "vbscript:msgbox('marker')",
    "//marker.evil.example/p/1",
    "https:/marker.evil.example",
    "\x00https://marker.evil.example/p",
    "https://marker.evil .example/p",
    "https://shop.example/p?\x85marker",
]


@pytest.mark.parametrize("url", [
    "https://shop.example/p/P1", "http://shop.example", "HTTPS://Shop.Example/P?q=1#top",
    "https://shop.example/p/caf%C3%A9?utm_source=email&m=1", "https://[2001:db8::1]/x", "https://shop.example:8443/",
])
def test_absolute_http_urls_pass(url: str) -> None:
    assert safe_http_url(url) == url
    assert safe_http_url(f" {url}\n") == url   # what HTML strips around an attribute value anyway


@pytest.mark.parametrize("url", [*HOSTILE, "", "   ", "/p/1", "shop.example/p/1", "ftp://shop.example/f",
                                 "mailto:a@example.com", "https://", None, 42])
def test_everything_else_is_refused(url) -> None:
    assert safe_http_url(url) is None


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(TEMPLATES)


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_product_url_becomes_the_shop_link_and_its_image_is_left_out(library, url: str) -> None:
    baseline = library.render(VIP_BLOCKS, vip_context())
    ctx = vip_context()
    ctx["products"][0] = {**ctx["products"][0], "url": url, "image_url": url}
    email = library.render(VIP_BLOCKS, ctx)
    for part in (email.html, email.text):
        assert "marker" not in part
        assert "script:" not in part.lower().replace("\t", "")
    assert email.html.count("<img ") == baseline.html.count("<img ") - 1
    assert "Merino Wool Scarf (https://shop.example)" in email.text
    assert "Linen Shirt (https://shop.example/products/P0002)" in email.text   # the others keep theirs


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_shop_and_footer_links_are_left_out(library, url: str) -> None:
    ctx = vip_context(shop_url=url, unsubscribe_url=url, preferences_url=url)
    ctx["products"][1] = {**ctx["products"][1], "url": None}   # would fall back to the shop link
    email = library.render({"hero": "hero_default", "main": "product_recommendations"}, ctx)
    for part in (email.html, email.text):
        assert "marker" not in part
    assert 'href="https://shop.example/products/P0001"' in email.html


def test_the_context_builder_keeps_only_http_links_from_the_catalogue() -> None:
    products = products_frame()
    products.loc[products["product_id"] == "P2", "url"] = "javascript:alert(document.cookie)"
    products.loc[products["product_id"] == "P2", "image_url"] = "data:image/svg+xml,<svg onload=alert(1)>"
    products.loc[products["product_id"] == "P1", "url"] = " https://shop.example/p/P1 "
    contexts = build_with(products)
    jacket = contexts["cus_1"]["products"][0]
    assert jacket["product_id"] == "P2"
    assert jacket["url"] == SETTINGS.shop_url and jacket["image_url"] is None
    shoe = next(p for p in contexts["cus_1"]["products"] if p["product_id"] == "P1")
    assert shoe["url"] == "https://shop.example/p/P1"


def build_with(products) -> dict:
    from tailor.content.context import build_render_contexts
    from tests.content.test_context import (
        bestsellers_frame,
        features_frame,
        profiles_frame,
        recommendations_frame,
    )

    return build_render_contexts(decisions_frame(), profiles_frame(), features_frame(), products,
                                 recommendations_frame(), bestsellers_frame(), SETTINGS)


@pytest.mark.parametrize("field,variable", [
    ("shop_url", "TAILOR_SHOP_URL"),
    ("unsubscribe_base_url", "TAILOR_UNSUBSCRIBE_BASE_URL"),
    ("preferences_base_url", "TAILOR_PREFERENCES_BASE_URL"),
])
@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.example/u", ""])
def test_settings_links_must_be_http(field: str, variable: str, url: str) -> None:
    with pytest.raises(ValueError, match=variable):
        RenderSettings(**{field: url})
    assert build(settings=RenderSettings(**{field: "https://shop.example/x"}))


LINK_HEADER = "<!--\nslot: main\n-->\n<mj-section><mj-column>\n{% for p in products %}\n"


def link_block(component: str) -> str:
    """A block whose line 6 is ``component``, inside a loop over the products (``p``)."""
    return LINK_HEADER + component + "\n{% endfor %}\n</mj-column></mj-section>\n"


@pytest.mark.parametrize("component", [
    '<mj-button href="{{ discount_code }}">Redeem</mj-button>',
    '<mj-image src="{{ p.name }}" />',
    '<mj-text><a href="{{ first_name }}">Hi</a></mj-text>',
    '<mj-text><a href="java{{ p.url }}">x</a></mj-text>',
    '<mj-text><a href=" {{ p.reason }}">x</a></mj-text>',
    '<mj-text><a href="{% if p.url %}{{ p.url }}{% endif %}">x</a></mj-text>',
])
def test_a_link_that_data_could_start_with_any_scheme_is_refused_at_load(tmp_path, component: str) -> None:
    from tailor.content.errors import TemplateError
    from tests.content.test_rendering import make_templates

    root = make_templates(tmp_path, {"links": link_block(component)})
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(root)
    err = info.value
    assert err.file.endswith("links.mjml") and err.line == 6, str(err)
    assert "must start with a URL variable" in str(err), str(err)


@pytest.mark.parametrize("component", [
    '<mj-button href="{{ p.url }}">View</mj-button>',
    '<mj-image src="{{ p.image_url }}" href="{{ p.url or shop_url }}" />',
    '<mj-text><a href="{{ shop_url }}/sale?c={{ campaign_id }}">Sale</a></mj-text>',
    '<mj-text><a href="https://shop.example/search?q={{ p.name | urlencode }}">Search</a></mj-text>',
    '<mj-text><a href="mailto:help@shop.example?subject={{ p.name | urlencode }}">Ask</a></mj-text>',
    '<mj-text><a href="{{ p[\'url\'] | default(shop_url) }}">x</a></mj-text>',
])
def test_links_that_start_with_a_checked_url_or_a_fixed_scheme_load(tmp_path, component: str) -> None:
    from tests.content.test_rendering import make_templates

    library = TemplateLibrary.load(make_templates(tmp_path, {"links": link_block(component)}))
    assert library.render({"main": "links"}, vip_context()).html
