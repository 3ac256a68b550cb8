"""Pricing page pieces: elasticity table, price-vs-demand chart, simulator widgets and
read-out, optimiser form and the recommended price list."""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.format import inr, inr_compact, units
from components.tables import download_buttons
from engine.pricing.optimize import OptimizeConfig, OptimizeResult
from engine.pricing.simulate import PriceChange, SimulationResult

ALL = "All"


def elasticity_table(table: pd.DataFrame) -> None:
    show = table[["sku_id", "name", "category", "elasticity", "lo", "hi", "sufficient",
                  "spec", "price_periods", "n_obs", "note"]]
    st.dataframe(show, hide_index=True, width="stretch", height=320, column_config={
        "sku_id": "SKU", "name": "Name", "category": "Category",
        "elasticity": st.column_config.NumberColumn("Elasticity", format="%.2f"),
        "lo": st.column_config.NumberColumn("95% low", format="%.2f"),
        "hi": st.column_config.NumberColumn("95% high", format="%.2f"),
        "sufficient": st.column_config.CheckboxColumn("Enough price variation"),
        "spec": st.column_config.TextColumn("Specification", width="large"),
        "price_periods": "Days / weeks with a price move of its own",
        "n_obs": "Observations", "note": "Note"})


def regional_table(table: pd.DataFrame) -> None:
    show = table[["sku_id", "name", "region", "elasticity", "lo", "hi", "sufficient",
                  "spec", "national_elasticity", "price_periods", "n_obs", "note"]]
    st.dataframe(show, hide_index=True, width="stretch", height=320, column_config={
        "sku_id": "SKU", "name": "Name", "region": "Region",
        "elasticity": st.column_config.NumberColumn("Elasticity", format="%.2f"),
        "lo": st.column_config.NumberColumn("95% low", format="%.2f"),
        "hi": st.column_config.NumberColumn("95% high", format="%.2f"),
        "sufficient": st.column_config.CheckboxColumn("Enough data in the region"),
        "spec": st.column_config.TextColumn("Specification", width="large"),
        "national_elasticity": st.column_config.NumberColumn("SKU (national)", format="%.2f"),
        "price_periods": "Days / weeks with a price move of its own",
        "n_obs": "Store-periods", "note": "Note"})


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
            customdata=part["date"].dt.strftime("%d-%b-%Y"),
            hovertemplate="%{customdata}<br>₹%{x:,.2f}: %{y:,.0f} units<extra></extra>"))
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


def simulation_readout(result: SimulationResult, baseline_label: str) -> None:
    t = result.totals
    cols = st.columns(3)
    for col, key, label, fmt in ((cols[0], "units", "Units", units),
                                 (cols[1], "revenue", "Revenue", inr_compact),
                                 (cols[2], "margin", "Margin", inr_compact)):
        col.metric(label, fmt(t[key]), delta=f"{t[f'{key}_change_pct'] * 100:+.1f}% vs baseline",
                   delta_color="off" if abs(t[f"{key}_change_pct"]) < 1e-12 else "normal")
        col.caption(f"Baseline {fmt(t[f'baseline_{key}'])}; 95% band "
                    f"{fmt(t[f'{key}_lo'])} – {fmt(t[f'{key}_hi'])}")
    st.caption(f"{result.changes[0].describe() if result.changes else 'No change'} · "
               f"{t['skus_changed']} SKU(s) affected · Baseline: {baseline_label}. Bands combine "
               "the elasticity's 95% interval with the baseline's prediction intervals.")
    if t["rows_changed"]:
        share = t.get("regional_rows", 0) / t["rows_changed"]
        st.caption(f"Elasticity used: the region's own value on {share:.0%} of the changed "
                   "store-days, the SKU's national value on the rest.")
    if "elasticity_used" in result.by_sku.columns and len(result.by_sku):
        with st.expander("Elasticity used per SKU"):
            st.dataframe(result.by_sku[["sku_id", "category", "elasticity_used"]],
                         hide_index=True, width="stretch", column_config={
                             "sku_id": "SKU", "category": "Category",
                             "elasticity_used": "Elasticity used (by region)"})


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
        snap = c6.checkbox("Snap to prices ending in 9", key="pr_opt_snap")
        submitted = st.form_submit_button("Optimise prices", type="primary",
                                          disabled=not allowed("run_scenario"))
    if not submitted:
        return None
    return OptimizeConfig(objective=objective, min_margin=min_margin / 100.0,
                          margin_scope="sku" if per_sku else "total",
                          max_change=max_change / 100.0,
                          volume_floor=floor / 100.0 if floor else None, snap_9=snap)


def recommendations(result: OptimizeResult, baseline_label: str) -> None:
    t = result.totals
    cols = st.columns(4)
    cols[0].metric("Margin", inr_compact(t["margin"]), f"{inr_compact(t['margin'] - t['baseline_margin'])} vs baseline")
    cols[1].metric("Revenue", inr_compact(t["revenue"]), f"{inr_compact(t['revenue'] - t['baseline_revenue'])} vs baseline")
    cols[2].metric("Units", units(t["units"]),
                   f"{(t['units'] / t['baseline_units'] - 1) * 100 if t['baseline_units'] else 0:+.1f}%")
    cols[3].metric("SKUs repriced", f"{t['skus_changed']} of {t['skus']}")
    st.caption(f"Solver: CBC, status {result.status}, {result.solve_seconds * 1000:,.0f} ms "
               f"(model built in {result.build_seconds * 1000:,.0f} ms). Baseline: {baseline_label}.")
    recs = result.recommendations
    st.dataframe(recs[["sku_id", "name", "category", "current_price", "recommended_price",
                       "change_pct", "units_change_pct", "margin_change", "reason"]],
                 hide_index=True, width="stretch", column_config={
                     "sku_id": "SKU", "name": "Name", "category": "Category",
                     "current_price": st.column_config.NumberColumn("Current ₹", format="₹%.2f"),
                     "recommended_price": st.column_config.NumberColumn("Recommended ₹", format="₹%.2f"),
                     "change_pct": st.column_config.NumberColumn("Change", format="percent"),
                     "units_change_pct": st.column_config.NumberColumn("Units", format="percent"),
                     "margin_change": st.column_config.NumberColumn("Margin Δ (horizon) ₹", format="₹%.0f"),
                     "reason": "Reason"})
    download_buttons(recs, "micropulse_price_recommendations", key="pr_recs")


def price_caption(row: pd.Series) -> str:
    return (f"Current price {inr(row['price'], 2)} · unit cost {inr(row['unit_cost'], 2)} · "
            f"MRP {inr(row['mrp'], 2)} · {row['note']} · Specification: {row['spec']}")
