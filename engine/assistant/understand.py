"""From a question to an intent and entities (the understanding layer).

`understand(question, vocab, previous)` returns a `Parsed`: the intent and its confidence,
the entities (the keys of ENTITY_KEYS; a list when the question names several, e.g. two
cities to compare), and what is ambiguous (several SKUs fit, or a place has no stores)
so the answer can ask instead of guessing.

Matching, longest word sequence first: PIN codes; then every phrase of the vocabulary
(places, categories, brands, festivals, mandis, commodities) exactly or, for words of 5+
letters, with rapidfuzz (typos: "Chenai", "Kolkatta"); then SKUs by their remaining name
words, weighted by rarity, narrowed by brand and pack size ("1 L", "500 g"). Dates come from
engine.assistant.dates, numbers ("10% off", "budget 5 lakh", "20 quintals") from patterns
here. A follow-up ("and in Pune?", "what about next month?", "why?") keeps the previous
turn's intent and every group of entities it does not replace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from engine.assistant import intents
from engine.assistant.dates import find_dates
from engine.assistant.vocab import Vocabulary, singular, words
from engine.scenarios.commodities import link_skus, pack_kg

ENTITY_KEYS = ("sku_id", "category", "pin_code", "city", "state", "commodity", "market",
               "date_from", "date_to", "horizon_days", "festival", "price_change_pct",
               "budget", "quantity_qtl")
# groups a follow-up replaces as a whole
GROUPS = {"product": ("sku_id", "category"), "place": ("pin_code", "city", "state"),
          "time": ("date_from", "date_to", "horizon_days", "festival"),
          "commodity": ("commodity",), "market": ("market",), "price": ("price_change_pct",),
          "budget": ("budget",), "quantity": ("quantity_qtl",)}
_KIND_ORDER = {"pin_code": 0, "brand": 1, "festival": 2, "category": 3, "city": 4,
               "state": 5, "commodity": 6, "market": 7}
# words never matched fuzzily against names (question words, English and Hinglish)
STOP = set("""a an the is are was were be will would can could should shall do does did i
we you my our me us it this that these those what which who whom how much many when where
why kya kab kaise kitna kitne kitni kaun kahan hai hain ka ki ke ko se me mein mai main par
pe for of in on at to from by with and or vs versus about than next last week weeks month
months day days today tomorrow kal aaj parso agle agla pichle hafte hafta mahine din sell
sold sells selling sale sales demand forecast forecasts price prices pricing order reorder
stock stocks inventory mandi mandis market markets cheapest cheap alerts alert why explain
compare help show tell give get list please expected expect much units unit total more less
store stores city cities state pin code codes my our your their there here any all each
every some also same other only just like near best worst high low so too very bikega
bikegi bikenge hoga hogi what's whats whose per between going rate rates budget lakh crore
quintal quintals off cut discount increase raise hike reduce percent percentage""".split())
_PIN = re.compile(r"\b([1-9]\d{5})\b")
_PCT = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b|pct\b|pc\b|pratishat\b|"
                  r"prateeshat\b|takka\b)", re.IGNORECASE)
_MONEY = re.compile(r"(?:₹|rs\.?|inr|rupees?)?\s*(\d+(?:[.,]\d+)*)\s*"
                    r"(lakhs?|lacs?|lakh|crores?|cr|k|thousand|hazaar|hazar)?\b", re.IGNORECASE)
_QTY = re.compile(r"(\d+(?:\.\d+)?)\s*(quintals?|qtls?|qtl|tonnes?|tons?|mt)\b", re.IGNORECASE)
_DOWN = re.compile(r"\b(off|cut|cuts|discount\w*|reduce\w*|lower\w*|drop\w*|decrease\w*|"
                   r"kam|ghata\w*|sasta|markdown|slash\w*|down|cheaper)\b", re.IGNORECASE)
_UP = re.compile(r"\b(increase\w*|raise\w*|hike\w*|up|badha\w*|mehnga|costlier|higher|"
                 r"premium)\b", re.IGNORECASE)
_BEFORE = re.compile(r"\b(before|pehle|ahead of|leading up to|run.?up|prior to)\b", re.I)
_AFTER = re.compile(r"\b(after|baad)\b", re.IGNORECASE)
_FOLLOW = re.compile(r"^\s*(and|aur|also|what about|how about|same for|and for|and in|"
                     r"then|or|ab|toh|to|phir|with|only|just|but)\b"
                     r"|^\s*(in|for|at)\s+\S+\s*\??\s*$", re.I)
_PRONOUN = re.compile(r"\b(it|that|them|those|this one|that one|same|wahi|usko|uska|iska|isko|"
                      r"unka|inka)\b", re.IGNORECASE)
_SPLIT = re.compile(r"\b(?:vs|versus|or|and|ya|aur|against|with)\b|,|/", re.IGNORECASE)
_WHY_ONLY = re.compile(r"^\s*(why|kyun|kyu|kyon|how come|reason|but why|and why)\s*\??\s*$",
                       re.IGNORECASE)
_MARKET_WORDS = {"mandi", "market", "apmc", "yard", "mandis", "markets", "bazaar"}
_UNIT = {"lakh": 1e5, "lakhs": 1e5, "lac": 1e5, "lacs": 1e5, "crore": 1e7, "crores": 1e7,
         "cr": 1e7, "k": 1e3, "thousand": 1e3, "hazaar": 1e3, "hazar": 1e3}


@dataclass
class Parsed:
    intent: str
    confidence: float
    entities: dict
    sku_options: list[str] = field(default_factory=list)   # several SKUs fit the words
    brand: str | None = None
    follow_up: bool = False
    scores: dict = field(default_factory=dict)


def _phrase_hits(tokens: list[str], vocab: Vocabulary) -> tuple[list[tuple], set[int]]:
    """(kind, value, start, end) of vocabulary phrases in the words, longest first,
    each word used once."""
    used: set[int] = set()
    hits = []
    for n in (4, 3, 2, 1):
        for i in range(0, len(tokens) - n + 1):
            span = set(range(i, i + n))
            if span & used:
                continue
            gram = " ".join(tokens[i:i + n])
            entries = vocab.phrases.get(gram)
            if entries is None and n == 1 and (gram in STOP or len(gram) < 5):
                continue
            if entries is None and n == 1 and len(gram) >= 5:   # a typo: "Chenai"
                match = process.extractOne(gram, vocab.fuzzy_keys, scorer=fuzz.ratio,
                                           score_cutoff=88 if len(gram) < 8 else 85)
                if match is not None:
                    entries = vocab.phrases[match[0]]
            if not entries:
                continue
            entries = sorted(entries, key=lambda e: _KIND_ORDER.get(e[0], 9))
            kind, value = entries[0]
            if kind == "city" and any(e[0] == "market" for e in entries) and (
                    (i > 0 and tokens[i - 1] in _MARKET_WORDS)
                    or (i + n < len(tokens) and tokens[i + n] in _MARKET_WORDS)):
                kind, value = next(e for e in entries if e[0] == "market")
            hits.append((kind, value, i, i + n))
            used |= span
    return sorted(hits, key=lambda h: h[2]), used


def _match_skus(tokens: list[str], used: set[int], vocab: Vocabulary,
                brands: list[str], text: str) -> tuple[list[str], list[str]]:
    """(resolved sku_ids, options when ambiguous)."""
    free = [singular(t) for i, t in enumerate(tokens)
            if i not in used and t not in STOP and len(t) >= 3 and not t.isdigit()]
    scores: dict[str, float] = {}
    index = vocab.sku_index
    for t in free:
        factor = 1.0
        if t not in index:
            if len(t) < 5:
                continue
            m = process.extractOne(t, vocab.sku_words, scorer=fuzz.ratio, score_cutoff=86)
            if m is None:
                continue
            t, factor = m[0], 0.9          # a typo: "buter" -> butter
        for sku, weight in index[t].items():
            scores[sku] = scores.get(sku, 0.0) + weight * factor
    cat = vocab.skus
    in_brand = set(cat.loc[cat["brand"].isin(brands), "sku_id"]) if brands else None
    if in_brand is not None:
        branded = {k: v for k, v in scores.items() if k in in_brand}
        scores = branded or ({} if scores else {})
        if not scores:
            scores = {k: 0.01 for k in in_brand}
    if not scores:
        return [], []
    best = max(scores.values())
    cands = [k for k, v in scores.items() if v >= best - 1e-9 or v >= 0.999 * best]
    if len(cands) > 1:
        cands = _by_size(cands, vocab, text) or cands
    if len(cands) == 1:
        return cands, []
    return [], sorted(cands)


def _by_size(cands: list[str], vocab: Vocabulary, text: str) -> list[str]:
    """Candidates whose pack size equals the size the question names (none named: [])."""
    rows = vocab.skus.set_index("sku_id").loc[cands]
    out = []
    for sku, r in rows.iterrows():
        kg, _ = pack_kg(text, r["category"])
        if kg is not None and r["kg"] is not None and abs(kg - float(r["kg"])) < 1e-6:
            out.append(sku)
    return out


def _skus_by_segment(question: str, vocab: Vocabulary) -> list[str]:
    """SKUs named one per part of "Limca or Sprite", "Amul butter vs Amul paneer"."""
    out = []
    for part in _SPLIT.split(question):
        tokens = words(part)
        if not tokens:
            continue
        hits, used = _phrase_hits(tokens, vocab)
        used -= {i for kind, _, a, b in hits if kind == "commodity" for i in range(a, b)}
        brands = [v for kind, v, _, _ in hits if kind == "brand"]
        skus, options = _match_skus(tokens, used, vocab, brands, part)
        if len(skus) == 1 and skus[0] not in out:
            out.append(skus[0])
    return out


def _commodity(text: str, tokens: list[str], vocab: Vocabulary) -> str | None:
    import pandas as pd

    if not vocab.commodities:
        return None
    name = " ".join(singular(t) for t in tokens if t not in STOP)
    linked = link_skus(pd.DataFrame([{"sku_id": "question", "name": name, "subcategory": ""}]),
                       vocab.commodities)
    return None if linked.empty else str(linked["commodity"].iloc[0])


def _money(text: str) -> float | None:
    low = text.lower()
    if "budget" not in low and not re.search(
            r"₹|\brs\.?\s*\d|\b\d+(\.\d+)?\s*(lakh|lac|crore|cr)\b", low):
        return None
    best = None
    for m in _MONEY.finditer(text):
        raw, unit = m.group(1).replace(",", ""), (m.group(2) or "").lower()
        try:
            value = float(raw) * _UNIT.get(unit, 1.0)
        except ValueError:
            continue
        before = text[max(0, m.start() - 12):m.start()].lower()
        if unit or "₹" in m.group(0) or "rs" in m.group(0).lower() or "budget" in before:
            best = value if best is None else max(best, value)
    return best


def _pct(text: str) -> tuple[float, bool] | None:
    """(signed %, whether the question says the direction): the direction word nearest
    the number wins ("how much more will sell with a 10% discount" is a cut)."""
    m = _PCT.search(text)
    if not m:
        return None
    value = float(m.group(1))
    if m.group(1).startswith(("+", "-")):
        return value, True
    moves = [(min(abs(d.start() - m.end()), abs(m.start() - d.end())), sign)
             for rx, sign in ((_DOWN, -1), (_UP, 1)) for d in rx.finditer(text)]
    if not moves:
        return value, False
    return min(moves)[1] * value, True


def extract(question: str, vocab: Vocabulary) -> tuple[dict, list[str], str | None]:
    """(entities, SKU options when the product is ambiguous, brand named)."""
    tokens = words(question)
    ent: dict = {}
    pins = _PIN.findall(question)
    hits, used = _phrase_hits(tokens, vocab)
    for i, t in enumerate(tokens):
        if _PIN.fullmatch(t):
            used.add(i)
    found: dict[str, list] = {}
    for kind, value, _, _ in hits:
        if value not in found.setdefault(kind, []):
            found[kind].append(value)
    for p in pins:
        found.setdefault("pin_code", [])
        if p not in found["pin_code"]:
            found["pin_code"].append(p)
    # question words that also name a number or a date are not product words
    for i, t in enumerate(tokens):
        if t in {"kg", "ml", "gm", "ltr", "litre", "liter", "g", "l"}:
            used.add(i)
    free_for_sku = used - {i for kind, _, a, b in hits if kind == "commodity"
                           for i in range(a, b)}
    skus, options = _match_skus(tokens, free_for_sku, vocab, found.get("brand", []), question)
    if len(skus) == 1 and not options:
        several = _skus_by_segment(question, vocab)
        if len(several) > 1 and skus[0] in several:
            skus = several
    brand = found.get("brand", [None])[0]
    if not skus and options:
        several = _skus_by_segment(question, vocab)
        if len(several) > 1:
            skus, options = several, []
    if skus:
        ent["sku_id"] = skus
        sku_cat = set(vocab.skus.loc[vocab.skus["sku_id"].isin(skus), "category"])
        found["category"] = [c for c in found.get("category", []) if c not in sku_cat]
    for key in ("category", "city", "state", "pin_code", "market", "festival"):
        if found.get(key):
            ent[key] = found[key]
    commodity = found.get("commodity") or ([_commodity(question, tokens, vocab)]
                                           if vocab.commodities else [])
    commodity = [c for c in commodity if c]
    if commodity:
        ent["commodity"] = commodity
    span = find_dates(question, vocab.today)
    if span is not None:
        ent["date_from"], ent["date_to"] = span.date_from.isoformat(), span.date_to.isoformat()
        if span.horizon_days:
            ent["horizon_days"] = span.horizon_days
    pct = _pct(question)
    if pct is not None:
        ent["price_change_pct"] = pct[0]
        if not pct[1]:
            ent["_pct_unsigned"] = True
    money = _money(question)
    if money is not None and not _PCT.search(question[:0]):
        ent["budget"] = money
    qty = _QTY.search(question)
    if qty:
        unit = qty.group(2).lower()
        ent["quantity_qtl"] = float(qty.group(1)) * (10.0 if unit.startswith(("t", "mt")) else 1.0)
    if festival_when := (_BEFORE.search(question) and "before") or \
            (_AFTER.search(question) and "after"):
        ent["_festival_when"] = festival_when
    return ent, options, brand


def _evidence(ent: dict, text: str) -> dict[str, float]:
    ev: dict[str, float] = {}
    if ent.get("market") or ent.get("quantity_qtl"):
        ev["sourcing"] = 1.5
    elif ent.get("commodity"):      # "onion" asks for a mandi; "masoor dal" may be the SKU
        ev["sourcing"] = 0.2 if ent.get("sku_id") else 0.8
    if ent.get("price_change_pct") is not None:
        ev["price"] = 1.5
    if ent.get("budget") is not None:
        ev["reorder"] = 0.8
    many = max(len(ent.get(k, [])) for k in ("sku_id", "category", "commodity"))
    places = sum(len(ent.get(k, [])) for k in ("city", "state", "pin_code"))
    if max(many, places) >= 2:
        ev["compare"] = 1.6
    return ev


def _single(ent: dict) -> dict:
    """Entity lists -> values (a list stays only where several were named)."""
    out = {}
    for k, v in ent.items():
        if isinstance(v, list):
            out[k] = v[0] if len(v) == 1 else v
        else:
            out[k] = v
    return out


def understand(question: str, vocab: Vocabulary, previous: dict | None = None) -> Parsed:
    """Intent, confidence and entities of one question; `previous` is the last turn of the
    conversation ({intent, entities}) for follow-ups."""
    ent, options, brand = extract(question, vocab)
    when = ent.pop("_festival_when", None)
    unsigned = ent.pop("_pct_unsigned", False)
    text = question.strip()
    prev_ent = dict((previous or {}).get("entities") or {})
    n_words = len(words(text))
    follow = previous is not None and (
        (bool(prev_ent.get("_clarify")) and n_words <= 6) or _WHY_ONLY.match(text) is not None
        or _FOLLOW.match(text) is not None or (_PRONOUN.search(text) and n_words <= 8)
        or (n_words <= 5 and not intents.has_cue(text)))
    if follow and not ent.get("sku_id") and not options and prev_ent.get("sku_id") \
            and isinstance(prev_ent["sku_id"], str):
        # "and the 100 g one?": the same product in another pack size
        cat = vocab.skus
        prev = cat[cat["sku_id"] == prev_ent["sku_id"]]
        if len(prev):
            same = cat[(cat["brand"] == prev["brand"].iloc[0])
                       & (cat["product"] == prev["product"].iloc[0])]["sku_id"].tolist()
            sized = _by_size(same, vocab, text) if len(same) > 1 else []
            if len(sized) == 1 and sized[0] != prev_ent["sku_id"]:
                ent["sku_id"] = sized
    if follow and unsigned and ent.get("price_change_pct") is not None \
            and float(prev_ent.get("price_change_pct") or 0) < 0:
        ent["price_change_pct"] = -abs(ent["price_change_pct"])   # "and 20%?" after a cut
    if follow and prev_ent.get("_sku_options") and not ent.get("sku_id"):
        # the answer to "Which Soan Papdi: 250 g or 500 g?"
        picked = _by_size(prev_ent["_sku_options"], vocab, text) or [
            s for s in prev_ent["_sku_options"] if s in (options or [])]
        if len(picked) == 1:
            ent["sku_id"], options = picked, []
    if follow and _WHY_ONLY.match(text):
        intent, conf, scores = "explain", 0.9, {}
    else:
        intent, conf, scores = intents.classify(text, _evidence(ent, text))
        if follow and not intents.has_cue(text):
            intent, conf = previous["intent"], max(conf, 0.8)
        elif previous is not None and intent == "compare":
            follow, conf = True, max(conf, 0.8)     # "compare with Kolkata"
        elif not follow and not intents.has_cue(text) and not any(
                ent.get(k) is not None for k in ("market", "budget", "price_change_pct",
                                                 "quantity_qtl")) and (
                ent.get("sku_id") or ent.get("category") or options or brand
                or any(ent.get(k) for k in ("city", "state", "pin_code"))):
            # only a product and/or a place ("Aavin milk Chennai kal"): how much it sells
            intent, conf = "forecast", max(conf, 0.6)
    # a mandi question is about the commodity; otherwise the commodity is only a word of
    # a product name ("Dhara Mustard Oil")
    if intent == "sourcing" and ent.get("commodity"):
        ent.pop("sku_id", None)
        options = []
    elif ent.get("sku_id") or ent.get("category") or intent not in ("sourcing", "compare"):
        if not ent.get("market"):
            ent.pop("commodity", None)
    if intent != "price" and intent != "compare":
        ent.pop("price_change_pct", None)
    if intent != "reorder":
        ent.pop("budget", None)
    if intent != "sourcing":
        ent.pop("quantity_qtl", None)
    entities = _single(ent)
    if follow and previous:
        merged = {k: v for k, v in prev_ent.items() if not k.startswith("_")}
        for group, keys in GROUPS.items():
            if any(k in entities for k in keys) or (group == "product" and options):
                if intent == "compare" and group in ("place", "product") and \
                        previous["intent"] != "compare":
                    for k in keys:
                        if k in entities and merged.get(k) and merged[k] != entities[k]:
                            old = merged[k] if isinstance(merged[k], list) else [merged[k]]
                            new = entities[k] if isinstance(entities[k], list) else [entities[k]]
                            entities[k] = old + [x for x in new if x not in old]
                for k in keys:
                    merged.pop(k, None)
        merged.update(entities)
        entities = merged
    if when and entities.get("festival"):
        entities["festival_when"] = when
    return Parsed(intent=intent, confidence=round(float(conf), 3), entities=entities,
                  sku_options=options, brand=brand, follow_up=bool(follow), scores=scores)
