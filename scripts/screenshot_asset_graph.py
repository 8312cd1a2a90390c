"""Screenshot the Dagster UI's global asset graph, every group expanded, into docs/asset-graph.png, and record the
graph's shape it shows (every asset with its group) in docs/asset-graph.keys beside it: tests/test_definitions.py
fails when the definitions no longer match that record, i.e. when the picture is older than the graph.

Run by scripts/screenshot_asset_graph.sh against a running `dagster dev`; drives Debian's chromium with
Playwright (no browser is downloaded).

Nothing here is tuned to the graph's current size. The script

1. expands every group of ``graph_shape`` and lays the graph out in the direction (Dagster's "graph orientation"
   setting, ``vertical`` = top-to-bottom or ``horizontal`` = left-to-right) whose layout fits a README-shaped box
   at the larger scale, unless ``--direction`` says which;
2. picks the zoom at which the graph is ``--width`` CSS pixels wide (clamped to keep Dagster's zoomed-out node
   rendering, whose labels are 24 px, and to stay above the scale where Dagster draws groups only), sizes the
   browser window so that the whole graph fits at that zoom with a margin, then zooms (ctrl + wheel) and pans
   (wheel) the graph viewport, measuring its transform after every step, until the graph's bounding box is centred;
3. finds every asset node by its label, the asset names from ``graph_shape`` (Dagster middle-truncates labels
   longer than 18 characters when zoomed out; such a label is matched to its asset and given its full name back,
   in a smaller font where the node is too narrow for it), and every group by its header;
4. fails, naming them, if an asset or a group of ``graph_shape`` is missing from the final viewport or clip, or if
   the UI shows an asset node that ``graph_shape`` does not know;
5. screenshots the graph's bounding box plus a margin at ``--device-scale-factor`` (2 by default, for crisp text).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from tailor.definitions import build_definitions
from tailor.graph_shape import graph_shape, shape_text

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# Dagster UI constants (ui-core/src/graph/SVGConsts.ts, asset-graph/AssetNode.tsx, asset-graph/layout.ts): below
# MINIMAL_SCALE nodes are drawn in the zoomed-out style (24 px labels), below GROUPS_ONLY_SCALE only groups are.
MINIMAL_SCALE = 0.6
GROUPS_ONLY_SCALE = 0.15
MAX_SCALE = 0.55
MIN_SCALE = 0.18
MARGIN = 32  # CSS px of empty canvas kept around the graph in the picture
README_BOX = (1600, 1600)  # the box (CSS px) the direction is chosen for: README width, a tall-enough screen
TOOLBAR_ROOM = 60  # CSS px kept free at the right of the viewport if Dagster's zoom toolbar is not found
ELLIPSIS = "\u2026"


class ScreenshotError(RuntimeError):
    pass


# --- reading the page -------------------------------------------------------------------------------------------

STATE_JS = """() => {
    const vp = document.querySelector('[data-svg-viewport]');
    if (!vp) return null;
    const svg = vp.querySelector('svg');
    const inner = vp.firstElementChild;
    const m = /matrix\\(([^)]*)\\)/.exec(inner ? inner.style.transform : '');
    const [s, , , , x, y] = m ? m[1].split(',').map(Number) : [NaN, 0, 0, 0, NaN, NaN];
    const r = vp.getBoundingClientRect();
    const tb = vp.querySelector('#zoom-slider-container');
    const t = tb ? tb.getBoundingClientRect() : null;
    return {
        scale: s, x, y,
        vp: {left: r.left, top: r.top, width: r.width, height: r.height},
        toolbar: t ? {left: t.left, top: t.top, width: t.width, height: t.height} : null,
        graph: svg ? {width: Number(svg.getAttribute('width')), height: Number(svg.getAttribute('height'))} : null,
        nodes: document.querySelectorAll('[class*="minimalName"], [class*="assetName"]').length,
        window: {width: window.innerWidth, height: window.innerHeight},
    };
}"""

# Every asset label (zoomed-out nodes: the minimal name; zoomed-in nodes: the name row's tooltip holder), every group
# header, and every group outline, with their rectangles in page CSS px. Group outlines and headers are
# foreignObjects of the graph's svg; the rectangle of an element is its getBoundingClientRect.
ELEMENTS_JS = """() => {
    const vp = document.querySelector('[data-svg-viewport]');
    const rect = (e) => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const labels = [];
    vp.querySelectorAll('[class*="minimalName"]').forEach((e) => {
        const box = e.closest('[class*="minimalAssetNodeBox"]') || e.parentElement;
        labels.push({text: e.textContent.trim(), label: rect(e), box: rect(box), minimal: true});
    });
    vp.querySelectorAll('[class*="assetName"]:not([class*="minimalName"]) [data-tooltip]').forEach((e) => {
        const box = e.closest('foreignObject') || e.parentElement;
        labels.push({text: e.textContent.trim(), full: e.getAttribute('data-tooltip'), label: rect(e), box: rect(box), minimal: false});
    });
    const groups = [];
    vp.querySelectorAll('foreignObject.group').forEach((fo) => {
        const h = fo.querySelector('[data-tooltip]');
        groups.push({name: h ? h.getAttribute('data-tooltip') : fo.textContent.trim(), header: rect(h || fo), box: rect(fo)});
    });
    const outlines = [...vp.querySelectorAll('svg > foreignObject')].map(rect);
    return {labels, groups, outlines};
}"""


# The part of the graph viewport that nothing covers: the filter bar lies over its top and the zoom toolbar over its
# right edge. A row is free when every sampled point of it hits the viewport itself (document.elementFromPoint),
# not the toolbar nor anything laid over the viewport.
FREE_AREA_JS = """([room]) => {
    const vp = document.querySelector('[data-svg-viewport]');
    const tb = vp.querySelector('#zoom-slider-container');
    const r = vp.getBoundingClientRect();
    const right = tb ? Math.min(r.right, tb.getBoundingClientRect().left - 8) : r.right - room;
    const free = (x, y) => { const e = document.elementFromPoint(x, y); return !!e && vp.contains(e) && !(tb && tb.contains(e)); };
    const rowFree = (y) => { for (let i = 0; i <= 24; i++) if (!free(r.left + 1 + (right - r.left - 2) * i / 24, y)) return false; return true; };
    let top = r.top + 1; while (top < r.bottom && !rowFree(top)) top += 2;
    let bottom = r.bottom - 1; while (bottom > top && !rowFree(bottom)) bottom -= 2;
    return {left: r.left, top, right, bottom};
}"""

# Points of the clip that something other than the graph covers (a grid every `step` CSS px, and the clip's edges).
COVERED_JS = """([clip, step]) => {
    const vp = document.querySelector('[data-svg-viewport]');
    const tb = vp.querySelector('#zoom-slider-container');
    const bad = [];
    const xs = [], ys = [];
    for (let x = clip.left + 1; x < clip.right - 1; x += step) xs.push(x);
    for (let y = clip.top + 1; y < clip.bottom - 1; y += step) ys.push(y);
    xs.push(clip.right - 1); ys.push(clip.bottom - 1);
    for (const x of xs) for (const y of ys) {
        const e = document.elementFromPoint(x, y);
        if (!e || !vp.contains(e) || (tb && tb.contains(e))) bad.push([Math.round(x), Math.round(y), e ? e.tagName + '.' + String(e.className).slice(0, 40) : 'nothing']);
    }
    return bad;
}"""


def free_area(page: Page) -> dict[str, float]:
    area = page.evaluate(FREE_AREA_JS, [TOOLBAR_ROOM])
    if area["bottom"] - area["top"] < 100 or area["right"] - area["left"] < 100:
        raise ScreenshotError(f"the graph viewport has no free area to show the graph in ({area})")
    return area


def state(page: Page) -> dict[str, Any]:
    st = page.evaluate(STATE_JS)
    if not st or not st["graph"] or st["scale"] != st["scale"]:  # NaN: no transform yet
        raise ScreenshotError("the asset graph viewport is not on the page (is the webserver up, did the graph load?)")
    return st


def wait_for_stable_layout(page: Page, timeout_ms: int = 45_000) -> dict[str, Any]:
    """Wait until the graph is laid out and stops changing (size and node count steady for 1.5 s)."""
    last, steady, waited = None, 0, 0
    while waited < timeout_ms:
        try:
            st = state(page)
            key = (st["graph"]["width"], st["graph"]["height"], st["nodes"])
        except ScreenshotError:
            st, key = None, None
        if key is not None and key == last and key[2] > 0:
            steady += 250
            if steady >= 1500:
                return st
        else:
            steady = 0
        last = key
        page.wait_for_timeout(250)
        waited += 250
    raise ScreenshotError(f"the asset graph did not finish laying out within {timeout_ms / 1000:.0f} s")


def load_graph(page: Page, base_url: str, groups: list[str], direction: str) -> dict[str, Any]:
    expanded = ",".join(f"global@global:{g}" for g in groups)
    page.evaluate(
        """([expanded, direction]) => {
            localStorage.setItem('asset-graph-open-graph-nodes-global-__GLOBAL__', JSON.stringify({expanded}));
            localStorage.setItem('asset-graph-direction', JSON.stringify(direction));
            localStorage.setItem('large-screen-nav-open', 'false');
        }""",
        [expanded, direction],
    )
    page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
        page.wait_for_timeout(500)
    st = wait_for_stable_layout(page)
    stored = page.evaluate("() => localStorage.getItem('asset-graph-direction')")
    if stored != f'"{direction}"':
        raise ScreenshotError(f"could not set the graph orientation to {direction} (localStorage has {stored!r})")
    return st


def hide_asset_tree(page: Page) -> None:
    """Collapse the asset tree beside the graph (the button right of its "Jump to…" box), if it is open."""
    jump = page.locator("input[placeholder='Jump to…']")
    if jump.count() and jump.first.is_visible():
        page.locator("button:right-of(input[placeholder='Jump to…'])").first.click()
        page.wait_for_timeout(800)


# --- moving the view -------------------------------------------------------------------------------------------


def set_view(page: Page, scale: float, center: tuple[float, float]) -> dict[str, Any]:
    """Zoom the graph viewport to ``scale`` and pan it so that the svg point ``center`` is at the centre of its free
    area, with the UI's own controls (ctrl + wheel zooms about the cursor, wheel pans), re-measuring each step."""
    area = free_area(page)
    for _ in range(40):
        st = state(page)
        vp = st["vp"]
        # the cursor must be over the viewport for the UI to take the wheel; keep it off the toolbar
        mx, my = vp["left"] + vp["width"] * 0.4, vp["top"] + vp["height"] * 0.5
        page.mouse.move(mx, my)
        ratio = scale / st["scale"]
        if abs(ratio - 1) > 0.002:
            # SVGViewport.onWheel: next = scale * (1 - deltaY * speed), speed 0.002 when |deltaY| > 30, else 0.01
            dy = (1 - ratio) / 0.002
            if abs(dy) <= 30:
                dy = (1 - ratio) / 0.01
            dy = max(-900.0, min(900.0, dy))
            page.keyboard.down("Control")
            page.mouse.wheel(0, dy)
            page.keyboard.up("Control")
            page.wait_for_timeout(120)
            continue
        want_x = (area["left"] + area["right"]) / 2 - vp["left"] - st["scale"] * center[0]
        want_y = (area["top"] + area["bottom"]) / 2 - vp["top"] - st["scale"] * center[1]
        dx, dy = want_x - st["x"], want_y - st["y"]
        if max(abs(dx), abs(dy)) > 0.75:
            # plain wheel pans by -delta * 0.7
            page.mouse.wheel(-dx / 0.7, -dy / 0.7)
            page.wait_for_timeout(120)
            continue
        page.mouse.move(1, 1)  # away from the nodes: no hover tooltip in the picture
        page.wait_for_timeout(600)  # let the viewport render the nodes that came into view
        return state(page)
    raise ScreenshotError(
        f"could not zoom the graph to {scale:.3f} and centre it on {center} (last state {state(page)})"
    )


