"""Widgets and renderers for the Sourcing page: inputs -> frozen configs, ranked table,
pydeck map (destination, mandis by score, allocation arcs), price/forecast charts,
allocation form and result, purchase-order download."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from components.format import dd_mmm, inr, inr_compact
from components.maps import Deck, fit_view, label_layer, outline_layer
from components.tables import show_table, to_csv_bytes
from engine.sourcing.allocation import AllocationConfig, AllocationResult
from engine.sourcing.ranking import RankConfig

# Score colour ramp, red (poor) -> amber -> green (good).
_RAMP = [(215, 48, 39), (253, 174, 97), (255, 255, 191), (166, 217, 106), (26, 152, 80)]


def score_colour(score: float) -> list[int]:
    frac = min(max((score or 0) / 100.0, 0.0), 1.0) * (len(_RAMP) - 1)
    i = min(int(frac), len(_RAMP) - 2)
    t = frac - i
    return [round(a + (b - a) * t) for a, b in zip(_RAMP[i], _RAMP[i + 1])] + [220]


def rank_inputs(commodities: list[str], default_commodity: str, default_pin: str,
                default_qty: float) -> tuple[str, str, float, RankConfig]:
    c1, c2, c3 = st.columns([2, 2, 1])
    commodity = c1.selectbox("Commodity", commodities, key="src_commodity",
                             index=commodities.index(default_commodity)
                             if default_commodity in commodities else 0)
    pin = c2.text_input("Destination PIN code", value=default_pin, max_chars=6,
                        key="src_pin", help="Any Indian PIN code; defaults to a store").strip()
    qty = c3.number_input("Quantity (quintals)", min_value=1.0, value=float(default_qty),
                          step=10.0, key="src_qty")
    with st.expander("Score weights and transport cost"):
        w = st.columns(4)
        wp = w[0].number_input("Price", 0.0, 100.0, 40.0, 5.0, key="src_w_price")
        wq = w[1].number_input("Quality", 0.0, 100.0, 25.0, 5.0, key="src_w_quality")
        wl = w[2].number_input("Logistics", 0.0, 100.0, 20.0, 5.0, key="src_w_logistics")
        wr = w[3].number_input("Reliability", 0.0, 100.0, 15.0, 5.0, key="src_w_reliability")
        t = st.columns(2)
        rate = t[0].number_input("Freight, ₹ per quintal per km", 0.0, 10.0, 1.0, 0.1,
                                 key="src_rate")
        road = t[1].number_input("Road km per straight-line km", 1.0, 2.5, 1.3, 0.05,
                                 key="src_road")
    cfg = RankConfig(w_price=wp, w_quality=wq, w_logistics=wl, w_reliability=wr,
                     rs_per_qtl_km=rate, road_factor=road)
    return commodity, pin, qty, cfg


def ranked_table(ranked: pd.DataFrame) -> None:
    view = pd.DataFrame({
        "#": ranked["rank"], "Mandi": ranked["market"], "State": ranked["state"],
        "Score": ranked["score"], "Price": ranked["price_score"],
        "Quality": ranked["quality_score"], "Logistics": ranked["logistics_score"],
        "Reliability": ranked["reliability_score"],
        "Modal ₹/qtl": ranked["modal_price"].map(inr),
        "Landed ₹/qtl": ranked["landed_price"].map(inr),
        "Road km": ranked["road_km"].round(0).astype(int),
        "Last report": ranked["last_date"].map(dd_mmm),
        "Why": ranked["reason"],
    })
    st.dataframe(view, hide_index=True, width="stretch", key="src_ranked_table",
                 column_config={c: st.column_config.ProgressColumn(c, min_value=0, max_value=100,
                                                                   format="%.0f")
                                for c in ("Score", "Price", "Quality", "Logistics",
                                          "Reliability")})


MAP_LABELS = 12      # mandis named on the map (best scores first, never overlapping)


def sourcing_deck(destination: dict, ranked: pd.DataFrame,
                  lines: pd.DataFrame | None = None, context=None) -> pdk.Deck:
    """Destination (blue), mandis coloured by score, arcs for the purchase split, over
    `context` area outlines (e.g. India's states). Only the best-scoring MAP_LABELS mandis
    are named, and only where the name fits without overlapping another; every mandi
    shows its name and figures on hover."""
    pts = ranked[["market", "state", "lat", "lon", "score", "landed_price", "road_km"]].copy()
    pts["colour"] = pts["score"].map(score_colour)
    notes = ranked["location_note"].fillna("") if "location_note" in ranked else [""] * len(pts)
    pts["tooltip"] = [f"{m} ({s}) · score {sc:.0f} · landed {inr(lp)}/qtl · {km:,.0f} km"
                      + (f"\n{n[0].upper()}{n[1:]}" if n else "")
                      for m, s, sc, lp, km, n in zip(pts["market"], pts["state"], pts["score"],
                                                     pts["landed_price"], pts["road_km"], notes)]
    dest = pd.DataFrame([{**destination, "tooltip": f"Destination {destination.get('label')}"}])
    view = fit_view(pd.concat([pts["lat"], dest["lat"]]), pd.concat([pts["lon"], dest["lon"]]))
    layers = [outline_layer(context)] if context is not None and len(context) else []
    if lines is not None and not lines.empty:
        arcs = lines.assign(dlat=destination["lat"], dlon=destination["lon"])
        arcs["tooltip"] = [f"{m}: {q:,.0f} qtl in {t} truck(s)" for m, q, t in
                           zip(arcs["market"], arcs["quantity_qtl"], arcs["trucks"])]
        arcs["width"] = 2 + 8 * arcs["quantity_qtl"] / arcs["quantity_qtl"].max()
        layers.append(pdk.Layer("ArcLayer", arcs, id="arcs", get_source_position="[lon, lat]",
                                get_target_position="[dlon, dlat]", get_width="width",
                                get_source_color=[26, 152, 80, 220],
                                get_target_color=[33, 102, 172, 220], pickable=True))
    layers += [
        pdk.Layer("ScatterplotLayer", pts, id="mandis", get_position="[lon, lat]",
                  get_fill_color="colour", get_radius=18000, radius_min_pixels=5,
                  radius_max_pixels=14, pickable=True, stroked=True,
                  get_line_color=[40, 40, 40, 200], line_width_min_pixels=1),
        pdk.Layer("ScatterplotLayer", dest, id="destination", get_position="[lon, lat]",
                  get_fill_color=[33, 102, 172, 255], get_radius=22000, radius_min_pixels=8,
                  radius_max_pixels=16, pickable=True, stroked=True,
                  get_line_color=[255, 255, 255, 255], line_width_min_pixels=2),
    ]
    top = pts.nlargest(MAP_LABELS, "score")[["market", "lat", "lon", "score"]]
    layers.append(label_layer(top, "market", view.zoom, "score"))
    return Deck(layers=layers, initial_view_state=view, map_style=None,
                    tooltip={"text": "{tooltip}"})


def price_figure(outlook: dict, market: str) -> go.Figure:
    """Modal price over the last 180 days and the forecast with its interval. The model
    goes in the caption (st.caption) rather than the title, so the title fits a half-width
    column; the legend sits under the plot."""
    hist = outlook["history"].tail(180)
    fc = outlook["forecast"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hist["date"], y=hist["modal_price"], name="Modal price",
                             mode="lines", line={"color": "#2166ac"},
                             hovertemplate="%{x|%d-%b-%Y}: ₹%{y:,.0f}/qtl<extra></extra>"))
    fig.add_trace(go.Scatter(x=list(fc["date"]) + list(fc["date"][::-1]),
                             y=list(fc["hi"]) + list(fc["lo"][::-1]), fill="toself",
                             fillcolor="rgba(244,109,67,0.2)", line={"width": 0},
                             name=f"{outlook['level']:.0%} interval", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=fc["date"], y=fc["forecast"], name="Forecast", mode="lines",
                             line={"color": "#d73027", "dash": "dash"},
                             hovertemplate="%{x|%d-%b-%Y}: ₹%{y:,.0f}/qtl<extra></extra>"))
    fig.update_layout(title={"text": f"{market}: modal price and 14-day forecast"},
                      xaxis={"tickformat": "%d-%b", "automargin": True},
                      yaxis={"title": "₹ per quintal", "tickprefix": "₹", "tickformat": ",.0f",
                             "automargin": True, "rangemode": "tozero"},
                      height=400, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.12,
                              "yanchor": "top"})
    return fig


def pattern_figure(outlook: dict, market: str) -> go.Figure:
    fig = go.Figure()
    for key, name in (("pattern", market), ("national_pattern", "All mandis")):
        pat = outlook[key]
        fig.add_trace(go.Bar(x=pat["month_name"], y=pat["index"], name=name,
                             hovertemplate="%{x}: %{y:.0f}<extra>" + name + "</extra>"))
    # the line add_hline(y=100) draws, without add_hline's ~0.1 s
    fig.update_layout(shapes=[dict(type="line", xref="x domain", x0=0, x1=1, yref="y",
                                   y0=100, y1=100, line={"dash": "dot", "color": "grey"})])
    fig.update_layout(title={"text": "Crop-cycle pattern (monthly price index, 100 = average)"},
                      barmode="group", height=340, yaxis={"title": "Index", "automargin": True},
                      margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.12,
                              "yanchor": "top"})
    return fig


def placement_notice(meta: dict) -> None:
    """Which mandis with recent prices could not be placed on the map (so are not ranked),
    by name and why; how the others were placed when some came from their names."""
    placement = meta.get("placement") or {}
    unplaced = meta.get("unplaced") or []
    if unplaced:
        names = ", ".join(f"{u['market']} ({u['state']})" for u in unplaced[:8])
        more = f" and {len(unplaced) - 8} more" if len(unplaced) > 8 else ""
        st.warning(f"{len(unplaced)} mandi(s) with recent prices could not be placed on the "
                   f"map and are not ranked: {names}{more}. Upload their coordinates or "
                   "district in a mandis file to include them.", icon=":material/wrong_location:")
        with st.expander(f"Why {len(unplaced)} mandi(s) could not be placed"):
            show_table(pd.DataFrame(unplaced), key="src_unplaced_table")
    if placement.get("post office") or placement.get("district name") or \
            placement.get("district"):
        st.caption(placement["sentence"].split(" Not placed")[0] + " Hover a mandi on the "
                   "map for how it was placed.")


def excluded_table(meta: dict) -> None:
    """Mandis left out for old prices, in an expander."""
    stale = [e for e in meta.get("excluded") or [] if e not in (meta.get("unplaced") or [])]
    if stale:
        with st.expander(f"{len(stale)} mandi(s) left out for old prices"):
            show_table(pd.DataFrame(stale), key="src_excluded_table")


def allocation_form(quantity: float, max_mandis: int) -> AllocationConfig | None:
    with st.form("src_alloc_form"):
        st.markdown("**Optimal purchase split**")
        c = st.columns(3)
        budget = c[0].number_input("Budget ₹ (0 = no limit)", min_value=0.0, value=0.0,
                                   step=10000.0, key="src_budget")
        min_q = c[1].slider("Minimum quality score", 0, 100, 0, key="src_min_quality")
        n = c[2].number_input("Maximum mandis", 1, max(1, max_mandis), min(3, max_mandis),
                              key="src_max_mandis")
        d = st.columns(3)
        cap = d[0].number_input("Truck capacity (quintals)", 10.0, 400.0, 100.0, 10.0,
                                key="src_truck_cap")
        tcost = d[1].number_input("Fixed cost per truck ₹", 0.0, 50000.0, 3000.0, 500.0,
                                  key="src_truck_cost")
        share = d[2].slider("Share of a mandi's arrivals you can buy (%)", 1, 100, 10,
                            key="src_share")
        submitted = st.form_submit_button("Optimise purchase", type="primary")
    if not submitted:
        return None
    return AllocationConfig(quantity_qtl=float(quantity), budget=budget or None,
                            min_quality=float(min_q), max_mandis=int(n),
                            truck_capacity_qtl=float(cap), truck_cost=float(tcost),
                            availability_share=share / 100.0)


def allocation_result(result: AllocationResult) -> None:
    if not result.feasible:
        st.warning(f"{result.message} (solver status: {result.status}, "
                   f"{result.solve_seconds:.2f} s)", icon=":material/block:")
        return
    t = result.totals
    k = st.columns(4)
    k[0].metric("Total landed cost", inr_compact(t["total_cost"]))
    k[1].metric("Per quintal", inr(t["cost_per_qtl"]))
    k[2].metric("Trucks", f"{t['trucks']}")
    k[3].metric("Mandis", f"{t['mandis']}")
    st.success(f"{result.message} Solver: {result.status} in {result.solve_seconds:.2f} s.")
    lines = result.lines
    st.dataframe(pd.DataFrame({
        "Mandi": lines["market"], "State": lines["state"],
        "Quantity (qtl)": lines["quantity_qtl"].round(1), "Trucks": lines["trucks"],
        "Goods": lines["goods_cost"].map(inr), "Freight": lines["transport_cost"].map(inr),
        "Truck fixed": lines["truck_cost"].map(inr), "Total": lines["total_cost"].map(inr),
        "Landed ₹/qtl": lines["landed_price"].map(inr),
        "Could supply (qtl)": lines["available_qtl"].round(0),
    }), hide_index=True, width="stretch", key="src_alloc_table")
    st.caption(f"Cost breakdown: goods {inr(t['goods_cost'])} + freight "
               f"{inr(t['transport_cost'])} + truck fixed costs {inr(t['truck_cost'])} = "
               f"{inr(t['total_cost'])}.")


def po_download(po: pd.DataFrame, commodity: str, pin: str) -> None:
    """The purchase-order draft as CSV for people: plain headers, DD-MMM-YYYY price date,
    ₹ to 2 decimals, names that cannot run as spreadsheet formulas."""
    if po.empty:
        return
    st.download_button("Download purchase-order draft (CSV)", data=to_csv_bytes(po, plain=True),
                       file_name=f"po_draft_{commodity.lower().replace(' ', '_')}_{pin}.csv",
                       mime="text/csv", key="src_po_download")
