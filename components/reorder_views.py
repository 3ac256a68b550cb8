"""Widgets and renderers for the Reorder page (no maths: frames in, Streamlit out)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from components.auth import allowed
from components.format import dd_mmm, indian_grouping, inr_compact, units
from components.maps import Deck, fit_view, label_layer, outline_layer
from components.tables import download_buttons

URGENCY = ["critical", "high", "medium", "low"]
RISK_COLOURS = [(26, 152, 80), (254, 224, 139), (244, 109, 67), (165, 0, 38)]


ACTION_WORDS = {"order": "Order", "reduce": "Hold orders", "redistribute": "Move stock",
                "promote": "Promote", "ok": "No action", "deferred": "Deferred (budget)"}
URGENCY_HELP = ("Critical: expected to run out before an order placed today could arrive "
                "(lead time), losing at least one unit of sales. High: stock on shelf + on "
                "order is at or below the reorder level, order now. Medium: reaches the "
                "reorder level within 7 days, or only an open order keeps the shelf stocked. "
                "Low: enough stock, or no sales expected.")


# What a manager reads first (what, where, why, what to do), then the numbers behind it.
COLUMN_ORDER = ("urgency", "name", "pin_code", "city", "reason", "order_qty", "order_value",
                "stockout_date", "days_of_cover", "sales_at_risk", "on_hand", "on_order",
                "reorder_point", "safety_stock", "action", "sku_id")


@dataclass(frozen=True)
class WhatIf:
    service_level: float
    lead_time_change_days: int
    demand_shock_pct: float
    budget: float | None          # the budget applied with 'Optimise within budget'


def whatif_inputs() -> WhatIf:
    """Sliders that re-plan instantly (the policy is vectorised and cached), and a budget
    that applies when its button is pressed (the optimiser is a solve, not a slider)."""
    with st.sidebar:
        st.subheader("What if")
        sl = st.slider("Service level (target fill rate)", 80.0, 99.5, 95.0, 0.5,
                       format="%.1f%%", key="rp_service_level",
                       help="Share of demand the plan aims to serve from stock.")
        lt = st.slider("Lead time change (days)", -3, 7, 0, 1, key="rp_lead_change")
        shock = st.slider("Demand shock (%)", -30, 50, 0, 5, key="rp_demand_shock")
        with st.form("rp_budget_form", border=False):
            budget = st.number_input("Purchase budget (₹, 0 = no limit)", min_value=0,
                                     value=0, step=50_000, key="rp_budget")
            if st.form_submit_button("Optimise within budget", type="primary",
                                     key="rp_optimise", disabled=not allowed("run_scenario"),
                                     help="Choose whole cases per line to lose the least "
                                          "sales within the budget (PuLP + CBC)."):
                st.session_state["rp_budget_applied"] = float(budget) or None
        applied = st.session_state.get("rp_budget_applied")
        if applied:
            st.caption(f"Budget applied: {inr_compact(applied)}. Set 0 and press the button "
                       "to plan without a budget.")
    return WhatIf(float(sl) / 100.0, int(lt), float(shock), applied)


def kpis(tiles: dict, budget: float | None = None) -> None:
    """Headline tiles, every figure summed from the rows of the plan shown (`plan_tiles`)."""
    cols = st.columns(5)
    cols[0].metric("Lines to order", indian_grouping(tiles["lines_to_order"]))
    cols[1].metric("Units to order", indian_grouping(tiles["units_to_order"]))
    cols[2].metric("Order value", inr_compact(tiles["order_value"]))
    unordered = tiles["critical_unordered"]
    cols[3].metric("Critical lines", indian_grouping(tiles["critical"]),
                   delta=(f"{indian_grouping(unordered)} without an order" if unordered else None),
                   delta_color="inverse", help=URGENCY_HELP.split(" High:")[0])
    cols[4].metric("Out of stock now", indian_grouping(tiles["out_of_stock_now"]),
                   help="Lines whose shelf is already empty (and that sell).")
    if budget:
        st.caption(f"Budget plan within {inr_compact(budget)}: the tiles, the plan, the map "
                   "and the purchase orders show the orders the budget funds.")


def plan_filters(plan: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines in the chosen categories and cities, those lines at the chosen urgencies)."""
    c1, c2, c3 = st.columns(3)
    urg = c1.multiselect("Urgency", URGENCY, default=["critical", "high"], key="rp_urgency",
                         format_func=str.title, help=URGENCY_HELP)
    cats = c2.multiselect("Category", sorted(plan["category"].dropna().unique()),
                          key="rp_category")
    cities = c3.multiselect("City", sorted(plan["city"].dropna().unique()), key="rp_city")
    keep = pd.Series(True, index=plan.index)
    if cats:
        keep &= plan["category"].isin(cats)
    if cities:
        keep &= plan["city"].isin(cities)
    scope = plan[keep]
    return scope, (scope[scope["urgency"].isin(urg)] if urg else scope)


