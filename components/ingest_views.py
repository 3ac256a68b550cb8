"""Rendering and loading helpers for the Data page (uploads, quarantine, batch history).

`load_upload()` takes the uploaded bytes and name, so the loading path is testable without
a browser. Text from files (names, SKU ids, raw rows) is shown through st.dataframe /
st.text, never as markdown or HTML.
"""
from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from components.errors import Problem, show_error
from components.format import counted, dd_mmm, indian_grouping
from components.tables import download_buttons
from engine.alerts import refresh_after
from engine.errors import MicroPulseError
from engine.ingest.errors import REASONS, IngestError
from engine.warehouse.db import WarehouseError
from engine.ingest.load import (IngestResult, Preview, ingest_bytes, preview_bytes,
                                reconciliation)
from engine.ingest.mapping import ONE_OF, fields, match_columns

NOT_USED = "(not used)"
KIND_LABELS = {"sales": "Sales (transactions, daily or weekly)", "catalog": "SKU catalog",
               "inventory": "Inventory snapshot", "mandi": "Mandi prices (Agmarknet)",
               "plan": "Price and promotion plan",
               "competitor": "Competitor prices"}


def upload_token(file_id: str) -> str:
    """A short widget-key fragment for one chosen file (Streamlit gives every upload its
    own id, so choosing a file again also starts afresh)."""
    return re.sub(r"[^0-9A-Za-z]", "", str(file_id))[:16] or "file"


def forget_other_uploads(token: str) -> None:
    """When a different file is chosen: drop the previous file's load result and its
    mapping and sheet choices (they are keyed by its token, so they never leak into the
    new file's widgets; this just keeps the session tidy)."""
    if st.session_state.get("ingest_token") == token:
        return
    old = st.session_state.get("ingest_token")
    st.session_state["ingest_token"] = token
    st.session_state.pop("ingest_result", None)
    st.session_state.pop("ingest_error", None)
    if old:
        for k in [k for k in st.session_state if isinstance(k, str) and
                  (k.startswith(f"map_{old}_") or k == f"ingest_sheet_{old}")]:
            del st.session_state[k]


def preview_upload(kind: str, data: bytes, name: str, sheet: str | None
                   ) -> tuple[Preview | None, str | None]:
    try:
        return preview_bytes(kind, data, name, sheet=sheet), None
    except MicroPulseError as exc:   # incl. a full disk for the temp copy
        return None, Problem.of(exc)


def load_upload(wh, kind: str, data: bytes, name: str, sheet: str | None = None,
                overrides: dict[str, str] | None = None, user: str | None = None
                ) -> tuple[IngestResult | None, str | None]:
    """Load uploaded bytes; (result, None) or (None, a sentence saying why not: a Problem
    with the error's evidence rows). After a load, the alert rules are re-checked (shown
    with the result)."""
    try:
        result = ingest_bytes(wh, kind, data, name, sheet=sheet, overrides=overrides,
                              user=user)
        if result.rows_loaded:
            result.report["alerts"] = refresh_after(wh, "upload", user)
        return result, None
    except IngestError as exc:
        return None, Problem.of(exc)
    except WarehouseError as exc:      # disk full, read-only, locked: the storage's fault
        return None, Problem.of(exc, f"{exc} Nothing was written to the warehouse.")
    except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a traceback
        return None, (f"The upload could not be loaded ({type(exc).__name__}: {exc}). "
                      "Nothing was written to the warehouse.")


def render_source_facts(preview: Preview) -> None:
    f = preview.source
    bits = [f["format"].upper(), f"{indian_grouping(f['size_bytes'] / 1024)} KB",
            f"{len(f['columns'])} columns"]
    if f.get("encoding"):
        bits.append(f"encoding {f['encoding']}")
    if f.get("delimiter"):
        bits.append("delimiter " + {"\t": "tab", ",": "comma", ";": "semicolon",
                                    "|": "pipe"}.get(f["delimiter"], f["delimiter"]))
    if f.get("sheet"):
        bits.append(f"sheet '{f['sheet']}'")
    st.caption(" · ".join(bits))
    for w in f.get("warnings", []):      # text from the file: shown literally
        st.text("• Note: " + w["sentence"])


