"""Pricing page pieces: elasticity table, price-vs-demand chart, simulator widgets and
read-out, optimiser form and the recommended price list."""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.format import indian_grouping, inr, inr_compact, pct, units
from components.tables import download_buttons
from engine.pricing.endings import DEFAULT_ENDINGS, PRICE_ENDINGS
from engine.pricing.optimize import OptimizeConfig, OptimizeResult
from engine.pricing.reasons import price_text
from engine.pricing.simulate import PriceChange, SimulationResult

ALL = "All"


def _counts(values) -> list[str]:
    return [indian_grouping(v) for v in values]


def elasticity_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The per-SKU elasticity table with plain headers and grouped counts."""
    return pd.DataFrame({
        "SKU": table["sku_id"].to_numpy(), "Name": table["name"].fillna("").to_numpy(),
        "Category": table["category"].fillna("").to_numpy(),
        "Elasticity": table["elasticity"].round(2).to_numpy(),
        "95% low": table["lo"].round(2).to_numpy(), "95% high": table["hi"].round(2).to_numpy(),
        "Enough price variation": table["sufficient"].astype(bool).to_numpy(),
        "Specification": table["spec"].fillna("").to_numpy(),
        "Days / weeks with a price move of its own": _counts(table["price_periods"]),
        "Observations": _counts(table["n_obs"]), "Note": table["note"].fillna("").to_numpy()})


def regional_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The SKU x region elasticity table with plain headers and grouped counts."""
    return pd.DataFrame({
        "SKU": table["sku_id"].to_numpy(), "Name": table["name"].fillna("").to_numpy(),
        "Region": table["region"].to_numpy(),
        "Elasticity": table["elasticity"].round(2).to_numpy(),
        "95% low": table["lo"].round(2).to_numpy(), "95% high": table["hi"].round(2).to_numpy(),
        "Enough data in the region": table["sufficient"].astype(bool).to_numpy(),
        "Specification": table["spec"].fillna("").to_numpy(),
        "SKU (national)": table["national_elasticity"].round(2).to_numpy(),
        "Days / weeks with a price move of its own": _counts(table["price_periods"]),
        "Store-periods": _counts(table["n_obs"]), "Note": table["note"].fillna("").to_numpy()})


_ELASTICITY_HELP = {
    "Elasticity": st.column_config.NumberColumn(
        "Elasticity", format="%.2f", help="% change in units for a 1% price change: -1.5 "
        "means a 10% price cut sells about 15% more."),
    "Specification": st.column_config.TextColumn("Specification", width="large")}


def elasticity_table(table: pd.DataFrame) -> None:
    st.dataframe(elasticity_frame(table), hide_index=True, width="stretch", height=320,
                 column_config=_ELASTICITY_HELP)


def regional_table(table: pd.DataFrame) -> None:
    st.dataframe(regional_frame(table), hide_index=True, width="stretch", height=320,
                 column_config=_ELASTICITY_HELP)


def elasticity_caption(table: pd.DataFrame, regional: pd.DataFrame | None, by_region: bool) -> str:
    if by_region and regional is not None:
        return (f"{int(regional['sufficient'].sum())} of {len(regional)} SKU x region cells have "
                "enough data for their own estimate (shrunk towards the SKU's national value); "
                "the rest use the SKU's national value. The simulator uses a region's own value "
                "for stores in that region.")
    return (f"{int(table['sufficient'].sum())} of {len(table)} SKUs have enough price variation "
            "for their own estimate; the rest use their category's value. Only price moves a "
            "SKU's comparison group did not make count: common week effects (its own across "
            "its stores, else shared with its category) absorb chain-wide promotion weeks, "
            "seasons and shocks, and promotion flags, festivals and weather are controlled "
            "for. The Specification column says which design each estimate used.")


def sku_picker(table: pd.DataFrame) -> pd.Series:
    labels = (table["sku_id"] + " · " + table["name"].fillna("")).tolist()
    pick = st.selectbox("SKU", labels, key="pr_sku")
    return table.iloc[labels.index(pick)]