def resize_for(page: Page, st: dict[str, Any], width: float, height: float) -> dict[str, Any]:
    """Resize the browser window so that the free area of the graph viewport is ``width`` x ``height`` CSS px."""
    area, win = free_area(page), st["window"]
    chrome_w = win["width"] - (area["right"] - area["left"])
    chrome_h = win["height"] - (area["bottom"] - area["top"])
    new_w = int(max(width, 900) + chrome_w + 0.999)
    new_h = int(max(height, 600) + chrome_h + 0.999)
    if (new_w, new_h) != (win["width"], win["height"]):
        page.set_viewport_size({"width": new_w, "height": new_h})
        page.wait_for_timeout(800)
    return state(page)


# --- finding the assets ----------------------------------------------------------------------------------------


def label_matches(label: str, name: str) -> bool:
    """Whether ``label`` is ``name`` or Dagster's middle truncation of it ("custo…_predictions")."""
    if label == name:
        return True
    if ELLIPSIS not in label:
        return False
    head, _, tail = label.partition(ELLIPSIS)
    return len(head) + len(tail) < len(name) and name.startswith(head) and name.endswith(tail)


def match_labels(labels: list[dict[str, Any]], names: list[str]) -> dict[str, int]:
    """Assign every asset name a distinct label that shows it (bipartite matching; names are unique within the
    picture's assets, truncated labels may fit several). Returns name -> label index for the names it could place."""
    candidates = {
        n: [i for i, lab in enumerate(labels) if (lab.get("full") == n) or label_matches(lab["text"], n)] for n in names
    }
    owner: dict[int, str] = {}

    def place(name: str, seen: set[int]) -> bool:
        for i in candidates[name]:
            if i in seen:
                continue
            seen.add(i)
            if i not in owner or place(owner[i], seen):
                owner[i] = name
                return True
        return False

    for name in sorted(names, key=lambda n: len(candidates[n])):
        place(name, set())
    return {name: i for i, name in owner.items()}