def mapping_editor(preview: Preview, kind: str, key: str) -> dict[str, str]:
    """One selectbox per field, pre-set to the detected column, with its confidence.
    Returns an explicit source -> field mapping (unchosen columns map to '')."""
    columns = list(preview.source["columns"])
    if ONE_OF.get(kind):
        st.caption("Needs a column for " + "; ".join(
            " or ".join(" and ".join(alt) for alt in group) for group in ONE_OF[kind]) + ".")
    detected = preview.mapping.columns if preview.mapping is not None else {}
    conf = preview.mapping.confidence if preview.mapping is not None else {}
    chosen: dict[str, str] = {}
    grid = st.columns(3)
    for i, spec in enumerate(fields(kind)):
        current = detected.get(spec.name)
        options = [NOT_USED, *columns]
        label = spec.name + (" *" if spec.required else "")
        c = conf.get(spec.name)
        helptext = ("required" if spec.required else "optional") + (
            f"; matched with confidence {c:.0%}" if c is not None else "; no match found")
        pick = grid[i % 3].selectbox(label, options, help=helptext,
                                     index=options.index(current) if current in options else 0,
                                     key=f"{key}_{kind}_{spec.name}")
        if c is not None and pick == current:
            grid[i % 3].caption(f"detected ({c:.0%})")
        if pick != NOT_USED:
            chosen[pick] = spec.name
    overrides = {c: "" for c in columns}
    overrides.update(chosen)
    return overrides


def render_column_use(preview: Preview, kind: str, overrides: dict[str, str], key: str) -> None:
    """Every column of the file as the mapping above uses it. An ignored column that looks
    like a field nothing else feeds gets a button that maps it (it sets that field's
    selectbox, so the mapping is worked out again before loading); the others are listed
    as not used."""
    try:
        accounting = match_columns(kind, list(preview.source["columns"]), overrides).accounting()
    except IngestError as exc:
        show_error(exc, icon=":material/warning:", kind="warning")
        return
    ignored = [c for c in accounting if c["status"] == "ignored"]
    st.markdown(f"**Columns in the file** — {len(accounting) - len(ignored)} used, "
                f"{len(ignored)} not used")
    st.dataframe(column_table(accounting), hide_index=True,
                 height=min(38 + 35 * len(accounting), 300))
    for i, c in enumerate(accounting):
        if c["status"] == "ignored" and c["suggested_field"]:
            st.button(f"Map '{_md_plain(c['column'])}' to {c['suggested_field']}",
                      key=f"{key}_{kind}_suggest_{i}", on_click=_choose_column,
                      args=(f"{key}_{kind}_{c['suggested_field']}", c["column"]),
                      help="Use this column for that field (the mapping above changes "
                           "to match; nothing is loaded until you press Load).")
    rest = [c["column"] for c in ignored if not c["suggested_field"]]
    if rest:
        st.text("Not used: " + ", ".join(rest))


def _choose_column(state_key: str, column: str) -> None:
    st.session_state[state_key] = column


def column_table(accounting: list[dict]) -> pd.DataFrame:
    """column | used as (the field, or 'not used') | note (how it was matched, or the field
    an ignored column looks like)."""
    how = {"exact": "matched by name", "similar": "similar name", "user": "chosen by hand"}
    rows = []
    for c in accounting:
        if c["status"] == "mapped":
            note = how.get(c["match"], "")
            if c["match"] == "similar" and c["confidence"] is not None:
                note += f" ({c['confidence']:.0%})"
            rows.append({"column": c["column"], "used as": c["field"], "note": note})
        else:
            note = ("unmapped by hand" if c["match"] == "user" else "")
            if c["suggested_field"]:
                note = f"looks like {c['suggested_field']}"
            rows.append({"column": c["column"], "used as": "not used",
                         "note": note})
    return pd.DataFrame(rows, columns=["column", "used as", "note"])


