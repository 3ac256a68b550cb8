"""Ask MicroPulse (engine.assistant): intents, entities, answers with the engine's own
numbers, follow-ups, clarifications, store-user scoping and the optional language model,
on the small demo with one cheap forecast run (tests/forecast_page_frames.py)."""
from __future__ import annotations

import json
import re
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest

from engine import auth
from engine.assistant import AssistantError, ask
from engine.assistant.dates import find_dates
from engine.assistant.understand import understand
from engine.assistant.vocab import vocabulary
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse


@pytest.fixture(scope="module")
def wh(small_warehouse_path, tmp_path_factory):
    from engine.alerts import generate_alerts
    from tests.forecast_page_frames import copy_warehouse, forecast_copy

    path = copy_warehouse(forecast_copy(str(small_warehouse_path)),
                          tmp_path_factory.mktemp("assistant") / "ask.duckdb")
    w = Warehouse(path)
    generate_alerts(w)
    yield w
    w.close()


@pytest.fixture(scope="module")
def vocab(wh):
    return vocabulary(wh)


def _u(q, vocab, previous=None):
    return understand(q, vocab, previous)


@pytest.mark.parametrize("question,intent", [
    ("How much Amul butter will Delhi sell next week?", "forecast"),
    ("Kal Mumbai mein Limca kitna bikega?", "forecast"),
    ("How accurate is the forecast for Kolkata?", "accuracy"),
    ("What if I cut the price of Sprite by 10%?", "price"),
    ("What should I reorder today in Chennai?", "reorder"),
    ("Which mandi is cheapest for onions to Jaipur?", "sourcing"),
    ("Any critical alerts for Delhi?", "alerts"),
    ("Why is the forecast for sweets so high before Diwali?", "explain"),
    ("Compare Delhi and Mumbai demand next week", "compare"),
    ("What can you do?", "help"),
    ("Limca Chennai kal", "forecast"),        # only a product, a place and a day
])
def test_each_intent_is_recognised_with_a_confidence(vocab, question, intent):
    parsed = _u(question, vocab)
    assert parsed.intent == intent
    assert 0.45 <= parsed.confidence <= 1


def test_entities_come_from_the_warehouse_vocabulary(vocab):
    e = _u("How much Amul buter will Bombay sell at Andheri East agle hafte?", vocab).entities
    assert e["sku_id"] == "DA-0001" and e["pin_code"] == "400069" and e["city"] == "Mumbai"
    assert (e["date_from"], e["date_to"]) == tuple(
        d.isoformat() for d in (find_dates("next week", vocab.today).date_from,
                                find_dates("next week", vocab.today).date_to))
    assert _u("mithai ki demand Chennai mein", vocab).entities["category"] == "Sweets"
    assert _u("pyaz ka bhav Azadpur mandi", vocab).entities == {
        "commodity": "Onion", "market": "Azadpur"}
    assert _u("why are sweets high before Deepavali", vocab).entities["festival"] == "Diwali"
    e = _u("Which mandi is cheapest for 2 tonnes of tomatoes to 600023?", vocab).entities
    assert (e["commodity"], e["pin_code"], e["quantity_qtl"]) == ("Tomato", "600023", 20.0)
    assert _u("What if I give 15% off on Kurkure?", vocab).entities["price_change_pct"] == -15
    assert _u("Raise Thums Up price by 5%", vocab).entities["price_change_pct"] == 5
    assert _u("reorder plan with a budget of 5 lakh", vocab).entities["budget"] == 500_000


def test_pack_size_picks_the_sku_and_a_missing_size_asks(vocab):
    assert _u("Soan Papdi 500 g forecast", vocab).entities["sku_id"] == "SW-0001"
    parsed = _u("How much Soan Papdi will Delhi sell?", vocab)
    assert "sku_id" not in parsed.entities and parsed.sku_options == ["SW-0001", "SW-0002"]


def test_dates_in_english_hinglish_and_indian_order():
    today = date(2026, 12, 2)            # a Wednesday
    assert find_dates("kal kitna bikega", today).date_from == date(2026, 12, 3)
    assert find_dates("kal kitna bika", today).date_from == date(2026, 12, 1)
    assert find_dates("parso", today).date_from == date(2026, 12, 4)
    span = find_dates("agle hafte", today)
    assert (span.date_from, span.date_to) == (date(2026, 12, 7), date(2026, 12, 13))
    assert find_dates("is mahine", today).date_to == date(2026, 12, 31)
    assert find_dates("on 15-Aug", today).date_from == date(2027, 8, 15)
    assert find_dates("05/01", today).date_from == date(2027, 1, 5)     # DD/MM
    span = find_dates("next 10 days", today)
    assert (span.date_to, span.horizon_days) == (date(2026, 12, 11), 10)
    assert find_dates("budget of 1.5 lakh", today) is None


