"""The words the assistant understands, read from the warehouse's own data.

A `Vocabulary` holds the catalog (SKUs, brands, categories), places (the warehouse's
cities, states, localities and PIN codes, plus India Post's states and districts and the
usual other names of big cities so "Pune" or "Bangalore" is recognised even without a
store there), mandi markets and commodities, and the festival calendar. It is built once
per data version (module cache) through the existing query modules.

Names are compared as lower-case word sequences (`words`); Hinglish product words are
turned into the English ones the catalog uses (`HINGLISH`) before any matching.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine.scenarios.commodities import SYNONYMS, pack_kg

# Hinglish / Indian English product and question words -> the catalog's English word
HINGLISH = {"doodh": "milk", "dudh": "milk", "dahi": "curd", "makhan": "butter",
            "makkhan": "butter", "chai": "tea", "chaai": "tea", "cheeni": "sugar",
            "chini": "sugar", "shakkar": "sugar", "tel": "oil", "namak": "salt",
            "mirch": "chilli", "mirchi": "chilli", "hari": "green", "paani": "water",
            "pani": "water", "sabun": "soap", "biskut": "biscuits", "mithai": "sweets",
            "mithaai": "sweets", "sabzi": "vegetables", "sabji": "vegetables",
            "subzi": "vegetables", "tamatar": "tomato", "pyaz": "onion", "pyaaz": "onion",
            "kanda": "onion", "aloo": "potato", "alu": "potato", "gehun": "wheat",
            "gehu": "wheat", "chawal": "rice", "arhar": "toor", "tuvar": "toor"}
# other names of categories, as word sequences (the category's own name is added too)
CATEGORY_WORDS = {
    "Cold Beverages": ["cold drink", "cold drinks", "soft drink", "soft drinks", "beverages",
                       "drinks", "soda", "colas", "cold beverage"],
    "Ice Cream": ["ice cream", "ice creams", "icecream", "kulfi", "icecreams"],
    "Tea & Coffee": ["tea and coffee", "tea coffee", "hot beverages"],
    "Sweets": ["sweets", "sweet", "sweets and mithai", "desserts"],
    "Dairy": ["dairy", "dairy products", "milk products"],
    "Staples": ["staples", "groceries", "grocery", "kirana", "pulses", "dals"],
    "Edible Oil": ["edible oil", "edible oils", "cooking oil", "cooking oils"],
    "Fresh Vegetables": ["vegetables", "veggies", "fresh vegetables", "veg"],
    "Snacks": ["snacks", "snack", "namkeen", "chips"],
    "Personal Care": ["personal care", "toiletries", "hygiene products"],
    "Festive Gifts": ["festive gifts", "gift hampers", "gifts", "hampers", "gift packs"],
    "Holi Colours": ["holi colours", "holi colors", "gulal", "holi rang", "colours", "colors"],
}
# other names of cities -> the name the demo and India Post use
CITY_ALIASES = {"bangalore": "Bengaluru", "bengalore": "Bengaluru", "bombay": "Mumbai",
                "calcutta": "Kolkata", "madras": "Chennai", "gurgaon": "Gurugram",
                "new delhi": "Delhi", "dilli": "Delhi", "delhi ncr": "Delhi", "ncr": "Delhi",
                "poona": "Pune", "cochin": "Kochi", "ahmadabad": "Ahmedabad",
                "amdavad": "Ahmedabad", "bengaluru urban": "Bengaluru", "hyd": "Hyderabad",
                "blr": "Bengaluru", "mumbai suburban": "Mumbai", "ernakulam": "Kochi"}
FESTIVAL_ALIASES = {"deepavali": "Diwali", "divali": "Diwali", "deepawali": "Diwali",
                    "rakhi": "Raksha Bandhan", "ganpati": "Ganesh Chaturthi",
                    "ganeshotsav": "Ganesh Chaturthi", "pujo": "Durga Puja",
                    "durga pujo": "Durga Puja", "xmas": "Christmas", "eid": "Eid al-Fitr",
                    "ramzan eid": "Eid al-Fitr", "bakrid": "Eid al-Adha",
                    "sankranti": "Makar Sankranti", "dasara": "Dussehra",
                    "dussera": "Dussehra", "dasehra": "Dussehra", "chhath": "Chhath Puja",
                    "navratri": "Navratri", "new years": "New Year", "vishu": "Baisakhi"}
# India Post districts that are also ordinary words of a question: never a place
_NOT_PLACES = {"mandi", "market", "gold", "central", "north", "south", "east", "west",
               "new", "city", "urban", "rural", "salt", "sugar", "tea", "ice", "cream"}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text) -> list[str]:
    """Lower-case words, apostrophes dropped ("Haldiram's" -> "haldirams"), Hinglish
    product words translated."""
    out = []
    for w in _WORD.findall(str(text or "").lower().replace("’", "'")):
        w = w.replace("'", "")
        out.append(HINGLISH.get(w, w))
    return out


def singular(word: str) -> str:
    """'tomatoes' -> 'tomato', 'onions' -> 'onion' (enough for matching names)."""
    if len(word) > 4 and word.endswith("oes"):
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "i"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass
class Vocabulary:
    """Everything the understanding layer matches a question against."""

    skus: pd.DataFrame                       # sku_id, name, brand, category, subcategory,
    #                                          product (name without brand and size), kg
    categories: list[str]
    phrases: dict[str, list[tuple[str, str]]]  # word sequence -> [(kind, value)]
    city_pins: dict[str, list[str]]           # warehouse city -> its PIN codes
    state_pins: dict[str, list[str]]
    pin_place: dict[str, dict]                # warehouse PIN -> locality, city, state
    public_city_pin: dict[str, str]           # any known city -> a PIN there (directory)
    commodities: list[str]
    markets: list[str]
    festivals: pd.DataFrame                   # name, date, pre_days, post_days
    festival_effects: pd.DataFrame            # name, category, multiplier
    today: date                               # the day after the last sales date
    sku_index: dict[str, dict[str, float]] = field(default_factory=dict)  # word -> sku: weight
    sku_words: list[str] = field(default_factory=list)  # the index's words (typo matching)
    fuzzy_keys: list[str] = field(default_factory=list)  # one-word phrases typos may match

    def festival_window(self, name: str, when: str = "around") -> tuple[date, date] | None:
        """The next occurrence of a festival on or after today (the latest one when the
        calendar has none ahead): its days before (`before`), after, or both."""
        cal = self.festivals[self.festivals["name"] == name]
        if cal.empty:
            return None
        ahead = cal[cal["date"] >= pd.Timestamp(self.today)]
        row = (ahead.iloc[0] if len(ahead) else cal.iloc[-1])
        day = pd.Timestamp(row["date"]).date()
        pre, post = max(int(row["pre_days"]), 7), max(int(row["post_days"]), 1)
        if when == "before":
            return day - timedelta(days=pre), day
        if when == "after":
            return day, day + timedelta(days=post)
        return day - timedelta(days=pre), day + timedelta(days=post)

    def place_pins(self, kind: str, value: str) -> list[str]:
        """Warehouse PIN codes of a place (empty when there is no store there)."""
        if kind == "pin_code":
            return [value] if value in self.pin_place else []
        if kind == "city":
            return self.city_pins.get(value, [])
        return self.state_pins.get(value, [])


_CACHE: dict[tuple, Vocabulary] = {}
_LOCK = threading.Lock()


def vocabulary(wh) -> Vocabulary:
    """The vocabulary of `wh` for its current data (built once per data version)."""
    key = (str(wh.path), getattr(wh, "pin_scope", None),
           wh.data_version("sales", "mandi", "festivals"))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    vocab = build_vocabulary(wh)
    with _LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = vocab
    return vocab


def _product_words(name: str, brand: str) -> list[str]:
    drop = set(words(brand))
    size = re.sub(r"\d+(?:\.\d+)?\s*(?:x\s*\d+\s*)?(?:kg|g|gm|l|ltr|ml|pc|colours)\b", " ",
                  str(name), flags=re.IGNORECASE)
    return [w for w in words(size) if w not in drop and not w.isdigit()]


def build_vocabulary(wh) -> Vocabulary:
    from engine import geo
    from engine.demo import CITIES
    from engine.warehouse import locations
    from engine.warehouse.catalog import sku_catalog
    from engine.warehouse.festivals import read_festivals
    from engine.warehouse.mandi import mandi_commodities, mandis
    from engine.warehouse.sales_summary import date_bounds

    cat = sku_catalog(wh)
    cat["product"] = [" ".join(_product_words(n, b)) for n, b in zip(cat["name"], cat["brand"])]
    cat["kg"] = [pack_kg(n, c)[0] for n, c in zip(cat["name"], cat["category"])]
    phrases: dict[str, list[tuple[str, str]]] = {}

    def add(phrase, kind, value):
        key = " ".join(words(phrase))
        for k in {key, " ".join(singular(w) for w in key.split())} if key else ():
            if (kind, value) not in phrases.setdefault(k, []):
                phrases[k].append((kind, value))

    categories = sorted(cat["category"].dropna().unique().tolist())
    for c in categories:
        add(c, "category", c)
        add(c.replace("&", "and"), "category", c)
        for alias in CATEGORY_WORDS.get(c, []):
            add(alias, "category", c)
    brand_words: dict[str, set] = {}
    for b in cat["brand"].dropna().unique():
        add(b, "brand", b)
        for w in words(b):
            brand_words.setdefault(w, set()).add(b)
    for w, owners in brand_words.items():      # "Thums" alone names Thums Up
        if len(owners) == 1 and len(w) >= 5 and w not in phrases:
            add(w, "brand", next(iter(owners)))
    sku_index: dict[str, dict[str, float]] = {}
    for sku, toks in _sku_tokens(cat).items():
        for word, weight in toks.items():
            sku_index.setdefault(word, {})[sku] = weight

    places = locations.places(wh)
    city_pins = places.groupby("city")["pin_code"].apply(sorted).to_dict()
    state_pins = places.groupby("state")["pin_code"].apply(sorted).to_dict()
    pin_place = places.set_index("pin_code")[["locality", "city", "state"]].to_dict("index")
    ref = geo.pin_reference()
    public_city_pin: dict[str, str] = {}
    for state in ref["state"].dropna().unique():
        add(state, "state", state)
    for city, (state, districts, prefixes, _) in CITIES.items():
        hit = ref[ref["district"].isin(districts or [city]) & ref["lat"].notna()]
        if hit.empty:
            hit = ref[ref["pin_code"].str.startswith(prefixes) & ref["lat"].notna()]
        if len(hit):
            public_city_pin[city] = str(hit["pin_code"].min())
    exact_only = set()       # India Post districts: matched only as written
    for district, grp in ref[ref["lat"].notna()].groupby("district"):
        name = str(district)
        if name.lower() in _NOT_PLACES or len(name) < 4:
            continue
        public_city_pin.setdefault(name, str(grp["pin_code"].min()))
        key = " ".join(words(name))
        if key not in phrases:
            exact_only.add(key)
        add(name, "city", name)
    for city in CITIES:
        add(city, "city", city)
        exact_only.discard(" ".join(words(city)))
    for alias, city in CITY_ALIASES.items():
        add(alias, "city", city)
    for city in city_pins:
        add(city, "city", city)
        public_city_pin[city] = city_pins[city][0]
    for state in state_pins:
        add(state, "state", state)
    for pin, row in pin_place.items():
        if row.get("locality"):
            add(row["locality"], "pin_code", pin)

    commodities = mandi_commodities(wh)["commodity"].astype(str).tolist()
    for c in commodities:
        add(c, "commodity", c)
    markets = mandis(wh)["market"].astype(str).tolist()
    known_places = set(phrases)
    for m in markets:
        add(m, "market", m)
        for w in words(m):
            if len(w) >= 5 and w not in known_places and w not in _NOT_PLACES:
                add(w, "market", m)
        for part in re.split(r"[()]", m):
            key = " ".join(words(part))
            if key and key not in known_places:
                add(part, "market", m)
            elif key:
                add(f"{part} mandi", "market", m)
                add(f"{part} market", "market", m)
                add(f"{part} apmc", "market", m)
    calendar, effects = read_festivals(wh)
    for name in calendar["name"].unique():
        add(name, "festival", name)
    for alias, name in FESTIVAL_ALIASES.items():
        if name in set(calendar["name"]):
            add(alias, "festival", name)
    _, last = date_bounds(wh)
    today = (pd.Timestamp(last).date() + timedelta(days=1)) if last is not None \
        else date.today()
    return Vocabulary(skus=cat, categories=categories, phrases=phrases, city_pins=city_pins,
                      state_pins=state_pins, pin_place=pin_place,
                      public_city_pin=public_city_pin, commodities=commodities,
                      markets=markets, festivals=calendar, festival_effects=effects,
                      today=today, sku_index=sku_index, sku_words=sorted(sku_index),
                      fuzzy_keys=sorted(k for k in phrases if " " not in k and len(k) >= 5
                                        and k not in exact_only))


def _sku_tokens(cat: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per SKU, the words that name it, weighted by how rare they are in the catalog
    (a word of one SKU weighs 1; of every SKU ~0): product words, then the subcategory's
    at half weight; commodity synonyms ('atta') added as the commodity word."""
    import math

    docs = {}
    for r in cat.itertuples(index=False):
        toks = {singular(w): 1.0 for w in str(r.product).split() if len(w) >= 3}
        for w in words(r.subcategory):      # the product's kind: a little extra
            if len(w) >= 3:
                toks[singular(w)] = toks.get(singular(w), 0.2) + 0.3
        for w in list(toks):
            syn = SYNONYMS.get(w.upper())
            if syn:
                toks.setdefault(syn.lower(), toks[w])
        docs[str(r.sku_id)] = toks
    n = max(len(docs), 1)
    df: dict[str, int] = {}
    for toks in docs.values():
        for w in toks:
            df[w] = df.get(w, 0) + 1
    return {sku: {w: wt * math.log(1 + n / df[w]) / math.log(1 + n) for w, wt in toks.items()}
            for sku, toks in docs.items()}