def _md_plain(text: str) -> str:
    """A file's column name shown literally in a widget label (labels read Markdown)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])", r"\\\1", " ".join(str(text).split()))


# Warnings whose sentences hold only numbers and dates (no text from the file), shown
# in a warning box; the others are listed as text.
BOXED_WARNINGS = ("stale_data",)


def render_result(result: dict) -> None:
    """Counts that add up (read = loaded + quarantined + duplicates + blank + total rows),
    then one sentence per problem found, per kind of line set aside, and per warning."""
    cols = st.columns(6)
    for col, (label, key) in zip(cols, COUNT_TILES):
        col.metric(label, indian_grouping(result.get(key) or 0))
    st.caption(reconciliation_text(result))
    report = result.get("report", {})
    for w in report.get("warnings", []):
        if w.get("code") in BOXED_WARNINGS:
            st.warning(w["sentence"])
    if result.get("status") == "duplicate_file":
        st.info("This exact file was loaded before (same contents), so nothing was loaded "
                f"again. Earlier batch: {report.get('duplicate_of')}.")
    notes = [i["sentence"] for i in report.get("issues", [])]
    if report.get("pins_repaired"):
        notes.append(f"Repaired {indian_grouping(report['pins_repaired'])} PIN codes written "
                     "as numbers or with spaces (e.g. 560001.0 -> 560001).")
    if report.get("unknown_skus_created"):
        notes.append(f"Created {indian_grouping(report['unknown_skus_created'])} SKUs not in "
                     "the catalog as 'Uncategorised': " + ", ".join(report["unknown_skus"][:10]))
    if report.get("promo_from"):
        notes.append("Promotion flag (promo) set from the 0/1 column(s) "
                     + ", ".join(f"'{c}'" for c in report["promo_from"]) + ".")
    if report.get("plan_version"):
        notes.append(f"Stored as plan version {report['plan_version']}.")
    if report.get("matching"):
        m = report["matching"]
        notes.append(f"{counted(m['items'], 'competitor item')}: "
                     f"{indian_grouping(m['remembered'])} matched before, "
                     f"{indian_grouping(m['auto'])} matched to our SKUs now, "
                     f"{counted(m['review'], 'waits', 'wait')} for review (Pricing page, "
                     f"Competitor prices), {counted(m['none'], 'is', 'are')} not ours.")
    if report.get("promo_type_from"):
        notes.append(f"Promotion type set to price_cut on "
                     f"{indian_grouping(report['promo_type_inferred'])} rows without one, from "
                     + ", ".join(f"'{c}'" for c in report["promo_type_from"]) + ".")
    notes += [f"Warning: {w['sentence']}" for w in report.get("warnings", [])
              if w.get("code") not in BOXED_WARNINGS]
    if report.get("grain"):
        notes.append(f"Detected grain: {report['grain']}.")
    if report.get("date_min"):
        notes.append(f"Dates from {dd_mmm(report['date_min'], True)} to "
                     f"{dd_mmm(report['date_max'], True)}.")
    for note in notes:
        st.text("• " + note)
    if report.get("alerts"):
        st.caption(report["alerts"])
    columns = report.get("columns") or []
    if columns:
        ignored = sum(c["status"] == "ignored" for c in columns)
        st.caption(f"Columns: {len(columns) - ignored} used, {ignored} not used")
        st.dataframe(column_table(columns), hide_index=True,
                     height=min(38 + 35 * len(columns), 300))


COUNT_TILES = (("Rows read", "rows_read"), ("Loaded", "rows_loaded"),
               ("Quarantined", "rows_quarantined"), ("Duplicates skipped", "duplicates_skipped"),
               ("Blank lines", "blank_lines"), ("Total rows", "total_rows"))


def reconciliation_text(result: dict) -> str:
    """'49,213 read = 48,832 loaded + 169 quarantined + 60 duplicates + 151 blank + 1
    total row' in lakh/crore grouping: every line of the file, accounted for."""
    return reconciliation(result, indian_grouping)


