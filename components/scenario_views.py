"""Scenario widgets and views: the build form, the saved list, the chain as a flow of four
tiles (Demand -> Margin -> Orders -> Mandi buying), the detail of each step, the
comparison of up to three scenarios with their baseline, and the part of a scenario each
other page shows (`page_section`).

Every number is read from an `engine.scenarios.compute.ScenarioResult` (never recomputed
here); money in ₹ lakh/crore, units with Indian digit grouping, dates DD-MMM-YYYY.
Business words first, the technical term in the hover help.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.errors import Problem
from components.format import dd_mmm, indian_grouping, inr_compact, pct, units
from components.tables import show_table
from engine.scenarios import Assumptions, Scenario, ScenarioError, Selection

STEP_NAMES = ("demand", "pricing", "reorder", "sourcing")
STEP_HELP = {
    "demand": "Units the stored forecast expects over the selected products, places and dates, "
              "moved by the scenario's levers (own-price elasticity from the Pricing page, "
              "promotion lift, weather and festival responses, demand shock). Bands: the "
              "forecast's 95% prediction interval, scaled the same way.",
    "pricing": "Gross margin = units x (selling price - unit cost), over the same periods. "
               "Selling price: the forecast's planned price, else the last regular price, "
               "else MRP, times the scenario's price change, promotion discount and plan.",
    "reorder": "Value of the purchase orders the Reorder policy places today (safety stock "
               "for the service level over lead time + review period; the budget "
               "optimiser (MILP) when a budget is set), on the scenario's demand.",
    "sourcing": "Cost of the mandi commodities behind the ordered units (kg per pack) at the "
                "best-ranked APMC mandi's landed price (modal price + transport) to the PIN "
                "code with the most demand, after the mandi price shock.",
}
_ARROW = ("<div style='text-align:center;font-size:1.6rem;color:#94A3B8;padding-top:3.2rem'>"
          "→</div>")
_COLOURS = ["#0F766E", "#F59E0B", "#2563EB"]
# four tiles side by side: a smaller figure that wraps instead of ending in "..."
_TILE_STYLE = ("<style>[data-testid='stMetricValue'] {font-size: 1.7rem;} "
               "[data-testid='stMetricValue'] div {white-space: normal; overflow: visible; "
               "text-overflow: clip;}</style>")


# ---- formatting --------------------------------------------------------------------------
def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def amount(unit: str, value) -> str:
    """A step's figure: '2.35 lakh units', '₹12.40 lakh'."""
    if _missing(value):
        return "—"
    return units(value) if unit == "units" else inr_compact(value)


def change(unit: str, value) -> str:
    """A signed change: '+1,240 units', '-₹3.20 lakh', '0 units'."""
    if _missing(value):
        return "—"
    text = amount(unit, abs(value))
    return ("+" if value > 0 else "-" if value < 0 else "") + text


def step_change(step: dict) -> str | None:
    """'+1,240 units (+4.2%)' for a tile's delta; None when the step has no numbers."""
    if _missing(step.get("delta")):
        return None
    share = f" ({pct(step['delta_pct'])})" if not _missing(step.get("delta_pct")) else ""
    return change(step["unit"], step["delta"]) + share


def step_metric(step: dict, label: str | None = None, where=st) -> None:
    """One step as a metric: the scenario's figure, its change against the baseline, the
    baseline and the step's reason below."""
    where.metric(label or step["label"], amount(step["unit"], step.get("scenario")),
                 delta=step_change(step),
                 delta_color="normal" if step["step"] in ("demand", "pricing") else "off",
                 help=STEP_HELP.get(step["step"]))
    where.caption(f"Baseline {amount(step['unit'], step.get('baseline'))}  \n{_extra(step)}")
    where.caption(step.get("reason") or "")


