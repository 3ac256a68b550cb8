"""What every answer is built from: the `Answer` itself, the `Context` of a question
(warehouse handle, vocabulary, user, entities), and the shared steps: the user's scope
(a place outside their PIN codes or without a store, several SKUs that fit), the forecast
selection and period a question names, page links with the filters a page reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine import auth
from engine.assistant.vocab import Vocabulary
from engine.textfmt import dd_mmm


@dataclass
class Answer:
    answer: str
    table: pd.DataFrame | None = None
    chart: dict | None = None            # {"kind": "line"|"bar", "x": col, "y": [cols]}
    link: dict | None = None             # {"page", "label", "params"}
    clarify: dict | None = None          # {"question", "options"}
    reason: str | None = None


@dataclass
class Context:
    wh: object
    vocab: Vocabulary
    user: auth.User | None               # None: the local operator (CLI), sees everything
    entities: dict
    sku_options: list[str] = field(default_factory=list)
    brand: str | None = None


def as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def sku_name(vocab: Vocabulary, sku: str) -> str:
    hit = vocab.skus.loc[vocab.skus["sku_id"] == sku, "name"]
    return str(hit.iloc[0]) if len(hit) else sku


def page_link(page: str, label: str, **params) -> dict:
    """A page and the query parameters it reads (Forecast: sku_id, pin_code; Sourcing:
    commodity, pin, quantity; the other pages take none)."""
    return {"page": page, "label": label,
            "params": {k: str(v) for k, v in params.items() if v is not None}}


# ---- scope and selection -------------------------------------------------------------------
def named_places(ctx: Context) -> list[tuple[str, str]]:
    e = ctx.entities
    return ([("pin_code", p) for p in as_list(e.get("pin_code"))]
            + [("city", c) for c in as_list(e.get("city"))]
            + [("state", s) for s in as_list(e.get("state"))])


def place_label(ctx: Context, kind: str, value: str) -> str:
    if kind == "pin_code":
        loc = ctx.vocab.pin_place.get(value, {}).get("locality")
        return f"PIN {value}" + (f" ({loc})" if loc else "")
    return value


def place_problem(ctx: Context) -> Answer | None:
    """A named place outside the user's PIN codes, or with no store: say so, no numbers."""
    for kind, value in named_places(ctx):
        pins = ctx.vocab.place_pins(kind, value)
        label = place_label(ctx, kind, value)
        if ctx.user is not None and ctx.user.is_scoped:
            allowed = set(ctx.user.pin_codes)
            if not pins or not set(pins) & allowed:
                return Answer(f"{label} is outside your PIN codes: your account can see "
                              f"{', '.join(ctx.user.pin_codes)} only, so I cannot answer "
                              "for it. Ask about your own stores instead.",
                              clarify={"question": "Which of your PIN codes?",
                                       "options": list(ctx.user.pin_codes)})
        elif not pins:
            options = sorted(ctx.vocab.city_pins)
            return Answer(f"There is no store in {label} in the warehouse, so there are no "
                          "sales or forecasts for it.",
                          clarify={"question": "Which city do you mean?", "options": options})
    return None


def product_problem(ctx: Context) -> Answer | None:
    """Several SKUs fit the words: ask which one."""
    if not ctx.sku_options or ctx.entities.get("sku_id"):
        return None
    names = [sku_name(ctx.vocab, s) for s in ctx.sku_options]
    stems = {n.rsplit(" ", 2)[0] for n in names}
    if len(stems) == 1:      # same product, different pack sizes
        sizes = [n[len(next(iter(stems))):].strip() for n in names]
        question = f"Which {next(iter(stems))}: {' or '.join(sizes)}?"
    else:
        lead = f"Which {ctx.brand} product" if ctx.brand else "Which product"
        question = f"{lead} do you mean?"
    return Answer(question, clarify={"question": question, "options": names[:8]})


def selection_of(ctx: Context, **override):
    from engine.warehouse.sql import Selection

    e = {**ctx.entities, **override}
    one = {k: (as_list(e.get(k)) or [None])[0] for k in ("sku_id", "category", "pin_code",
                                                          "city", "state")}
    return Selection(**one)


def scope_filters(ctx: Context):
    from engine.warehouse.sql import Filters

    scoped = ctx.user is not None and ctx.user.is_scoped
    return Filters(pin_scope=tuple(ctx.user.pin_codes) if scoped else None)


def describe(ctx: Context, sel) -> str:
    product = (sku_name(ctx.vocab, sel.sku_id) if sel.sku_id else sel.category
               or "All products")
    if sel.pin_code:
        place = place_label(ctx, "pin_code", sel.pin_code)
    else:
        place = sel.city or sel.state or (
            "your PIN codes" if ctx.user is not None and ctx.user.is_scoped else "all stores")
    return f"{product} in {place}"


def period_of(ctx: Context, first: date, last: date) -> tuple[date, date, str]:
    """The period the question asks about; default: the first 7 days forecast."""
    e = ctx.entities
    if e.get("date_from"):
        lo, hi = date.fromisoformat(e["date_from"]), date.fromisoformat(e["date_to"])
        return lo, hi, ""
    if e.get("festival"):
        window = ctx.vocab.festival_window(as_list(e["festival"])[0],
                                           e.get("festival_when", "around"))
        if window:
            return window[0], window[1], f" ({as_list(e['festival'])[0]})"
    if e.get("horizon_days"):
        return first, first + timedelta(days=int(e["horizon_days"]) - 1), ""
    return first, min(last, first + timedelta(days=6)), " (next 7 days)"


def span_text(lo: date, hi: date) -> str:
    return dd_mmm(lo) if lo == hi else f"{dd_mmm(lo)} to {dd_mmm(hi)}"


def latest_run(ctx: Context):
    from engine.warehouse.runs import latest_forecast_run

    return latest_forecast_run(ctx.wh)


NO_RUN = Answer("There is no forecast run yet: run one on the Forecast page (Run forecast) "
                 "or with `python -m engine forecast`.",
                 link=page_link("Forecast", "Open Forecast"))


# ---- intents -------------------------------------------------------------------------------