def render_quality(figures: dict[str, pd.DataFrame]) -> None:
    series, outliers = figures["series"], figures["outliers"]
    st.subheader("Data quality")
    if series.empty:
        st.caption("No rows of this batch are in the warehouse.")
        return
    c = st.columns(4)
    c[0].metric("Series (SKU x PIN)", indian_grouping(len(series)))
    c[1].metric("Series with gaps", indian_grouping(int((series["periods_missing"] > 0).sum())))
    c[2].metric("Outlier days", indian_grouping(len(outliers)))
    c[3].metric("Date range", f"{series['first_date'].min():%d-%b-%Y} – "
                              f"{series['last_date'].max():%d-%b-%Y}")
    left, right = st.columns(2)
    left.caption("Missing periods per series (days, or weeks for weekly files)")
    left.dataframe(series.head(500), hide_index=True, height=260)
    right.caption("Outliers (robust z-score > 3.5 within the series) — flagged, not dropped")
    right.dataframe(outliers, hide_index=True, height=260)
    left, right = st.columns(2)
    left.caption("Coverage by PIN code")
    left.dataframe(figures["by_pin"], hide_index=True, height=220)
    right.caption("Coverage by category")
    right.dataframe(figures["by_category"], hide_index=True, height=220)


def quarantine_filters(batches: pd.DataFrame, key: str) -> tuple[str | None, list[str], str]:
    c = st.columns([2, 2, 2])
    labels = {"All uploads": None}
    for _, b in batches.iterrows():
        labels[f"{b['file_name']} ({b['batch_id']})"] = b["batch_id"]
    batch = c[0].selectbox("Upload", list(labels), key=f"{key}_batch")
    reasons = c[1].multiselect("Reason", sorted(REASONS), key=f"{key}_reasons")
    text = c[2].text_input("Contains", key=f"{key}_text")
    return labels[batch], reasons, text


def render_quarantine(rows: pd.DataFrame, text: str, key: str) -> None:
    if text:
        mask = rows["raw"].fillna("").str.contains(text, case=False, regex=False) | \
            rows["reason"].str.contains(text, case=False, regex=False)
        rows = rows[mask]
    if rows.empty:
        st.caption("No quarantined rows match.")
        return
    st.caption(f"{indian_grouping(len(rows))} rows. Line numbers are the file's own (a "
               "sheet's Excel row numbers). Blank lines, total rows and exact repeats are "
               "listed too (blank_line, total_row, duplicate_line) but counted apart from "
               "the quarantined rows.")
    st.dataframe(rows, hide_index=True, height=360)
    expanded = _expand_raw(rows)
    download_buttons(expanded, "quarantine", key=f"{key}_dl")


def _expand_raw(rows: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows with each raw JSON value in its own column (for spreadsheets)."""
    raw = rows["raw"].map(lambda s: json.loads(s) if isinstance(s, str) and s else {})
    wide = pd.DataFrame(raw.tolist(), index=rows.index)
    wide.columns = [f"raw: {c}" for c in wide.columns]
    return pd.concat([rows.drop(columns=["raw"]), wide], axis=1)


def render_batches(batches: pd.DataFrame) -> None:
    if batches.empty:
        st.caption("No uploads yet.")
        return
    st.dataframe(batches.drop(columns=["sha256"]), hide_index=True, height=300)


def render_plan_versions(versions: pd.DataFrame) -> None:
    """The stored price and promotion plans, newest first (engine.warehouse.plans)."""
    if versions.empty:
        st.caption("No price or promotion plan uploaded yet (upload one as 'Price and "
                   "promotion plan').")
        return
    st.caption("Every plan upload is a version; a newer version replaces older ones for the "
               "same products, places and days. Rolling an upload back removes its version.")
    shown = pd.DataFrame({
        "Version": versions["plan_version"].to_numpy(),
        "File": versions["file_name"].to_numpy(),
        "From": [dd_mmm(d, True) for d in versions["date_from"]],
        "To": [dd_mmm(d, True) for d in versions["date_to"]],
        "Rows": [indian_grouping(n) for n in versions["rows"]],
        "SKUs": [indian_grouping(n) for n in versions["skus"]],
        "Uploaded by": versions["created_by"].fillna("—").to_numpy(),
        "Uploaded": [dd_mmm(d, True) for d in versions["created_at"]],
        "Batch": versions["batch_id"].to_numpy()})
    st.dataframe(shown, hide_index=True, height=min(38 + 35 * len(shown), 300))
