"""Alerts UI pieces: counts, filters, the alert table, actions, rule form, audit trail, and
the overview page's top-open-alerts panel. Rendering only; the engine does the work."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.format import dd_mmm

SEVERITY_ORDER = ("critical", "high", "medium", "low")
# Words, Streamlit colours and Material icons (emoji fonts are missing on many machines).
SEVERITY_COLOUR = {"critical": "red", "high": "orange", "medium": "yellow", "low": "gray"}
SEVERITY_HEX = {"critical": "#DC2626", "high": "#EA580C", "medium": "#CA8A04",
               "low": "#6B7280"}
SEVERITY_ICON = {"critical": ":material/error:", "high": ":material/warning:",
                 "medium": ":material/report:", "low": ":material/info:"}
STATUS_OPTIONS = ("open", "new", "acknowledged", "resolved", "all")
STATUS_LABEL = {"open": "Open (new or acknowledged)", "new": "New",
                "acknowledged": "Acknowledged", "resolved": "Resolved", "all": "All"}


def severity_word(severity) -> str:
    return str(severity or "").title()


def severity_badge(severity) -> str:
    """Markdown badge: ':red-badge[:material/error: Critical]'."""
    colour = SEVERITY_COLOUR.get(severity, "gray")
    icon = SEVERITY_ICON.get(severity, ":material/info:")
    return f":{colour}-badge[{icon} {severity_word(severity)}]"


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
        col.metric(f":{SEVERITY_COLOUR[sev]}[{SEVERITY_ICON[sev]} **{severity_word(sev)}**]",
                   f"{int((open_['severity'] == sev).sum()):,}", border=True)
    if len(open_):
        by_rule = open_["rule"].map(lambda r: titles.get(r, r)).value_counts(ascending=True)
        st.plotly_chart(_rule_bars(by_rule), width="stretch",
                        config={"displayModeBar": False})


def _rule_bars(by_rule: pd.Series) -> go.Figure:
    """Open alerts per rule as horizontal bars with the rule's full title."""
    fig = go.Figure(go.Bar(x=by_rule.to_numpy(), y=by_rule.index.tolist(), orientation="h",
                           marker_color="#0F766E", text=[f"{v:,}" for v in by_rule],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:,} open<extra></extra>"))
    fig.update_layout(height=70 + 34 * len(by_rule), margin=dict(l=10, r=40, t=30, b=10),
                      title=dict(text="Open alerts by rule", font=dict(size=14)),
                      xaxis=dict(showgrid=True, title=None, rangemode="tozero"),
                      yaxis=dict(automargin=True, title=None), bargap=0.35)
    return fig


def filter_widgets(rules: list[str], titles: dict[str, str]) -> AlertFilters:
    c1, c2, c3 = st.columns(3)
    status = c1.selectbox("Status", STATUS_OPTIONS, key="al_status",
                          format_func=STATUS_LABEL.get, help="Open = new or acknowledged.")
    sev = c2.multiselect("Severity", SEVERITY_ORDER, key="al_severity",
                         format_func=severity_word, placeholder="All severities")
    rule = c3.multiselect("Rule", rules, format_func=lambda r: titles.get(r, r), key="al_rule",
                          placeholder="All rules")
    statuses = {"open": ("new", "acknowledged"), "all": None}.get(status, (status,))
    return AlertFilters(status=statuses, severity=tuple(sev) or None,
                        rule=tuple(rule) or None)


def alerts_table(df: pd.DataFrame, titles: dict[str, str]) -> None:
    """The alert list; picking a row shows its full reason and link underneath."""
    view = _sorted(df).reset_index(drop=True)
    show = pd.DataFrame({
        "Severity": view["severity"].map(lambda s: [severity_word(s)]),
        "Reason": view["reason"],
        "Date": view["day"].map(dd_mmm),
        "Status": view["status"].map(lambda s: STATUS_LABEL.get(s, str(s).title())),
        "Acknowledged by": view["acknowledged_by"].map(
            lambda a: a if isinstance(a, str) and a else "—"),
        "Rule": view["rule"].map(lambda r: titles.get(r, r)),
        "Open": view["link"],
        "Entity": view["entity"],
        "Alert": view["alert_id"],
    })
    words = [severity_word(s) for s in SEVERITY_ORDER]
    event = st.dataframe(
        show, hide_index=True, width="stretch", height=min(38 + 35 * len(show), 460),
        key="al_table", on_select="rerun", selection_mode="single-row",
        column_config={
            "Severity": st.column_config.MultiselectColumn(
                "Severity", options=words, width="small",
                color=[SEVERITY_HEX[s] for s in SEVERITY_ORDER]),
            "Reason": st.column_config.TextColumn(
                "Reason", width=470, help="Pick a row to read the full reason below"),
            "Date": st.column_config.TextColumn(
                "Date", help="The day the alert is about; for weekly data, the week's date"),
            "Rule": st.column_config.TextColumn("Rule", width="medium"),
            "Open": st.column_config.LinkColumn(
                "Open", display_text="Open page", help="The page that explains it"),
        })
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if rows and rows[0] < len(view):
        alert_detail(view.iloc[rows[0]], titles)
    else:
        st.caption("Pick a row to read its full reason.")


def alert_detail(row, titles: dict[str, str]) -> None:
    """One alert in full: severity badge, rule, day, status, reason and its page link."""
    link = row["link"] if isinstance(row["link"], str) and row["link"] else None
    ack = row["acknowledged_by"]
    status = STATUS_LABEL.get(row["status"], str(row["status"]).title())
    if isinstance(ack, str) and ack:
        status += f" by {ack}"
    with st.container(border=True):
        st.markdown(f"{severity_badge(row['severity'])} **{titles.get(row['rule'], row['rule'])}"
                    f"** · {dd_mmm(row['day'])} · {status} · `{row['alert_id']}`")
        st.markdown(row["reason"] + (f" [Open page]({link})" if link else ""))


def _label(row) -> str:
    return (f"{row.alert_id} · {severity_word(row.severity)} · {row.entity} · "
            f"{dd_mmm(row.day)}")


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
    notes += [f"**{k}**: {v[:1].upper()}{v[1:]}" for k, v in result.get("notes", {}).items()]
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
        severity = st.selectbox("Severity", SEVERITY_ORDER, format_func=severity_word,
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
        # The reason already names the SKU (or market / PIN) and the place: say it once.
        link = f" [Open page]({r.link})" if isinstance(r.link, str) and r.link else ""
        st.markdown(f"{severity_badge(r.severity)} {r.reason} "
                    f":gray[{dd_mmm(r.day)}]{link}")
    if len(open_) > n:
        st.markdown(f"[All {len(open_)} open alerts](/Alerts)")
