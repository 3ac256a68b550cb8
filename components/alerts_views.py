"""Alerts UI pieces: counts, filters, the alert table, actions, rule form, audit trail, and
the overview page's top-open-alerts panel. Rendering only; the engine does the work."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import allowed
from components.format import dd_mmm, indian_grouping, inr_compact
from engine.alerts_rules import rank_alerts

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


STAKE_HELP = ("Estimated rupees at stake, from the numbers behind the alert: lost sales of "
              "a stock-out, margin at risk of a mandi price spike, the revenue gap of a "
              "forecast miss or a demand anomaly, money lost below cost or overcharged above "
              "MRP, sales the plans cannot see while data is missing. Pick a row to see how "
              "it was computed. Alerts are ranked by it, then by severity, then newest.")


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    """Most rupees at stake first, then severity, then the newest (engine.alerts)."""
    return rank_alerts(df)


def _most_severe(df: pd.DataFrame) -> pd.DataFrame:
    """The overview's order: most severe first, within a severity the most rupees at stake
    (then the newest)."""
    ranked = rank_alerts(df)
    sev = ranked["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(9)
    return ranked.assign(_sev=sev).sort_values("_sev", kind="stable").drop(columns="_sev")


def stake_text(value) -> str:
    """'₹12.40 lakh', '₹8,450', or 'not estimated'."""
    return inr_compact(float(value)) if value is not None and pd.notna(value) \
        else "not estimated"


def render_counts(df: pd.DataFrame, titles: dict[str, str]) -> None:
    """Open alerts by severity (metric tiles), rupees at stake, and open alerts by rule."""
    open_ = df[df["status"].isin(["new", "acknowledged"])]
    cols = st.columns([1, 1.7] + [1] * len(SEVERITY_ORDER))     # room for '₹12.40 lakh'
    cols[0].metric("Open alerts", indian_grouping(len(open_)), border=True,
                   help="New or acknowledged, not yet resolved.")
    stake = open_["at_stake"].sum() if "at_stake" in open_ else 0.0
    cols[1].metric("₹ at stake", inr_compact(float(stake)), border=True,
                   help="Sum of the open alerts' estimates. " + STAKE_HELP)
    for col, sev in zip(cols[2:], SEVERITY_ORDER):
        col.metric(f":{SEVERITY_COLOUR[sev]}[{SEVERITY_ICON[sev]} **{severity_word(sev)}**]",
                   indian_grouping(int((open_['severity'] == sev).sum())), border=True)
    if len(open_):
        by_rule = open_["rule"].map(lambda r: titles.get(r, r)).value_counts(ascending=True)
        st.plotly_chart(_rule_bars(by_rule), width="stretch",
                        config={"displayModeBar": False})


def _rule_bars(by_rule: pd.Series) -> go.Figure:
    """Open alerts per rule as horizontal bars with the rule's full title."""
    counts = [indian_grouping(v) for v in by_rule]
    fig = go.Figure(go.Bar(x=by_rule.to_numpy(), y=by_rule.index.tolist(), orientation="h",
                           marker_color="#0F766E", text=counts, customdata=counts,
                           textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{customdata} open<extra></extra>"))
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
    stake = view["at_stake"] if "at_stake" in view else pd.Series(None, index=view.index)
    show = pd.DataFrame({
        "Severity": view["severity"].map(lambda s: [severity_word(s)]),
        "₹ at stake": stake.map(lambda v: inr_compact(float(v)) if pd.notna(v) else "—"),
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
            "₹ at stake": st.column_config.TextColumn(
                "₹ at stake", width="small", alignment="right", help=STAKE_HELP),
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
        how = row.get("at_stake_how")
        st.markdown(f"**₹ at stake: {stake_text(row.get('at_stake'))}.** "
                    + (str(how) if isinstance(how, str) and how else
                       "This alert was raised before rupee estimates existed."))


def _label(row) -> str:
    stake = getattr(row, "at_stake", None)
    worth = f" · {inr_compact(float(stake))}" if stake is not None and pd.notna(stake) else ""
    return (f"{row.alert_id} · {severity_word(row.severity)} · {row.entity} · "
            f"{dd_mmm(row.day)}{worth}")


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


def generation_report(result: dict, titles: dict[str, str] | None = None) -> None:
    titles = titles or {}
    found = sum(result["found"].values())
    new = sum(result["inserted"].values())
    st.success(f"Checked the rules as of {dd_mmm(result['as_of'])}: "
               f"{indian_grouping(found)} alert(s) found, {indian_grouping(new)} new (the rest "
               "were already listed).", icon=":material/notifications:")
    name = lambda k: titles.get(k, k)  # noqa: E731
    notes = [f"**{name(k)}** skipped: {v}" for k, v in result["skipped"].items()]
    notes += [f"**{name(k)}** could not run: {v}" for k, v in result["failed"].items()]
    notes += [f"**{name(k)}**: {v[:1].upper()}{v[1:]}"
              for k, v in result.get("notes", {}).items()]
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


AUDIT_ACTIONS = {"alert_acknowledged": "Acknowledged an alert",
                 "alert_resolved": "Resolved an alert",
                 "alert_rule_changed": "Changed a rule", "alerts_generated": "Checked the rules"}


def audit_view(audit: pd.DataFrame, titles: dict[str, str] | None = None) -> None:
    if audit.empty:
        st.caption("Nothing recorded yet.")
        return
    titles = titles or {}
    st.dataframe(pd.DataFrame({
        "When": audit["ts"].map(lambda t: f"{dd_mmm(t)} {pd.Timestamp(t):%H:%M}"),
        "Who": audit["actor"],
        "Action": audit["action"].map(lambda a: AUDIT_ACTIONS.get(
            a, str(a).replace("_", " ").capitalize())),
        "Details": [audit_sentence(a, d, titles)
                    for a, d in zip(audit["action"], audit["details"])],
    }), hide_index=True, width="stretch", height=min(38 + 35 * len(audit), 320),
        column_config={"Details": st.column_config.TextColumn("Details", width="large")})


def _words(key: str) -> str:
    return str(key).replace("_", " ")


def _value(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (int, float)):
        return indian_grouping(v, 0 if float(v).is_integer() else 2)
    return str(v)


def audit_sentence(action: str, text, titles: dict[str, str] | None = None) -> str:
    """One audit row's details as a sentence (never the raw JSON it is stored as)."""
    titles = titles or {}
    try:
        d = json.loads(text)
    except (TypeError, ValueError):
        return str(text or "")
    if not isinstance(d, dict):
        return str(d)
    if "alert_id" in d:
        rule = titles.get(d.get("rule"), d.get("rule") or "")
        return f"{d['alert_id']} · {rule} · {d.get('entity', '')}".strip(" ·")
    if "rule" in d and "after" in d:
        before, after = d.get("before") or {}, d.get("after") or {}
        changes = []
        for key in ("enabled", "severity"):
            if before.get(key) != after.get(key):
                changes.append(f"{_words(key)} {_value(before.get(key))} → "
                               f"{_value(after.get(key))}")
        old_p, new_p = before.get("params") or {}, after.get("params") or {}
        for key in new_p:
            if old_p.get(key) != new_p.get(key):
                changes.append(f"{_words(key)} {_value(old_p.get(key, '—'))} → "
                               f"{_value(new_p[key])}")
        return f"{titles.get(d['rule'], d['rule'])}: " + ("; ".join(changes) or "saved unchanged")
    if action == "alerts_generated" or "found" in d:
        found = d.get("found") or {}
        text = (f"As of {dd_mmm(d['as_of']) if d.get('as_of') else '—'}: "
                f"{indian_grouping(sum(found.values()))} found, "
                f"{indian_grouping(d.get('inserted', 0))} new")
        skipped = d.get("skipped") or {}
        if skipped:
            text += "; skipped " + ", ".join(titles.get(k, k) for k in skipped)
        failed = d.get("failed") or {}
        if failed:
            text += "; failed " + ", ".join(titles.get(k, k) for k in failed)
        return text
    return "; ".join(f"{_words(k)} {_value(v)}" for k, v in d.items()
                     if v not in (None, "", {}, []) and not isinstance(v, (dict, list)))


def top_alerts_panel(df: pd.DataFrame, n: int = 5) -> None:
    """Overview panel: the `n` most severe open alerts (within a severity, the most rupees
    at stake first) with their rupees at stake, reasons and links."""
    open_ = df[df["status"].isin(["new", "acknowledged"])] if len(df) else df
    st.subheader("Needs attention")
    if open_.empty:
        st.caption("No open alerts. Generate them on the Alerts page.")
        return
    for r in _most_severe(open_).head(n).itertuples(index=False):
        # The reason already names the SKU (or market / PIN) and the place: say it once.
        link = f" [Open page]({r.link})" if isinstance(r.link, str) and r.link else ""
        stake = getattr(r, "at_stake", None)
        worth = f" **{inr_compact(float(stake))} at stake**" if stake is not None and \
            pd.notna(stake) else ""
        st.markdown(f"{severity_badge(r.severity)}{worth} {r.reason} "
                    f":gray[{dd_mmm(r.day)}]{link}")
    if len(open_) > n:
        st.markdown(f"[All {indian_grouping(len(open_))} open alerts](/Alerts)")