def _extra(step: dict) -> str:
    """The step's second figure, for the scenario."""
    if step["step"] == "demand" and not _missing(step.get("delta_inr")):
        return f"Revenue change {change('₹', step['delta_inr'])}"
    if step["step"] == "pricing" and not _missing(step.get("scenario_revenue")):
        return f"Scenario revenue {inr_compact(step['scenario_revenue'])}"
    if step["step"] == "reorder" and not _missing(step.get("scenario_fill_rate")):
        return f"Scenario fill rate {pct(step['scenario_fill_rate'], signed=False)}"
    if step["step"] == "sourcing" and not _missing(step.get("scenario_qtl")):
        return f"Scenario need {indian_grouping(step['scenario_qtl'], 1)} quintals"
    return ""


def assumptions_text(a: Assumptions) -> str:
    """'price -10%, promotion on, rainfall -3 mm/day vs normal' (what differs from the
    baseline), in words."""
    words = {"price_change_pct": lambda v: f"price {v:+g}%",
             "promo": lambda v: "promotion on" if v else "no promotion",
             "plan_version": lambda v: f"price plan version {v}",
             "demand_shock_pct": lambda v: f"demand {v:+g}%",
             "temp_anomaly_c": lambda v: f"temperature {v:+g} °C vs normal",
             "rain_anomaly_mm": lambda v: f"rainfall {v:+g} mm/day vs normal",
             "festival_intensity": lambda v: f"festivals x{v:g}",
             "lead_time_change_days": lambda v: f"lead times {v:+d} days",
             "service_level": lambda v: f"service level {v:.1%}",
             "budget_inr": lambda v: f"budget {inr_compact(v)}",
             "mandi_price_shock_pct": lambda v: f"mandi prices {v:+g}%"}
    changed = a.changed()
    if not changed:
        return "no assumption changed (the baseline)"
    return ", ".join(words[k](v) for k, v in changed.items() if k in words)


def step_of(result, name: str) -> dict:
    return next(s for s in result.steps if s["step"] == name)


# ---- the chain ---------------------------------------------------------------------------
def flow(result) -> None:
    """Demand -> Margin -> Orders -> Mandi buying, one bordered tile each."""
    st.html(_TILE_STYLE)
    cols = st.columns([10, 1, 10, 1, 10, 1, 10], vertical_alignment="top")
    for i, name in enumerate(STEP_NAMES):
        step = step_of(result, name)
        with cols[2 * i].container(border=True):
            step_metric(step, f"{i + 1}. {step['label']}")
        if i < 3:
            cols[2 * i + 1].markdown(_ARROW, unsafe_allow_html=True)


