"""Matching competitors' item names to our SKUs (pure: frames in, frames out).

A competitor lists "Fortune Sunflower Oil 1ltr Pouch" or "Fortune sunflwr tel 1000 ml"; we
sell "Fortune Sunlite Refined Sunflower Oil 1 L". Each name is normalised the same way on
both sides:

- **pack size** parsed and put in base units: "1 L" / "1000 ml" / "1ltr" / "1 ltr" /
  "1 litre" -> 1000 ml; "500g" / "0.5 kg" / "1/2 kg" / "aadha kilo" -> 500 g; "pav kilo" ->
  250 g; "5 x 100 g" -> 500 g in 5; "12 pc" / "12 pcs" / "12 nos" -> 12 pieces;
- **words**: lower case, apostrophes dropped ("Haldiram's" -> "haldirams"), punctuation as
  spaces, Hinglish and shop abbreviations mapped to one word ("doodh" -> milk, "tel" -> oil,
  "choc" -> chocolate, "bisc" -> biscuit), packaging noise dropped ("pouch", "pkt", "new");
- **brand**: the SKU's brand looked for in the competitor's name, spacing-blind
  ("Thumsup" finds "Thums Up").

Each candidate SKU gets a score from rapidfuzz name similarity (token set and token sort
ratios on the normalised words), brand, pack size and price plausibility (a competitor's
price far above our MRP or below half of it is unlikely the same item). A pack size that
contradicts the SKU's (both known, different) caps the score below the review floor; a
name whose best SKU is hardly ahead of the next best loses confidence (ambiguous).
`confidence` is in 0..1; at or above `MatchConfig.auto_accept` a match is used without
review, between `review_floor` and it the match waits in the review list, below it the item
counts as not ours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

MATCH_COLUMNS = ["item_name", "sku_id", "confidence", "status", "runner_up", "why"]


@dataclass(frozen=True)
class MatchConfig:
    auto_accept: float = 0.80     # at or above: used without review
    review_floor: float = 0.50    # below: not one of our SKUs
    min_gap: float = 0.04         # best minus runner-up below this: ambiguous


# unit word -> (dimension, factor to the base unit)
_UNITS = {}
for _words, _dim, _k in (
        (("ml", "mls", "millilitre", "milliliter", "millilitres", "milliliters"), "ml", 1.0),
        (("l", "ltr", "ltrs", "litre", "liter", "litres", "liters", "lt", "lit", "lts"),
         "ml", 1000.0),
        (("g", "gm", "gms", "gram", "grams", "gr", "grm", "grms", "gramm"), "g", 1.0),
        (("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), "g", 1000.0),
        (("pc", "pcs", "piece", "pieces", "nos", "units", "set", "sets"),
         "pc", 1.0)):
    for _w in _words:
        _UNITS[_w] = (_dim, _k)
_UNIT_RE = "|".join(sorted(_UNITS, key=len, reverse=True))
_NUM = r"(\d+(?:\.\d+)?|\.\d+|\d+/\d+)"
_SIZE = re.compile(rf"(?:(\d+)\s*(?:x|\*|×)\s*)?{_NUM}\s*({_UNIT_RE})(?![a-z])")
_WORD_QTY = re.compile(rf"\b(half|aadha|adha|aadhaa|pav|paav|pao|paow|quarter|sawa)\s+"
                       rf"({_UNIT_RE})(?![a-z])")
_WORD_QTY_VALUE = {"half": 0.5, "aadha": 0.5, "adha": 0.5, "aadhaa": 0.5, "pav": 0.25,
                   "paav": 0.25, "pao": 0.25, "paow": 0.25, "quarter": 0.25, "sawa": 1.25}
_PACK_OF = re.compile(r"\b(?:pack|pk|set|combo)\s+of\s+(\d+)\b")

# Hinglish words and shop abbreviations -> one English word (both sides are mapped).
SYNONYMS = {
    "doodh": "milk", "dudh": "milk", "dahi": "curd", "makhan": "butter", "makkhan": "butter",
    "chai": "tea", "chaay": "tea", "kaapi": "coffee", "kapi": "coffee", "tel": "oil",
    "tail": "oil", "chawal": "rice", "chaawal": "rice", "chini": "sugar", "cheeni": "sugar",
    "namak": "salt", "aata": "atta", "ata": "atta", "suji": "sooji", "rava": "sooji",
    "pyaz": "onion", "pyaaz": "onion", "kanda": "onion", "aloo": "potato", "alu": "potato",
    "batata": "potato", "tamatar": "tomato", "tamater": "tomato", "mirch": "chilli",
    "mirchi": "chilli", "chili": "chilli", "chilly": "chilli", "dhaniya": "coriander",
    "dhania": "coriander", "haldi": "turmeric", "jeera": "cumin", "zeera": "cumin",
    "sarson": "mustard", "sarso": "mustard", "moongphali": "groundnut",
    "mungfali": "groundnut", "peanut": "groundnut", "nariyal": "coconut", "aam": "mango",
    "pani": "water", "paani": "water", "sabun": "soap", "saabun": "soap",
    "mithai": "sweets", "biskut": "biscuit", "biscut": "biscuit", "biscuits": "biscuit",
    "bisc": "biscuit", "choc": "chocolate", "choco": "chocolate",
    "chocolates": "chocolate", "choclate": "chocolate", "chocolat": "chocolate",
    "dbl": "double", "van": "vanilla", "vnl": "vanilla", "straw": "strawberry",
    "org": "organic", "veg": "vegetable", "veggies": "vegetable", "vegetables": "vegetable",
    "sunflwr": "sunflower", "sunflr": "sunflower", "refind": "refined", "rfnd": "refined",
    "ref": "refined", "pwdr": "powder", "pwd": "powder", "powd": "powder", "masala": "masala",
    "spl": "special", "prem": "premium", "sft": "soft", "drnk": "drink", "drinks": "drink",
    "bev": "beverage", "icecream": "ice cream", "ic": "ice cream", "kesari": "kesar",
    "shampoos": "shampoo", "toothpaste": "toothpaste", "tp": "toothpaste", "pst": "paste",
    "hair": "hair", "crm": "cream", "creme": "cream", "moist": "moisturising",
    "moisturizing": "moisturising", "colors": "colours", "color": "colour",
    "colours": "colours", "flavor": "flavour", "flavored": "flavoured", "gifts": "gift",
    "hampers": "hamper", "chips": "chips", "wafers": "chips", "namkin": "namkeen",
    "bhujiya": "bhujia", "sev": "sev", "jaggery": "gur", "gud": "gur", "ghi": "ghee",
    "desi": "desi", "cow": "cow", "pouch": "", "pkt": "", "packet": "", "pack": "",
    "pck": "", "pk": "", "btl": "", "bottle": "", "pet": "", "jar": "", "tin": "",
    "can": "", "carton": "", "tetra": "", "box": "", "new": "", "offer": "", "combo": "combo",
    "rs": "", "mrp": "", "the": "", "of": "", "and": "", "with": "", "ka": "", "ki": "",
    "ke": "", "wala": "", "wali": "", "brand": "", "original": "", "buy": "", "online": "",
}
_KEEP_PACK_WORDS = {"value", "family", "festive", "twin", "combo"}


@dataclass(frozen=True)
class PackSize:
    dim: str            # "ml" | "g" | "pc"
    amount: float       # total in the base unit
    count: int = 1

    def same(self, other: "PackSize") -> bool:
        return self.dim == other.dim and abs(self.amount - other.amount) <= 0.03 * max(
            self.amount, other.amount)


def _number(text: str) -> float:
    if "/" in text:
        a, b = text.split("/")
        return float(a) / float(b) if float(b) else float("nan")
    return float(text)


def parse_pack(text: str) -> tuple[PackSize | None, str]:
    """(pack size, the text without it): '1ltr' -> 1000 ml; '5 x 100 g' -> 500 g in 5."""
    low = str(text).lower()
    m = _SIZE.search(low)
    if m is not None:
        count = int(m.group(1)) if m.group(1) else 1
        dim, k = _UNITS[m.group(3)]
        amount = _number(m.group(2)) * k * count
        size = PackSize(dim, round(amount, 3), count) if np.isfinite(amount) and amount > 0 \
            else None
        rest = low[:m.start()] + " " + low[m.end():]
    else:
        w = _WORD_QTY.search(low)
        if w is None:
            return None, low
        dim, k = _UNITS[w.group(2)]
        size = PackSize(dim, _WORD_QTY_VALUE[w.group(1)] * k)
        rest = low[:w.start()] + " " + low[w.end():]
    p = _PACK_OF.search(rest)
    if p is not None and size is not None and size.count == 1:
        n = int(p.group(1))
        size = PackSize(size.dim, size.amount * n, n)
        rest = rest[:p.start()] + " " + rest[p.end():]
    return size, rest


def words(text: str) -> str:
    """Normalised words of a name without its pack size (see the module docstring)."""
    t = str(text).lower().replace("&", " and ")
    t = re.sub(r"['’`]", "", t)
    t = re.sub(r"([a-z])\.(?=[a-z])", r"\1", t)         # K.C. -> KC
    t = re.sub(r"[^0-9a-z]+", " ", t)
    t = re.sub(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", " ", t)
    out = []
    for w in t.split():
        w = SYNONYMS.get(w, w)
        if w:
            out.append(w)
    return " ".join(out)


def describe(name: str) -> tuple[str, PackSize | None]:
    size, rest = parse_pack(name)
    return words(rest), size


def _size_text(size: PackSize | None) -> str:
    return "no pack size" if size is None else f"{size.amount:g} {size.dim}"


def _brand_text(score: float) -> str:
    return "brand in the name" if score >= 0.85 else "brand not in the name"


def _pack_text(theirs: PackSize | None, ours: PackSize | None) -> str:
    """'same pack (1000 ml)', 'pack 500 g vs our 100 g', 'no pack size in the name'."""
    if theirs is None:
        return "no pack size in the name"
    if ours is not None and theirs.same(ours):
        return f"same pack ({_size_text(ours)})"
    return f"pack {_size_text(theirs)} vs our {_size_text(ours)}"


def coverage(item_words: str, sku_words: str) -> float:
    """Share of the SKU's words (4+ letters, so not '1', 'g', 'kc') that the item's name
    has, allowing a typo: 'tata sampann masoor dal' in 'tata sampann moong dal' -> 2/3."""
    mine = [w for w in sku_words.split() if len(w) >= 4]
    theirs = item_words.split()
    if not mine or not theirs:
        return 1.0
    compact = item_words.replace(" ", "")
    hit = sum(1 for w in mine if w in compact or max(fuzz.ratio(w, t) for t in theirs) >= 80)
    return hit / len(mine)


def catalog_index(catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalog (sku_id, name, brand, mrp) with normalised words, brand key and size."""
    cat = catalog[[c for c in ("sku_id", "name", "brand", "mrp", "category") if c in catalog]]
    cat = cat[cat["name"].notna()].drop_duplicates("sku_id").reset_index(drop=True)
    parsed = [describe(n) for n in cat["name"]]
    brands = [words(b) if isinstance(b, str) else ""
              for b in cat.get("brand", pd.Series([None] * len(cat)))]
    return cat.assign(words=[p[0] for p in parsed], size=[p[1] for p in parsed],
                      brand_words=brands, brand_key=[b.replace(" ", "") for b in brands])


