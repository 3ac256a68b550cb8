"""Ask MicroPulse: a question in plain words (English or Hinglish), answered with the
engine's own numbers, within the user's role and PIN codes.

    from engine.assistant import ask
    ask(wh, "Kal Delhi mein Amul butter kitna bikega?", conversation_id="c1", user=user)

understanding (vocab, dates, intents, understand) -> answering (answer: the same engine
functions the pages call) -> optional rephrasing (llm, only with MICROPULSE_LLM_URL).
A conversation's last turn is kept in the warehouse (assistant_turns) so follow-ups work
across the app, the API and the CLI.
"""
from __future__ import annotations

import math
import uuid
from datetime import date

import pandas as pd

from engine import auth
from engine.assistant import intents, llm
from engine.assistant.answer import respond
from engine.assistant.context import Answer, Context
from engine.assistant.understand import ENTITY_KEYS, understand
from engine.assistant.vocab import vocabulary
from engine.errors import MicroPulseError

CONFIDENCE_FLOOR = 0.45
INTENT_CHOICES = {"forecast": "Forecast of sales", "reorder": "What to reorder",
                  "price": "Price and discount effect", "sourcing": "Mandi prices and sourcing",
                  "alerts": "Open alerts", "accuracy": "Forecast accuracy",
                  "explain": "Why the forecast is what it is", "compare": "A comparison",
                  "help": "What I can answer"}
MAX_QUESTION = 500


class AssistantError(MicroPulseError, ValueError):
    """A question the assistant cannot take (empty, too long, another user's
    conversation): code + message; a conversation that is not yours is a 403."""

    code = "assistant_error"
    STATUS = {"conversation_not_yours": 403}

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code,
                         http_status=self.STATUS.get(code, type(self).http_status))


def _plain(value):
    if isinstance(value, (pd.Timestamp, date)):
        return value.isoformat()[:10]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def table_records(table: pd.DataFrame | None) -> list[dict]:
    if table is None or table.empty:
        return []
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def ask(wh, question: str, conversation_id: str | None = None,
        user: auth.User | None = None, remember: bool = True) -> dict:
    """Answer one question. `user` None = the local operator (sees everything); a store
    user must come with their PIN-scoped handle. Returns the JSON-ready answer (see the
    README: intent, confidence, entities, answer, table, chart, link, clarify, ...)."""
    from engine.warehouse import conversations

    question = (question or "").strip()
    if not question:
        raise AssistantError("empty_question", "Type a question, e.g. 'How much Amul butter "
                                               "will Delhi sell next week?'")
    if len(question) > MAX_QUESTION:
        raise AssistantError("question_too_long", f"Keep the question under {MAX_QUESTION} "
                             f"characters (this one has {len(question)}).")
    conversation_id = conversation_id or uuid.uuid4().hex[:12]
    username = user.username if user is not None else "local"
    owner = conversations.conversation_owner(wh, conversation_id)
    if owner is not None and owner != username:
        raise AssistantError("conversation_not_yours", "That conversation belongs to another "
                             "user: start a new one (leave the conversation id out).")
    previous = conversations.last_turn(wh, conversation_id, username)
    vocab = vocabulary(wh)
    parsed = understand(question, vocab, previous)
    intent = parsed.intent
    if parsed.confidence < CONFIDENCE_FLOOR and not parsed.follow_up:
        ranked = sorted(parsed.scores, key=parsed.scores.get, reverse=True)[:3]
        result = Answer(
            "I am not sure what you want to know. Did you mean one of these?",
            clarify={"question": "What would you like to know?",
                     "options": [INTENT_CHOICES[i] for i in ranked]})
        intent = "unclear"
    else:
        ctx = Context(wh, vocab, user, parsed.entities, parsed.sku_options, parsed.brand)
        result = respond(intent, ctx)
    entities = {k: parsed.entities.get(k) for k in ENTITY_KEYS}
    out = {"conversation_id": conversation_id, "question": question, "intent": intent,
           "confidence": parsed.confidence, "entities": entities,
           "answer": result.answer, "engine_answer": result.answer,
           "reason": result.reason, "table": table_records(result.table),
           "chart": result.chart, "link": result.link, "clarify": result.clarify,
           "follow_up": parsed.follow_up, "rephrased": False}
    if llm.configured() and result.clarify is None:
        better = llm.rephrase(question, result.answer,
                              {k: out[k] for k in ("intent", "entities", "reason")})
        if better:
            out["answer"], out["rephrased"] = better, True
    if remember:
        memory = dict(parsed.entities)
        if parsed.sku_options and not parsed.entities.get("sku_id"):
            memory["_sku_options"] = parsed.sku_options
        if result.clarify is not None:
            memory["_clarify"] = True
        conversations.save_turn(wh, conversation_id, username, question,
                                  parsed.intent if intent == "unclear" else intent, memory)
    return out


def warm_up() -> float:
    """Load the intent model now (first question otherwise pays for it); seconds taken."""
    intents.model()
    return intents.LOAD_SECONDS or 0.0


def suggestions(wh, user: auth.User | None = None) -> list[str]:
    """Questions to try, written from this warehouse's own places, best seller and mandis;
    only those whose page the user may open."""
    from engine.warehouse.sales_summary import top_skus
    from engine.warehouse.sql import Filters

    vocab = vocabulary(wh)
    cities = sorted(vocab.city_pins, key=lambda c: (-len(vocab.city_pins[c]), c))
    one = cities[0] if cities else "my stores"
    two = cities[1] if len(cities) > 1 else None
    top = top_skus(wh, Filters(cities=(one,) if cities else (),
                               pin_scope=getattr(wh, "pin_scope", None)), n=1)
    sku = str(top["name"].iloc[0]) if len(top) else "milk"
    category = str(top["category"].iloc[0]) if len(top) else "Dairy"
    out = [(f"How much {sku} will {one} sell next week?", "Forecast"),
           (f"What should I reorder today in {one}?", "Reorder"),
           (f"Kal {one} mein {sku} kitna bikega?", "Forecast"),
           (f"Why is the forecast for {category} in {one} so high?", "Forecast"),
           ("Which alerts are critical?", "Alerts")]
    if vocab.commodities:
        out.append((f"Which mandi is cheapest for {vocab.commodities[0].lower()} to {one}?",
                    "Sourcing"))
    out.append((f"What if I cut the price of {sku} by 10%?", "Pricing"))
    if two:
        out.append((f"Compare {one} and {two} sales next week", "Forecast"))
    return [q for q, page in out if user is None or auth.can_open_page(user, page)]