def leaf(key: str) -> str:
    """The label Dagster shows for an asset key: its last path component."""
    return key.split("/")[-1]


def restore_full_names(page: Page, assignment: dict[str, int]) -> None:
    """Give truncated zoomed-out labels their asset's full name, shrinking the font of a label that would not fit
    in its node (a node is 320 svg units wide; the zoomed-out label is 24 px)."""
    page.evaluate(
        """([pairs]) => {
            const labels = [...document.querySelectorAll('[data-svg-viewport] [class*="minimalName"]')];
            for (const [i, name] of pairs) {
                const e = labels[i];
                if (!e || e.textContent.trim() === name) continue;
                e.textContent = name;
                e.style.fontSize = '';
                const box = e.closest('[class*="minimalAssetNodeBox"]') || e.parentElement;
                const room = box.clientWidth - 12;
                const size = parseFloat(getComputedStyle(e).fontSize);
                if (e.scrollWidth > room) e.style.fontSize = Math.floor(size * room / e.scrollWidth * 10) / 10 + 'px';
            }
        }""",
        [[[i, leaf(name)] for name, i in assignment.items()]],
    )


def inside(r: dict[str, float], box: dict[str, float], margin: float = 0) -> bool:
    return (
        r["left"] >= box["left"] + margin - 0.5 and r["top"] >= box["top"] + margin - 0.5
        and r["right"] <= box["right"] - margin + 0.5 and r["bottom"] <= box["bottom"] - margin + 0.5
    )


