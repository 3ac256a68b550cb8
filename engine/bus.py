"""A small in-process event bus: the engine publishes what happens (forecast-run progress,
new alerts, ingest and sales-event results) and whoever listens in the same process (the
API's `/ws` WebSocket, the app when the API runs inside it with MICROPULSE_API_IN_APP=1)
gets each message it may see.

    sub = bus.subscribe(callback)          # callback(message) from the publishing thread
    bus.publish("alert", {...}, pin_code="560001")
    sub.close()

A message is a dict: `type`, `at` (UTC ISO time), the payload's fields, and its audience:
`pin_code` (None: not tied to a PIN), `audience` ('all', 'unscoped' = users who see every
PIN, or 'user:<name>'). `may_see(user, message)` is the one rule every listener applies:
a store user (scoped to PIN codes) gets a PIN's message only for one of their PINs, never
an 'unscoped' one, and a 'user:' message only when it is theirs. Publishing never blocks
and never raises: a listener that fails is dropped and logged. Nothing crosses processes
(a run started by the command line is seen by the app through the warehouse's data
version instead, components/live_updates.py).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Callable

log = logging.getLogger("micropulse.engine.bus")
Message = dict


class Subscription:
    def __init__(self, bus: "Bus", callback: Callable[[Message], None]):
        self._bus, self.callback = bus, callback

    def close(self) -> None:
        self._bus._drop(self)


class Bus:
    def __init__(self):
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Message], None]) -> Subscription:
        sub = Subscription(self, callback)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, kind: str, payload: dict | None = None, pin_code: str | None = None,
                audience: str = "all") -> Message:
        message = {"type": kind, "at": datetime.now(timezone.utc).isoformat(
            timespec="milliseconds"), **(payload or {}), "pin_code": pin_code,
            "audience": audience}
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.callback(message)
            except Exception as exc:  # noqa: BLE001 - one bad listener must not stop the rest
                log.warning("bus listener dropped: %s", exc)
                self._drop(sub)
        return message


def may_see(user, message: Message) -> bool:
    """Whether `user` (an engine.auth.User) may receive `message` (see the module doc)."""
    audience = str(message.get("audience") or "all")
    scoped = bool(getattr(user, "is_scoped", False))
    if audience.startswith("user:"):
        return audience[5:] == getattr(user, "username", None)
    if audience == "unscoped" and scoped:
        return False
    pin = message.get("pin_code")
    if scoped and pin is not None:
        return str(pin) in set(getattr(user, "pin_codes", ()) or ())
    return True


BUS = Bus()
subscribe = BUS.subscribe
publish = BUS.publish


def run_progress(kind: str, progress: Callable[[str], None] | None):
    """A progress callback for a forecast or backtest run that also publishes every step
    (`run_progress`, with a token that ties the steps of one run together); returns it and
    a `finished(run_id, ok)` function that publishes the end of the run."""
    token = f"{kind}-{datetime.now(timezone.utc).strftime('%H%M%S%f')}-{threading.get_ident()}"
    publish("run_progress", {"run": token, "kind": kind, "message": f"{kind} run started",
                             "step": 0})
    steps = [0]

    def say(message: str) -> None:
        steps[0] += 1
        publish("run_progress", {"run": token, "kind": kind, "message": str(message),
                                 "step": steps[0]})
        if progress is not None:
            progress(message)

    def finished(run_id: str | None, ok: bool = True, error: str | None = None) -> None:
        publish("run_finished", {"run": token, "kind": kind, "run_id": run_id, "ok": ok,
                                 "error": error, "steps": steps[0]})

    return say, finished