def test_forecast_answer_is_the_stored_forecast_for_the_period(wh, vocab):
    from engine.warehouse.forecasts import forecast_series
    from engine.warehouse.runs import latest_forecast_run
    from engine.warehouse.sql import Selection
    from engine.warehouse.sql import Filters

    out = ask(wh, "How much will Delhi sell tomorrow?")
    run = latest_forecast_run(wh)
    s = forecast_series(wh, run["run_id"], Selection(city="Delhi"), Filters())
    day = pd.Timestamp(vocab.today) + pd.Timedelta(days=1)
    want = float(s.loc[pd.to_datetime(s["date"]) == day, "forecast"].sum())
    assert out["intent"] == "forecast" and out["clarify"] is None
    assert out["table"][0]["forecast"] == pytest.approx(want, abs=0.1)
    assert f"{want:,.0f}".replace(",", "") in out["answer"].replace(",", "")
    assert out["link"]["page"] == "Forecast"


def test_a_past_period_is_answered_with_the_sales_recorded(wh, vocab):
    day = (pd.Timestamp(vocab.today) - pd.Timedelta(days=1)).date()
    want = wh.scalar("SELECT sum(s.quantity) FROM sales_daily s JOIN locations l "
                     "USING (pin_code) WHERE l.city = 'Delhi' AND s.date = ?", [day])
    out = ask(wh, "How much did Delhi sell yesterday?")
    assert out["entities"]["date_from"] == day.isoformat()
    assert sum(r["quantity"] for r in out["table"]) == pytest.approx(want)
    assert "sold" in out["answer"] and "forecast" not in out["answer"]


def test_reorder_and_sourcing_answers_match_the_engine(wh):
    from engine.sourcing.service import rank_for_pin

    out = ask(wh, "What should I reorder in Chennai?")
    assert out["intent"] == "reorder" and out["table"]
    assert {r["city"] for r in out["table"]} == {"Chennai"}
    out = ask(wh, "Which mandi is cheapest for onions to 600023, 20 quintals?")
    best = rank_for_pin(wh, "Onion", "600023", 20).iloc[0]
    assert out["table"][0]["market"] == best["market"]
    assert best["market"] in out["answer"]
    assert out["link"]["params"] == {"commodity": "Onion", "pin": "600023", "quantity": "20"}
    board = ask(wh, "Show me mandi prices for onion")       # no destination: modal prices
    latest = wh.query("SELECT arg_max(modal_price, date) AS p FROM mandi_prices "
                      "WHERE commodity = 'Onion' GROUP BY market")["p"]
    assert board["clarify"] is None and board["table"][0]["modal_price"] == latest.min()
    assert len(board["table"]) == len(latest)


def test_follow_ups_reuse_the_last_question_across_calls(wh):
    first = ask(wh, "How much Amul Milk Peda will Delhi sell next week?", "conv-follow")
    second = ask(wh, "and in Mumbai?", "conv-follow")
    assert second["intent"] == "forecast" and second["follow_up"]
    assert second["entities"]["sku_id"] == "SW-0003" and second["entities"]["city"] == "Mumbai"
    assert second["entities"]["date_from"] == first["entities"]["date_from"]
    third = ask(wh, "why?", "conv-follow")
    assert third["intent"] == "explain" and third["entities"]["city"] == "Mumbai"
    with pytest.raises(AssistantError) as err:
        ask(wh, "and in Delhi?", "conv-follow", user=auth.User("someone", "analyst"))
    assert err.value.code == "conversation_not_yours"