def demand_figure(result) -> go.Figure:
    """Baseline and scenario demand per forecast period, each with its 95% band."""
    p = result.demand["periods"].sort_values("date")
    x = pd.to_datetime(p["date"])
    fig = go.Figure()
    for name, mid, lo, hi, colour, fill in (
            ("Baseline", "baseline", "lo", "hi", "#94A3B8", "rgba(148,163,184,0.20)"),
            ("Scenario", "scenario", "scenario_lo", "scenario_hi", "#0F766E",
             "rgba(15,118,110,0.18)")):
        fig.add_trace(go.Scatter(x=x, y=p[hi], mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip", name=f"{name} high"))
        fig.add_trace(go.Scatter(x=x, y=p[lo], mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=fill, name=f"{name} range (95%)", hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=x, y=p[mid], mode="lines+markers", name=name, line={"color": colour, "width": 2},
            customdata=[[units(v), units(a), units(b), dd_mmm(d, with_year=True)]
                        for v, a, b, d in zip(p[mid], p[lo], p[hi], x)],
            hovertemplate=f"{name}: %{{customdata[0]}}<br>range %{{customdata[1]}} to "
                          "%{customdata[2]}<extra>%{customdata[3]}</extra>"))
    period = "week" if result.grain == "W" else "day"
    fig.update_layout(title={"text": f"Demand per {period}: baseline and scenario"},
                      height=360, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0,
                              "xanchor": "right", "x": 1})
    fig.update_xaxes(tickformat="%d-%b")
    fig.update_yaxes(title_text="Units", rangemode="tozero", tickformat=",.0f")
    return fig


def demand_detail(result) -> None:
    st.plotly_chart(demand_figure(result), width="stretch", key=f"scn_dem_{id(result)}")
    by = result.demand["by_category"].assign(
        change_units=lambda d: d["scenario_units"] - d["baseline_units"])
    show_table(by, kinds={"baseline_units": "units", "scenario_units": "units",
                          "change_units": "units"})
    lv = result.demand["levers"]
    parts = [f"{k} {v - 1:+.1%}" for k, v in (
        ("price", lv["price"]), ("promotion", lv["promo"]), ("weather", lv["weather"]),
        ("festivals", lv["festival"]), ("demand shock", lv["shock"]))]
    st.caption("Effect of each lever on demand (forecast-weighted): " + ", ".join(parts) + ".")


def pricing_detail(result) -> None:
    by = result.pricing["by_sku"]
    cols = ["name", "category", "baseline_price", "scenario_price", "baseline_units",
            "scenario_units", "baseline_revenue", "scenario_revenue", "baseline_margin",
            "scenario_margin", "delta_margin"]
    show_table(by[cols].rename(columns={"name": "Product", "delta_margin": "change_in_margin"}),
               kinds={"baseline_price": "money", "scenario_price": "money",
                      "baseline_units": "units", "scenario_units": "units",
                      "baseline_revenue": "money", "scenario_revenue": "money",
                      "baseline_margin": "money", "scenario_margin": "money",
                      "change_in_margin": "money"})
    st.caption("Prices are averages over the periods, weighted by baseline units. Margin = "
               "units x (selling price - unit cost).")


def reorder_detail(result) -> None:
    r = result.reorder
    if not r.get("available"):
        st.info(r.get("note") or "No inventory to plan from.", icon=":material/inventory_2:")
        return
    lines = r["lines"]
    cols = ["name", "pin_code", "city", "urgency", "on_hand", "baseline_order_qty",
            "order_qty", "delta_order_qty", "order_value", "stockout_date", "reason"]
    show_table(lines[cols].rename(columns={
        "name": "Product", "order_qty": "scenario_order_qty",
        "order_value": "scenario_order_value", "stockout_date": "runs_out",
        "delta_order_qty": "change_in_order_qty"}),
        kinds={"on_hand": "units", "baseline_order_qty": "units",
               "scenario_order_qty": "units", "change_in_order_qty": "units",
               "scenario_order_value": "money"})
    if r.get("note"):
        st.caption(r["note"])


def sourcing_detail(result) -> None:
    s = result.sourcing
    tab = s["table"]
    if tab is None or tab.empty:
        st.info(s.get("note") or "Nothing to buy at mandis.", icon=":material/agriculture:")
    else:
        cols = ["commodity", "baseline_order_qtl", "scenario_order_qtl", "destination",
                "mandi", "mandi_state", "baseline_landed", "scenario_landed",
                "baseline_cost", "scenario_cost", "delta_cost", "note"]
        show_table(tab[cols].rename(columns={
            "mandi": "Best mandi", "baseline_landed": "baseline_landed_inr_per_qtl",
            "scenario_landed": "scenario_landed_inr_per_qtl", "delta_cost": "change_in_cost"}),
            kinds={"baseline_order_qtl": "units", "scenario_order_qtl": "units",
                   "baseline_landed_inr_per_qtl": "money",
                   "scenario_landed_inr_per_qtl": "money", "baseline_cost": "money",
                   "scenario_cost": "money", "change_in_cost": "money"})
        st.caption("Landed price = the mandi's modal price (after the mandi price shock) + "
                   "transport to the destination PIN code, per quintal (100 kg).")
    un = s.get("unlinked")
    if un is not None and len(un):
        with st.expander(f"{len(un)} products could not be linked to a mandi commodity"):
            show_table(un[[c for c in ("sku_id", "name", "category", "link_note")
                           if c in un.columns]].rename(columns={"link_note": "Why"}))


@st.fragment
def details(result) -> None:
    """One tab per step. Only the open tab is drawn (a hidden tab's chart and tables cost
    the browser their rendering on every view); opening another reruns just this part."""
    tabs = st.tabs(["Demand", "Margin by product", "Orders", "Mandi buying"],
                   key="scn_tabs", on_change="rerun")
    for tab, draw in zip(tabs, (demand_detail, pricing_detail, reorder_detail,
                                sourcing_detail)):
        with tab:
            if tab.open:
                draw(result)


# ---- comparison --------------------------------------------------------------------------
def compare_frame(results: list) -> pd.DataFrame:
    """One row per step; per scenario its figure and its change against its baseline (a
    baseline column per distinct selection)."""
    out = []
    baselines: dict[str, str] = {}
    for r in results:
        baselines.setdefault(r.scenario.selection.label(), r.scenario.name)
    for name in STEP_NAMES:
        row = {}
        for r in results:
            step = step_of(r, name)
            row["Step"] = step["label"]
            sel = r.scenario.selection.label()
            col = "Baseline" if len(baselines) == 1 else f"Baseline ({sel})"
            row.setdefault(col, amount(step["unit"], step.get("baseline")))
            row[r.scenario.name] = amount(step["unit"], step.get("scenario"))
            row[f"{r.scenario.name}: change"] = step_change(step) or "—"
            row[f"{r.scenario.name}: change (₹)"] = change("₹", step.get("delta_inr"))
        out.append(row)
    return pd.DataFrame(out)


def compare_figure(results: list) -> go.Figure:
    """Change in ₹ by step, one bar per scenario (demand as its revenue change)."""
    from components.charts import axis_scale

    vals = [abs(step_of(r, n).get("delta_inr") or 0) for r in results for n in STEP_NAMES]
    div, label = axis_scale(max(vals) if vals else 0, "revenue")
    label = label.replace("Revenue", "Change")
    labels = {"demand": "Demand (revenue)", "pricing": "Margin", "reorder": "Orders",
              "sourcing": "Mandi buying"}
    fig = go.Figure()
    for i, r in enumerate(results):
        ys = [step_of(r, n).get("delta_inr") for n in STEP_NAMES]
        fig.add_trace(go.Bar(marker_color=_COLOURS[i % len(_COLOURS)],
            x=[labels[n] for n in STEP_NAMES], y=[(y or 0) / div for y in ys], name=r.scenario.name,
            customdata=[change("₹", y) for y in ys],
            hovertemplate="%{x}: %{customdata}<extra>" + r.scenario.name.replace("<", "")
                          + "</extra>"))
    fig.update_layout(barmode="group", title={"text": "Change against the baseline, in ₹"},
                      height=360, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0,
                              "xanchor": "right", "x": 1})
    fig.update_yaxes(title_text=label, zeroline=True, tickformat=",.1~f")
    return fig


