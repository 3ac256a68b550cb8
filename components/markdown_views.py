"""Markdowns on the Pricing page (every candidate, settings, the recommended path) and the
Reorder page ("plan a markdown" for a picked excess-stock line). Owns the cached accessors
(keyed on the data version, which carries a store user's PIN scope)."""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.errors import attempt
from components.format import dd_mmm, indian_grouping, inr, inr_compact, units
from components.tables import download_buttons
from engine.pricing.elasticity import PricingError
from engine.pricing.endings import DEFAULT_ENDINGS, PRICE_ENDINGS
from engine.pricing.markdown import (KINDS, SHELF_LIFE_DEFAULTS, MarkdownConfig, MarkdownError,
                                     MarkdownPlan, parse_shelf_life)
from engine.pricing.reasons import price_text
from engine.pricing.service import markdown_candidates, markdown_plan

DOMAINS = ("sales", "inventory", "forecasts", "festivals")
SALVAGE_CHOICES = ["Default"] + list(range(0, 101, 10))


def data_version(wh) -> str:
    return wh.data_version(*DOMAINS)


@st.cache_data(show_spinner="Finding stock that must go...", max_entries=8)
def candidates(_wh, version: str, as_of: date, cfg: MarkdownConfig):
    return markdown_candidates(_wh, as_of, cfg)


@st.cache_data(show_spinner="Planning the markdown...", max_entries=64)
def plan(_wh, version: str, sku_id: str, pin_code: str, as_of: date, cfg: MarkdownConfig):
    return markdown_plan(_wh, sku_id, pin_code, as_of, cfg)


def _attempt(fn, *args):
    return attempt(fn, *args, expected=(PricingError,),
                   failed="The markdown could not be planned")


def settings_form() -> MarkdownConfig:
    """The markdown rules; applied when the form is submitted (the last applied stay)."""
    with st.form("md_form"):
        c1, c2, c3 = st.columns(3)
        step = c1.number_input("Days per price step", 1, 28, 7, key="md_step",
                               help="How long each price holds before the next markdown")
        deepest = c2.slider("Deepest markdown (%)", 10, 80, 50, 5, key="md_max")
        salvage = c3.selectbox(
            "Value of stock left at the deadline (% of unit cost)", SALVAGE_CHOICES,
            key="md_salvage", help="Salvage value. Default: 0% for short-life stock (it "
                                   "spoils), 30% for seasonal stock (clearance outlet, "
                                   "supplier return or next season, net of holding cost)")
        c4, c5, c6 = st.columns(3)
        monotone = c4.checkbox("Never raise the price back", True, key="md_monotone",
                               help="Monotone path: each step's price is at or below the last")
        below = c5.checkbox("Allow prices below unit cost", False, key="md_below_cost",
                            help="Cost floor: off by default")
        endings = c6.selectbox(
            "Price endings", list(PRICE_ENDINGS), index=list(PRICE_ENDINGS).index(DEFAULT_ENDINGS),
            format_func=lambda k: PRICE_ENDINGS[k][:1].upper() + PRICE_ENDINGS[k][1:],
            key="md_endings")
        shelf = st.text_input(
            "Shelf life for categories the catalog gives none (days)", key="md_shelf",
            placeholder="e.g. Dairy=5, Bakery=3",
            help="Overrides the default table (" + ", ".join(
                f"{c} {d}" for c, d in SHELF_LIFE_DEFAULTS.items()) + " days); a SKU's own "
                "shelf life in the catalog always wins")
        if st.form_submit_button("Apply", disabled=not allowed("run_scenario")):
            try:
                st.session_state["md_cfg"] = MarkdownConfig(
                    step_days=int(step), max_discount=deepest / 100.0,
                    salvage_pct=None if salvage == "Default" else salvage / 100.0,
                    monotone=monotone, allow_below_cost=below, price_endings=endings,
                    shelf_life=parse_shelf_life(shelf)).validate()
            except MarkdownError as exc:
                st.error(str(exc), icon=":material/error:")
    return st.session_state.get("md_cfg", MarkdownConfig())