def test_ambiguity_asks_with_choices_and_the_reply_resolves_it(wh):
    out = ask(wh, "How much Nescafe Classic will Chennai sell?", "conv-clarify")
    assert out["clarify"] == {"question": "Which Nescafe Classic: 100 g or 50 g?",
                              "options": ["Nescafe Classic 100 g", "Nescafe Classic 50 g"]}
    assert out["table"] == [] and not re.search(r"\d+ units", out["answer"])
    out = ask(wh, "50 g", "conv-clarify")
    assert out["entities"]["sku_id"] == "TC-0003" and out["clarify"] is None
    out = ask(wh, "How much will Pune sell next week?")
    assert out["clarify"]["options"] == ["Chennai", "Delhi", "Kolkata", "Mumbai"]
    assert "no store in Pune" in out["answer"]
    assert ask(wh, "blah blah")["intent"] == "unclear"


def test_store_user_gets_no_number_outside_their_pin_codes(wh):
    pins = ("400069",)
    store = auth.User("store1", "store", pins)
    scoped = ScopedWarehouse(wh, pins)
    out = ask(scoped, "How much will Delhi sell next week?", user=store)
    assert "outside your PIN codes" in out["answer"]
    assert out["table"] == [] and out["clarify"]["options"] == ["400069"]
    assert not re.search(r"\d", out["answer"].replace("400069", ""))
    out = ask(scoped, "What is the forecast for PIN 110002 tomorrow?", user=store)
    assert "outside your PIN codes" in out["answer"] and out["table"] == []
    own = ask(scoped, "How much will 400069 sell tomorrow?", user=store)
    assert own["table"] and "units" in own["answer"]
    assert "not available to your role" in ask(
        scoped, "price elasticity of Limca", user=store)["answer"]
    reorder = ask(scoped, "What should I reorder?", user=store)
    assert {r["pin_code"] for r in reorder["table"]} <= set(pins)


class _FakeLLM(BaseHTTPRequestHandler):
    reply = ""

    def do_POST(self):              # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert "Rephrase" in body["prompt"] and body["stream"] is False
        data = json.dumps({"response": type(self).reply}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_language_model_may_only_rephrase(wh, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeLLM)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plain = ask(wh, "Which mandi is cheapest for onions to 600023?")
        assert plain["rephrased"] is False               # off by default
        monkeypatch.setenv("MICROPULSE_LLM_URL", f"http://127.0.0.1:{server.server_port}/")
        numbers = re.findall(r"\d+(?:[.,]\d+)*", plain["answer"])
        _FakeLLM.reply = "In short: " + " / ".join(numbers) + " — see the table. " \
            + plain["answer"]
        out = ask(wh, "Which mandi is cheapest for onions to 600023?")
        assert out["rephrased"] and out["answer"].startswith("In short")
        assert out["engine_answer"] == plain["answer"]
        _FakeLLM.reply = "Buy onions at 999 rupees."     # a number the engine never gave
        out = ask(wh, "Which mandi is cheapest for onions to 600023?")
        assert not out["rephrased"] and out["answer"] == plain["answer"]
    finally:
        server.shutdown()
    monkeypatch.setenv("MICROPULSE_LLM_URL", f"http://127.0.0.1:{server.server_port}/")
    out = ask(wh, "Which mandi is cheapest for onions to 600023?")   # server gone
    assert not out["rephrased"] and out["answer"] == plain["answer"]


def test_out_of_range_numbers_are_refused_in_words(wh):
    out = ask(wh, "What if I cut the price of Limca by 100%?")
    assert "outside what the elasticities can tell" in out["answer"] and out["table"] == []
    out = ask(wh, "What should I reorder in Delhi with a budget of 0?")
    assert "a budget must be more than ₹0" in out["answer"]


def test_bad_questions_get_a_coded_error(wh):
    for question, code in (("   ", "empty_question"), ("x" * 501, "question_too_long")):
        with pytest.raises(AssistantError) as err:
            ask(wh, question)
        assert err.value.code == code


def test_labelled_questions_meet_the_targets(tmp_path):
    """The fixture's 300+ questions: intent accuracy >= 95%, entity F1 >= 90%."""
    from engine.demo import DemoConfig, load_demo
    from tests.assistant_eval import ANCHOR_END, evaluate, load_questions

    w = Warehouse(tmp_path / "anchored.duckdb")
    try:
        load_demo(w, DemoConfig.small(end_date=ANCHOR_END))
        questions = load_questions()
        assert len(questions) >= 300
        res = evaluate(w, questions)
    finally:
        w.close()
    assert res["intent_accuracy"] >= 0.95, res["misses"][:20]
    assert res["overall_f1"] >= 0.90, res["misses"][:20]
    assert min(v["f1"] for v in res["entity_f1"].values()) >= 0.85, res["entity_f1"]