# ---- the form ----------------------------------------------------------------------------
F = "scn_f_"          # widget keys of the build form
_FIELDS = ("name", "categories", "skus", "states", "cities", "pins", "dates", "price",
           "promo", "plan", "shock", "temp", "rain", "festival", "lead", "service", "budget",
           "mandi")


@dataclass(frozen=True)
class FormOptions:
    categories: list[str]
    skus: dict[str, str]           # sku_id -> "name (sku_id)"
    states: list[str]
    cities: list[str]
    pins: dict[str, str]           # pin -> "pin · city"
    start: date
    end: date
    plans: dict[int, str]          # plan_version -> label


def form_options(series: pd.DataFrame, plans: pd.DataFrame | None) -> FormOptions:
    """Choices from the forecast series the viewer may see (already PIN-scoped; one row
    per series with its first_date and last_date, engine.scenarios.compute.series_choices)."""
    skus = series.drop_duplicates("sku_id").sort_values(["category", "name"])
    pins = series.drop_duplicates("pin_code").sort_values(["city", "pin_code"])
    plan_labels = {}
    if plans is not None:
        for p in plans[plans["plan_version"] > 0].itertuples():
            plan_labels[int(p.plan_version)] = (
                f"Version {p.plan_version}: {p.file_name or 'uploaded plan'}, "
                f"{dd_mmm(p.date_from, True)} to {dd_mmm(p.date_to, True)}")
    return FormOptions(
        categories=sorted(series["category"].dropna().astype(str).unique()),
        skus={str(r.sku_id): f"{r.name} ({r.sku_id})" for r in skus.itertuples()},
        states=sorted(series["state"].dropna().astype(str).unique()),
        cities=sorted(series["city"].dropna().astype(str).unique()),
        pins={str(r.pin_code): f"{r.pin_code} · {r.city}" for r in pins.itertuples()},
        start=pd.to_datetime(series["first_date"]).min().date(),
        end=pd.to_datetime(series["last_date"]).max().date(), plans=plan_labels)


