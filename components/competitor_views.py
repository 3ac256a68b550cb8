"""Pricing page, "Competitor prices" section: the price index (our price vs the competitors'
per SKU, category or city and week), the review list of low-confidence product matches
(confirm, correct or mark as not ours; remembered for later uploads) and the competitive
cross-elasticity. Owns the cached accessors (keyed on the sales and competitor data
versions; a store user's handle carries the PIN scope)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.errors import attempt
from components.format import counted, dd_mmm, indian_grouping, inr
from components.tables import download_buttons, show_table
from engine.pricing.competitors import competitive_table, competitor_index
from engine.pricing.elasticity import PricingError
from engine.pricing.inputs import load_catalog
from engine.warehouse.competitors import (CompetitorMatchError, decide_match, match_summary,
                                          review_list)

LEVELS = {"SKU": "sku", "Category": "category", "City": "city"}
USED = ("auto", "confirmed", "corrected")
NOT_OURS = "Not one of ours"
STATUS_TEXT = {"review": "Waiting for review", "auto": "Matched automatically",
               "confirmed": "Confirmed", "corrected": "Corrected"}


@st.cache_data(show_spinner=False, max_entries=8)
def _summary(_wh, version: str) -> dict:
    return match_summary(_wh)


@st.cache_data(show_spinner="Comparing prices...", max_entries=8)
def _index(_wh, version: str, level: str, weeks: int) -> pd.DataFrame:
    return competitor_index(_wh, level, weeks)


@st.cache_data(show_spinner=False, max_entries=4)
def _review(_wh, version: str, everything: bool) -> pd.DataFrame:
    return review_list(_wh, 2000, USED + ("review",) if everything else ("review",))


@st.cache_data(show_spinner=False, max_entries=4)
def _sku_labels(_wh, version: str) -> dict[str, str]:
    cat = load_catalog(_wh)
    return {r.sku_id: f"{r.sku_id} · {r.name}" for r in cat.itertuples()}


@st.cache_data(show_spinner="Estimating competitive cross-elasticity...", max_entries=2)
def _competitive(_wh, version: str) -> pd.DataFrame:
    return competitive_table(_wh)


def section(wh, user: str | None) -> None:
    """The whole section (the page calls this once)."""
    version = wh.data_version("sales", "competitors")
    s = _summary(wh, version)
    if not s["rows"]:
        st.info("No competitor prices yet. Upload a competitor price file on the Data page "
                "(kind 'Competitor prices': competitor, item name or code, PIN code or city, "
                "date, price, in stock).", icon=":material/storefront:")
        return
    matched = s["auto"] + s["confirmed"] + s["corrected"]
    st.caption(f"{counted(s['rows'], 'competitor price')}; {counted(matched, 'item')} "
               f"matched to our SKUs, {counted(s['review'], 'waits', 'wait')} for review, "
               f"{counted(s['none'] + s['rejected'], 'is', 'are')} not ours.")
    index_tab, review_tab, cross_tab = st.tabs(
        ["Price index", f"Match review ({s['review']})", "Cross-elasticity"])
    with index_tab:
        _index_view(wh, version)
    with review_tab:
        _review_view(wh, version, user)
    with cross_tab:
        _cross_view(wh, wh.data_version("sales", "festivals", "competitors"))


def _label(table: pd.DataFrame, level: str) -> pd.Series:
    if level == "sku":
        return table["sku_id"] + " · " + table["name"].fillna("")
    return table[level].astype(str)


def _index_view(wh, version: str) -> None:
    c1, c2 = st.columns([2, 1])
    level = LEVELS[c1.radio("Compare by", list(LEVELS), horizontal=True, key="cp_level")]
    weeks = c2.number_input("Weeks", 4, 104, 26, step=4, key="cp_weeks")
    table = _index(wh, version, level, int(weeks))
    if table.empty:
        st.info("No week has both our sales and a matched competitor price for the same "
                "SKU and city.")
        return
    table = table.assign(label=_label(table, level))
    groups = sorted(table["label"].unique())
    wanted = st.query_params.get("sku_id")
    start = next((i for i, g in enumerate(groups) if wanted and g.startswith(f"{wanted} ")), 0)
    pick = st.selectbox("Show", groups, index=start, key=f"cp_pick_{level}")
    st.plotly_chart(index_figure(table[table["label"] == pick], pick), width="stretch")
    latest = table.sort_values("week").groupby("label").tail(1).sort_values("index",
                                                                            ascending=False)
    st.caption("Latest week per row. Price index = 100 x our average selling price / the "
               "competitors' average for the same SKU, city and week: above 100 we are "
               "dearer. Categories and cities weigh each SKU x city by our units.")
    shown = latest.assign(**{c: [f"{v:.1f}" for v in latest[c]]
                             for c in ("index", "cheapest_index")})
    shown = shown[["label", "week", "our_price", "competitor_price", "cheapest_price",
                   "index", "cheapest_index"]].rename(columns={
                        "label": level.upper() if level == "sku" else level.title(),
                        "our_price": "Our price", "competitor_price": "Competitors' average",
                        "cheapest_price": "Cheapest competitor", "index": "Price index",
                        "cheapest_index": "Index vs cheapest"})
    show_table(shown, kinds={"Our price": "money", "Competitors' average": "money",
                             "Cheapest competitor": "money"})
    download_buttons(table.drop(columns="label"), "competitor_price_index", key="cp_dl")


def index_figure(rows: pd.DataFrame, title: str) -> go.Figure:
    """Our price, the competitors' average and the cheapest competitor per week (₹)."""
    rows = rows.sort_values("week")
    fig = go.Figure()
    for col, name, dash in (("our_price", "Our price", "solid"),
                            ("competitor_price", "Competitors' average", "dash"),
                            ("cheapest_price", "Cheapest competitor", "dot")):
        fig.add_trace(go.Scatter(
            x=rows["week"], y=rows[col], name=name, mode="lines+markers",
            line={"dash": dash}, customdata=[inr(v, 2) for v in rows[col]],
            text=[dd_mmm(w) for w in rows["week"]],
            hovertemplate="%{text}: %{customdata}<extra>" + name + "</extra>"))
    fig.update_layout(title=title, yaxis_title="₹ per unit", xaxis_title="Week",
                      height=340, margin={"t": 50, "b": 40}, legend={"orientation": "h"})
    fig.update_xaxes(tickformat="%d-%b")
    return fig


