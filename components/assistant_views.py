"""Widgets and renderers for the Ask page: the conversation, one answer (sentence, table,
chart, link to the detail page, clarifying options) and the suggested questions. The
engine call (`engine.assistant.ask`) goes through `ask_question`, which turns any error
into a sentence; the intent model is loaded once per process (`warm_model`)."""
from __future__ import annotations

import uuid

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import current_user
from components.errors import attempt
from components.nav import NAV_ICONS, registered_pages
from components.tables import show_table
from engine.assistant import AssistantError, ask, suggestions, warm_up

HISTORY, CONVERSATION, PENDING = "ask_history", "ask_conversation", "ask_pending"
INTENT_WORDS = {"forecast": "sales forecast", "accuracy": "forecast accuracy",
                "price": "price and discount", "reorder": "reorder", "sourcing": "mandi",
                "alerts": "alerts", "explain": "why", "compare": "comparison",
                "help": "help", "unclear": "not yet clear"}


@st.cache_resource(show_spinner="Loading the language understanding model...")
def warm_model() -> float:
    """Seconds the intent model took to load (once per process)."""
    return warm_up()


@st.cache_data(show_spinner=False, max_entries=8)
def _suggested(_wh, version: str, role: str | None) -> list[str]:
    return suggestions(_wh, current_user())


def suggested(wh, version: str) -> list[str]:
    """Suggested questions for this warehouse and the user's role (cached per both)."""
    user = current_user()
    return _suggested(wh, version, user.role if user else None)


def conversation() -> tuple[str, list[dict]]:
    """This session's conversation id and its answered turns."""
    if CONVERSATION not in st.session_state:
        st.session_state[CONVERSATION] = uuid.uuid4().hex[:12]
        st.session_state[HISTORY] = []
    return st.session_state[CONVERSATION], st.session_state[HISTORY]


def new_conversation() -> None:
    st.session_state.pop(CONVERSATION, None)
    st.session_state.pop(HISTORY, None)


def queue(question: str) -> None:
    """A suggested question or a clarifying option, asked on this rerun."""
    st.session_state[PENDING] = question


def take_pending() -> str | None:
    return st.session_state.pop(PENDING, None)


def ask_question(wh, question: str, conversation_id: str) -> tuple[dict | None, str | None]:
    return attempt(ask, wh, question, conversation_id, current_user(),
                   expected=(AssistantError,), failed="The question could not be answered")


def suggestion_buttons(questions: list[str]) -> None:
    st.caption("Try one of these")
    cols = st.columns(2)
    for i, q in enumerate(questions):
        cols[i % 2].button(q, key=f"ask_suggest_{i}", on_click=queue, args=(q,),
                           width="stretch")


def _figure(table: pd.DataFrame, chart: dict) -> go.Figure:
    fig = go.Figure()
    for col in chart["y"]:
        if chart["kind"] == "line":
            fig.add_trace(go.Scatter(x=table[chart["x"]], y=table[col], mode="lines+markers",
                                     name=col.replace("_", " ")))
        else:
            fig.add_trace(go.Bar(x=table[chart["x"]], y=table[col], name=col.replace("_", " ")))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10),
                      showlegend=len(chart["y"]) > 1, separators=".,",
                      xaxis_tickformat="%d-%b" if chart["kind"] == "line" else None)
    return fig


def link(spec: dict | None, where=st) -> None:
    """The detail page with the answer's filters, when the app has registered it."""
    if not spec:
        return
    pages = registered_pages()
    if spec["page"] in pages:
        where.page_link(pages[spec["page"]], label=spec["label"], icon=NAV_ICONS[spec["page"]],
                        query_params=spec["params"] or None)
    else:
        params = ", ".join(f"{k} {v}" for k, v in spec["params"].items())
        where.caption(f"Details: {spec['page']} page" + (f" ({params})" if params else ""))


def answer(turn: dict, index: int, latest: bool) -> None:
    """One answered turn: the sentence, why (on hover), options, table, chart, link."""
    out = turn["out"]
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant"):
        if turn.get("error"):
            st.error(turn["error"], icon=":material/error:")
            return
        st.markdown(out["answer"], help=out.get("reason"))
        if out.get("rephrased"):
            st.caption(f"Engine's wording: {out['engine_answer']}")
        if out.get("clarify") and latest:
            cols = st.columns(min(4, len(out["clarify"]["options"])) or 1)
            for i, option in enumerate(out["clarify"]["options"]):
                cols[i % len(cols)].button(option, key=f"ask_opt_{index}_{i}", on_click=queue,
                                           args=(option,))
        table = pd.DataFrame(out.get("table") or [])
        for col in table.columns:     # ISO dates from the JSON answer -> DD-MMM on screen
            if "date" in str(col).lower() and table[col].dtype == object:
                parsed = pd.to_datetime(table[col], format="%Y-%m-%d", errors="coerce")
                if parsed.notna().all():
                    table[col] = parsed
        if not table.empty:
            if out.get("chart") and len(table) > 1:
                st.plotly_chart(_figure(table, out["chart"]), width="stretch",
                                key=f"ask_chart_{index}")
            with st.expander("Numbers", expanded=len(table) <= 6):
                show_table(table)
        link(out.get("link"))
        st.caption(f"Read as a {INTENT_WORDS.get(out['intent'], out['intent'])} question",
                   help=f"Intent {out['intent']}, confidence {out['confidence']:.0%}"
                        + _entity_text(out["entities"]))


def _entity_text(entities: dict) -> str:
    shown = {k: v for k, v in entities.items() if v not in (None, [], "")}
    if not shown:
        return ""
    return ": " + "; ".join(
        f"{k.replace('_', ' ')} {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in shown.items())