def load_form(scenario: Scenario | None, opts: FormOptions) -> None:
    """Put a scenario's values (or the baseline's) into the form's widgets."""
    s = scenario or Scenario("New scenario")
    sel, a = s.selection, s.assumptions
    ok = lambda values, allowed: [v for v in values if v in allowed]  # noqa: E731
    start = max(sel.start or opts.start, opts.start)
    end = min(sel.end or opts.end, opts.end)
    if start > end:
        start, end = opts.start, opts.end
    st.session_state.update({
        F + "name": s.name if scenario else "",
        F + "categories": ok(sel.categories, opts.categories),
        F + "skus": ok(sel.skus, opts.skus), F + "states": ok(sel.states, opts.states),
        F + "cities": ok(sel.cities, opts.cities), F + "pins": ok(sel.pins, opts.pins),
        F + "dates": (start, end), F + "price": float(a.price_change_pct),
        F + "promo": a.promo,
        F + "plan": a.plan_version if a.plan_version in opts.plans else 0,
        F + "shock": float(a.demand_shock_pct), F + "temp": float(a.temp_anomaly_c),
        F + "rain": float(a.rain_anomaly_mm), F + "festival": float(a.festival_intensity),
        F + "lead": int(a.lead_time_change_days), F + "service": float(a.service_level * 100),
        F + "budget": a.budget_inr, F + "mandi": float(a.mandi_price_shock_pct)})


