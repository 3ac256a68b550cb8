"""Alerts UI pieces: counts, filters, the alert table, actions, rule form, audit trail, and
the overview page's top-open-alerts panel. Rendering only; the engine does the work."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from components.auth import allowed
from components.format import dd_mmm

SEVERITY_ORDER = ("critical", "high", "medium", "low")
SEVERITY_ICON = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}
STATUS_OPTIONS = ("open", "new", "acknowledged", "resolved", "all")


@dataclass(frozen=True)
class AlertFilters:
    status: tuple[str, ...] | None      # None = any
    severity: tuple[str, ...] | None
    rule: tuple[str, ...] | None


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    rank = df["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(9)
    return df.assign(_rank=rank).sort_values(["_rank", "day", "created_at"],
                                             ascending=[True, False, False]
                                             ).drop(columns="_rank")


def render_counts(df: pd.DataFrame, titles: dict[str, str]) -> None:
    """Open alerts by severity (metric tiles) and by rule (bar chart)."""
    open_ = df[df["status"].isin(["new", "acknowledged"])]
    cols = st.columns(len(SEVERITY_ORDER) + 1)
    cols[0].metric("Open alerts", f"{len(open_):,}", border=True,
                   help="New or acknowledged, not yet resolved.")
    for col, sev in zip(cols[1:], SEVERITY_ORDER):
        col.metric(f"{SEVERITY_ICON[sev]} {sev.title()}",
                   f"{int((open_['severity'] == sev).sum()):,}", border=True)
    if len(open_):
        by_rule = (open_["rule"].map(lambda r: titles.get(r, r)).value_counts()
                   .rename_axis("Rule").rename("Open alerts"))
        st.bar_chart(by_rule, horizontal=True, height=60 + 28 * len(by_rule))


def filter_widgets(rules: list[str], titles: dict[str, str]) -> AlertFilters:
    c1, c2, c3 = st.columns(3)
    status = c1.selectbox("Status", STATUS_OPTIONS, key="al_status",
                          help="Open = new or acknowledged.")
    sev = c2.multiselect("Severity", SEVERITY_ORDER, key="al_severity",
                         placeholder="All severities")
    rule = c3.multiselect("Rule", rules, format_func=lambda r: titles.get(r, r), key="al_rule",
                          placeholder="All rules")
    statuses = {"open": ("new", "acknowledged"), "all": None}.get(status, (status,))
    return AlertFilters(status=statuses, severity=tuple(sev) or None,
                        rule=tuple(rule) or None)


def alerts_table(df: pd.DataFrame, titles: dict[str, str]) -> None:
    view = _sorted(df)
    show = pd.DataFrame({
        "Severity": view["severity"].map(lambda s: f"{SEVERITY_ICON.get(s, '')} {s}"),
        "Rule": view["rule"].map(lambda r: titles.get(r, r)),
        "Entity": view["entity"],
        "Day": view["day"].map(dd_mmm),
        "Reason": view["reason"],
        "Status": view["status"],
        "Acknowledged by": view["acknowledged_by"],
        "Open": view["link"],
        "Alert": view["alert_id"],
    })
    st.dataframe(show, hide_index=True, width="stretch", height=min(38 + 35 * len(show), 460),
                 column_config={
                     "Reason": st.column_config.TextColumn(width="large"),
                     "Open": st.column_config.LinkColumn(
                         "Open", display_text="Open page", help="The page that explains it"),
                 })


def _label(row) -> str:
    return f"{row.alert_id} · {row.severity} · {row.entity} · {dd_mmm(row.day)}"


def action_form(df: pd.DataFrame) -> tuple[str, list[str]] | None:
    """Pick open alerts and acknowledge or resolve them: ('acknowledge'|'resolve', ids)."""
    open_ = _sorted(df[df["status"].isin(["new", "acknowledged"])])
    if open_.empty:
        st.caption("No open alerts in this view.")
        return None
    labels = {_label(r): r.alert_id for r in open_.itertuples(index=False)}
    picked = st.multiselect("Alerts", list(labels), key="al_pick",
                            placeholder="Choose alerts to acknowledge or resolve")
    c1, c2, _ = st.columns([1, 1, 4])
    ack = c1.button("Acknowledge", key="al_ack",
                    disabled=not picked or not allowed("acknowledge_alerts"))
    res = c2.button("Resolve", key="al_resolve",
                    disabled=not picked or not allowed("acknowledge_alerts"))
    ids = [labels[p] for p in picked]
    if ack:
        return "acknowledge", ids
    if res:
        return "resolve", ids
    return None


def generation_report(result: dict) -> None:
    found = sum(result["found"].values())
    new = sum(result["inserted"].values())
    st.success(f"Checked the rules as of {dd_mmm(result['as_of'])}: {found} alert(s) found, "
               f"{new} new (the rest were already listed).", icon=":material/notifications:")
    notes = [f"**{k}** skipped: {v}" for k, v in result["skipped"].items()]
    notes += [f"**{k}** could not run: {v}" for k, v in result["failed"].items()]
    if notes:
        st.caption("  \n".join(notes))


def rule_form(rules: pd.DataFrame, param_help: dict[str, dict[str, str]]):
    """Edit one rule: returns (rule, enabled, severity, params) on submit, else None."""
    names = rules["rule"].tolist()
    titles = dict(zip(rules["rule"], rules["title"]))
    rule = st.selectbox("Rule", names, format_func=lambda r: titles[r], key="al_cfg_rule")
    row = rules.set_index("rule").loc[rule]
    st.caption(row["description"])
    with st.form(f"al_cfg_{rule}"):
        enabled = st.checkbox("Enabled", value=bool(row["enabled"]))
        severity = st.selectbox("Severity", SEVERITY_ORDER,
                                index=SEVERITY_ORDER.index(row["severity"]))
        params = {}
        cols = st.columns(2)
        for i, (key, value) in enumerate(row["params"].items()):
            params[key] = cols[i % 2].number_input(
                key.replace("_", " ").capitalize(), value=float(value),
                help=f"{param_help.get(rule, {}).get(key, '')} (default "
                     f"{row['defaults'][key]:g})", key=f"al_cfg_{rule}_{key}")
        if st.form_submit_button("Save rule", disabled=not allowed("configure_alerts")):
            return rule, enabled, severity, params
    if row["updated_by"] is not None and not pd.isna(row["updated_by"]):
        st.caption(f"Last changed by {row['updated_by']} on "
                   f"{dd_mmm(row['updated_at'], with_year=True)}.")
    return None


def audit_view(audit: pd.DataFrame) -> None:
    if audit.empty:
        st.caption("Nothing recorded yet.")
        return
    st.dataframe(pd.DataFrame({
        "When": audit["ts"].map(lambda t: f"{dd_mmm(t)} {pd.Timestamp(t):%H:%M}"),
        "Who": audit["actor"], "Action": audit["action"],
        "Details": audit["details"].map(_short_details),
    }), hide_index=True, width="stretch", height=min(38 + 35 * len(audit), 320))


def _short_details(text) -> str:
    try:
        d = json.loads(text)
    except (TypeError, ValueError):
        return str(text or "")
    if "alert_id" in d:
        return f"{d['alert_id']} · {d.get('rule')} · {d.get('entity')}"
    if "rule" in d and "after" in d:
        return f"{d['rule']}: {d['before']} → {d['after']}"
    return ", ".join(f"{k}={v}" for k, v in d.items() if v)


def top_alerts_panel(df: pd.DataFrame, n: int = 5) -> None:
    """Overview panel: the `n` most severe open alerts with their reasons and links."""
    open_ = df[df["status"].isin(["new", "acknowledged"])] if len(df) else df
    st.subheader("Needs attention")
    if open_.empty:
        st.caption("No open alerts. Generate them on the Alerts page.")
        return
    for r in _sorted(open_).head(n).itertuples(index=False):
        link = f" — [open]({r.link})" if isinstance(r.link, str) and r.link else ""
        st.markdown(f"{SEVERITY_ICON.get(r.severity, '')} **{r.entity}** "
                    f"({dd_mmm(r.day)}): {r.reason}{link}")
    if len(open_) > n:
        st.markdown(f"[All {len(open_)} open alerts](/Alerts)")