def match_items(items: pd.DataFrame, catalog: pd.DataFrame,
                cfg: MatchConfig = MatchConfig()) -> pd.DataFrame:
    """items: item_name (and optionally price, the competitor's price); catalog: sku_id,
    name, brand, mrp. One row per distinct item name, columns MATCH_COLUMNS: the best SKU
    (None when nothing comes near), confidence 0..1, status auto | review | none, the
    runner-up SKU and a sentence saying why."""
    names = items.drop_duplicates("item_name")
    if names.empty:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    idx = catalog_index(catalog) if "words" not in catalog else catalog
    if idx.empty:
        return pd.DataFrame({"item_name": names["item_name"], "sku_id": None,
                             "confidence": 0.0, "status": "none", "runner_up": None,
                             "why": "the catalog has no SKU names"})[MATCH_COLUMNS]
    parsed = [describe(n) for n in names["item_name"]]
    # a brand written as one word ('thumsup', 'motherdairy') is split as the catalog writes it
    spaced = {b.replace(" ", ""): b for b in idx["brand_words"] if " " in b}
    q_words = [" ".join(spaced.get(w, w) for w in p[0].split()) for p in parsed]
    q_sizes = [p[1] for p in parsed]
    c_words = idx["words"].tolist()
    s_set = process.cdist(q_words, c_words, scorer=fuzz.token_set_ratio, workers=1) / 100
    s_sort = process.cdist(q_words, c_words, scorer=fuzz.token_sort_ratio, workers=1) / 100
    name = 0.55 * s_set + 0.45 * s_sort
    q_compact = [w.replace(" ", "") for w in q_words]
    brand_keys = idx["brand_key"].tolist()
    uniq = sorted({b for b in brand_keys if b})
    b_score = process.cdist(q_compact, uniq, scorer=fuzz.partial_ratio, workers=1) / 100 \
        if uniq else np.zeros((len(q_compact), 0))
    col = {b: j for j, b in enumerate(uniq)}
    brand = np.column_stack([b_score[:, col[b]] if b else np.full(len(q_compact), 0.5)
                             for b in brand_keys])
    brand = np.where(brand >= 0.85, brand, brand * 0.5)
    size = np.full(name.shape, 0.5)
    clash = np.zeros(name.shape, dtype=bool)
    for j, cs in enumerate(idx["size"]):
        for i, qs in enumerate(q_sizes):
            if qs is None or cs is None:
                size[i, j] = 0.6 if qs is None and cs is None else 0.4
            elif qs.same(cs):
                size[i, j] = 1.0 if qs.count == cs.count else 0.9
            else:
                clash[i, j] = True
                size[i, j] = 0.0
    price = np.full(name.shape, 0.7)
    if "price" in names and "mrp" in idx:
        p = pd.to_numeric(names["price"], errors="coerce").to_numpy(float)[:, None]
        mrp = pd.to_numeric(idx["mrp"], errors="coerce").to_numpy(float)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = p / mrp
        price = np.where(np.isnan(r), 0.7, np.where((r >= 0.6) & (r <= 1.05), 1.0,
                         np.where((r >= 0.45) & (r <= 1.25), 0.5, 0.0)))
    raw = 0.5 * name + 0.2 * brand + 0.2 * size + 0.1 * price
    raw = np.where(clash, np.minimum(raw, cfg.review_floor - 0.05), raw)
    # a name far from every SKU's words is not ours, whatever the brand and size say
    raw = np.where(name < 0.55, np.minimum(raw, name), raw)
    order = np.argsort(-raw, axis=1, kind="stable")
    rows = np.arange(len(raw))
    best, second = order[:, 0], order[:, 1] if raw.shape[1] > 1 else order[:, 0]
    top = raw[rows, best]
    gap = top - (raw[rows, second] if raw.shape[1] > 1 else 0.0)
    cover = np.array([coverage(q_words[i], c_words[best[i]]) for i in rows])
    conf = np.clip(top * np.minimum(1.0, 0.8 + 0.2 * gap / cfg.min_gap)
                   * (0.55 + 0.45 * cover), 0, 1)
    out = []
    for i, item in enumerate(names["item_name"]):
        j = best[i]
        c = float(round(conf[i], 3))
        status = "auto" if c >= cfg.auto_accept else "review" if c >= cfg.review_floor \
            else "none"
        sku = idx["sku_id"].iloc[j] if status != "none" or top[i] >= cfg.review_floor - 0.1 \
            else None
        why = f"name {name[i, j]:.0%} alike; " + _brand_text(brand[i, j]) + "; " + \
            _pack_text(q_sizes[i], idx["size"].iloc[j])
        if gap[i] < cfg.min_gap and raw.shape[1] > 1:
            why += f"; close to {idx['sku_id'].iloc[second[i]]}"
        out.append((item, sku, c, status,
                    idx["sku_id"].iloc[second[i]] if raw.shape[1] > 1 else None, why))
    return pd.DataFrame(out, columns=MATCH_COLUMNS)