def scenario_form(opts: FormOptions, can_save: bool, can_overwrite: bool,
                  why_not: str | None) -> tuple[str | None, Scenario | None, str | None]:
    """The build form. Returns (action, scenario, error): action is "show", "save" or
    "save_as" when a button was pressed; the scenario built from the inputs, or the
    sentence saying what is wrong with them."""
    with st.form("scn_form", border=True):
        st.text_input("Scenario name", key=F + "name", max_chars=80,
                      placeholder="e.g. Diwali oils -10% in Maharashtra, weak monsoon")
        st.markdown("**What it applies to** (leave a box empty for all)")
        c = st.columns(3)
        c[0].multiselect("Categories", opts.categories, key=F + "categories",
                         placeholder="All categories")
        c[1].multiselect("Products", list(opts.skus), key=F + "skus",
                         format_func=lambda s: opts.skus.get(s, s), placeholder="All products",
                         help="SKUs; narrows the categories further.")
        c[2].date_input("Dates", key=F + "dates", min_value=opts.start, max_value=opts.end,
                        format="DD/MM/YYYY",
                        help=f"Within the forecast horizon ({dd_mmm(opts.start, True)} to "
                             f"{dd_mmm(opts.end, True)}); periods outside keep the baseline.")
        c = st.columns(3)
        c[0].multiselect("States", opts.states, key=F + "states", placeholder="All states")
        c[1].multiselect("Cities", opts.cities, key=F + "cities", placeholder="All cities")
        c[2].multiselect("PIN codes", list(opts.pins), key=F + "pins",
                         format_func=lambda p: opts.pins.get(p, p),
                         placeholder="All PIN codes you can see")
        st.markdown("**Price and promotion**")
        c = st.columns(3)
        c[0].slider("Price change (%)", -50.0, 50.0, step=1.0, key=F + "price", format="%+.0f%%",
                    help="Against the planned selling price. Demand follows each product's "
                         "own-price elasticity (Pricing page).")
        c[1].selectbox("Price / promotion plan", [0, *opts.plans], key=F + "plan",
                       format_func=lambda v: opts.plans.get(v, "No plan"),
                       help="An uploaded plan version (Data page, kind: plan); the newest "
                            "matching row applies per product, place and date.")
        c[2].toggle("Run a promotion", key=F + "promo",
                    help="At the category's typical discount, with the promotion lift "
                         "estimated from your sales (forecast response curves).")
        st.markdown("**Demand, weather and festivals**")
        c = st.columns(4)
        c[0].slider("Demand shock (%)", -90.0, 200.0, step=1.0, key=F + "shock", format="%+.0f%%",
                    help="Any other change in demand, on top of the levers.")
        c[1].slider("Temperature vs normal (°C)", -10.0, 10.0, step=0.5, key=F + "temp",
                    format="%+.1f °C",
                    help="Temperature anomaly; the category's temperature response.")
        c[2].slider("Rainfall vs normal (mm/day)", -30.0, 30.0, step=1.0, key=F + "rain",
                    format="%+.0f mm",
                    help="Rainfall anomaly (a weak monsoon is negative).")
        c[3].slider("Festival intensity", 0.0, 3.0, step=0.1, key=F + "festival", format="%.1f x",
                    help="1 = festivals as usual, 0 = no festival effect, 2 = twice the "
                         "usual uplift (the forecast's festival uplift).")
        st.markdown("**Ordering and buying**")
        c = st.columns(4)
        c[0].number_input("Supplier lead time change (days)", -30, 60, step=1, key=F + "lead",
                          help="Added to every supplier's lead time.")
        c[1].slider("Service level (%)", 50.0, 99.9, step=0.5, key=F + "service", format="%.1f%%",
                    help="Share of demand the reorder plan aims to serve from stock "
                         "(cycle service level behind the safety stock).")
        c[2].number_input("Purchase budget (₹)", min_value=0.0, step=10000.0, key=F + "budget",
                          placeholder="No limit",
                          help="Leave empty for no limit; with a budget the orders come from "
                               "the budget optimiser (MILP).")
        c[3].slider("Mandi price change (%)", -50.0, 200.0, step=1.0, key=F + "mandi",
                    format="%+.0f%%",
                    help="Shock on the mandis' modal prices.")
        b = st.columns([2, 2, 2, 5])
        show = b[0].form_submit_button("Show the chain", type="primary",
                                       icon=":material/play_arrow:")
        save = b[1].form_submit_button("Save", disabled=not (can_save and can_overwrite),
                                       icon=":material/save:",
                                       help=why_not or "Save the changes to this scenario "
                                                       "(or save it, if it is new).")
        save_as = b[2].form_submit_button("Save as new", disabled=not can_save,
                                          icon=":material/content_copy:",
                                          help=why_not or "Keep a copy under the name above.")
    action = "show" if show else "save" if save else "save_as" if save_as else None
    scenario, err = form_scenario(opts)
    return action, scenario, err


def form_scenario(opts: FormOptions) -> tuple[Scenario | None, str | None]:
    """The scenario the form's widgets describe, or the sentence saying what is wrong."""
    g = lambda k: st.session_state.get(F + k)  # noqa: E731
    dates = g("dates") or ()
    start, end = (list(dates) + [None, None])[:2] if isinstance(dates, (list, tuple)) \
        else (dates, dates)
    # The whole horizon is stored as "no dates", so the scenario follows later forecasts.
    start = None if start in (None, opts.start) else start
    end = None if end in (None, opts.end) else end
    try:
        return Scenario(
            name=g("name") or "Unsaved scenario",
            selection=Selection(categories=g("categories") or (), skus=g("skus") or (),
                                states=g("states") or (), cities=g("cities") or (),
                                pins=g("pins") or (), start=start, end=end),
            assumptions=Assumptions(
                price_change_pct=g("price") or 0.0, promo=bool(g("promo")),
                plan_version=g("plan") or None, demand_shock_pct=g("shock") or 0.0,
                temp_anomaly_c=g("temp") or 0.0, rain_anomaly_mm=g("rain") or 0.0,
                festival_intensity=1.0 if g("festival") is None else g("festival"),
                lead_time_change_days=g("lead") or 0,
                service_level=(g("service") or 95.0) / 100.0,
                budget_inr=g("budget") or None,
                mandi_price_shock_pct=g("mandi") or 0.0)), None
    except ScenarioError as exc:
        return None, Problem.of(exc)


