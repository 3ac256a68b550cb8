"""PostgreSQL failures a user can act on reach them as warehouse errors with a code and a
sentence, never as a 500 or a traceback: the server unreachable (at open, or gone while
the API runs) is `503 database_unreachable`, a lock held too long by another session is
`503 database_busy`, both with Retry-After (engine/warehouse/postgres.py, api/errors.py).

The unreachable-at-open cases need no server and run on both backends' runs; the others
need a PostgreSQL server and run on the PostgreSQL run only (a private server for the one
that stops it)."""
from __future__ import annotations

import os
import shutil
import tempfile

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine import auth
from engine.warehouse import postgres as pg
from engine.warehouse.db import Warehouse, WarehouseBusyError

SECRET = "test-secret-for-postgres-errors-0123456789"
PASSWORD = "admin-pass-123"
on_postgres = pytest.mark.skipif(not os.environ.get(pg.URL_ENV),
                                 reason="needs the PostgreSQL run (a server)")


def _dead_url(folder) -> str:
    return f"postgresql+psycopg://micropulse@/micropulse?host={folder}/no-server&port=5432"


def _error(res) -> dict:
    body = res.json()
    assert set(body) == {"error"}, body
    assert "Traceback" not in res.text and "psycopg" not in res.text
    return body["error"]


def _client(path) -> TestClient:
    return TestClient(create_app(path, Settings(jwt_secret=SECRET)),
                      raise_server_exceptions=False)


def _sign_in(client: TestClient):
    return client.post("/v1/auth/token", json={"username": "admin", "password": PASSWORD})


def _with_admin(path) -> None:
    wh = Warehouse(path)
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, 4
    try:
        auth.create_first_admin(wh, "admin", PASSWORD)
    finally:
        auth.BCRYPT_ROUNDS = rounds
        wh.close()


# ---- the server does not answer ---------------------------------------------------------------
def test_an_unreachable_server_is_a_typed_error_at_open(tmp_path, monkeypatch):
    monkeypatch.setenv(pg.URL_ENV, _dead_url(tmp_path))
    with pytest.raises(pg.DatabaseUnreachableError) as err:
        Warehouse(tmp_path / "w.duckdb")
    assert err.value.code == "database_unreachable" and err.value.http_status == 503
    assert pg.URL_ENV in err.value.message and "try again" in err.value.message
    assert isinstance(err.value.__cause__, Exception)      # the driver's error, chained


def test_the_api_answers_503_database_unreachable_when_the_server_does_not_answer(
        tmp_path, monkeypatch):
    monkeypatch.setenv(pg.URL_ENV, _dead_url(tmp_path))
    client = _client(tmp_path / "w.duckdb")
    try:
        res = _sign_in(client)
        assert res.status_code == 503, res.text
        err = _error(res)
        assert err["code"] == "database_unreachable" and pg.URL_ENV in err["message"]
        assert res.headers["Retry-After"] == "5"
        assert str(tmp_path) not in res.text       # not where the server or warehouse is
    finally:
        client.app.state.micropulse.close()