def _whole(value) -> str:
    return indian_grouping(round(float(value))) if pd.notna(value) else "—"


def _lasts(days) -> str:
    """Days of cover as a manager reads it: '1.5 days', '12 days', 'Empty', 'Over a year'."""
    if pd.isna(days) or days >= 365:
        return "Over a year"
    if days <= 0:
        return "Empty"
    if days < 1:
        return "Under a day"
    if days < 10:                     # as the reasons say it: 1.96 days is not '2 days'
        shown = f"{np.floor(days * 10) / 10:.1f}".removesuffix(".0")
        return "1 day" if shown == "1" else f"{shown} days"
    return f"{days:.0f} days"


def runs_out(row) -> str:
    """'Out of stock now', a DD-MMM date, or '—' when it does not run out within a year."""
    if bool(row.get("out_of_stock_now")):
        return "Out of stock now"
    return dd_mmm(row["stockout_date"]) if pd.notna(row["stockout_date"]) else "—"


def _runs_out_column(plan: pd.DataFrame) -> list[str]:
    """runs_out() of every row, without building a row Series per line."""
    now = (plan["out_of_stock_now"].fillna(False).astype(bool).tolist()
           if "out_of_stock_now" in plan else [False] * len(plan))
    return ["Out of stock now" if gone else dd_mmm(day) if pd.notna(day) else "—"
            for gone, day in zip(now, plan["stockout_date"].tolist())]