# ---- the saved list ----------------------------------------------------------------------
def base_version(version) -> str:
    return str(version or "").split("|scope:")[0]


def saved_frame(rows: pd.DataFrame, current_version: str) -> pd.DataFrame:
    """Name, author, created / edited dates (DD-MMM-YYYY), and whether the data changed
    since the scenario was last computed."""
    out = []
    for r in rows.itertuples():
        stored = r.data_version if isinstance(r.data_version, str) else None
        status = ("Not computed yet" if not stored else
                  "Up to date" if base_version(stored) == base_version(current_version)
                  else "Data changed since")
        out.append({"Scenario": r.name, "Author": r.created_by or "—",
                    "Created": dd_mmm(r.created_at, True),
                    "Edited": dd_mmm(r.updated_at, True) + (
                        f" by {r.updated_by}" if r.updated_by and r.updated_by != r.created_by
                        else ""),
                    "Numbers": status})
    return pd.DataFrame(out, columns=["Scenario", "Author", "Created", "Edited", "Numbers"])


def saved_table(rows: pd.DataFrame, current_version: str) -> None:
    st.dataframe(saved_frame(rows, current_version), hide_index=True, width="stretch",
                 column_config={"Numbers": st.column_config.TextColumn(
                     "Numbers", help="Whether the sales, stock, forecast, plan, mandi, "
                                     "festival or weather data changed since the scenario's "
                                     "numbers were last computed (its stored data version).")})


# ---- on the other pages ------------------------------------------------------------------
def pin_deltas(result) -> pd.DataFrame:
    """Per PIN code: baseline and scenario units and revenue (from the result's rows)."""
    rows = result.demand["rows"]
    fac = result.factors
    price = rows["price"].astype(float)
    d = rows.assign(baseline_revenue=(rows["forecast"] * price).fillna(0),
                    scenario_revenue=(rows["scenario"] * price *
                                      fac["price_factor"].to_numpy(float)).fillna(0))
    out = d.groupby(["pin_code", "city", "state"], as_index=False, dropna=False)[
        ["forecast", "scenario", "baseline_revenue", "scenario_revenue"]].sum() \
        .rename(columns={"forecast": "baseline_units", "scenario": "scenario_units"})
    out["change_units"] = out["scenario_units"] - out["baseline_units"]
    out["change_revenue"] = out["scenario_revenue"] - out["baseline_revenue"]
    return out.sort_values("change_units", key=abs, ascending=False).reset_index(drop=True)


def page_section(result, page: str, wh=None) -> None:
    """What a page shows of a scenario (below its banner), from the same result."""
    labels = {"demand": "Scenario demand", "pricing": "Scenario margin",
              "reorder": "Scenario order value", "sourcing": "Scenario mandi buying"}
    want = {"Forecast": ("demand",), "Pricing": ("pricing", "demand"),
            "Reorder": ("reorder", "demand"), "Sourcing": ("sourcing", "reorder"),
            "Map": ("demand",)}.get(page, ("demand",))
    cols = st.columns(len(want))
    for col, name in zip(cols, want):
        with col:
            step_metric(step_of(result, name), labels[name])
    with st.expander("The scenario's numbers in detail", expanded=True):
        if page == "Forecast":
            demand_detail(result)
        elif page == "Pricing":
            pricing_detail(result)
        elif page == "Reorder":
            reorder_detail(result)
        elif page == "Sourcing":
            sourcing_detail(result)
        elif page == "Map":
            show_table(pin_deltas(result),
                       kinds={"baseline_units": "units", "scenario_units": "units",
                              "change_units": "units", "baseline_revenue": "money",
                              "scenario_revenue": "money", "change_revenue": "money"})
            st.caption("Per PIN code over the scenario's forecast periods; revenue at the "
                       "scenario's selling price.")