def candidates_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The candidate list in a manager's words: ₹ in Indian grouping, DD-MMM dates."""
    def maybe(fmt):
        return lambda v: "—" if pd.isna(v) else fmt(v)

    return pd.DataFrame({
        "Why it must go": frame["kind"].map(KINDS), "Name": frame["name"],
        "PIN code": frame["pin_code"], "City": frame["city"],
        "On shelf": frame["on_hand"].map(indian_grouping),
        "Sells by then at today's price": frame["expected_sales"].map(indian_grouping),
        "Excess": frame["excess_units"].map(indian_grouping),
        "Cost at risk": frame["value_at_risk"].map(inr_compact),
        "Sell by": frame["deadline"].map(dd_mmm),
        "Today's price": frame["price"].map(price_text),
        "First price": frame["first_price"].map(maybe(price_text)),
        "Lowest price": frame["lowest_price"].map(maybe(price_text)),
        "Sell-through": frame["sell_through"].map(maybe(lambda v: f"{v:.0%}")),
        "Margin gained": frame["gain"].map(maybe(inr_compact)),
        "Deadline": frame["why"], "SKU": frame["sku_id"]}).reset_index(drop=True)


_HELP = {
    "Sells by then at today's price": "Baseline demand forecast up to the deadline",
    "Excess": "Units still on the shelf at the deadline at today's price",
    "Cost at risk": "Excess units x unit cost",
    "Sell by": "Last selling day: shelf life from the stock count, or the clearance window "
               "after the festival season",
    "First price": "The recommended path's first step (today's price = no markdown yet)",
    "Sell-through": "Share of the stock the recommended path sells",
    "Margin gained": "Recovered margin of the path minus keeping today's price",
}
_RIGHT = ("On shelf", "Sells by then at today's price", "Excess", "Cost at risk",
          "Today's price", "First price", "Lowest price", "Sell-through", "Margin gained")


def candidates_table(frame: pd.DataFrame) -> pd.Series | None:
    """Every candidate; picking a row returns it."""
    config = {c: st.column_config.TextColumn(c, help=_HELP.get(c),
                                             alignment="right" if c in _RIGHT else None)
              for c in _HELP.keys() | set(_RIGHT)}
    config["Deadline"] = st.column_config.TextColumn("Deadline", width="large")
    event = st.dataframe(candidates_view(frame), hide_index=True, width="stretch", height=320,
                         key="md_table", on_select="rerun", selection_mode="single-row",
                         column_config=config)
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    return frame.iloc[rows[0]] if rows and rows[0] < len(frame) else None


def path_figure(p: MarkdownPlan) -> go.Figure:
    s = p.steps
    fig = go.Figure()
    fig.add_bar(x=s["start"], y=s["stock_left"], name="Stock left after the step",
                marker_color="#93C5FD", yaxis="y2",
                customdata=[units(v) for v in s["stock_left"]],
                hovertemplate="%{customdata} left<extra></extra>")
    fig.add_scatter(x=s["start"], y=s["price"], name="Price", mode="lines+markers",
                    line={"shape": "hv", "color": "#DC2626", "width": 3},
                    customdata=[price_text(v) for v in s["price"]],
                    hovertemplate="%{customdata}<extra>Price</extra>")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": -0.2},
                      yaxis={"title": "Price (₹)", "tickprefix": "₹", "rangemode": "tozero"},
                      yaxis2={"title": "Units left", "overlaying": "y", "side": "right",
                              "rangemode": "tozero", "showgrid": False})
    fig.update_xaxes(tickformat="%d-%b")
    return fig


