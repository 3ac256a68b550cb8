"""Optional rephrasing by a local language model (off unless MICROPULSE_LLM_URL is set).

The model gets the engine's structured answer and may only rephrase the sentence: a reply
that drops one of the answer's numbers or brings a number of its own is thrown away and
the engine's sentence is kept, as it is when the server is slow (MICROPULSE_LLM_TIMEOUT,
default 8 s), down or answers nonsense. Speaks Ollama's /api/generate ({"response"}) and
llama.cpp's /completion ({"content"}) and OpenAI-style completions ({"choices"}).
"""
from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request

log = logging.getLogger(__name__)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
PROMPT = ("Rephrase this answer for a busy Indian retail manager in one or two short, "
          "friendly sentences. Keep every number, date, ₹ amount and name exactly as "
          "written; add no facts and no numbers.\nQuestion: {question}\nAnswer: {answer}\n"
          "Data (JSON): {data}\nRephrased answer:")


def configured() -> bool:
    return bool(os.environ.get("MICROPULSE_LLM_URL", "").strip())


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def rephrase(question: str, answer: str, data: dict) -> str | None:
    """The model's wording of `answer`, or None (not configured, failed, or it changed a
    number)."""
    url = os.environ.get("MICROPULSE_LLM_URL", "").strip()
    if not url:
        return None
    body = {"model": os.environ.get("MICROPULSE_LLM_MODEL", "llama3.2"), "stream": False,
            "prompt": PROMPT.format(question=question, answer=answer,
                                    data=json.dumps(data, default=str)[:2000])}
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        timeout = float(os.environ.get("MICROPULSE_LLM_TIMEOUT", "8"))
        with urllib.request.urlopen(req, timeout=timeout) as resp:   # noqa: S310 - local URL
            reply = json.loads(resp.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError) as exc:
        log.warning("language model not used: %s", exc)
        return None
    text = reply.get("response") or reply.get("content") if isinstance(reply, dict) else None
    if not text and isinstance(reply, dict) and reply.get("choices"):
        first = reply["choices"][0]
        text = first.get("text") or (first.get("message") or {}).get("content")
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if _numbers(text) != _numbers(answer):
        log.warning("language model reply dropped or added a number; kept the engine's answer")
        return None
    return text
