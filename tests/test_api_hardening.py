"""API and process hardening: uploads keep their extension and are streamed with the size
limit enforced after authentication; one API process per warehouse; no warehouse path in
public bodies; offline docs; strict dates and no control characters in inputs; temporary
folders of killed servers swept; forecast workers that die with their parent."""
from __future__ import annotations

import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings, issue_token
from engine.warehouse.db import backend_class, copy_warehouse
from tests.api_frames import PASSWORDS, build_world, headers_by_role
from tests.forecast_page_frames import forecast_copy

REPO = Path(__file__).resolve().parents[1]
SECRET = "h" * 48
BOUNDARY = b"----mpboundary"


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    return build_world(forecast_copy(str(small_warehouse_path)),
                       tmp_path_factory.mktemp("hard") / "hard.duckdb")


@pytest.fixture(scope="module")
def app(world):
    app = create_app(world.path, Settings(jwt_secret=SECRET, rate_per_minute=10_000,
                                          batch_rate_per_minute=10_000))
    yield app
    app.state.micropulse.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def as_(client):
    return headers_by_role(client)


def _error(res) -> dict:
    body = res.json()
    assert set(body) == {"error"}, body
    return body["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- item 1: the real extension ----------------------------------------------------------------
def test_xlsx_upload_through_the_api_loads_with_its_real_extension(client, as_, world):
    from openpyxl import Workbook

    sku = world.series[0][0]
    wb = Workbook()
    ws = wb.active
    ws.append(["sku_id", "pin_code", "date", "qty", "price"])
    for day in range(1, 6):
        ws.append([sku, world.other_pin, f"2021-03-0{day}", day, 40])
    buf = io.BytesIO()
    wb.save(buf)
    res = client.post("/v1/ingest/sales", headers=as_("analyst"),
                      files={"file": ("March POS.XLSX", buf.getvalue(),
                                      "application/vnd.openxmlformats-officedocument."
                                      "spreadsheetml.sheet")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["file_name"] == "March POS.XLSX"
    assert (body["rows_read"], body["rows_loaded"]) == (5, 5)


@pytest.mark.parametrize("name,saved", [
    ("March POS.XLSX", "upload.xlsx"), ("sales.csv", "upload.csv"),
    ("agmarknet.csv.gz", "upload.csv.gz"), ("data.parquet", "upload.parquet"),
    ("report.2024.csv", "upload.csv"), ("no_extension", "upload"),
    ("weird.c$v", "upload"), ("../../etc/passwd", "upload")])
def test_saved_name_is_upload_plus_the_real_extension(name, saved):
    from api.uploads import client_file_name, saved_name

    assert saved_name(client_file_name(name)) == saved
    assert client_file_name("C:\\exports\\Jan.xlsx") == "Jan.xlsx"


def test_no_route_reads_a_form_body_before_its_dependencies(app):
    """FastAPI reads a declared File/Form body before it runs the dependencies (auth): no
    route may declare one; upload routes receive the body themselves (api.uploads) and
    document it as multipart."""
    from fastapi import params
    from fastapi.routing import APIRoute

    from api import routes_data, routes_forecasts, routes_planning, routes_system

    uploads = []
    for module in (routes_system, routes_forecasts, routes_planning, routes_data):
        for route in module.router.routes:
            if not isinstance(route, APIRoute):
                continue
            if route.body_field is not None:
                assert not isinstance(route.body_field.field_info,
                                      (params.Form, params.File)), route.path
            if "multipart/form-data" in json.dumps(route.openapi_extra or {}):
                uploads.append(route.path)
    assert uploads == ["/v1/ingest/{kind}"]
    body = app.openapi()["paths"]["/v1/ingest/{kind}"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]


def _raw_form(disposition: bytes, data: bytes = b"sku_id\nA\n") -> dict:
    body = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; " + disposition
            + b"\r\n\r\n" + data + b"\r\n--" + BOUNDARY + b"--\r\n")
    return {"content": body,
            "headers": {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}}


@pytest.mark.parametrize("kwargs,phrase", [
    ({"files": {"upload": ("s.csv", b"sku_id\nA\n")}}, "The form has no file"),
    ({"data": {"sheet": "x"}}, "multipart/form-data"),
    ({"content": b"sku_id\nA\n", "headers": {"Content-Type": "text/csv"}},
     "multipart/form-data"),
    ({"files": [("file", ("a.csv", b"sku_id\nA\n")), ("file", ("b.csv", b"sku_id\nB\n"))]},
     "one file per upload"),
    (_raw_form(b'name="file"; filename="bad\x01name.csv"'), "The file name contains a "
                                                            "control character (\\x01"),
    (_raw_form(b'filename="s.csv"'), "has no name"),
    ({"files": {"file": ("s.csv", b"sku_id\nA\n")}, "data": {"sheet": "S\x00"}},
     "Field 'sheet' contains a control character"),
    ({"files": {"file": ("s.csv", b"sku_id\nA\n")}, "data": {"sheet": "x" * 101}},
     "Field 'sheet' is longer than 100 characters"),
    ({"files": {"file": ("s.csv", b"sku_id\nA\n")},
      "data": {"mapping": json.dumps({"q\u0000ty": "quantity"})}}, "control character"),
])
def test_bad_upload_forms_are_422_with_a_sentence(client, as_, kwargs, phrase):
    headers = {**as_("analyst"), **kwargs.pop("headers", {})}
    res = client.post("/v1/ingest/sales", headers=headers, **kwargs)
    assert res.status_code == 422, res.text
    assert phrase in _error(res)["message"]


def test_truncated_multipart_body_is_422_and_leaves_no_file(client, as_, app):
    body = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="s.csv"\r\n\r\nsku_id,pin_code\nA,110001\n')   # no closing boundary
    res = client.post("/v1/ingest/sales", content=body, headers={
        **as_("analyst"), "Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()})
    assert res.status_code == 422 and "before the file was complete" in _error(res)["message"]
    assert not list(app.state.micropulse.process.temp.folder().glob("upload_*"))


# ---- item 2: authenticate first, stream with the limit ------------------------------------------
@pytest.fixture(scope="module")
def live(world):
    """The API on a real uvicorn server (a thread of this process), upload limit 1 MB."""
    import uvicorn

    settings = Settings(jwt_secret=SECRET, rate_per_minute=10_000, max_upload_mb=1)
    app = create_app(world.path, settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield app, port
    server.should_exit = True
    thread.join(15)


def _token(app, username: str) -> str:
    from engine import auth

    user = auth.authenticate(app.state.micropulse.warehouse(), username, PASSWORDS[username])
    return issue_token(app.state.micropulse.settings, user)["access_token"]


def _file_part(name: str = "big.csv") -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="'
            + name.encode() + b'"\r\nContent-Type: text/csv\r\n\r\nsku_id,pin_code,date,qty\n')


def _push(port: int, head: bytes, body_chunks, max_send: int, watch=None):
    """Send `head`, then body chunks while the server does not answer (never more than
    max_send bytes); returns (response bytes, body bytes sent). `watch()` runs between
    sends (e.g. to measure what the server wrote to disk)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)
    sock.setblocking(False)
    sent, response, pending = 0, b"", b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            want_write = sent < max_send
            readable, writable, _ = select.select([sock], [sock] if want_write else [], [], 5)
            if readable:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not data:
                    break
                response += data
                continue
            if writable:
                if not pending:
                    pending = next(body_chunks)
                try:
                    n = sock.send(pending)
                except (ConnectionResetError, BrokenPipeError):
                    continue
                pending, sent = pending[n:], sent + n
                if watch is not None:
                    watch()
            elif not readable:
                break
    finally:
        sock.close()
    return response, sent


def _rows(n_bytes: int = 65536):
    line = b"DA-0001,110001,2021-01-01,1\n"
    block = line * (n_bytes // len(line))
    while True:
        yield block


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def _temp_files(app) -> list[Path]:
    """Files in the API process's temporary folder (os.walk: the server may remove a
    folder while we look)."""
    root = app.state.micropulse.process.temp.folder()
    return [Path(d) / f for d, _, files in os.walk(root) for f in files if f != ".owner"]


@pytest.mark.parametrize("who,status", [(None, 401), ("store", 403)])
def test_a_300_mb_upload_without_the_right_gets_its_answer_after_the_headers(live, who,
                                                                             status):
    app, port = live
    total = 300 * (1 << 20)
    auth = f"Authorization: Bearer {_token(app, who)}\r\n".encode() if who else b""
    head = (b"POST /v1/ingest/sales HTTP/1.1\r\nHost: t\r\n" + auth
            + b"Content-Type: multipart/form-data; boundary=" + BOUNDARY
            + f"\r\nContent-Length: {total}\r\n\r\n".encode() + _file_part())
    response, sent = _push(port, head, _rows(), total)
    assert _status(response) == status, response[:300]
    assert b"connection: close" in response.lower()
    assert sent < 48 * (1 << 20), f"{sent:,} bytes were sent before the answer"
    assert _temp_files(app) == []


def test_upload_over_the_limit_is_413_while_it_streams_and_nothing_stays_on_disk(live):
    app, port = live
    token = _token(app, "analyst")
    head = (b"POST /v1/ingest/sales HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
            + token.encode() + b"\r\nContent-Type: multipart/form-data; boundary=" + BOUNDARY
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n")       # no Content-Length to trust
    first = _file_part()

    def chunks():
        yield b"%x\r\n" % len(first) + first + b"\r\n"
        for block in _rows():
            yield b"%x\r\n" % len(block) + block + b"\r\n"

    biggest = {"bytes": 0}

    def watch():
        for f in _temp_files(app):
            try:
                biggest["bytes"] = max(biggest["bytes"], f.stat().st_size)
            except FileNotFoundError:
                pass

    response, sent = _push(port, head, chunks(), 200 * (1 << 20), watch)
    assert _status(response) == 413, response[:300]
    assert b"upload limit of 1 MB" in response
    assert sent < 64 * (1 << 20), f"{sent:,} bytes were sent before the 413"
    assert biggest["bytes"] <= 1 << 20          # never more than the limit on disk
    assert _temp_files(app) == []


def test_declared_length_over_the_limit_is_413_before_any_body_byte(live):
    app, port = live
    token = _token(app, "analyst")
    head = (b"POST /v1/ingest/sales HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
            + token.encode() + b"\r\nContent-Type: multipart/form-data; boundary=" + BOUNDARY
            + f"\r\nContent-Length: {5 << 20}\r\n\r\n".encode())
    response, sent = _push(port, head, _rows(), 0)
    assert _status(response) == 413 and sent == 0


def test_upload_within_the_limit_still_loads_on_the_live_server(live, world):
    import httpx

    app, port = live
    sku = world.series[0][0]
    csv = f"sku_id,pin_code,date,qty\n{sku},{world.other_pin},2021-04-01,2\n".encode()
    res = httpx.post(f"http://127.0.0.1:{port}/v1/ingest/sales",
                     headers={"Authorization": f"Bearer {_token(app, 'analyst')}"},
                     files={"file": ("april.csv", csv, "text/csv")}, timeout=60)
    assert res.status_code == 201, res.text
    assert res.json()["rows_loaded"] == 1 and _temp_files(app) == []


# ---- item 8: one API process per warehouse ------------------------------------------------------
def _server_env(warehouse: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "WEB_CONCURRENCY"}
    env.update(MICROPULSE_WAREHOUSE=str(warehouse), MICROPULSE_JWT_SECRET=SECRET,
               PYTHONPATH=str(REPO))
    return env


def _wait_health(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("the API did not come up")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.duckdb_only("one API process per DuckDB file; PostgreSQL takes several")
def test_uvicorn_with_two_workers_refuses_to_start_and_says_what_to_run(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--workers",
                             "2", "--port", str(port)], cwd=REPO,
                            env=_server_env(tmp_path / "wh.duckdb"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        _stop(proc)
    assert "refused to start: the server was asked for 2 worker processes" in out, out
    assert "allows one writer process" in out and "python -m api" in out
    assert "make run-with-api" in out and "Traceback" not in out


@pytest.mark.duckdb_only("one API process per DuckDB file; PostgreSQL takes several")
def test_worker_count_comes_from_the_uvicorn_config_handed_to_the_worker(monkeypatch):
    import multiprocessing

    import uvicorn

    from api import runtime

    class Worker:
        _kwargs = {"config": uvicorn.Config("api.main:app", workers=3)}

    assert runtime.uvicorn_workers() == 1            # this test process is no worker
    monkeypatch.setattr(multiprocessing, "current_process", lambda: Worker())
    assert runtime.uvicorn_workers() == 3
    problem = runtime.ServerProcess(Path("/tmp/never-made.duckdb")).start()
    assert problem and "asked for 3 worker processes" in problem


def _start_with_two_workers(path, monkeypatch) -> list[dict]:
    """The lifespan messages of an app started as one of 2 uvicorn workers."""
    import asyncio

    from api import runtime

    monkeypatch.setattr(runtime, "uvicorn_workers", lambda: 2)
    app = create_app(path, Settings(jwt_secret=SECRET))
    sent = []

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive,
                    send))
    app.state.micropulse.close()
    return sent


@pytest.mark.duckdb_only("one API process per DuckDB file; PostgreSQL takes several")
def test_startup_guard_reports_the_refusal_as_a_failed_startup(tmp_path, monkeypatch):
    sent = _start_with_two_workers(tmp_path / "g.duckdb", monkeypatch)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "2 worker processes" in sent[0]["message"]
    assert not (tmp_path / "g.duckdb").exists()


@pytest.mark.skipif(not backend_class().multi_process,
                    reason="the PostgreSQL run: several API processes on one database")
def test_several_workers_start_on_a_multi_process_backend(tmp_path, monkeypatch):
    assert _start_with_two_workers(tmp_path / "g.duckdb", monkeypatch)[0]["type"] == \
        "lifespan.startup.complete"


@pytest.mark.duckdb_only("one API process per DuckDB file; PostgreSQL takes several")
def test_second_api_process_is_refused_and_a_killed_ones_temp_files_are_swept(world,
                                                                             tmp_path):
    wh = tmp_path / "two.duckdb"
    copy_warehouse(world.path, wh)
    first_port, second_port, third_port = _free_port(), _free_port(), _free_port()
    first = subprocess.Popen([sys.executable, "-m", "api", "--port", str(first_port)],
                             cwd=REPO, env=_server_env(wh), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_health(first_port, first)
        second = subprocess.Popen([sys.executable, "-m", "api", "--port", str(second_port)],
                                  cwd=REPO, env=_server_env(wh), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        out, _ = second.communicate(timeout=120)
        assert f"another API process (pid {first.pid}) already serves the warehouse " \
               "two.duckdb" in out, out
        # an upload in flight when the first server is killed leaves its partial file ...
        token = _first_token(first_port)
        head = (b"POST /v1/ingest/sales HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                + token.encode() + b"\r\nContent-Type: multipart/form-data; boundary="
                + BOUNDARY + f"\r\nContent-Length: {400 << 20}\r\n\r\n".encode()
                + _file_part())
        sock = socket.create_connection(("127.0.0.1", first_port))
        sock.sendall(head)
        for _ in range(40):
            sock.sendall(next(_rows()))
        tmp_root = Path(str(wh) + ".api") / "tmp"
        deadline = time.monotonic() + 30
        while not list(tmp_root.glob("*/upload_*/upload.csv")) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        partial = list(tmp_root.glob("*/upload_*/upload.csv"))
        assert partial, "the upload never reached the server's temporary folder"
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        sock.close()
        assert partial[0].exists()
        killed_folder = partial[0].parent.parent
        # ... which the next start removes (the lock died with the process, too)
        third = subprocess.Popen([sys.executable, "-m", "api", "--port", str(third_port)],
                                 cwd=REPO, env=_server_env(wh), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        try:
            _wait_health(third_port, third)
            assert not killed_folder.exists()
            own = [p for p in tmp_root.iterdir() if p.name.startswith(f"{third.pid}-")]
            assert len(own) == 1
        finally:
            _stop(third)
        assert not own[0].exists()        # a clean shutdown removes its own folder
    finally:
        _stop(first)


def _first_token(port: int) -> str:
    import httpx

    res = httpx.post(f"http://127.0.0.1:{port}/v1/auth/token",
                     json={"username": "analyst", "password": PASSWORDS["analyst"]},
                     timeout=60)
    assert res.status_code == 200, res.text
    return res.json()["access_token"]


# ---- item 10: no location in public bodies, offline docs, strict inputs ------------------------
@pytest.mark.duckdb_only("the DuckDB file's lock (PostgreSQL: tests/test_postgres_errors.py)")
def test_locked_warehouse_503_does_not_show_where_the_warehouse_is(tmp_path):
    path = tmp_path / "secret-folder" / "wh.duckdb"
    path.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,time; "
                               f"c=duckdb.connect({str(path)!r}); print('ok', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        app = create_app(path, Settings(jwt_secret=SECRET))
        res = TestClient(app, raise_server_exceptions=False).get("/ready")
        assert res.status_code == 503 and _error(res)["code"] == "warehouse_locked"
        assert "secret-folder" not in res.text and str(tmp_path) not in res.text
        assert "in use by another MicroPulse process" in _error(res)["message"]
    finally:
        holder.kill()
        holder.wait()


def test_ready_shows_the_warehouse_name_but_not_its_folder(client, world):
    body = client.get("/ready").json()
    assert body["warehouse"] == world.path.name
    assert str(world.path.parent) not in json.dumps(body)


def test_docs_load_swagger_ui_from_the_api_itself(client):
    import re

    res = client.get("/docs")
    assert res.status_code == 200
    html = res.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn" not in html.lower() and '"validatorUrl": null' in html
    for url in urls:
        got = client.get(url)
        assert got.status_code == 200, url
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and len(js.content) > 500_000


@pytest.mark.parametrize("params,phrase", [
    ({"start_date": "0"}, "YYYY-MM-DD"),
    ({"start_date": "1700000000"}, "YYYY-MM-DD"),
    ({"start_date": "2025-02-30"}, "not a calendar date"),
    ({"end_date": "9999-12-31"}, "between 1990-01-01 and 2100-12-31"),
    ({"start_date": "2025-01-01T00:00:00"}, "YYYY-MM-DD"),
])
def test_accuracy_dates_must_be_real_iso_dates_near_the_data(client, as_, params, phrase):
    res = client.get("/v1/analytics/accuracy", params=params, headers=as_("analyst"))
    assert res.status_code == 422, res.text
    assert phrase in _error(res)["message"]


def test_accuracy_accepts_a_plain_iso_date(client, as_):
    res = client.get("/v1/analytics/accuracy", params={"start_date": "2024-01-01"},
                     headers=as_("analyst"))
    assert res.status_code == 200 and res.json()["start_date"] == "2024-01-01"


@pytest.mark.parametrize("change,phrase", [
    ({"pct": -0.1, "start": "2025-03-31", "end": "2025-03-01"},
     "ends (2025-03-01) before it starts (2025-03-31)"),
    ({"pct": -0.1, "start": 0}, "YYYY-MM-DD"),
    ({"pct": -0.1, "end": "3000-01-01"}, "between 1990-01-01 and 2100-12-31"),
    ({"pct": -0.1, "category": "Dai\u0000ry"}, "control characters (found \\x00"),
    ({"pct": -0.1, "sku_ids": ["DA-0001", "DA\u0000"]}, "'changes.0.sku_ids.1'"),
])
def test_pricing_windows_and_names_are_checked(client, as_, change, phrase):
    res = client.post("/v1/pricing/simulate", json={"changes": [change]},
                      headers=as_("analyst"))
    assert res.status_code == 422, res.text
    assert phrase in _error(res)["message"]


def test_inline_plan_dates_are_strict(client, as_, world):
    sku, pin = world.series[0]
    res = client.post("/v1/forecasts/batch", headers=as_("analyst"), json={
        "items": [{"sku_id": sku, "pin_code": pin}],
        "plan": [{"sku_id": sku, "date": 0, "discount_pct": 10}]})
    assert res.status_code == 422 and "YYYY-MM-DD" in _error(res)["message"]


@pytest.mark.parametrize("method,url,kwargs,name", [
    ("get", "/v1/forecasts?sku_id=DA%000001&pin_code=110001", {}, "sku_id"),
    ("get", "/v1/forecasts?sku_id=DA-0001%0A&pin_code=110001", {}, "sku_id"),
    ("get", "/v1/alerts?rule=stock%09out", {}, "rule"),
    ("get", "/v1/sourcing/mandis?commodity=On%00ion&pin_code=560001", {}, "commodity"),
    ("post", "/v1/alerts/al%00x/acknowledge", {}, "/v1/alerts/al\\x00x/acknowledge"),
])
def test_control_characters_in_paths_and_queries_are_422(client, as_, method, url, kwargs,
                                                          name):
    res = getattr(client, method)(url, headers=as_("manager"), **kwargs)
    assert res.status_code == 422, res.text
    err = _error(res)
    assert err["code"] == "validation_error" and "control character" in err["message"]
    assert err["details"][0]["field"] == name


def test_control_characters_in_sign_in_and_batch_ids_are_422(client, as_):
    res = client.post("/v1/auth/token", json={"username": "ad\u0000min", "password": "x"})
    assert res.status_code == 422 and "control characters" in _error(res)["message"]
    res = client.post("/v1/forecasts/batch", headers=as_("analyst"),
                      json={"items": [{"sku_id": "DA-0001\u0000", "pin_code": "110001"}]})
    assert res.status_code == 422


# ---- forecast workers die with their parent --------------------------------------------------
_WORKER_SCRIPT = """
import os, sys, time
from engine.forecast.parallel import joblib_map, process_map

def slow(i, folder):
    with open(os.path.join(folder, str(os.getpid())), "w") as fh:
        fh.write("x")
    time.sleep(300)
    return i

if __name__ == "__main__":
    run = joblib_map if sys.argv[1] == "joblib" else process_map
    run(slow, [(i, sys.argv[2]) for i in range(4)], 2)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:          # a zombie (dead, not yet reaped by its new parent) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("pool", ["process", "joblib"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_forecast_workers_end_when_their_parent_is_killed(tmp_path, pool, sig):
    script = tmp_path / "run.py"
    script.write_text(_WORKER_SCRIPT)
    marks = tmp_path / "workers"
    marks.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), pool, str(marks)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            workers = [int(p.name) for p in marks.iterdir()]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers never started"
        proc.send_signal(sig)
        code = proc.wait(60)
        if sig == signal.SIGTERM:
            assert code == 143, proc.stderr.read()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "orphan workers are still running"
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_statsforecast_families_fit_in_our_workers_with_the_same_forecasts(monkeypatch):
    import numpy as np
    import pandas as pd

    from engine.forecast.config import ForecastConfig
    from engine.forecast.models import statistical

    rng = np.random.default_rng(7)
    n, t = statistical.PARALLEL_MIN_SERIES, 60
    hist = pd.DataFrame({"sid": np.repeat(np.arange(n), t), "pos": np.tile(np.arange(t), n),
                         "quantity": rng.poisson(4, n * t).astype(float)})
    future = pd.DataFrame({"sid": np.repeat(np.arange(n), 7),
                           "pos": np.tile(np.arange(t, t + 7), n)})
    future["sku_id"], future["pin_code"] = future["sid"].astype(str), "110001"
    future["date"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(future["pos"], unit="D")
    calls = []
    real = statistical.process_map
    monkeypatch.setattr(statistical, "process_map",
                        lambda fn, jobs, n_jobs: calls.append(n_jobs) or real(fn, jobs, n_jobs))
    cfg = ForecastConfig(horizon=7, workers=2).for_grain("D")
    two = statistical.ThetaModel().fit(hist, cfg).predict(7, future)
    one = statistical.ThetaModel().fit(hist, ForecastConfig(horizon=7, workers=1)
                                       .for_grain("D")).predict(7, future)
    assert calls == [2]
    assert len(two) == n * 7 and np.allclose(two["forecast"].to_numpy(),
                                             one["forecast"].to_numpy())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_prophet_forecast_run_leaves_no_worker_behind(small_warehouse_path, tmp_path):
    """The reported case: `python -m engine forecast` with Prophet, killed with SIGKILL
    while its loky workers fit."""

    import psutil

    wh = tmp_path / "fc.duckdb"
    copy_warehouse(small_warehouse_path, wh)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "forecast", "--models",
                             "prophet", "--folds", "1", "--warehouse", str(wh), "--quiet",
                             "--no-alerts"], cwd=REPO, env={**os.environ,
                                                           "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [c for c in parent.children(recursive=True)
                       if "popen_loky" in " ".join(c.cmdline())]
            if len(workers) >= 2:
                break
            time.sleep(0.3)
        assert len(workers) >= 2, f"no loky workers seen (exit {proc.poll()})"
        everyone = [c.pid for c in parent.children(recursive=True)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in everyone) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in everyone if _alive(p)], "orphans are still running"
    finally:
        for w in workers:
            if _alive(w.pid):
                w.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
