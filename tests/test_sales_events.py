"""POST /v1/sales/events and engine/ingest/events.py: events validated by the upload
rules, duplicates by event id (in a request, across requests and retries), bad events
quarantined with reasons, store users limited to their PIN codes, and a process killed
while committing a micro-batch loses nothing and doubles nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.ingest.events import EventIngestor, parse_events
from engine.warehouse.db import Warehouse
from tests.api_frames import token_headers
from tests.events_frames import events_world, ndjson, planted_events
from tests.forecast_page_frames import copy_warehouse
from tests.live_frames import run_copy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    return events_world(small_warehouse_path, tmp_path_factory.mktemp("ev") / "ev.duckdb")


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="e" * 48, rate_per_minute=10_000))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _sales_of(client, ids) -> float:
    wh = client.app.state.micropulse.warehouse()
    return float(wh.scalar("SELECT coalesce(sum(quantity), 0) FROM sales WHERE "
                           "transaction_id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)]))


def _wh(client):
    return client.app.state.micropulse.warehouse()


def test_events_load_reject_and_duplicates_add_up_and_retries_count_once(client, world):
    events, week = planted_events(_wh(client), days=2, prefix="a")
    good = events[:40]
    pin, sku, day = good[0]["pin"], good[0]["sku"], good[0]["timestamp"][:10]
    bad = [{"event_id": "a-bad-pin", "date": day, "sku": sku, "pin": "56001", "units": 1},
           {"event_id": "a-neg", "date": day, "sku": sku, "pin": pin, "units": -3},
           {"event_id": "a-future", "date": "2999-01-01", "sku": sku, "pin": pin, "units": 1},
           {"date": day, "sku": sku, "pin": pin, "units": 1},
           "{not json", "[1, 2]"]
    body = ndjson(good + bad + [good[0], good[1]]) + "\n\n"
    admin = token_headers(client, "admin")
    res = client.post("/v1/sales/events", content=body, headers=admin)
    assert res.status_code == 200, res.text
    out = res.json()
    assert (out["received"], out["loaded"], out["rejected"], out["duplicates"]) == (48, 40, 6, 2)
    assert out["received"] == out["loaded"] + out["rejected"] + out["duplicates"]
    assert out["blank_lines"] == 1
    assert out["reconciliation"] == "48 received = 40 loaded + 6 rejected + 2 duplicates"
    why = {r["line"]: r for r in out["rejects"]}
    assert why[41]["code"] == "pin_not_6_digits" and "'56001'" in why[41]["reason"]
    assert why[42]["code"] == "negative_quantity"
    assert why[43]["code"] == "future_date"
    assert why[44]["code"] == "missing_event_id" and why[44]["event_id"] is None
    assert why[45]["code"] == "not_json" and why[46]["code"] == "not_json"
    assert _sales_of(client, [e["event_id"] for e in good]) == pytest.approx(
        sum(e["units"] for e in good))
    wh = client.app.state.micropulse.warehouse()
    quarantined = wh.query("SELECT reason_code, raw FROM quarantine WHERE batch_id = ?",
                           [out["batches"][0]])
    assert len(quarantined) == 6
    assert {"pin_not_6_digits", "negative_quantity", "future_date", "missing_event_id",
            "not_json"} == set(quarantined["reason_code"])
    # a retry of the whole request: every event with an id was seen -> duplicates; the two
    # without an id cannot be recognised and are rejected again
    again = client.post("/v1/sales/events", content=body, headers=admin).json()
    assert (again["loaded"], again["rejected"], again["duplicates"]) == (0, 3, 45)
    assert _sales_of(client, [e["event_id"] for e in good]) == pytest.approx(
        sum(e["units"] for e in good))
    status = client.get("/v1/sales/events/status", headers=admin).json()
    assert status["received"] == status["loaded"] + status["rejected"] + status["duplicates"]
    assert status["loaded"] >= 40 and status["duplicates"] >= 47


def test_store_user_may_post_only_their_pins(client, world):
    events, _ = planted_events(_wh(client), days=1, prefix="s")
    mine = [e for e in events if e["pin"] in world.store_pins][:5]
    other = [e for e in events if e["pin"] == world.other_pin][:3]
    assert mine and other
    store = token_headers(client, "store")
    out = client.post("/v1/sales/events", content=ndjson(mine + other), headers=store).json()
    assert (out["loaded"], out["rejected"], out["duplicates"]) == (5, 3, 0)
    assert {r["code"] for r in out["rejects"]} == {"pin_out_of_scope"}
    assert world.store_pins[0] in out["rejects"][0]["reason"]
    assert _sales_of(client, [e["event_id"] for e in other]) == 0
    res = client.get("/v1/sales/events/status", headers=store)
    assert res.status_code == 403


def test_events_need_credentials_and_text(client):
    assert client.post("/v1/sales/events", content="{}").status_code == 401
    res = client.post("/v1/sales/events", content=b"\xff\xfe\x00bad",
                      headers=token_headers(client, "analyst"))
    assert res.status_code == 422 and res.json()["error"]["code"] == "bad_events"


def test_a_request_larger_than_a_batch_spans_batches_and_still_adds_up(small_warehouse_path,
                                                                       tmp_path):
    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "b.duckdb")
    events, _ = planted_events(path, days=3, prefix="m")
    wh = Warehouse(path)
    try:
        ing = EventIngestor(wh, max_batch=50, max_wait_ms=0, score_after_s=3600)
        res = ing.ingest(ndjson(events + events[:10]))
        ing.close()
        assert len(res.batches) >= 2
        assert (res.received, res.loaded, res.duplicates) == (len(events) + 10, len(events), 10)
        assert wh.scalar("SELECT count(*) FROM sales_events") == len(events)
    finally:
        wh.close()


def test_unknown_fields_and_an_own_bill_number_are_ignored_and_named(small_warehouse_path,
                                                                    tmp_path):
    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "f.duckdb")
    wh = Warehouse(path)
    try:
        events, _ = planted_events(wh, days=1, prefix="f")
        for e in events[:3]:
            e.update({"transaction_id": "BILL-9", "till": 4})
        ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
        res = ing.ingest(ndjson(events[:3]))
        ing.close()
        assert (res.loaded, res.rejected) == (3, 0)
        assert res.ignored_fields == ["till", "transaction_id"]
        assert sorted(wh.query("SELECT transaction_id FROM sales WHERE batch_id = ?",
                               [res.batches[0]])["transaction_id"]) == ["f-0", "f-1", "f-2"]
    finally:
        wh.close()


def test_parse_events_maps_aliases_and_keeps_unknown_fields():
    events, blank = parse_events('{"idempotency_key": " k1 ", "sku": "A", "pin": 560001, '
                                 '"units": 2, "till": 7}\n \n')
    assert blank == 1 and events[0].event_id == "k1"
    assert events[0].fields == {"sku_id": "A", "pin_code": "560001", "quantity": "2",
                                "till": "7"}


def test_parse_events_takes_and_refuses_what_the_standard_json_parser_does():
    """The fast JSON parser first, the standard library's on its refusals: an event the
    standard parser takes (a lone surrogate escape, NaN, a huge integer) is taken, and a
    line it refuses is rejected with its message (a raw tab, trailing text, a cut line)."""
    lines = ['{"event_id": "a", "sku": "\\ud800", "units": NaN, "price": 1e400}',
             '{"event_id": "b", "sku": "X", "units": 123456789012345678901234567890}',
             '{"event_id": "c", "sku": "x\ty"}', '{"event_id": "d"} tail', '{"event_id": "e"',
             '{"event_id": 7, "units": 2.50, "promo": true, "extra": {"k": [1]}}']
    events, _ = parse_events("\n".join(lines))
    assert [e.reject for e in events[:2]] == [None, None]
    assert events[0].fields == {"sku_id": "\ud800", "quantity": "nan", "price": "inf"}
    assert events[1].fields["quantity"] == "123456789012345678901234567890"
    for ev, line in zip(events[2:5], lines[2:5]):
        try:
            json.loads(line)
        except ValueError as exc:
            assert ev.reject == ("not_json", f"Line {ev.line} is not JSON ({exc.msg} at "
                                             f"character {exc.pos + 1}): send one JSON "
                                             "object per line")
    assert all(ev.reject for ev in events[2:5])
    assert events[5].event_id == "7" and events[5].fields == {
        "quantity": "2.5", "promo": "true", "extra": '{"k": [1]}'}


CHILD = textwrap.dedent("""
    import sys, time
    from engine.warehouse.db import Warehouse
    from engine.warehouse import events as events_store
    from engine.ingest.events import EventIngestor

    path, first, second = sys.argv[1:4]
    wh = Warehouse(path)
    ing = EventIngestor(wh, max_batch=100000, max_wait_ms=0, score_after_s=3600)
    print("first", ing.ingest(open(first).read()).reconciliation, flush=True)
    original = events_store.EventBatchWriter.__call__

    def stuck(self, cur, bid):
        counts = original(self, cur, bid)    # sales, quarantine and ids written, not committed
        print("COMMITTING", flush=True)
        time.sleep(120)
        return counts

    events_store.EventBatchWriter.__call__ = stuck
    ing.ingest(open(second).read())
