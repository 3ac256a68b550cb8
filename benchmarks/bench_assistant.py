"""Ask MicroPulse: how well it understands the labelled questions, and how fast it answers.

    .venv/bin/python benchmarks/bench_assistant.py

Two labelled sets: tests/fixtures/assistant_questions.jsonl (340 questions, the one the
understanding layer was developed against) and assistant_questions_holdout.jsonl (43
questions written afterwards in new wordings, to show how it does on questions it has not
seen; see README for its score before and after the cue words it exposed were added).

Seeds the small demo with its sales ending on 01-Dec-2026 (the labels' dates assume that
"today" is 02-Dec-2026) in a temp dir, stores one forecast run (horizon 14, one backtest
fold; the page tests' cheap configuration), generates alerts and estimates elasticities,
then asks every labelled question through `engine.assistant.ask` (follow-up groups in one
conversation each) without a language model. Prints the intent model's load time, the
first question's time (vocabulary and caches built), intent and clarification accuracy,
precision / recall / F1 per entity and overall, and answer times (p50, p95, max) overall
and per intent. Nothing is asserted here.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.warehouse.db import Warehouse  # noqa: E402
from tests.assistant_eval import (ANCHOR_END, FIXTURE, HOLDOUT, evaluate,  # noqa: E402
                                  load_questions)


def build(path: Path) -> dict:
    from engine.alerts import generate_alerts
    from engine.demo import DemoConfig, load_demo
    from engine.forecast.pipeline import run_forecast
    from engine.pricing.service import elasticity_table
    from tests.forecast_page_frames import CHEAP

    wh = Warehouse(path)
    t = {}
    try:
        started = time.perf_counter()
        load_demo(wh, DemoConfig.small(end_date=ANCHOR_END))
        t["demo"] = time.perf_counter() - started
        started = time.perf_counter()
        run_forecast(wh, CHEAP)
        generate_alerts(wh)
        elasticity_table(wh)
        t["forecast, alerts, elasticities"] = time.perf_counter() - started
    finally:
        wh.close()
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", action="append", default=None,
                    help="labelled JSONL file(s) (default: the main set and the holdout)")
    args = ap.parse_args()
    fixtures = args.fixture or [str(FIXTURE), str(HOLDOUT)]
    os.environ.pop("MICROPULSE_LLM_URL", None)
    from engine.assistant import intents

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_assistant.duckdb"
        for step, seconds in build(path).items():
            print(f"setup: {step} {seconds:.1f} s")
        started = time.perf_counter()
        intents.model()
        print("intent model (WordLlama l2_supercat_256) load: "
              f"{time.perf_counter() - started:.2f} s")
        for fixture in fixtures:
            questions = load_questions(Path(fixture))
            wh = Warehouse(path)
            try:
                report(fixture, questions, evaluate(wh, questions))
            finally:
                wh.close()


def report(fixture: str, questions: list[dict], res: dict) -> None:
    secs = np.array(res["seconds"]) * 1000
    print(f"\nquestions: {res['n']} ({Path(fixture).name})")
    print(f"first question (builds the vocabulary and caches): {secs[0]:.0f} ms")
    print(f"intent accuracy: {100 * res['intent_accuracy']:.1f}%")
    print(f"clarify when expected (and only then): {100 * res['clarify_accuracy']:.1f}%")
    print("entity              precision  recall     F1  support")
    for key, m in res["entity_f1"].items():
        print(f"  {key:<17} {100 * m['precision']:8.1f}% {100 * m['recall']:6.1f}% "
              f"{100 * m['f1']:6.1f}% {m['support']:8d}")
    print(f"entity F1 overall (micro): {100 * res['overall_f1']:.1f}%")
    print(f"answer time, all questions: p50 {np.percentile(secs, 50):.0f} ms, "
          f"p95 {np.percentile(secs, 95):.0f} ms, max {secs.max():.0f} ms")
    rest = secs[1:]
    print(f"answer time after the first question: p50 {np.percentile(rest, 50):.0f} ms, "
          f"p95 {np.percentile(rest, 95):.0f} ms, max {rest.max():.0f} ms")
    by_intent = defaultdict(list)
    for q, s in zip(questions, secs):
        by_intent[q["intent"]].append(s)
    for intent, values in sorted(by_intent.items()):
        print(f"  {intent:<9} n={len(values):3d} p50 {np.percentile(values, 50):5.0f} ms "
              f"p95 {np.percentile(values, 95):5.0f} ms")
    if res["misses"]:
        print(f"{len(res['misses'])} question(s) not fully right:")
        for line in res["misses"]:
            print("  " + line)


if __name__ == "__main__":
    main()