def union(rects: list[dict[str, float]]) -> dict[str, float]:
    return {
        "left": min(r["left"] for r in rects), "top": min(r["top"] for r in rects),
        "right": max(r["right"] for r in rects), "bottom": max(r["bottom"] for r in rects),
    }


def content_box_svg(page: Page, st: dict[str, Any]) -> dict[str, float]:
    """Bounding box, in svg units, of every group outline and asset node on the page (call it with the whole svg in
    view: the UI does not render what is outside the viewport)."""
    els = page.evaluate(ELEMENTS_JS)
    rects = els["outlines"] + [lab["box"] for lab in els["labels"]]
    if not rects:
        raise ScreenshotError("no asset node and no group is drawn in the graph viewport")
    u = union(rects)
    s, ox, oy = st["scale"], st["vp"]["left"] + st["x"], st["vp"]["top"] + st["y"]
    return {
        "left": (u["left"] - ox) / s, "top": (u["top"] - oy) / s,
        "right": (u["right"] - ox) / s, "bottom": (u["bottom"] - oy) / s,
    }


def check(page: Page, st: dict[str, Any], shape: list[tuple[str, str]], restore: bool) -> dict[str, float]:
    """Verify that every asset and group of ``shape`` is drawn inside the viewport, and that nothing else is; return
    the picture's clip (the graph's bounding box plus MARGIN), which must not cover the zoom toolbar."""
    names = [key for _, key in shape]
    groups = sorted({g for g, _ in shape})
    els = page.evaluate(ELEMENTS_JS)
    labels = els["labels"]
    assignment = match_labels(labels, [leaf(n) for n in names]) if len(set(map(leaf, names))) == len(names) else None
    if assignment is None:
        raise ScreenshotError("two assets of the graph share a last key component; their labels cannot be told apart")
    missing = [f"{g}/{n}" for g, n in shape if leaf(n) not in assignment]
    matched = set(assignment.values())
    unknown = [lab["text"] for i, lab in enumerate(labels) if i not in matched]
    by_name = {g["name"]: g for g in els["groups"]}
    missing_groups = [g for g in groups if g not in by_name]
    unknown_groups = sorted(set(by_name) - set(groups))
    problems = []
    if missing:
        problems.append(f"asset(s) not drawn in the final viewport: {', '.join(missing)}")
    if missing_groups:
        problems.append(f"group(s) not drawn in the final viewport: {', '.join(missing_groups)}")
    if unknown:
        problems.append(f"the UI shows asset node(s) that graph_shape does not list: {', '.join(unknown)}")
    if unknown_groups:
        problems.append(f"the UI shows group(s) that graph_shape does not list: {', '.join(unknown_groups)}")
    if problems:
        raise ScreenshotError("; ".join(problems) + " (is `dagster dev` serving the current definitions?)")

    vp_box = free_area(page)
    graph = union(els["outlines"] + [lab["box"] for lab in labels] + [g["header"] for g in els["groups"]])
    clip = {
        "left": graph["left"] - MARGIN, "top": graph["top"] - MARGIN,
        "right": graph["right"] + MARGIN, "bottom": graph["bottom"] + MARGIN,
    }
    cut = [n for n in names if not inside(labels[assignment[leaf(n)]]["box"], clip)]
    cut += [f"group {g}" for g in groups if not inside(by_name[g]["header"], clip)]
    if not inside(clip, vp_box):
        cut.append(f"the margin around the graph (clip {clip} is outside the viewport's free area {vp_box})")
    covered = page.evaluate(COVERED_JS, [clip, 12])
    if covered:
        cut.append(f"the clip, covered by other elements at {len(covered)} points, e.g. {covered[:3]}")
    if cut:
        raise ScreenshotError(f"not fully visible in the final viewport: {', '.join(cut)}")
    if restore:
        restore_full_names(page, {n: assignment[leaf(n)] for n in names if labels[assignment[leaf(n)]]["minimal"]})
        page.wait_for_timeout(200)
        shown = page.evaluate(ELEMENTS_JS)["labels"]
        wrong = [
            n for n in names
            if shown[assignment[leaf(n)]]["text"] != leaf(n) and shown[assignment[leaf(n)]].get("full") != leaf(n)
        ]
        overflow = [
            n for n in names if not inside(shown[assignment[leaf(n)]]["label"], shown[assignment[leaf(n)]]["box"])
        ]
        if wrong or overflow:
            raise ScreenshotError(f"asset labels not legible in full: {', '.join(wrong + overflow)}")
    return clip


