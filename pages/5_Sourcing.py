"""Mandi sourcing: where to buy fresh produce for a destination PIN, and how to split it.

Recipe: commodity / PIN / quantity / weights -> cached ranking (keyed on the data version)
-> table, map, price outlook -> allocation form (MILP on submit) -> purchase-order draft.
A reorder plan can hand over a request through st.session_state["sourcing_request"]
({"commodity", "quantity_qtl", "pin_code"}) or the URL (?commodity=&quantity=&pin=).
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt, show_error
from components import sourcing_data as sd
from components import sourcing_views as sv
from components.format import dd_mmm
from components.maps import state_outlines
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from engine.sourcing.allocation import purchase_order

st.set_page_config(page_title="MicroPulse · Sourcing", page_icon=":material/agriculture:",
                   layout="wide")


_run = partial(attempt, failed="Sourcing could not finish this request")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Mandi sourcing")
st.caption("Rank APMC mandis for a commodity delivered to a PIN code: landed price, quality, "
           "logistics and reliability, then split the purchase at least cost.")
scenario_for_page(wh, "Sourcing")  # sidebar "Scenario": its numbers here, labelled
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("mandi", "sales")
options, err = _run(sd.options, wh, version)
commodities, store_pins = options or ([], [])
if err or not commodities:
    show_error(err or "No mandi prices in the warehouse yet: load the demo on the Overview "
               "page or upload an Agmarknet price file.", icon=":material/agriculture:",
               kind="info")
    st.stop()

request = st.session_state.get("sourcing_request") or {}
params = st.query_params
default_commodity = str(request.get("commodity") or params.get("commodity") or "Onion").title()
default_pin = str(request.get("pin_code") or params.get("pin") or
                  (store_pins[0] if store_pins else "560001"))
try:
    default_qty = float(request.get("quantity_qtl") or params.get("quantity") or 50)
except ValueError:
    default_qty = 50.0

commodity, pin, qty, cfg = sv.rank_inputs(commodities, default_commodity, default_pin,
                                          default_qty)
result, err = _run(sd.rank, wh, version, commodity, pin, qty, cfg)
if err:
    show_error(err)
    st.stop()
ranked, meta = result
dest = meta["destination"]
st.markdown(f"**{len(ranked)} mandis** ranked for {commodity} to **{dest['label']}** — prices "
            f"as of {dd_mmm(meta['as_of'], with_year=True)}. {meta['clean_report']}")
sv.placement_notice(meta)
sv.ranked_table(ranked)
sv.excluded_table(meta)

alloc_key = (version, commodity, pin, qty, cfg)
alloc_cfg = sv.allocation_form(qty, len(ranked))
if alloc_cfg is not None:
    alloc, err = _run(sd.allocation, version, ranked, alloc_cfg)
    st.session_state["src_alloc"] = (alloc_key, alloc, err)
saved = st.session_state.get("src_alloc")
alloc, alloc_err = (saved[1], saved[2]) if saved and saved[0] == alloc_key else (None, None)

map_col, chart_col = st.columns([1, 1])
with map_col:
    st.pydeck_chart(sv.sourcing_deck(dest, ranked, alloc.lines if alloc and alloc.feasible
                                     else None, context=state_outlines()),
                    height=460, key="src_map")
    st.caption("Blue: destination. Mandis coloured by score (red low, green high), the best "
               f"{sv.MAP_LABELS} named where their names fit; hover any mandi for its figures. "
               "Arcs show the optimised purchase split.")
with chart_col:
    names = ranked["market"] + " (" + ranked["state"].fillna("") + ")"
    pick = st.selectbox("Price outlook for", names.tolist(), key="src_outlook_mandi")
    row = ranked.iloc[names.tolist().index(pick)]
    outlook, err = _run(sd.outlook, wh, version, commodity, row["mandi_id"])
    if err:
        show_error(err, icon=":material/warning:", kind="warning")
    else:
        st.plotly_chart(sv.price_figure(outlook, row["market"]), width="stretch")
        st.caption(f"Forecast: {outlook['model']} — {outlook['reason']}.")
        st.plotly_chart(sv.pattern_figure(outlook, row["market"]), width="stretch")

st.subheader("Purchase split")
if alloc_err:
    show_error(alloc_err)
elif alloc is None:
    st.caption("Set the limits above and press **Optimise purchase**.")
else:
    sv.allocation_result(alloc)
    sv.po_download(purchase_order(alloc, commodity, pin, meta["as_of"]), commodity, pin)
