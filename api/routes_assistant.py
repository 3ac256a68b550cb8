"""Ask MicroPulse over HTTP: `POST /v1/assistant/ask` with a question (and the
conversation id of the previous answer for follow-ups).

Any signed-in role may ask; each answer is held to the role's pages (a store user gets no
pricing, accuracy or mandi answers) and PIN codes (the caller's scoped handle; a place
outside them is answered "outside your PIN codes" with no number). A conversation belongs
to the user who started it."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Strict, error_responses
from api.security import Caller, current_caller

router = APIRouter(tags=["assistant"])


class AskRequest(Strict):
    question: Annotated[str, StringConstraints(min_length=1, max_length=500),
                        Field(examples=["How much Amul butter will Delhi sell next week?"])]
    conversation_id: Annotated[str | None, StringConstraints(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
        Field(description="from the previous answer, for follow-ups")] = None


class Entities(BaseModel):
    sku_id: str | list[str] | None = None
    category: str | list[str] | None = None
    pin_code: str | list[str] | None = None
    city: str | list[str] | None = None
    state: str | list[str] | None = None
    commodity: str | list[str] | None = None
    market: str | list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None
    horizon_days: int | None = None
    festival: str | list[str] | None = None
    price_change_pct: float | None = None
    budget: float | None = None
    quantity_qtl: float | None = None


class Clarify(BaseModel):
    question: str
    options: list[str]


class Link(BaseModel):
    page: str
    label: str
    params: dict[str, str]


class AskResponse(BaseModel):
    conversation_id: str
    question: str
    intent: Literal["forecast", "accuracy", "price", "reorder", "sourcing", "alerts",
                    "explain", "compare", "help", "unclear"]
    confidence: float = Field(ge=0, le=1)
    entities: Entities
    answer: str = Field(description="the answer (rephrased when a language model is set)")
    engine_answer: str = Field(description="the engine's own sentence")
    reason: str | None
    table: list[dict[str, Any]]
    chart: dict[str, Any] | None
    link: Link | None
    clarify: Clarify | None
    follow_up: bool
    rephrased: bool


@router.post("/v1/assistant/ask", response_model=AskResponse,
             responses=error_responses(401, 403, 422, 429, 503))
def assistant_ask(body: AskRequest, caller: Caller = Depends(current_caller)) -> dict:
    """Answer a question in plain words (English or Hinglish) with the engine's numbers:
    intent and confidence, the entities understood, a sentence, a small table, a link to
    the page with the detail, or a clarifying question with options."""
    from engine.assistant import ask

    caller.require("view")
    return ask(caller.wh, body.question, body.conversation_id, user=caller.user)