def steps_view(p: MarkdownPlan) -> pd.DataFrame:
    s = p.steps
    return pd.DataFrame({
        "Step": s["step"], "From": s["start"].map(dd_mmm), "To": s["end"].map(dd_mmm),
        "Price": s["price"].map(price_text), "Off": s["discount"].map(lambda v: f"{v:.0%}"),
        "Expected sales": s["units"].map(units), "Revenue": s["revenue"].map(inr),
        "Stock left": s["stock_left"].map(units)})


def plan_readout(p: MarkdownPlan, label: str, key: str) -> None:
    """Tiles, the path as a chart and a table, and downloads."""
    t = p.totals
    c = st.columns(4)
    c[0].metric("Recovered margin", inr_compact(t["recovered_margin"]),
                f"{inr_compact(t['gain'])} vs today's price", border=True,
                help="Revenue + salvage of what is left - unit cost of the stock")
    c[1].metric("Sell-through", f"{t['sell_through']:.0%}",
                f"{t['sold'] / t['stock'] - t['keep_price_sold'] / t['stock']:+.0%} vs today's "
                "price", border=True)
    c[2].metric("Left at the deadline", units(t["left"]), border=True,
                help=f"Salvage value {inr(t['salvage'])}")
    c[3].metric("Days left", indian_grouping(p.line.days_left), border=True,
                help=f"Last selling day {dd_mmm(p.line.deadline)}")
    st.markdown(p.reason)
    st.plotly_chart(path_figure(p), width="stretch", key=f"{key}_chart")
    st.dataframe(steps_view(p), hide_index=True, width="stretch")
    st.caption(f"Elasticity {p.line.elasticity:.2f} (estimated from sales) · baseline: "
               f"{label} · prices: {PRICE_ENDINGS[p.config.price_endings]}.")
    download_buttons(p.steps, f"markdown_{p.line.sku_id}_{p.line.pin_code}", key=key)


def pricing_section(wh) -> None:
    """The Pricing page's Markdowns: settings, every candidate, the picked line's path."""
    cfg = settings_form()
    today = date.today()
    version = data_version(wh)
    found, err = _attempt(candidates, wh, version, today, cfg)
    if err:
        st.info(err, icon=":material/sell:")
        return
    frame, label = found
    if frame.empty:
        st.info("No stock must go: nothing short-life is expected to outlast its shelf life, "
                "and no festival season has just ended with stock left.")
        return
    pays = int((frame["gain"] > 0.5).sum())
    st.caption(f"{indian_grouping(len(frame))} lines hold short-life or end-of-season stock "
               f"that will not sell at today's price by its deadline "
               f"({inr_compact(frame['value_at_risk'].sum())} at cost); a markdown recovers "
               f"more margin on {indian_grouping(pays)} of them. Pick a line for its path.")
    row = candidates_table(frame)
    if row is None:
        return
    result, err = _attempt(plan, wh, version, row["sku_id"], row["pin_code"], today, cfg)
    if err:
        st.warning(err)
    else:
        plan_readout(*result, key="md_plan")


def reorder_action(wh, line: pd.Series | None) -> None:
    """'Plan a markdown' for a picked excess-stock line of the Reorder plan."""
    if line is None or not (line.get("overstock_units", 0) > 0 or line.get("expiry_units", 0) > 0):
        return
    left, right = st.columns([2, 1])
    on = left.toggle("Plan a markdown for this line", key="rp_markdown",
                     help="The price path that clears this line's excess stock for the most "
                          "margin (Pricing page → Markdowns has every candidate)")
    days = right.number_input("Clear within (days; 0 = shelf life or season)", 0, 365, 0,
                              key="rp_markdown_days",
                              help="Your own deadline, e.g. to clear overstock of a long-life "
                                   "item; salvage value 30% of cost")
    if not on:
        return
    cfg = MarkdownConfig(days_left=int(days) or None)
    result, err = _attempt(plan, wh, data_version(wh), str(line["sku_id"]),
                           str(line["pin_code"]), date.today(), cfg)
    if err:
        st.info(err, icon=":material/sell:")
    else:
        plan_readout(*result, key="rp_md_plan")
