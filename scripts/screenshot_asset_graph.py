"""Screenshot the Dagster UI's global asset graph, every group expanded, into docs/asset-graph.png, and record the
graph's shape it shows (every asset with its group) in docs/asset-graph.keys beside it: tests/test_definitions.py
fails when the definitions no longer match that record, i.e. when the picture is older than the graph.

Run by scripts/screenshot_asset_graph.sh against a running `dagster dev`; drives Debian's chromium with
Playwright (no browser is downloaded).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tailor.definitions import build_definitions
from tailor.graph_shape import graph_shape, shape_text

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def main(base_url: str, out: str, zoom_outs: int = 4, pan_down: int = 40) -> None:
    shape = graph_shape(build_definitions())
    groups = sorted({group for group, _ in shape})
    expanded = ",".join(f"global@global:{g}" for g in groups)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 2200, "height": 1750})
        page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
        page.evaluate(
            """([expanded]) => {
                localStorage.setItem('asset-graph-open-graph-nodes-global-__GLOBAL__', JSON.stringify({expanded}));
                localStorage.setItem('large-screen-nav-open', 'false');
            }""",
            [expanded],
        )
        page.reload(wait_until="networkidle")
        page.wait_for_timeout(2500)
        skip = page.get_by_role("button", name="Skip")
        if skip.count():
            skip.click()
            page.wait_for_timeout(500)
        # Hide the asset tree beside the graph, then zoom out until the whole graph fits.
        page.locator("button:right-of(input[placeholder='Jump to…'])").first.click()
        page.wait_for_timeout(800)
        for _ in range(zoom_outs):
            page.keyboard.down("Control")
            page.mouse.move(1300, 650)
            page.mouse.wheel(0, 40)
            page.keyboard.up("Control")
            page.wait_for_timeout(300)
        # drag the graph down a little so that the sources group, at the top, is fully in view
        page.mouse.move(1800, 500)
        page.mouse.down()
        page.mouse.move(1700, 500 + pan_down, steps=8)
        page.mouse.up()
        page.wait_for_timeout(1000)
        page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1700, "height": 1560})
        browser.close()
    Path(out).with_suffix(".keys").write_text(shape_text(shape), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3123", sys.argv[2] if len(sys.argv) > 2 else "docs/asset-graph.png")