""")


def test_a_process_killed_while_committing_loses_and_doubles_nothing(small_warehouse_path,
                                                                     tmp_path):
    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "k.duckdb")
    events, _ = planted_events(path, days=4, prefix="k")
    half = len(events) // 2
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text(ndjson(events[:half]))
    second.write_text(ndjson(events[half:]))
    (tmp_path / "child.py").write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(path),
                             str(first), str(second)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("COMMITTING"):
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert any(x.startswith("COMMITTING") for x in lines), (lines, proc.stderr.read())
    assert lines[0].startswith(f"first {half:,} received = {half:,} loaded")
    wh = Warehouse(path)
    try:
        ids = [e["event_id"] for e in events]
        assert wh.scalar("SELECT count(*) FROM sales_events") == half
        assert wh.scalar("SELECT count(*) FROM sales WHERE transaction_id IN "
                         "(SELECT unnest(?::VARCHAR[]))", [ids]) == half
        ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
        retry = ing.ingest(ndjson(events))         # the client sends everything again
        assert (retry.loaded, retry.duplicates, retry.rejected) == (
            len(events) - half, half, 0)
        again = ing.ingest(ndjson(events))
        assert (again.loaded, again.duplicates) == (0, len(events))
        ing.close()
        total = wh.scalar("SELECT sum(quantity) FROM sales WHERE transaction_id IN "
                          "(SELECT unnest(?::VARCHAR[]))", [ids])
        assert total == pytest.approx(sum(e["units"] for e in events))
        assert wh.scalar("SELECT count(*) FROM sales WHERE transaction_id IN "
                         "(SELECT unnest(?::VARCHAR[]))", [ids]) == len(events)
    finally:
        wh.close()


def test_a_request_over_the_size_limit_is_413_and_loads_nothing(small_warehouse_path,
                                                                 tmp_path):
    small = events_world(small_warehouse_path, tmp_path / "l.duckdb")
    app = create_app(small.path, Settings(jwt_secret="l" * 48, max_upload_mb=1))
    with TestClient(app, raise_server_exceptions=False) as c:
        line = '{"event_id": "big-%d", "date": "2026-01-01", "sku": "A", "pin": "560001", ' \
               '"units": 1}'
        body = "\n".join(line % i for i in range(20_000))          # ~1.6 MB
        res = c.post("/v1/sales/events", content=body, headers=token_headers(c, "analyst"))
        assert res.status_code == 413
        err = res.json()["error"]
        assert err["code"] == "too_large" and "1 MB per request" in err["message"]
        wh = app.state.micropulse.warehouse()
        assert wh.scalar("SELECT count(*) FROM sales_events") == 0


def test_scoring_waits_for_a_pause_but_not_for_ever(small_warehouse_path, tmp_path,
                                                    monkeypatch):
    """Debounce: each batch puts the scoring off by `score_after`, but never past
    SCORE_MAX_WAIT x score_after after the first unscored batch (a fake clock)."""
    from engine.ingest import events as E

    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "s.duckdb")
    wh = Warehouse(path)
    clock = [1000.0]
    monkeypatch.setattr(E.time, "monotonic", lambda: clock[0])
    delays = []

    class Timer:
        daemon = False

        def __init__(self, delay, fn):
            delays.append(delay)

        def start(self):
            pass

        def cancel(self):
            pass

    monkeypatch.setattr(E.threading, "Timer", Timer)
    try:
        ing = EventIngestor(wh, max_wait_ms=0, score_after_s=5)
        for step in range(8):
            ing._schedule_scoring("2026-11-01")
            clock[0] += 4.0
        assert delays == [5, 5, 5, 5, 5, 5, 5, 2]     # 6 x 5 s after the first: at 30 s
    finally:
        wh.close()


def test_cli_events_loads_a_file_and_a_second_run_counts_duplicates(small_warehouse_path,
                                                                     tmp_path):
    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "c.duckdb")
    wh = Warehouse(path, read_only=True)
    try:
        events, _ = planted_events(wh, days=2, prefix="cli")
    finally:
        wh.close()
    f = tmp_path / "events.ndjson"
    f.write_text(ndjson(events + ["not json"]))
    cmd = [sys.executable, "-m", "engine", "events", str(f), "--warehouse", str(path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, cwd=REPO)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert (out["received"], out["loaded"], out["rejected"], out["duplicates"]) == (
        len(events) + 1, len(events), 1, 0)
    assert out["live_accuracy"]["rescored"] == 1
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{len(events) + 1:,} received = 0 loaded + 1 rejected + "
                                   f"{len(events):,} duplicates")
    assert f"  - Line {len(events) + 1} is not JSON" in again.stdout
    missing = subprocess.run([*cmd[:4], str(tmp_path / "nope.ndjson"), *cmd[5:]],
                             capture_output=True, text=True, env=env, cwd=REPO)
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read")
    assert "Traceback" not in missing.stderr