def plan_view(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan table's display frame: business words, whole units in Indian digit grouping,
    ₹ in lakh / crore, DD-MMM dates (raw numbers stay in the downloads)."""
    return pd.DataFrame({
        "urgency": plan["urgency"].str.title(),
        "sku_id": plan["sku_id"], "name": plan["name"], "pin_code": plan["pin_code"],
        "city": plan["city"],
        "on_hand": plan["on_hand"].map(_whole), "on_order": plan["on_order"].map(_whole),
        "safety_stock": plan["safety_stock"].map(_whole),
        "reorder_point": plan["reorder_point"].map(_whole),
        "order_qty": plan["order_qty"].map(_whole),
        "order_value": plan["order_value"].map(inr_compact),
        "days_of_cover": plan["days_of_cover"].map(_lasts),
        "stockout_date": _runs_out_column(plan),
        "sales_at_risk": plan["sales_at_risk"].map(inr_compact),
        "action": plan["action"].map(lambda a: ACTION_WORDS.get(a, str(a).title())),
        "reason": plan["reason"],
    }).reset_index(drop=True)


def plan_table(plan: pd.DataFrame) -> pd.Series | None:
    """The plan; picking a row shows its full reason and numbers underneath. Returns the
    picked line (a plan row) or None."""
    if plan.empty:
        st.info("No lines match these filters.")
        return None
    text = st.column_config.TextColumn
    event = st.dataframe(plan_view(plan), hide_index=True, width="stretch", height=360,
                         key="rp_table", on_select="rerun", selection_mode="single-row",
                         column_order=COLUMN_ORDER, column_config={
        "urgency": text("Urgency", width="small", help=URGENCY_HELP),
        "sku_id": text("SKU", width="small"),
        "name": text("Name"),
        "pin_code": text("PIN code", width="small"),
        "city": text("City", width="small"),
        "on_hand": text("On shelf", alignment="right", help="On hand: units in the store now"),
        "on_order": text("On order", alignment="right",
                         help="Open orders: units ordered earlier, not yet delivered"),
        "safety_stock": text("Safety stock", alignment="right",
                             help="Safety stock: extra units kept for sales above the "
                                  "forecast during the lead time; more with a higher service "
                                  "level or a less accurate forecast"),
        "reorder_point": text("Reorder level", alignment="right",
                              help="Reorder point: expected sales over the lead time + "
                                   "safety stock. Order when on shelf + on order falls to it"),
        "order_qty": text("Order now", alignment="right",
                          help="Order quantity: units to order today, in whole cases and at "
                               "least the minimum order quantity (MOQ)"),
        "order_value": text("Order value", alignment="right", help="Order quantity x unit cost"),
        "days_of_cover": text("Stock lasts", alignment="right",
                              help="Days of cover: how long the shelf stock lasts at the "
                                   "forecast sales rate"),
        "stockout_date": text("Runs out", help="Stock-out date: when shelf + open orders run "
                                               "out without a new order (never before "
                                               "today); 'Out of stock now' if the shelf is "
                                               "already empty"),
        "sales_at_risk": text("Sales at risk", alignment="right",
                              help="Expected lost sales (at MRP) over the lead time + one "
                                   "order cycle if nothing is ordered today"),
        "action": text("Action", width="small"),
        "reason": text("Why", width="large",
                       help="Pick a row to read the whole reason below the table"),
    })
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if not rows or rows[0] >= len(plan):
        st.caption("Pick a row to read its whole reason.")
        return None
    row = plan.iloc[rows[0]]
    line_detail(row)
    return row


def line_detail(row: pd.Series) -> None:
    """One plan line in full: urgency, what, where, the whole reason and its key numbers."""
    with st.container(border=True):
        name = row["name"] if isinstance(row["name"], str) and row["name"] else row["sku_id"]
        city = f" ({row['city']})" if isinstance(row["city"], str) and row["city"] else ""
        st.markdown(f"**{str(row['urgency']).title()}** · {name} (`{row['sku_id']}`) at "
                    f"{row['pin_code']}{city} · runs out: {runs_out(row)}")
        st.markdown(str(row["reason"]))
        st.caption(f"On shelf {_whole(row['on_hand'])} · on order {_whole(row['on_order'])} · "
                   f"lead time {int(row['lead_time_days'])} days · reorder level "
                   f"{_whole(row['reorder_point'])} · safety stock "
                   f"{_whole(row['safety_stock'])} · order now {_whole(row['order_qty'])} "
                   f"({inr_compact(row['order_value'])}) · sales at risk "
                   f"{inr_compact(row['sales_at_risk'])}")


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
    st.pydeck_chart(Deck(layers=[*under, layer, labels], initial_view_state=view,
                             map_style=None, tooltip=tooltip))
    st.caption("Colour: share of all a PIN's lines in the chosen categories and cities "
               "(whatever the urgency filter) that are critical (counts fully) or high "
               "(half) — green none, red all. Size: number of lines.")


def line_picker(plan: pd.DataFrame, picked: pd.Series | None = None) -> tuple[str, str] | None:
    """A line of `plan` for the projection chart; a row picked in the plan table (`picked`)
    becomes the choice once, after which the box is the user's again."""
    if plan.empty:
        return None
    labels = [f"{sku} · {name} · {pin} ({city})" for sku, name, pin, city in
              zip(*(plan[c].tolist() for c in ("sku_id", "name", "pin_code", "city")))]
    if picked is not None:
        key = (str(picked["sku_id"]), str(picked["pin_code"]))
        if st.session_state.get("rp_line_followed") != key:
            st.session_state["rp_line_followed"] = key
            hit = [i for i, r in enumerate(plan.itertuples(index=False))
                   if (str(r.sku_id), str(r.pin_code)) == key]
            if hit:
                st.session_state["rp_line"] = hit[0]
    if st.session_state.get("rp_line", 0) >= len(labels):
        st.session_state["rp_line"] = 0
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
    """The budget plan in business words; the solver's own terms are on hover."""
    quality = {"optimal": "Best plan", "feasible": "Good plan",
               "nothing to order": "Nothing to order"}.get(sol.status, sol.status.title())
    if sol.status == "feasible" and sol.gap is not None:
        quality += f" (within {sol.gap:.1%})"
    gap = "—" if sol.gap is None else f"{sol.gap:.2%}"
    funded = int((sol.lines["opt_qty"] > 0).sum()) if "opt_qty" in sol.lines else 0
    c = st.columns(4)
    c[0].metric("Budget used", inr_compact(sol.total_value))
    c[1].metric("Lines funded", f"{indian_grouping(funded)} of "
                                f"{indian_grouping(sol.n_candidates)}")
    c[2].metric("Expected fill rate", f"{sol.expected_fill_rate:.1%}",
                help="Share of the next lead time + order cycle's demand served from stock "
                     "with the funded orders")
    c[3].metric("Plan quality", quality,
                help=f"Solver status (PuLP + CBC): {sol.status}; optimality gap {gap}; "
                     f"solved in {sol.seconds:.1f} s")
    (st.error if sol.status in ("infeasible", "not solved") else st.success)(sol.explanation)


def purchase_orders(po: pd.DataFrame) -> None:
    if po.empty:
        st.info("Nothing to order with these settings.")
        return
    heads = po.groupby(["supplier", "city"], as_index=False).agg(
        lines=("qty", "size"), units=("qty", "sum"), value=("value", "sum")).sort_values(
        "value", ascending=False)
    show = pd.DataFrame({"supplier": heads["supplier"], "city": heads["city"],
                         "lines": heads["lines"].map(indian_grouping),
                         "units": heads["units"].map(_whole),
                         "value": heads["value"].map(inr_compact)})
    text = st.column_config.TextColumn
    st.dataframe(show, hide_index=True, width="stretch", column_config={
        "supplier": text("Supplier"),
        "city": text("City"),
        "lines": text("Lines", alignment="right"),
        "units": text("Units", alignment="right"),
        "value": text("Order value", alignment="right"),
    })
    download_buttons(po, "purchase_orders", key="rp_po")
