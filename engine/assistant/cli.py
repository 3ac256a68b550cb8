"""`python -m engine ask "QUESTION" [--conversation ID] [--json]`: Ask MicroPulse from the
command line, as the local operator (every PIN code, like the other commands). Pass the
conversation id printed by one question to the next for follow-ups ("and in Pune?")."""
from __future__ import annotations

import argparse
import json
import sys

from engine.warehouse.cli import add_warehouse_arg, open_warehouse


def add_commands(sub) -> None:
    p = sub.add_parser("ask", help="ask a question in plain words (English or Hinglish)")
    p.add_argument("question", help="e.g. \"How much Amul butter will Delhi sell next week?\"")
    p.add_argument("--conversation", metavar="ID", default=None,
                   help="continue this conversation (follow-ups reuse its last question)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: intent, confidence, entities, answer, table, "
                        "link, clarify, conversation_id, ...")
    add_warehouse_arg(p)
    p.set_defaults(func=run_ask)


def run_ask(args: argparse.Namespace) -> int:
    from engine.assistant import AssistantError, ask

    wh = open_warehouse(args)
    try:
        out = ask(wh, args.question, conversation_id=args.conversation)
    except AssistantError as exc:
        if args.json:
            print(json.dumps({"error": {"code": exc.code, "message": str(exc)}}))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        wh.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0
    print(out["answer"])
    if out["clarify"]:
        print("Options: " + " | ".join(out["clarify"]["options"]))
    for row in out["table"][:10]:
        print("  " + ", ".join(f"{k}: {v}" for k, v in row.items()))
    if out["reason"]:
        print(f"Why: {out['reason']}")
    if out["link"]:
        params = "&".join(f"{k}={v}" for k, v in out["link"]["params"].items())
        print(f"Details: {out['link']['page']} page" + (f" ({params})" if params else ""))
    print(f"(intent {out['intent']}, confidence {out['confidence']:.2f}; conversation "
          f"{out['conversation_id']})")
    return 0
