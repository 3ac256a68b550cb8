"""Which SKUs are bought as a mandi commodity, and how many kg one unit holds.

A SKU is linked to a commodity with prices in the warehouse when every word of the
commodity's name appears among the words of the SKU's name and subcategory, compared by
spelling and sound so Indian spellings meet ('Masoor Dal' = 'Masur Dal'), with the
common Hindi and trade names of the raw commodity as synonyms ('atta' is wheat, 'pyaz'
onion), and no word of a processed food in the name ('Aloo Bhujia' is not potatoes). The pack size comes from the name ('5 kg', '500 g', '1 L', '2 x 500 ml'); litres
of edible oil weigh 0.91 kg, other litres 1 kg. A SKU sold by the piece or bunch has no
weight and is listed as not linked, with the reason. One unit is counted as its own
weight of the commodity (1 kg of atta = 1 kg of wheat; milling and packing losses are not
modelled), which every sourcing figure says.
"""
from __future__ import annotations

import difflib
import re

import pandas as pd

from engine.sourcing.places import sound_key, spelling_key

# trade / Hindi name -> the commodity word it stands for
SYNONYMS = {"ATTA": "WHEAT", "AATA": "WHEAT", "MAIDA": "WHEAT", "SOOJI": "WHEAT",
            "SUJI": "WHEAT", "GEHU": "WHEAT", "GEHUN": "WHEAT", "CHAWAL": "RICE",
            "BASMATI": "RICE", "PYAZ": "ONION", "PYAAZ": "ONION", "KANDA": "ONION",
            "ALOO": "POTATO", "ALU": "POTATO", "BATATA": "POTATO", "TAMATAR": "TOMATO",
            "MASOOR": "MASUR", "MASUR": "MASUR", "SARSON": "MUSTARD", "GOBHI": "CAULIFLOWER"}
# words that make a product a processed food rather than the raw commodity ('Aloo Bhujia'
# is not bought as potatoes, 'Tomato Ketchup' not as tomatoes)
PROCESSED = {"BHUJIA", "NAMKEEN", "CHIPS", "CRISPS", "WAFERS", "SAUCE", "KETCHUP",
             "PUREE", "PASTE", "PICKLE", "ACHAR", "POWDER", "MASALA", "BISCUIT", "BISCUITS",
             "COOKIES", "NOODLES", "PASTA", "PAPAD", "SOUP", "FLAKES", "POHA", "MURMURA",
             "SNACK", "SNACKS", "MIX", "BHAJIA", "SEV", "FRIES", "CHUTNEY", "JAM"}
OIL_KG_PER_L = 0.91
_SIZE = re.compile(r"(?:(\d+(?:\.\d+)?)\s*[xX×]\s*)?(\d+(?:\.\d+)?)\s*"
                   r"(kg|kgs|g|gm|gms|grams?|l|ltr|litres?|liters?|ml)\b", re.IGNORECASE)
_UNIT_KG = {"kg": 1.0, "kgs": 1.0, "g": 1e-3, "gm": 1e-3, "gms": 1e-3, "gram": 1e-3,
            "grams": 1e-3, "l": 1.0, "ltr": 1.0, "litre": 1.0, "litres": 1.0, "liter": 1.0,
            "liters": 1.0, "ml": 1e-3}
MAP_COLUMNS = ["sku_id", "name", "category", "commodity", "kg_per_unit", "link_note"]


def _words(text) -> list[str]:
    words = [w for w in re.split(r"[^A-Z]+", str(text or "").upper()) if len(w) >= 3]
    return [SYNONYMS.get(w, w) for w in words]


def _same_word(a: str, b: str) -> bool:
    if a == b or spelling_key(a) == spelling_key(b):
        return True
    return sound_key(a) == sound_key(b) and difflib.SequenceMatcher(
        None, spelling_key(a), spelling_key(b)).ratio() >= 0.75


def pack_kg(name, category=None) -> tuple[float | None, str]:
    """kg in one unit from the product name, and how it was read."""
    hits = list(_SIZE.finditer(str(name or "")))
    if not hits:
        return None, "no weight or volume in the name (sold by the piece or bunch?)"
    m = hits[-1]
    count = float(m.group(1)) if m.group(1) else 1.0
    unit = m.group(3).lower()
    kg = count * float(m.group(2)) * _UNIT_KG[unit]
    litres = unit in ("l", "ltr", "litre", "litres", "liter", "liters", "ml")
    if litres and ("oil" in str(name).lower() or str(category or "").lower() == "edible oil"):
        kg *= OIL_KG_PER_L
        return kg, f"{m.group(0).strip()} of oil = {kg:g} kg (0.91 kg per litre)"
    return kg, f"{m.group(0).strip()} = {kg:g} kg"


def link_skus(skus: pd.DataFrame, commodities: list[str]) -> pd.DataFrame:
    """One row per SKU linked to a commodity (MAP_COLUMNS), plus rows for SKUs that name a
    commodity but have no weight (commodity set, kg_per_unit NaN, the reason)."""
    targets = [(c, _words(c)) for c in commodities]
    targets = [(c, w) for c, w in targets if w]
    rows = []
    for r in skus.itertuples(index=False):
        words = _words(f"{getattr(r, 'name', '')} {getattr(r, 'subcategory', '') or ''}")
        if PROCESSED.intersection(words):
            continue
        best, best_n = None, 0
        for commodity, cwords in targets:
            if all(any(_same_word(cw, w) for w in words) for cw in cwords) \
                    and len(cwords) > best_n:
                best, best_n = commodity, len(cwords)
        if best is None:
            continue
        kg, note = pack_kg(r.name, getattr(r, "category", None))
        rows.append({"sku_id": str(r.sku_id), "name": r.name,
                     "category": getattr(r, "category", None), "commodity": best,
                     "kg_per_unit": kg, "link_note": note})
    return pd.DataFrame(rows, columns=MAP_COLUMNS)