def demand_figure(points: pd.DataFrame, curve: pd.DataFrame, unit: str, row: pd.Series
                  ) -> go.Figure:
    fig = go.Figure()
    if len(curve):
        fig.add_trace(go.Scatter(x=curve["price"], y=curve["units_hi"], mode="lines",
                                 line={"width": 0}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=curve["price"], y=curve["units_lo"], mode="lines",
                                 line={"width": 0}, fill="tonexty", name="95% band",
                                 fillcolor="rgba(31,119,180,0.15)", hoverinfo="skip"))
    promo = points["promo"].astype(bool) if "promo" in points else pd.Series(False, index=points.index)
    for flag, name, colour in ((False, f"Regular-price {unit}s", "#7f7f7f"),
                               (True, f"Promotion {unit}s", "#ff7f0e")):
        part = points[promo == flag]
        fig.add_trace(go.Scatter(
            x=part["price"], y=part["quantity"], mode="markers", name=name,
            marker={"size": 6, "opacity": 0.6, "color": colour},
            customdata=[f"{d:%d-%b-%Y}<br>{price_text(p)}: {units(q)}" for d, p, q in
                        zip(part["date"], part["price"], part["quantity"])],
            hovertemplate="%{customdata}<extra></extra>"))
    if len(curve):
        fig.add_trace(go.Scatter(x=curve["price"], y=curve["units"], mode="lines",
                                 name=f"Fitted (elasticity {row['elasticity']:.2f})",
                                 line={"color": "#1f77b4", "width": 3}))
    fig.update_layout(title=f"Price vs units per {unit} — {row['sku_id']}", height=420,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(title="Price (₹)", tickprefix="₹")
    fig.update_yaxes(title=f"Units per {unit} (all PINs)", rangemode="tozero")
    return fig


def simulator_inputs(categories: list[str], states: list[str], start: date, end: date
                     ) -> PriceChange:
    c1, c2, c3 = st.columns([1, 1, 2])
    category = c1.selectbox("Category", [ALL] + categories, key="pr_sim_category")
    state = c2.selectbox("State", [ALL] + states, key="pr_sim_state")
    window = c3.slider("Dates", min_value=start, max_value=end, value=(start, end),
                       format="DD-MMM", key="pr_sim_dates")
    pct = st.slider("Price change (%)", min_value=-25, max_value=15, value=0, step=1,
                    key="pr_sim_pct")
    return PriceChange(pct=pct / 100.0, category=None if category == ALL else category,
                       state=None if state == ALL else state, start=window[0], end=window[1])


def _units_short(value: float) -> str:
    """'91,280' or '4.30 lakh' (the tile's label already says units)."""
    return units(value).removesuffix(" units")


_TILES = (("units", "Units", _units_short), ("revenue", "Revenue", inr_compact),
          ("margin", "Margin", inr_compact))


def simulation_readout(result: SimulationResult, baseline_label: str) -> None:
    """Three tiles for what the user changed (the rows the rule covers: its category, state
    and dates); the whole store's totals as a second line when that is not everything."""
    t = result.scope_totals or result.totals
    whole = result.totals
    partial = bool(result.scope_totals) and not result.scope_totals.get("whole_store", True)
    if partial:
        st.markdown(f"**For {result.scope_label}** · {indian_grouping(t['skus'])} SKU(s), "
                    f"the rows this change applies to")
    cols = st.columns(3)
    for col, (key, label, fmt) in zip(cols, _TILES):
        col.metric(label, fmt(t[key]), delta=f"{t[f'{key}_change_pct'] * 100:+.1f}% vs baseline",
                   delta_color="off" if abs(t[f"{key}_change_pct"]) < 1e-12 else "normal",
                   help=(f"{label} over the baseline horizon for {result.scope_label}."
                         if partial else f"{label} over the baseline horizon, every SKU and "
                         "store."), border=True)
        col.caption(f"Baseline {fmt(t[f'baseline_{key}'])}; 95% band "
                    f"{fmt(t[f'{key}_lo'])} – {fmt(t[f'{key}_hi'])}")
        if partial:
            col.caption(f"Whole store: {fmt(whole[key])} "
                        f"({pct(whole[f'{key}_change_pct'])} vs {fmt(whole[f'baseline_{key}'])})")
    st.caption(f"{result.changes[0].describe() if result.changes else 'No change'} · "
               f"{indian_grouping(t['skus_changed'])} SKU(s) affected · Baseline: "
               f"{baseline_label}. Bands combine the elasticity's 95% interval with the "
               "baseline's prediction intervals.")
    if whole["rows_changed"]:
        share = whole.get("regional_rows", 0) / whole["rows_changed"]
        st.caption(f"Elasticity used: the region's own value on {share:.0%} of the changed "
                   "store-days, the SKU's national value on the rest.")
    if "elasticity_used" in result.by_sku.columns and len(result.by_sku):
        with st.expander("Elasticity used per SKU"):
            st.dataframe(result.by_sku[["sku_id", "category", "elasticity_used"]].rename(
                columns={"sku_id": "SKU", "category": "Category",
                         "elasticity_used": "Elasticity used (by region)"}),
                hide_index=True, width="stretch")


def optimiser_form() -> OptimizeConfig | None:
    with st.form("pr_opt_form"):
        c1, c2, c3 = st.columns(3)
        objective = c1.radio("Maximise", ["margin", "revenue"], horizontal=True, key="pr_opt_obj")
        min_margin = c2.number_input("Minimum margin (% of revenue, price list)", 0, 60, 15,
                                     key="pr_opt_min_margin")
        max_change = c3.number_input("Maximum change per SKU (±%)", 1, 25, 10, key="pr_opt_max_change")
        c4, c5, c6 = st.columns(3)
        floor = c4.number_input("Category volume floor (% of baseline units, 0 = off)", 0, 100, 0,
                                key="pr_opt_floor")
        per_sku = c5.checkbox("Minimum margin on every SKU", key="pr_opt_per_sku")
        endings = c6.selectbox(
            "Price endings", list(PRICE_ENDINGS), index=list(PRICE_ENDINGS).index(DEFAULT_ENDINGS),
            format_func=lambda k: PRICE_ENDINGS[k][:1].upper() + PRICE_ENDINGS[k][1:],
            key="pr_opt_endings",
            help="The prices the list may use. The optimiser only picks prices with these "
                 "endings, so every rule (MRP, maximum change, margin) holds for the price "
                 "on the shelf label; nothing is rounded afterwards.")
        c7, c8, _ = st.columns(3)
        above = c7.number_input(
            "At most % above the cheapest competitor (blank = off)", 0.0, 100.0, value=None,
            step=1.0, key="pr_opt_above_cheapest",
            help="No price more than this above the cheapest competitor's latest stored "
                 "price for the SKU (SKUs without competitor prices are not bound).")
        within = c8.number_input(
            "Within ₹ of the cheapest competitor (blank = off)", 0.0, 10000.0, value=None,
            step=1.0, key="pr_opt_match_within",
            help="No price more than this many rupees above the cheapest competitor's "
                 "latest stored price (0 = match it or go below).")
        submitted = st.form_submit_button("Optimise prices", type="primary",
                                          disabled=not allowed("run_scenario"))
    if not submitted:
        return None
    return OptimizeConfig(objective=objective, min_margin=min_margin / 100.0,
                          margin_scope="sku" if per_sku else "total",
                          max_change=max_change / 100.0,
                          volume_floor=floor / 100.0 if floor else None,
                          above_cheapest=above / 100.0 if above is not None else None,
                          match_within=within, price_endings=endings)


def _signed_inr(value: float) -> str:
    return ("+" if value > 0 else "") + inr(value)


def recommendations_frame(recs: pd.DataFrame) -> pd.DataFrame:
    """The price list as shown: plain headers, prices to the paisa, ₹ in lakh grouping."""
    return pd.DataFrame({
        "SKU": recs["sku_id"].to_numpy(), "Name": recs["name"].fillna("").to_numpy(),
        "Category": recs["category"].to_numpy(),
        "Current price": [price_text(v) for v in recs["current_price"]],
        "Recommended price": [price_text(v) for v in recs["recommended_price"]],
        "Change": [pct(v) for v in recs["change_pct"]],
        "Units": [pct(v) for v in recs["units_change_pct"]],
        "Margin change (horizon)": [_signed_inr(v) for v in recs["margin_change"]],
        **({"Cheapest competitor": [price_text(v) if pd.notna(v) else "—"
                                    for v in recs["competitor_cheapest"]]}
           if "competitor_cheapest" in recs else {}),
        "Reason": recs["reason"].to_numpy()})


def recommendations_export(recs: pd.DataFrame) -> pd.DataFrame:
    """The price list for CSV / Excel: plain headers, prices in paise, money in whole rupees,
    units and percentages rounded to one decimal (numbers stay numbers)."""
    rupees = lambda c: recs[c].round(0).astype("int64")  # noqa: E731
    return pd.DataFrame({
        "SKU": recs["sku_id"].to_numpy(), "Name": recs["name"].fillna("").to_numpy(),
        "Category": recs["category"].to_numpy(),
        "Current price (₹)": recs["current_price"].round(2).to_numpy(),
        "Recommended price (₹)": recs["recommended_price"].round(2).to_numpy(),
        "Change (%)": (100 * recs["change_pct"]).round(1).to_numpy(),
        "Elasticity": recs["elasticity"].round(2).to_numpy(),
        "Baseline units": recs["baseline_units"].round(1).to_numpy(),
        "Expected units": recs["units"].round(1).to_numpy(),
        "Units change (%)": (100 * recs["units_change_pct"]).round(1).to_numpy(),
        "Baseline revenue (₹)": rupees("baseline_revenue").to_numpy(),
        "Expected revenue (₹)": rupees("revenue").to_numpy(),
        "Baseline margin (₹)": rupees("baseline_margin").to_numpy(),
        "Expected margin (₹)": rupees("margin").to_numpy(),
        "Margin change (₹)": rupees("margin_change").to_numpy(),
        "Rule that binds": recs["binding_rule"].to_numpy(),
        "Reason": recs["reason"].to_numpy()})


def recommendations(result: OptimizeResult, baseline_label: str) -> None:
    t = result.totals
    cols = st.columns(4)
    cols[0].metric("Margin", inr_compact(t["margin"]),
                   f"{inr_compact(t['margin'] - t['baseline_margin'])} vs baseline", border=True)
    cols[1].metric("Revenue", inr_compact(t["revenue"]),
                   f"{inr_compact(t['revenue'] - t['baseline_revenue'])} vs baseline",
                   border=True)
    cols[2].metric("Units", _units_short(t["units"]),
                   f"{(t['units'] / t['baseline_units'] - 1) * 100 if t['baseline_units'] else 0:+.1f}%",
                   border=True)
    cols[3].metric("SKUs repriced", f"{indian_grouping(t['skus_changed'])} of "
                   f"{indian_grouping(t['skus'])}", border=True)
    st.caption(f"Prices: {PRICE_ENDINGS[result.config.endings()]}. Solver: CBC, status "
               f"{result.status}, {indian_grouping(result.solve_seconds * 1000)} ms (model "
               f"built in {indian_grouping(result.build_seconds * 1000)} ms). Baseline: "
               f"{baseline_label}.")
    if t.get("skus_off_ending"):
        st.caption(f"{indian_grouping(t['skus_off_ending'])} SKU(s) keep today's price: no "
                   "price with these endings meets their rules (see the Reason column).")
    recs = result.recommendations
    st.dataframe(recommendations_frame(recs), hide_index=True, width="stretch",
                 column_config={"Reason": st.column_config.TextColumn("Reason", width="large")})
    download_buttons(recommendations_export(recs), "micropulse_price_recommendations",
                     key="pr_recs")


def price_caption(row: pd.Series) -> str:
    return (f"Current price {inr(row['price'], 2)} · unit cost {inr(row['unit_cost'], 2)} · "
            f"MRP {inr(row['mrp'], 2)} · {row['note']} · Specification: {row['spec']}")