# --- main ------------------------------------------------------------------------------------------------------


def fit_scale(width: float, height: float, box: tuple[float, float]) -> float:
    return min(box[0] / width, box[1] / height)


def main(
    base_url: str, out: str, *, direction: str = "auto", width: int = 1600, device_scale_factor: float = 2.0,
    full_names: bool = True,
) -> None:
    shape = graph_shape(build_definitions())
    groups = sorted({group for group, _ in shape})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 2400, "height": 1600}, device_scale_factor=device_scale_factor)
            page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
            loaded = None
            if direction == "auto":
                sizes = {}
                for d in ("vertical", "horizontal"):
                    g = load_graph(page, base_url, groups, d)["graph"]
                    loaded = d
                    sizes[d] = fit_scale(g["width"], g["height"], README_BOX)
                    print(f"{d} layout: {g['width']:.0f} x {g['height']:.0f}, README-box scale {sizes[d]:.3f}")
                direction = max(sizes, key=lambda d: sizes[d])
            if loaded != direction:
                load_graph(page, base_url, groups, direction)
            print(f"graph orientation: {direction}")
            hide_asset_tree(page)
            st = state(page)
            # 1. bring the whole svg into view at a provisional scale, so that every node is rendered, and measure
            g = st["graph"]
            scale = max(MIN_SCALE, min(MAX_SCALE, width / g["width"]))
            st = resize_for(page, st, g["width"] * scale + 2 * MARGIN, g["height"] * scale + 2 * MARGIN)
            st = set_view(page, scale, (g["width"] / 2, g["height"] / 2))
            box = content_box_svg(page, st)
            # 2. zoom so that the graph's own bounding box is `width` px wide, and centre it
            cw, ch = box["right"] - box["left"], box["bottom"] - box["top"]
            scale = max(MIN_SCALE, min(MAX_SCALE, width / cw))
            st = resize_for(page, st, cw * scale + 2 * MARGIN + 24, ch * scale + 2 * MARGIN + 24)
            st = set_view(page, scale, ((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2))
            assert GROUPS_ONLY_SCALE < st["scale"] < MINIMAL_SCALE
            clip = check(page, st, shape, restore=full_names)
            page.screenshot(
                path=out,
                clip={
                    "x": clip["left"], "y": clip["top"],
                    "width": clip["right"] - clip["left"], "height": clip["bottom"] - clip["top"],
                },
            )
            # the UI may re-render between the check and the picture: check again
            check(page, state(page), shape, restore=False)
            print(
                f"scale {st['scale']:.3f}: {len(shape)} assets in {len(groups)} groups, clip "
                f"{clip['right'] - clip['left']:.0f} x {clip['bottom'] - clip['top']:.0f} CSS px "
                f"at {device_scale_factor}x"
            )
        finally:
            browser.close()
    Path(out).with_suffix(".keys").write_text(shape_text(shape), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:3123")
    parser.add_argument("out", nargs="?", default="docs/asset-graph.png")
    parser.add_argument("--direction", choices=["auto", "vertical", "horizontal"], default="auto",
                        help="graph orientation: vertical = top-to-bottom, horizontal = left-to-right (default: the "
                             "one that fits a README-shaped box better)")
    parser.add_argument("--width", type=int, default=1600,
                        help="the graph's width in the picture, CSS px (default 1600)")
    parser.add_argument("--device-scale-factor", type=float, default=2.0, help="pixels per CSS px (default 2)")
    parser.add_argument("--truncated-names", action="store_true",
                        help="keep Dagster's middle-truncated labels instead of restoring the full asset names")
    args = parser.parse_args()
    try:
        main(args.base_url, args.out, direction=args.direction, width=args.width,
             device_scale_factor=args.device_scale_factor, full_names=not args.truncated_names)
    except ScreenshotError as e:
        print(f"screenshot_asset_graph: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
