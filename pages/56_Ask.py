"""Ask MicroPulse: a question in plain words, answered with the engine's numbers.

Recipe: the conversation so far -> suggested questions (from this warehouse's catalog) ->
a typed question, a suggestion or a clarifying option -> engine.assistant.ask (same engine
calls as the pages, within the user's role and PIN codes) -> the answer with its table,
chart and a link to the page with the filters set.
"""
from __future__ import annotations

import streamlit as st

from components import assistant_views as av
from components.session import get_warehouse

st.set_page_config(page_title="MicroPulse · Ask", page_icon=":material/forum:", layout="wide")

wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Ask MicroPulse")
st.caption("Ask about forecasts, reorders, prices, mandis, alerts or accuracy, in English or "
           "Hinglish. Answers use the same numbers as the pages; follow-ups like 'and in "
           "Mumbai?' or 'why?' keep the last question's details.")
av.warm_model()
conversation_id, history = av.conversation()
if st.sidebar.button("New conversation", key="ask_new", icon=":material/refresh:"):
    av.new_conversation()
    conversation_id, history = av.conversation()

typed = st.chat_input("Ask a question, e.g. 'Kal Delhi mein Amul butter kitna bikega?'",
                      key="ask_input")
question = typed or av.take_pending()
if question:
    out, err = av.ask_question(wh, question, conversation_id)
    history.append({"question": question, "out": out, "error": err})

if not history:
    version = wh.data_version("sales", "mandi", "festivals")
    av.suggestion_buttons(av.suggested(wh, version))
for i, turn in enumerate(history):
    av.answer(turn, i, latest=i == len(history) - 1)
