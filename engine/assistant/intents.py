"""Which of the product's questions is being asked, with a confidence.

Two signals, added: cue words (English and Hinglish, weighted; `CUES`) and the similarity
of the question to a few example questions per intent, embedded with WordLlama's small
static model (l2_supercat_256), which ships inside its PyPI wheel and is loaded from the
package's own folder once per process (`model()`; nothing is downloaded). Entities found
in the question add evidence too (a commodity -> sourcing, "10% off" -> price, two places
-> compare). The confidence is the winner's share of a softmax over the scores.
"""
from __future__ import annotations

import math
import pathlib
import re
import threading
import time

import numpy as np

INTENTS = ("forecast", "accuracy", "price", "reorder", "sourcing", "alerts", "explain",
           "compare", "help")

# regex -> weight, per intent (word boundaries added around each pattern)
CUES: dict[str, dict[str, float]] = {
    "forecast": {r"sell|sells|selling|sale|sales|bikega|bikegi|bikenge|bikta|bikti|bikri|"
                 r"bechenge|bik": 1.2,
                 r"forecasts?|forcast|forecst|predict\w*|projection|projected|expect\w*|"
                 r"outlook|anuman": 1.5,
                 r"demand|demnd|maang|mang": 1.0, r"how much|how many|kitna|kitne|kitni": 0.8,
                 r"units|volume": 0.4, r"will|hoga|hogi|honge|going to": 0.3},
    "accuracy": {r"accura\w*|acuracy|accuracy|wape|mape|mae|rmse|bias\w*|backtest\w*": 2.5,
                 r"error|errors|galti|galat|off by|far off|how far|miss\w*|wrong|sahi|reliable|"
                 r"reliability|trust\w*|bharosa|how good|how bad|precise|precision|"
                 r"deviat\w*|how close|any good|against actuals?|vs actuals?": 2.4,
                 r"actuals?": 0.8,
                 r"model|models": 0.5},
    "price": {r"price|prices|pricing|priced|daam|dam|keemat|kimat|mrp|rate": 1.0,
              r"elastic\w*|sensitiv\w*|discount\w*|off|cut|markdown|promo\w*|offer|"
              r"hike|raise|increase|lower|reduce|drop|kam|badha\w*|ghata\w*|sasta|mehnga|"
              r"optimi[sz]e price|best price|what if|agar": 1.0,
              r"margin|margins|revenue": 0.6},
    "reorder": {r"reorder\w*|re-order|restock\w*|replenish\w*|order|orders|ordering|"
                r"mangwa\w*|manga\w*|mangaun|purchase order|po": 1.6,
                r"stock|stocks|stockout|stock-out|inventory|khatam|out of stock|run out|"
                r"running out|running low|low on|low stock|shelf|safety stock|godown|maal": 1.4,
                r"buy|kharid\w*": 0.5, r"budget": 0.8},
    "sourcing": {r"mandi|mandis|apmc|wholesale|sourcing|source|sourced|procure\w*|"
                 r"commodit\w*|quintal\w*|qtl|modal|arrivals|landed|bhav|bhaav": 2.0,
                 r"cheapest|cheaper|sabse sasta|buy from|kahan se|where to buy|supplier": 1.5,
                 r"market|markets": 1.0},
    "alerts": {r"alerts?|alarm\w*|warning\w*|notification\w*|flag\w*|flagged|issues?|"
               r"problems?|gadbad|dikkat|red flags?|anomal\w*": 1.8,
               r"what.?s wrong|anything wrong|something wrong|koi gadbad|kya gadbad|"
               r"going wrong": 2.6,
               r"unusual|spike\w*|attention|urgent|critical|pending": 0.8,
               r"look at|check|today": 0.3},
    "explain": {r"why|kyun|kyu|kyon|how come": 2.2,
                r"reason\w*|explain\w*|because|wajah|karan|drivers?|drives|driving|drive|"
                r"what causes|cause\w*|behind|breakdown|jump\w*|dip\w*": 1.8,
                r"so high|so low|itna zyada|itna kam": 0.8},
    "compare": {r"compare\w*|comparison|vs|versus|against|difference|differ|"
                r"tulna|mukabla|which sells more|more than|better than": 1.8,
                r"kahan zyada|zyada kahan|which city|or|ya|both|between": 0.6},
    "help": {r"help|madad|what can you|how do i|how to use|hello|hi|hey|namaste|namaskar|"
             r"commands|features|capabilit\w*|who are you|kya kar sakte|guide|"
             r"good morning|good evening|how does this work|how it works": 2.2},
}
_COMPILED = {i: [(re.compile(rf"(?<![\w])(?:{p})(?![\w])", re.IGNORECASE), w)
                 for p, w in cues.items()] for i, cues in CUES.items()}

