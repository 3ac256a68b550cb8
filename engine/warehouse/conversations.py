"""Ask MicroPulse's conversation memory (`assistant_turns`).

A turn is one answered question: its intent and the entities it used (JSON), so a
follow-up ("and in Pune?", "why?") can reuse them. Turns are keyed by conversation id AND
user name: one user can never continue another's conversation. A store user's handle is
PIN-scoped and read-only and hides this table, so memory is read and written through the
handle's base warehouse (`ScopedWarehouse.base`); what is stored is the user's own
question, never a number. A memory write changes no cached result (touches no domain)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb

from engine.warehouse.db import Warehouse, WarehouseError


def _base(wh) -> Warehouse:
    return getattr(wh, "base", wh)


def last_turn(wh, conversation_id: str, username: str) -> dict | None:
    """The newest turn of the user's conversation: {turn, intent, entities}, or None (also
    when a read-only warehouse made before schema 8 has no memory table)."""
    try:
        rows = _base(wh).query(
            "SELECT turn, intent, entities FROM assistant_turns WHERE conversation_id = ? "
            "AND username = ? ORDER BY turn DESC LIMIT 1", [conversation_id, username])
    except duckdb.CatalogException:
        return None
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {"turn": int(row["turn"]), "intent": str(row["intent"]),
            "entities": json.loads(row["entities"])}


def save_turn(wh, conversation_id: str, username: str, question: str, intent: str,
              entities: dict) -> bool:
    """Append a turn; False (memory not kept, the answer still stands) when the
    warehouse cannot be written (read-only file, another process holds the lock)."""
    base = _base(wh)
    try:
        with base.transaction(touches=()) as cur:
            turn = cur.execute(
                "SELECT coalesce(max(turn), 0) + 1 FROM assistant_turns "
                "WHERE conversation_id = ?", [conversation_id]).fetchone()[0]
            cur.execute("INSERT INTO assistant_turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [conversation_id, int(turn), username,
                         datetime.now(timezone.utc).replace(tzinfo=None), question[:2000],
                         intent, json.dumps(entities, default=str, sort_keys=True)])
    except (WarehouseError, duckdb.CatalogException):
        return False
    return True


def conversation_owner(wh, conversation_id: str) -> str | None:
    """Who started the conversation (None when it is new)."""
    try:
        value = _base(wh).scalar("SELECT any_value(username) FROM assistant_turns "
                                 "WHERE conversation_id = ?", [conversation_id])
    except duckdb.CatalogException:
        return None
    return None if value is None else str(value)
