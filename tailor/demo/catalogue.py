"""The product catalogue: a fixed head the personas refer to, then seeded random products with Zipf
popularity, and the popularity-weighted product draws of the activity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.demo.arrays import pick
from tailor.demo.encoding import money, utf8, zfill

SHOP_URL = "https://shop.example"
IMG_URL = "https://cdn.shop.example/img"

CATEGORIES = ["Shoes", "Apparel", "Outdoor", "Home & Living", "Kitchen", "Beauty", "Electronics", "Books"]

CATEGORY_WEIGHTS = np.array([0.16, 0.18, 0.14, 0.12, 0.11, 0.12, 0.10, 0.07])

_BRANDS = {
    "Shoes": ["Trailwise", "Stridekraft", "Pace & Co"],
    "Apparel": ["Nordkamm", "Linnea", "Urban Fjord", "Pace & Co"],
    "Outdoor": ["Alpenrot", "Kestrel", "Trailwise"],
    "Home & Living": ["Hearth", "Linnea", "Casa Lume"],
    "Kitchen": ["Lumen", "Casa Lume", "Ferro"],
    "Beauty": ["Velora", "Blossom Lab", "Dermaline"],
    "Electronics": ["Pixelwerk", "Voltaic", "Sonix"],
    "Books": ["Papierboot Press", "Atlas Books"],
}

_ADJ = ["Classic", "Essential", "Pro", "Lite", "Everyday", "Urban", "Alpine", "Coastal", "Nordic", "Premium",
        "Eco", "Summit", "Daily", "Heritage", "Studio", "Active"]

_NOUNS = {
    "Shoes": ["Running Shoe", "Hiking Boot", "Sneaker", "Trail Runner", "Sandal", "Loafer", "Chelsea Boot"],
    "Apparel": ["T-Shirt", "Hoodie", "Merino Base Layer", "Rain Jacket", "Chino", "Wool Sweater", "Beanie"],
    "Outdoor": ["Tent 2P", "Sleeping Bag", "Daypack 22L", "Trekking Poles", "Headlamp", "Down Jacket"],
    "Home & Living": ["Linen Duvet Cover", "Throw Blanket", "Table Lamp", "Cushion Cover", "Scented Candle"],
    "Kitchen": ["Chef Knife", "Cast Iron Skillet", "Pour-Over Set", "Cutting Board", "Espresso Cups (2)"],
    "Beauty": ["Face Cream", "Hand Balm", "Shampoo Bar", "Lip Balm", "Serum 30ml", "Body Lotion"],
    "Electronics": ["Wireless Earbuds", "Power Bank", "Bluetooth Speaker", "USB-C Charger", "Smart Plug"],
    "Books": ["Field Guide", "Cookbook", "Travel Journal", "Novel", "Photo Book"],
}

# median price (EUR) and log-sd per category
_PRICE = {"Shoes": (95, 0.35), "Apparel": (45, 0.45), "Outdoor": (110, 0.6), "Home & Living": (55, 0.5),
          "Kitchen": (40, 0.5), "Beauty": (22, 0.4), "Electronics": (80, 0.7), "Books": (19, 0.3)}

# The fixed catalogue head: personas reference these product ids, so they do not depend on the seed.
FIXED_PRODUCTS = [  # (name, category, brand, price_cents)
    ("Trailwise Summit GTX Hiking Boot", "Shoes", "Trailwise", 18900),
    ("Nordkamm Merino Base Layer", "Apparel", "Nordkamm", 7995),
    ("Alpenrot Down Jacket", "Outdoor", "Alpenrot", 24900),
    ("Kestrel Ultralight Tent 2P", "Outdoor", "Kestrel", 32900),
    ("Lumen Pour-Over Coffee Set", "Kitchen", "Lumen", 4990),
    ("Lumen Cast Iron Skillet 28cm", "Kitchen", "Lumen", 5900),
    ("Velora Hydrating Face Cream", "Beauty", "Velora", 2450),
    ("Pixelwerk Wireless Earbuds", "Electronics", "Pixelwerk", 12900),
    ("Hearth Linen Duvet Cover", "Home & Living", "Hearth", 8900),
    ("Papierboot Press Alpine Field Guide", "Books", "Papierboot Press", 1800),
    ("Trailwise Pace 3 Running Shoe", "Shoes", "Trailwise", 11900),
    ("Nordkamm Wool Beanie", "Apparel", "Nordkamm", 2995),
]


@dataclass
class Catalogue:
    """What the activity draws products from (index = product number - 1)."""

    n: int
    category: np.ndarray  # int
    cents: np.ndarray  # int64
    weight: np.ndarray  # popularity (sums to 1)
    cat_order: np.ndarray  # product indexes sorted by category
    cat_cdf: np.ndarray  # per-category cumulative weights shifted by category index (monotone)
    cat_cdf_global: np.ndarray
    ids: np.ndarray  # S


def make_catalogue(rng: np.random.Generator, n_products: int) -> tuple[Catalogue, dict]:
    """The fixed products, then random ones (brand, adjective and noun of a category; log-normal prices with
    the usual endings); popularity is Zipf over a random rank. Returns the catalogue and the products file's
    columns (as text)."""
    nf = len(FIXED_PRODUCTS)
    nr = n_products - nf
    cat = np.empty(n_products, dtype=np.int64)
    cents = np.empty(n_products, dtype=np.int64)
    names = np.empty(n_products, dtype=object)
    brands = np.empty(n_products, dtype=object)
    for i, (nm, c, br, ce) in enumerate(FIXED_PRODUCTS):
        names[i], cat[i], brands[i], cents[i] = nm, CATEGORIES.index(c), br, ce
    rc = pick(rng, CATEGORIES, CATEGORY_WEIGHTS, nr)
    cat[nf:] = rc
    u_brand, u_adj, u_noun = rng.random(nr), rng.integers(0, len(_ADJ), nr), rng.random(nr)
    med = np.array([_PRICE[c][0] for c in CATEGORIES])[rc]
    sd = np.array([_PRICE[c][1] for c in CATEGORIES])[rc]
    euros = np.exp(np.log(med) + sd * rng.standard_normal(nr)).clip(3, 900)
    ending = np.array([99, 95, 0, 90])[pick(rng, [0, 1, 2, 3], [0.5, 0.2, 0.2, 0.1], nr)]
    cents[nf:] = np.floor(euros).astype(np.int64) * 100 + ending
    for ci, c in enumerate(CATEGORIES):  # vectorised per category
        sel = np.flatnonzero(rc == ci)
        bl, nl = np.array(_BRANDS[c], dtype=object), np.array(_NOUNS[c], dtype=object)
        b = bl[(u_brand[sel] * len(bl)).astype(int)]
        nn = nl[(u_noun[sel] * len(nl)).astype(int)]
        names[nf + sel] = b + " " + np.array(_ADJ, dtype=object)[u_adj[sel]] + " " + nn
        brands[nf + sel] = b
    # popularity: Zipf over a random rank
    rank = rng.permutation(n_products) + 1
    w = 1.0 / rank ** 0.9
    w /= w.sum()
    order = np.lexsort((np.arange(n_products), cat))
    cdf = np.empty(n_products)
    for ci in range(len(CATEGORIES)):  # positions of a category in ``order`` are contiguous
        pos = cat[order] == ci
        if pos.any():
            cw = np.cumsum(w[order[pos]])
            cdf[pos] = ci + cw / cw[-1]
    gcdf = np.cumsum(w)
    gcdf /= gcdf[-1]
    ids = np.strings.add(b"P", zfill(np.arange(1, n_products + 1), 4))
    in_stock = np.where(rng.random(n_products) < 0.9, b"true", b"false")
    in_stock[:nf] = b"true"
    img = np.strings.add(np.strings.add(IMG_URL.encode() + b"/", ids), b".jpg")
    img = np.where(rng.random(n_products) < 0.05, b"", img)
    img[:nf] = np.strings.add(np.strings.add(IMG_URL.encode() + b"/", ids[:nf]), b".jpg")
    cols = {
        "product_id": ids, "name": utf8(names.astype(str)), "category": utf8(np.array(CATEGORIES)[cat]),
        "brand": utf8(brands.astype(str)), "price": money(cents),
        "currency": np.full(n_products, b"EUR", dtype="S3"), "in_stock": in_stock,
        "url": np.strings.add(SHOP_URL.encode() + b"/products/", ids), "image_url": img,
    }
    return Catalogue(n_products, cat, cents, w, order, cdf, gcdf, ids), cols


def choose_products(rng: np.random.Generator, cat: Catalogue, fav: np.ndarray, p_fav: float) -> np.ndarray:
    """Popularity-weighted product draws; with probability p_fav from the given favourite category."""
    n = len(fav)
    u = rng.random(n)
    use_fav = rng.random(n) < p_fav
    out = np.searchsorted(cat.cat_cdf_global, u, side="right").clip(0, cat.n - 1)
    if use_fav.any():
        pos = np.searchsorted(cat.cat_cdf, fav[use_fav] + u[use_fav], side="right").clip(0, cat.n - 1)
        cand = cat.cat_order[pos]
        ok = cat.category[cand] == fav[use_fav]  # guard for empty categories
        out[np.flatnonzero(use_fav)[ok]] = cand[ok]
    return out

