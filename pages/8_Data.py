"""Data: upload sales, catalog, inventory, mandi and plan files; see every rejected row and
why.

Recipe: file + kind -> detected mapping (editable), every column used or not (one click
maps a look-alike) and preview -> load (one transaction) -> counts, problems, columns,
data-quality report -> quarantine (filters, download) -> history with rollback -> plans.
"""
from __future__ import annotations

import streamlit as st

from components.auth import allowed
from components import ingest_data as idata
from components import ingest_views as iv
from components.errors import attempt, show_error
from components.format import indian_grouping
from components.session import get_warehouse
from engine.ingest.mapping import KINDS

st.set_page_config(page_title="MicroPulse · Data", page_icon=":material/upload_file:",
                   layout="wide")


@st.cache_data(show_spinner=False, max_entries=4)
def _preview(kind: str, data: bytes, name: str, sheet):
    return iv.preview_upload(kind, data, name, sheet)


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Data")
st.caption("Upload POS/ERP exports, Agmarknet price files and price / promotion plans. "
           "Every line is loaded, quarantined with its reason, skipped as a duplicate, or "
           "counted as blank or as a total row — nothing is lost, and every line number is "
           "the one in your file.")
upload_tab, quarantine_tab, history_tab, plans_tab = st.tabs(
    ["Upload", "Quarantine", "Upload history", "Plans"])

with upload_tab:
    kind = st.selectbox("What is in the file?", KINDS, format_func=iv.KIND_LABELS.get,
                        key="ingest_kind")
    up = st.file_uploader("CSV, Excel (.xlsx) or Parquet", key="ingest_file",
                          type=["csv", "tsv", "txt", "xlsx", "parquet", "gz"])
    if up is not None:
        data, name = up.getvalue(), up.name
        # Widgets about this file are keyed by it: a newly chosen file starts from its
        # own detected mapping and sheet, never the previous file's choices.
        token = iv.upload_token(up.file_id)
        iv.forget_other_uploads(token)
        sheet_key, map_key = f"ingest_sheet_{token}", f"map_{token}"
        preview, err = _preview(kind, data, name, st.session_state.get(sheet_key))
        if preview is not None and len(preview.source["sheets"]) > 1:
            st.selectbox("Sheet", preview.source["sheets"], key=sheet_key)
        if err:
            show_error(err)
        else:
            iv.render_source_facts(preview)
            if preview.mapping_error is not None:
                show_error(preview.mapping_error, icon=":material/warning:", kind="warning")
            st.markdown("**Column mapping** — check the detected columns before loading")
            overrides = iv.mapping_editor(preview, kind, key=map_key)
            iv.render_column_use(preview, kind, overrides, key=map_key)
            st.dataframe(preview.rows, hide_index=True, height=240)
            if st.button("Load into warehouse", type="primary", key="ingest_load",
                         disabled=not allowed("upload")):
                bar = st.progress(0.1, text="Reading and validating the file...")
                result, err = iv.load_upload(wh, kind, data, name,
                                             st.session_state.get(sheet_key), overrides,
                                             user=st.session_state.get("user"))
                bar.progress(1.0, text="Done")
                st.session_state["ingest_result"] = result.as_dict() if result else None
                st.session_state["ingest_error"] = err
    if st.session_state.get("ingest_error"):
        show_error(st.session_state["ingest_error"])
    result = st.session_state.get("ingest_result")
    if result:
        st.subheader(f"Result — {result['file_name']}")
        iv.render_result(result)
        if result["kind"] == "sales" and result["status"] == "loaded":
            iv.render_quality(idata.quality(wh, wh.data_version(), result["batch_id"]))

with quarantine_tab:
    batches = idata.batches(wh, wh.data_version())
    batch_id, reasons, text = iv.quarantine_filters(batches, key="q")
    iv.render_quarantine(idata.quarantine(wh, wh.data_version(), batch_id, tuple(reasons)),
                         text, key="q")

with history_tab:
    batches = idata.batches(wh, wh.data_version())
    iv.render_batches(batches)
    live = batches[batches["status"] == "loaded"] if not batches.empty else batches
    if not live.empty:
        target = st.selectbox("Roll back an upload", live["batch_id"].tolist(),
                              format_func=lambda b: f"{b} — {live.set_index('batch_id').at[b, 'file_name']}",
                              key="rollback_batch")
        sure = st.checkbox("Yes, delete everything this upload loaded", key="rollback_sure")
        if st.button("Roll back", disabled=not sure or not allowed("rollback_batch"),
                     key="rollback_go"):
            done, err = attempt(idata.rollback_batch, wh, target,
                                user=st.session_state.get("user"),
                                failed="The upload could not be rolled back")
            if err:
                show_error(err)
            else:
                st.success(f"Rolled back {target}: "
                           f"{indian_grouping(done.get('rows_deleted', 0))} rows removed.")

with plans_tab:
    iv.render_plan_versions(idata.plans(wh, wh.data_version()))
