"""Widgets and renderers for the Reorder page (no maths: frames in, Streamlit out)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from components.format import dd_mmm, indian_grouping, inr, inr_compact, units
from components.maps import fit_view, label_layer, outline_layer
from components.tables import download_buttons

URGENCY = ["critical", "high", "medium", "low"]
RISK_COLOURS = [(26, 152, 80), (254, 224, 139), (244, 109, 67), (165, 0, 38)]


@dataclass(frozen=True)
class WhatIf:
    service_level: float
    lead_time_change_days: int
    demand_shock_pct: float
    budget: float | None


def whatif_inputs() -> WhatIf:
    """Sliders that re-plan instantly (the policy is vectorised and cached)."""
    with st.sidebar:
        st.subheader("What if")
        sl = st.slider("Service level (target fill rate)", 80.0, 99.5, 95.0, 0.5,
                       format="%.1f%%", key="rp_service_level",
                       help="Share of demand the plan aims to serve from stock.")
        lt = st.slider("Lead time change (days)", -3, 7, 0, 1, key="rp_lead_change")
        shock = st.slider("Demand shock (%)", -30, 50, 0, 5, key="rp_demand_shock")
        budget = st.number_input("Purchase budget (₹, 0 = no limit)", min_value=0,
                                 value=0, step=50_000, key="rp_budget")
    return WhatIf(float(sl) / 100.0, int(lt), float(shock), float(budget) or None)


def kpis(plan: pd.DataFrame) -> None:
    ordered = plan[plan["order_qty"] > 0]
    cols = st.columns(4)
    cols[0].metric("Lines to order", indian_grouping(len(ordered)))
    cols[1].metric("Units to order", indian_grouping(ordered["order_qty"].sum()))
    cols[2].metric("Order value", inr_compact(ordered["order_value"].sum()))
    cols[3].metric("Critical lines", indian_grouping(int((plan["urgency"] == "critical").sum())))


def plan_filters(plan: pd.DataFrame) -> pd.DataFrame:
    c1, c2, c3 = st.columns(3)
    urg = c1.multiselect("Urgency", URGENCY, default=["critical", "high"], key="rp_urgency",
                         format_func=str.title)
    cats = c2.multiselect("Category", sorted(plan["category"].dropna().unique()),
                          key="rp_category")
    cities = c3.multiselect("City", sorted(plan["city"].dropna().unique()), key="rp_city")
    keep = plan["urgency"].isin(urg) if urg else pd.Series(True, index=plan.index)
    if cats:
        keep &= plan["category"].isin(cats)
    if cities:
        keep &= plan["city"].isin(cities)
    return plan[keep]


def plan_table(plan: pd.DataFrame) -> None:
    if plan.empty:
        st.info("No lines match these filters.")
        return
    show = plan[["urgency", "sku_id", "name", "pin_code", "city", "on_hand", "on_order",
                 "safety_stock", "reorder_point", "order_qty", "order_value", "days_of_cover",
                 "stockout_date", "action", "reason"]].copy()
    counts = ["on_hand", "on_order", "safety_stock", "reorder_point", "order_qty"]
    show[counts] = show[counts].round() + 0.0          # whole units, and no '-0'
    show["urgency"] = show["urgency"].str.title()
    show["action"] = show["action"].str.title()
    show["order_value"] = show["order_value"].map(inr)
    show["stockout_date"] = show["stockout_date"].map(dd_mmm)
    show["days_of_cover"] = show["days_of_cover"].map(
        lambda d: "365+" if d != d or d >= 365 else f"{d:.1f}")
    count = st.column_config.NumberColumn
    st.dataframe(show, hide_index=True, width="stretch", height=360, column_config={
        "urgency": st.column_config.TextColumn("Urgency"),
        "sku_id": st.column_config.TextColumn("SKU"),
        "name": st.column_config.TextColumn("Name"),
        "pin_code": st.column_config.TextColumn("PIN code"),
        "city": st.column_config.TextColumn("City"),
        "on_hand": count("On hand", format="localized", help="Units on the shelf now"),
        "on_order": count("On order", format="localized", help="Units already ordered"),
        "safety_stock": count("Safety stock", format="localized"),
        "reorder_point": count("Reorder point", format="localized",
                               help="Order when stock on hand + on order reaches this"),
        "order_qty": count("Order qty", format="localized", help="Units to order now"),
        "order_value": st.column_config.TextColumn("Order value (₹)", alignment="right"),
        "days_of_cover": st.column_config.TextColumn("Days of cover", alignment="right"),
        "stockout_date": st.column_config.TextColumn("Stock-out", help="Expected stock-out day "
                                                     "without a new order"),
        "action": st.column_config.TextColumn("Action"),
        "reason": st.column_config.TextColumn("Reason", width="large"),
    })


def _risk_colour(risk: float) -> list[int]:
    i = min(int(risk * (len(RISK_COLOURS) - 1) + 0.5), len(RISK_COLOURS) - 1)
    return list(RISK_COLOURS[i]) + [210]


def risk_map(risk: pd.DataFrame, context=None) -> None:
    """Stock-out risk per PIN code as coloured circles, with city names and, when given,
    `context` area outlines (e.g. states) underneath."""
    pts = risk.dropna(subset=["lat", "lon"]).copy()
    if pts.empty:
        st.info("No PIN codes with map coordinates.")
        return
    pts["colour"] = pts["risk"].map(_risk_colour)
    pts["radius"] = 5 + (pts["lines"] / pts["lines"].max()) ** 0.5 * 12
    pts["risk_label"] = (pts["risk"] * 100).round().astype(int).astype(str) + "%"
    pts["value_label"] = pts["order_value"].map(inr_compact)
    pts["city"] = pts["city"].fillna("")
    layer = pdk.Layer("ScatterplotLayer", data=pts, get_position=["lon", "lat"],
                      get_radius="radius", radius_units="'pixels'", get_fill_color="colour",
                      get_line_color=[60, 60, 60, 160], line_width_min_pixels=0.5,
                      stroked=True, pickable=True)
    tooltip = {"html": "PIN <b>{pin_code}</b> · {city}<br/>Stock-out risk: <b>{risk_label}"
                       "</b><br/>{critical} critical, {high} high of {lines} lines<br/>"
                       "Orders needed: {value_label}",
               "style": {"backgroundColor": "#0F172A", "color": "white"}}
    view = fit_view(pts["lat"], pts["lon"])
    names = (pts[pts["city"] != ""].groupby("city", as_index=False)
             .agg(lat=("lat", "mean"), lon=("lon", "mean"), weight=("lines", "sum")))
    labels = label_layer(names, "city", view.zoom, "weight")
    under = [outline_layer(context)] if context is not None and len(context) else []
    st.pydeck_chart(pdk.Deck(layers=[*under, layer, labels], initial_view_state=view,
                             map_style=None, tooltip=tooltip))
    st.caption("Colour: share of a PIN's lines that are critical (counts fully) or high "
               "(half) — green none, red all. Size: number of lines.")


def line_picker(plan: pd.DataFrame) -> tuple[str, str] | None:
    if plan.empty:
        return None
    labels = [f"{r.sku_id} · {r.name} · {r.pin_code} ({r.city})"
              for r in plan.itertuples(index=False)]
    pick = st.selectbox("Line", range(len(labels)), format_func=lambda i: labels[i],
                        key="rp_line")
    row = plan.iloc[int(pick or 0)]
    return str(row["sku_id"]), str(row["pin_code"])


def stock_view(proj: pd.DataFrame, col: str) -> tuple[list[float], list[float]]:
    """Projected on-hand stock as a shelf sees it: never below zero (demand that finds an
    empty shelf is a lost sale, not negative stock), and the units lost up to each day."""
    raw = proj[col].astype(float).tolist()
    shelf, lost, prev_raw, prev = [], [], None, None
    total = 0.0
    for value in raw:
        start = value if prev is None else prev + (value - prev_raw)   # arrivals - demand
        total += max(-start, 0.0)
        prev, prev_raw = max(start, 0.0), value
        shelf.append(prev)
        lost.append(total)
    return shelf, lost


def line_title(plan: pd.DataFrame, sku_id: str, pin_code: str) -> str:
    """'Limca 750 ml (CB-0002) at 110071 (Delhi)' for the projection chart."""
    hit = plan[(plan["sku_id"] == sku_id) & (plan["pin_code"] == pin_code)]
    if hit.empty:
        return f"{sku_id} at {pin_code}"
    r = hit.iloc[0]
    name = f"{r['name']} ({sku_id})" if isinstance(r["name"], str) and r["name"] else sku_id
    city = f" ({r['city']})" if isinstance(r["city"], str) and r["city"] else ""
    return f"{name} at {pin_code}{city}"


def projection_figure(proj: pd.DataFrame, title: str) -> go.Figure:
    x = pd.to_datetime(proj["date"])
    fig = go.Figure()
    for col, name, line in (
            ("stock_with_order", "With the suggested order", dict(color="#2563EB", width=3)),
            ("stock_no_order", "Without a new order", dict(color="#DC2626", dash="dot"))):
        shelf, lost = stock_view(proj, col)
        fig.add_scatter(x=x, y=shelf, name=name, line=line,
                        customdata=[[units(v), units(l)] for v, l in zip(shelf, lost)],
                        hovertemplate="%{customdata[0]} on hand · lost sales so far "
                                      "%{customdata[1]}<extra>" + name + "</extra>")
    for col, name, line in (("reorder_point", "Reorder point", dict(color="#6B7280", dash="dash")),
                            ("safety_stock", "Safety stock", dict(color="#F59E0B", dash="dash"))):
        fig.add_scatter(x=x, y=proj[col], name=name, line=line,
                        customdata=[units(v) for v in proj[col]],
                        hovertemplate="%{customdata}<extra>" + name + "</extra>")
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis_title="Units on hand (expected)", xaxis_title=None,
                      legend=dict(orientation="h", y=-0.15), hovermode="x unified")
    fig.update_xaxes(tickformat="%d-%b", dtick=7 * 86400000, tickangle=0)
    fig.update_yaxes(rangemode="tozero")
    return fig


def optimiser_result(sol) -> None:
    gap = "—" if sol.gap is None else f"{sol.gap:.2%}"
    c = st.columns(4)
    c[0].metric("Solver status", sol.status)
    c[1].metric("Gap", gap)
    c[2].metric("Solve time", f"{sol.seconds:.1f} s")
    c[3].metric("Spend", inr_compact(sol.total_value))
    (st.error if sol.status in ("infeasible", "not solved") else st.success)(sol.explanation)


def purchase_orders(po: pd.DataFrame) -> None:
    if po.empty:
        st.info("Nothing to order with these settings.")
        return
    heads = po.groupby(["supplier", "city"], as_index=False).agg(
        lines=("qty", "size"), units=("qty", "sum"), value=("value", "sum")).sort_values(
        "value", ascending=False)
    heads["value"] = heads["value"].map(inr)
    st.dataframe(heads, hide_index=True, width="stretch", column_config={
        "supplier": st.column_config.TextColumn("Supplier"),
        "city": st.column_config.TextColumn("City"),
        "lines": st.column_config.NumberColumn("Lines", format="localized"),
        "units": st.column_config.NumberColumn("Units", format="localized"),
        "value": st.column_config.TextColumn("Order value (₹)", alignment="right"),
    })
    download_buttons(po, "purchase_orders", key="rp_po")
