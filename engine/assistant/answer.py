"""Answers from the engine: each intent calls the function the page behind it uses.

forecast / compare -> forecasts.forecast_series (Forecast page), explain ->
forecasts.driver_effects plus the festival calendar's multiplier, accuracy ->
backtests.selection_backtest (Accuracy page), price -> pricing.service
.elasticity_table (Pricing page), reorder -> inventory.planner.load_inputs/make_plan and,
with a budget, inventory.optimize (Reorder page), sourcing -> sourcing.service.rank_for_pin
and commodity_prices (Sourcing page), alerts -> alerts.list_alerts (Alerts page).

Every figure in a sentence comes from those results (₹ lakh/crore, Indian grouping,
DD-MMM). A missing or ambiguous entity, or a place with no store, ends in a clarifying
question with choices, never a guess. A store user gets answers only within their PIN
codes: a place outside them is named as such and no number is read for it.
"""
from __future__ import annotations

from engine import auth
from engine.assistant.answer_demand import accuracy, compare, explain, forecast
from engine.assistant.answer_planning import alerts, price, reorder, sourcing
from engine.assistant.context import Answer, Context, place_problem, product_problem

INTENT_PAGE = {"forecast": "Forecast", "compare": "Forecast", "explain": "Forecast",
               "accuracy": "Accuracy", "price": "Pricing", "reorder": "Reorder",
               "sourcing": "Sourcing", "alerts": "Alerts", "help": None}


def help_answer(ctx: Context) -> Answer:
    return Answer("Ask about demand and what to do about it, in English or Hinglish: a "
                  "forecast ('How much Amul butter will Delhi sell next week?'), why it is "
                  "high or low, how accurate it is, prices and discounts ('What if I cut "
                  "Limca price by 10%?'), what to reorder, which mandi is cheapest for a "
                  "commodity, open alerts, or a comparison of two cities or products. "
                  "Follow-ups like 'and in Mumbai?' or 'why?' keep the last question's "
                  "details.")


HANDLERS = {"forecast": forecast, "compare": compare, "explain": explain,
            "accuracy": accuracy, "price": price, "reorder": reorder, "sourcing": sourcing,
            "alerts": alerts, "help": help_answer}


def respond(intent: str, ctx: Context) -> Answer:
    """The answer to an understood question, within the user's role and PIN codes."""
    page = INTENT_PAGE.get(intent)
    if page and ctx.user is not None and not auth.can_open_page(ctx.user, page):
        return Answer(f"{page} answers are not available to your role "
                      f"({ctx.user.role_label}); ask about forecasts, reorders or alerts "
                      "for your stores.")
    if intent != "help":
        problem = (None if intent == "sourcing" and not (ctx.user and ctx.user.is_scoped)
                   else place_problem(ctx)) or product_problem(ctx)
        if problem is not None:
            return problem
    return HANDLERS[intent](ctx)