def _review_view(wh, version: str, user: str | None) -> None:
    everything = st.toggle("Also list matched items (to correct one)", key="cp_all",
                           help="Items matched automatically or by a person, besides those "
                                "waiting for review.")
    items = _review(wh, version, everything).reset_index(drop=True)
    if saved := st.session_state.pop("cp_saved", None):
        st.success(f"Saved {saved} It applies to every stored and later price of the item.")
    if items.empty:
        st.success("No competitor item waits for review: every item is matched or known "
                   "not to be ours.")
        return
    labels = _sku_labels(wh, wh.data_version("sales"))
    st.caption("These competitor items look like one of our SKUs, but not surely enough to "
               "use without a person. Pick an item, check the SKU it is (the suggestion is "
               "filled in) or choose 'Not one of ours', and save. Decisions are remembered "
               "for every later upload.")
    in_use = items["sku_id"].where(items["sku_id"].notna(), items["suggested_sku"])
    show_table(pd.DataFrame({
        "Competitor item": items["item_name"],
        "Match": items["status"].map(STATUS_TEXT).fillna(items["status"]),
        "SKU": [labels.get(s, "—") for s in in_use],
        "Confidence": (items["confidence"] * 100).round(0).astype(int).astype(str) + "%",
        "Why": items["why"], "Listed by": items["competitors"], "Prices": items["rows"],
        "Latest price": items["latest_price"]}), kinds={"Latest price": "money"})
    c1, c2 = st.columns(2)
    i = c1.selectbox("Competitor item", range(len(items)), key="cp_item",
                     format_func=lambda k: items["item_name"].iloc[k])
    options = [NOT_OURS, *labels.values()]
    suggested = labels.get(in_use.iloc[i], NOT_OURS)
    choice = c2.selectbox("It is", options, index=options.index(suggested),
                          key=f"cp_sku_{items['item_key'].iloc[i]}")
    if st.button("Save decision", key="cp_save", type="primary",
                 disabled=not allowed("upload"),
                 help=None if allowed("upload") else "Your role cannot change matches."):
        sku = None if choice == NOT_OURS else choice.split(" · ", 1)[0]
        try:
            status = decide_match(wh, items["item_key"].iloc[i], sku, user)
        except CompetitorMatchError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        st.session_state["cp_saved"] = f"'{items['item_name'].iloc[i]}': {status}."
        st.rerun()


def _cross_view(wh, version: str) -> None:
    st.caption("How our units respond to the cheapest competitor's price, holding our own "
               "price, promotions, festivals and weather (the elasticity model's controls). "
               "+0.3 means a 10% cut at the competitor costs us about 3% of units. SKUs "
               "without enough competitor history say so.")
    if not st.button("Estimate cross-elasticity", key="cp_cross_go") and \
            st.session_state.get("cp_cross") != version:
        return
    st.session_state["cp_cross"] = version
    table, err = attempt(_competitive, wh, version, expected=(PricingError,),
                         failed="The cross-elasticity could not be estimated")
    if err:
        st.info(err)
        return
    shown = table.assign(interval=[f"{lo:+.2f} to {hi:+.2f}" if pd.notna(lo) else "—"
                                   for lo, hi in zip(table["lo"], table["hi"])])
    show_table(shown[["sku_id", "name", "cross_elasticity", "interval", "weeks",
                      "note", "spec"]].rename(columns={"cross_elasticity": "Cross-elasticity",
                                                       "interval": "95% interval",
                                                       "weeks": "Weeks of competitor prices",
                                                       "spec": "Specification"}),
               kinds={"Cross-elasticity": "other"},
               column_config={"Specification": st.column_config.TextColumn(
                   "Specification", width="large",
                   help="How it was estimated; 'SE + x PPML-to-log-scale spread': how far "
                        "the estimate moves between the model's two ways of weighing weeks, "
                        "added to the interval.")})
