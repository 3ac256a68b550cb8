"""Scoring the assistant on the labelled questions in tests/fixtures/assistant_questions.jsonl
(used by tests/test_assistant_fixture.py and benchmarks/bench_assistant.py).

The labels' dates assume the warehouse's "today" is 02-Dec-2026, i.e. a demo whose sales
end on 01-Dec-2026 (`ANCHOR_END`). Questions sharing a `conversation` are asked in order
in one conversation; the others each start a new one. Entity scores compare the set of
values per entity key (a list counts each value): true positives are values both in the
label and the answer, false positives answered but not labelled, false negatives
labelled but not answered."""
from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from engine.assistant.understand import ENTITY_KEYS

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "assistant_questions.jsonl"
HOLDOUT = FIXTURE.with_name("assistant_questions_holdout.jsonl")
ANCHOR_END = date(2026, 12, 1)


def load_questions(path: Path = FIXTURE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _values(value) -> set:
    if value is None:
        return set()
    values = value if isinstance(value, list) else [value]
    return {round(float(v), 2) if isinstance(v, (int, float)) else str(v) for v in values}


def evaluate(wh, questions: list[dict], user=None) -> dict:
    """Ask every question; returns accuracy, entity counts/F1 and per-question results."""
    from engine.assistant import ask

    rows, conv_ids = [], {}
    for q in questions:
        conv = q.get("conversation")
        cid = conv_ids.setdefault(conv, f"eval-{conv}-{id(questions)}") if conv else \
            f"eval-single-{q['id']}-{id(questions)}"
        started = time.perf_counter()
        out = ask(wh, q["question"], conversation_id=cid, user=user)
        seconds = time.perf_counter() - started
        rows.append({"q": q, "out": out, "seconds": seconds})
    counts = {k: [0, 0, 0] for k in ENTITY_KEYS}      # tp, fp, fn
    intent_ok = clarify_ok = 0
    misses = []
    for r in rows:
        q, out = r["q"], r["out"]
        ok_intent = out["intent"] == q["intent"]
        ok_clarify = (out["clarify"] is not None) == q["clarify"]
        intent_ok += ok_intent
        clarify_ok += ok_clarify
        wrong = []
        for k in ENTITY_KEYS:
            gold, got = _values(q["entities"].get(k)), _values(out["entities"].get(k))
            counts[k][0] += len(gold & got)
            counts[k][1] += len(got - gold)
            counts[k][2] += len(gold - got)
            if gold != got:
                wrong.append(f"{k}: want {sorted(gold, key=str)} got {sorted(got, key=str)}")
        if not ok_intent or wrong or not ok_clarify:
            misses.append(f"#{q['id']} {q['question']!r}: intent {out['intent']} "
                          f"(want {q['intent']}){'' if ok_clarify else ', clarify wrong'}; "
                          + "; ".join(wrong))
    per = {k: _f1(*c) for k, c in counts.items() if sum(c)}
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"n": len(rows), "intent_accuracy": intent_ok / len(rows),
            "clarify_accuracy": clarify_ok / len(rows), "entity_f1": per,
            "overall_f1": _f1(*total)["f1"], "seconds": [r["seconds"] for r in rows],
            "misses": misses}


def _f1(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": tp + fn}