def test_driver_errors_are_classified_by_sqlstate():
    gone = pg.database_problem(psycopg.OperationalError("server closed the connection"))
    assert isinstance(gone, pg.DatabaseUnreachableError)
    wrapped = RuntimeError("while reading")
    wrapped.__cause__ = psycopg.errors.AdminShutdown("terminating connection")
    assert isinstance(pg.database_problem(wrapped), pg.DatabaseUnreachableError)
    for busy in (psycopg.errors.SerializationFailure("could not serialize access"),
                 psycopg.errors.DeadlockDetected("deadlock detected"),
                 psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")):
        problem = pg.database_problem(busy)
        assert isinstance(problem, pg.DatabaseBusyError) and problem.http_status == 503
        assert isinstance(problem, WarehouseBusyError) and "Try again" in problem.message
    # a bug (bad SQL, a missing column) stays a bug: the caller's 500
    assert pg.database_problem(psycopg.errors.UndefinedColumn("column x")) is None
    assert pg.database_problem(ValueError("x")) is None


def test_the_lock_timeout_setting_is_checked(monkeypatch):
    monkeypatch.setenv(pg.LOCK_TIMEOUT_ENV, "0.25")
    assert pg.lock_timeout_ms() == 250
    monkeypatch.delenv(pg.LOCK_TIMEOUT_ENV)
    assert pg.lock_timeout_ms() == 60_000
    for bad in ("soon", "0", "-1", "99999"):
        monkeypatch.setenv(pg.LOCK_TIMEOUT_ENV, bad)
        with pytest.raises(pg.WarehouseError, match=pg.LOCK_TIMEOUT_ENV):
            pg.lock_timeout_ms()


# ---- another session holds a lock -------------------------------------------------------------
def _hold_lock(table: str, schema: str) -> psycopg.Connection:
    """Another session that holds an exclusive lock on `table` until it is closed."""
    from sqlalchemy.engine import make_url

    url = make_url(os.environ[pg.URL_ENV]).set(drivername="postgresql")
    con = psycopg.connect(url.render_as_string(hide_password=False))
    con.execute(f'LOCK TABLE "{schema}"."{table}" IN ACCESS EXCLUSIVE MODE')
    return con


@on_postgres
def test_a_lock_held_too_long_is_database_busy_in_the_engine_and_the_api(
        tmp_path, monkeypatch):
    monkeypatch.setenv(pg.LOCK_TIMEOUT_ENV, "0.3")
    path = tmp_path / "busy.duckdb"
    _with_admin(path)
    wh = Warehouse(path)
    client = _client(path)
    try:
        assert _sign_in(client).status_code == 200
        other = _hold_lock("users", wh.schema)
        try:
            with pytest.raises(pg.DatabaseBusyError) as err:
                wh.query("SELECT count(*) FROM users")
            assert isinstance(err.value.__cause__, psycopg.errors.LockNotAvailable)
            assert err.value.evidence["sqlstate"] == "55P03"
            res = _sign_in(client)
            assert res.status_code == 503, res.text
            body = _error(res)
            assert body["code"] == "database_busy" and "Try again" in body["message"]
            assert res.headers["Retry-After"] == "5"
        finally:
            other.close()
        assert _sign_in(client).status_code == 200           # and when the lock is gone
    finally:
        client.app.state.micropulse.close()
        wh.close()


# ---- the server goes away while the API runs ---------------------------------------------------
@on_postgres
def test_the_api_answers_503_when_the_server_goes_away_and_recovers_when_it_is_back(
        tmp_path, monkeypatch):
    from engine.warehouse import pgserver

    folder = tempfile.mkdtemp(prefix="micropulse-pg-gone-")   # reachable by 'postgres'
    try:
        monkeypatch.setenv(pg.URL_ENV, pgserver.start(folder))
        path = tmp_path / "gone.duckdb"
        _with_admin(path)
        client = _client(path)
        try:
            assert _sign_in(client).status_code == 200
            pgserver.stop(folder)
            res = _sign_in(client)
            assert res.status_code == 503, res.text
            assert _error(res)["code"] == "database_unreachable"
            pgserver.start(folder)
            assert _sign_in(client).status_code == 200
        finally:
            client.app.state.micropulse.close()
    finally:
        pgserver.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


# ---- the database server's disk is full ----------------------------------------------------
def test_a_full_disk_on_the_database_server_is_a_storage_error_and_keeps_nothing(tmp_path):
    """A private server whose data folder is a tiny tmpfs, filled to 512 KB: an upload
    through the command line fails with the storage error that names the database server's
    disk (SQLSTATE 53100 -> disk_full), never a traceback nor a word against the file; the
    warehouse keeps what it had, and takes the same upload once space is freed."""
    from engine.ingest.load import ingest_bytes
    from engine.warehouse import pgserver
    from tests.test_storage_full import assert_storage_message, cli, fill, tiny_tmpfs

    head = "transaction_id,date,sku_id,pin_code,quantity,price\n"
    big = tmp_path / "big.csv"
    big.write_text(head + "".join(f"T{i},05-01-2024,SKU{i % 50},560001,{i % 7 + 1},10\n"
                                  for i in range(2, 60_000)))
    with tiny_tmpfs(160 * 1024 * 1024) as folder:
        os.chmod(folder, 0o755)
        try:
            url = pgserver.start(folder)
        except pgserver.PostgresServerError as exc:
            pytest.skip(str(exc))
        old = os.environ.get(pg.URL_ENV)
        os.environ[pg.URL_ENV] = url
        try:
            path = tmp_path / "tiny.duckdb"
            wh = Warehouse(path)
            ingest_bytes(wh, "sales", (head + "T1,05-01-2024,SKU1,560001,1,10\n").encode(),
                         "a.csv")
            before = (wh.count("sales"), wh.count("sales_daily"), wh.count("ingest_batches"))
            filler = fill(folder, leave=512 * 1024)
            res = cli("ingest", "sales", str(big), "--warehouse", str(path),
                      env={pg.URL_ENV: url})
            assert res.returncode != 0
            assert_storage_message(res.stdout + res.stderr, "full")
            assert "database server" in res.stdout + res.stderr
            assert (wh.count("sales"), wh.count("sales_daily"),
                    wh.count("ingest_batches")) == before
            os.remove(filler)
            res = cli("ingest", "sales", str(big), "--warehouse", str(path),
                      env={pg.URL_ENV: url})
            assert res.returncode == 0, res.stdout + res.stderr
            assert wh.count("sales") == before[0] + 59_998
            wh.close()
        finally:
            if old is None:
                os.environ.pop(pg.URL_ENV, None)
            else:
                os.environ[pg.URL_ENV] = old
            pgserver.stop(folder)