# Example questions per intent for the embedding signal (general phrasings).
EXAMPLES: dict[str, list[str]] = {
    "forecast": ["how much will we sell next week", "what is the demand forecast",
                 "expected sales of this product", "how many units will sell tomorrow",
                 "forecast for the city this month", "projected demand for the coming days",
                 "kitna bikega agle hafte", "sales outlook for the store"],
    "accuracy": ["how accurate is the forecast", "what is the forecast error",
                 "can I trust these numbers", "how wrong was the model last month",
                 "WAPE of the forecast by category", "is the forecast biased",
                 "forecast accuracy for the store"],
    "price": ["what happens if I cut the price by ten percent", "price elasticity of this product",
              "should I give a discount", "how sensitive is demand to price",
              "what if I raise the price", "best price for more revenue",
              "daam kam karein to kya hoga"],
    "reorder": ["what should I reorder today", "which items are running out of stock",
                "how much should I order", "what to buy for the store this week",
                "stock out risk in my store", "purchase order within a budget",
                "kya mangwana hai aaj", "inventory to replenish"],
    "sourcing": ["which mandi is cheapest for onions", "where should I buy tomatoes",
                 "best market to source potatoes", "wholesale price of wheat in the mandi",
                 "mandi bhav of onion today", "landed cost of rice from the market",
                 "procure vegetables from which apmc"],
    "alerts": ["show me the alerts", "any problems today", "what needs my attention",
               "which alerts are critical", "unusual sales spikes", "open warnings for my store"],
    "explain": ["why is the forecast so high", "what drives the demand",
                "explain the forecast", "reason for the jump in sales",
                "why did demand drop", "forecast itna zyada kyun hai"],
    "compare": ["compare the two cities", "which sells more this or that",
                "difference between the two products", "city one versus city two",
                "compare sales of two categories"],
    "help": ["what can you do", "help me", "how do I use this", "hello",
             "what questions can I ask", "namaste"],
}

_MODEL = None
_EXAMPLE_VECS: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()
LOAD_SECONDS: float | None = None      # measured on first load (benchmarks print it)


def model():
    """WordLlama loaded once per process from its own package folder (offline)."""
    global _MODEL, LOAD_SECONDS
    with _LOCK:
        if _MODEL is None:
            import wordllama
            from wordllama import WordLlama

            started = time.perf_counter()
            wl = WordLlama.load(cache_dir=pathlib.Path(wordllama.__file__).parent)
            for intent, examples in EXAMPLES.items():
                _EXAMPLE_VECS[intent] = wl.embed(examples, norm=True)
            LOAD_SECONDS = time.perf_counter() - started
            _MODEL = wl
    return _MODEL


# the plain words among the cues, for typo correction ("reordr", "alrets", "forcast")
CUE_WORDS = sorted({w for cues in CUES.values() for p in cues
                    for w in (re.sub(r"\\w\*|\?", "", x) for x in p.split("|"))
                    if re.fullmatch(r"[a-z]{6,}", w)})


def _fix_typos(text: str) -> str:
    """A word one edit (two for long words) from a cue word becomes that cue word."""
    from rapidfuzz.distance import OSA
    from rapidfuzz import process

    out = []
    for w in re.findall(r"[\w'%.-]+|[^\w\s]", text.lower()):
        if len(w) >= 6 and w.isalpha() and w not in CUE_WORDS:
            limit = 1 if len(w) < 8 else 2
            hit = process.extractOne(w, CUE_WORDS, scorer=OSA.distance, score_cutoff=limit)
            if hit is not None:
                w = hit[0]
        out.append(w)
    return " ".join(out)


def cue_scores(text: str) -> dict[str, float]:
    text = _fix_typos(text)
    return {i: sum(w for rx, w in rules if rx.search(text)) for i, rules in _COMPILED.items()}


def similarity(text: str) -> dict[str, float]:
    """Best cosine similarity of the question to each intent's examples."""
    wl = model()
    vec = wl.embed([text], norm=True)[0]
    return {i: float(np.max(vecs @ vec)) for i, vecs in _EXAMPLE_VECS.items()}


def classify(text: str, evidence: dict[str, float] | None = None
             ) -> tuple[str, float, dict[str, float]]:
    """(intent, confidence 0-1, score per intent)."""
    cues = cue_scores(text)
    sims = similarity(text)
    scores = {i: cues[i] + 3.0 * sims[i] + (evidence or {}).get(i, 0.0) for i in INTENTS}
    top = max(scores, key=scores.get)
    z = sum(math.exp(2.0 * (s - scores[top])) for s in scores.values())
    return top, 1.0 / z, scores


def has_cue(text: str) -> bool:
    """Does the question carry any intent word (a bare "and in Pune?" does not)?"""
    return any(v > 0.31 for v in cue_scores(text).values())
