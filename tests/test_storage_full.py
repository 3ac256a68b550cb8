"""Disk full and read-only disks, for real: a small warehouse on a tiny tmpfs that is then
filled to the last byte (or left a few KB short of the next write), or remounted
read-only, and driven through the real entry points - `python -m engine ingest /
forecast / alerts` in a subprocess and the REST API through TestClient.

Every failure must be reported as a storage error (disk full / read-only), never blamed
on the user's file, never a traceback or a 500; the first error of the failed
transaction is the one shown; and the data written before stays intact (the warehouse
reopens with the same row counts and data version).

Needs root (or CAP_SYS_ADMIN) to mount a tmpfs: skipped where mounting is not allowed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.warehouse.db import Warehouse
from tests.api_frames import build_world, token_headers
from tests.forecast_page_frames import forecast_copy

REPO = Path(__file__).resolve().parents[1]
SECRET = "s" * 48
COUNTED = ("sales", "sales_daily", "skus", "ingest_batches", "quarantine", "alerts",
           "forecast_runs", "forecasts", "audit_log")
BLAME_THE_FILE = ("save it again", "not a csv", "could not be read", "damaged",
                  "cannot rollback", "no transaction is active")


# ---- a tiny filesystem --------------------------------------------------------------------
def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


@contextlib.contextmanager
def tiny_tmpfs(size_bytes: int):
    """A tmpfs of `size_bytes` mounted on a fresh folder; skip the test where mounting is
    not permitted. Always unmounted (lazily if something still holds it) and removed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="mp_tinyfs_"))
    res = _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder))
    if res.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()[:200]}")
    try:
        yield folder
    finally:
        _run("mount", "-o", "remount,rw", str(folder))
        if _run("umount", str(folder)).returncode != 0:
            _run("umount", "-l", str(folder))
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the filesystem of `folder` up to `leave` free bytes with a filler file."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free - leave
    if free > 0:
        with open(filler, "ab") as fh:
            os.posix_fallocate(fh.fileno(), fh.tell(), free)
    return filler


def remount(folder: Path, mode: str) -> None:
    res = _run("mount", "-o", f"remount,{mode}", str(folder))
    assert res.returncode == 0, res.stderr


def snapshot(path: Path) -> dict:
    wh = Warehouse(path, read_only=True)
    try:
        out = {t: wh.count(t) for t in COUNTED}
        out["data_version"] = wh.data_version()
        out["new_alerts"] = int(wh.scalar("SELECT count(*) FROM alerts "
                                          "WHERE acknowledged_at IS NULL"))
        return out
    finally:
        wh.close()


# ---- the warehouse under test ----------------------------------------------------------
@pytest.fixture(scope="module")
def seed(small_warehouse_path, tmp_path_factory) -> Path:
    """The small demo with a cheap forecast run, users and alerts, checkpointed into one
    file (no write-ahead log), built on the ordinary disk once for the module."""
    folder = tmp_path_factory.mktemp("storage")
    world = build_world(forecast_copy(str(small_warehouse_path)), folder / "seed.duckdb")
    wh = Warehouse(world.path)
    wh.scalar("CHECKPOINT")
    wh.close()
    assert not Path(str(world.path) + ".wal").exists()
    return world.path


@pytest.fixture(scope="module")
def sales_csv(seed, tmp_path_factory) -> Path:
    """A good sales file (it loads once the disk has room: see the ingest test)."""
    wh = Warehouse(seed, read_only=True)
    try:
        pairs = wh.query("SELECT DISTINCT sku_id, pin_code FROM sales_daily ORDER BY 1, 2 "
                         "LIMIT 20").itertuples(index=False, name=None)
        pairs = list(pairs)
    finally:
        wh.close()
    path = tmp_path_factory.mktemp("storage_in") / "sales_march.csv"
    lines = ["date,sku_id,pin_code,quantity,price"]
    for day in range(1, 29):
        for sku, pin in pairs:
            lines.append(f"2025-03-{day:02d},{sku},{pin},{day % 7 + 1},42.5")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _room_for(seed: Path) -> int:
    """A tmpfs size that holds the warehouse plus 3 MB (filled up before each write)."""
    return (seed.stat().st_size // 4096 + 1) * 4096 + (3 << 20)


@pytest.fixture()
def on_tinyfs(seed):
    """(folder, warehouse path): the seed copied onto its own tiny tmpfs."""
    with tiny_tmpfs(_room_for(seed)) as folder:
        path = folder / "wh.duckdb"
        shutil.copy(seed, path)
        yield folder, path


def cli(*args: str, timeout: int = 300, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MICROPULSE_AUTH": "off", **(env or {})}
    env.pop("MICROPULSE_WAREHOUSE", None)
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_storage_message(text: str, kind: str) -> None:
    low = text.lower()
    assert "traceback" not in low, text
    assert "storage error" in low, text
    assert ("is full" in low) if kind == "full" else ("read-only" in low), text
    assert "not a problem with your data" in low, text
    for words in BLAME_THE_FILE:
        assert words not in low, (words, text)


# ---- command line: disk full ---------------------------------------------------------------
@pytest.mark.duckdb_only("fills the disk under the DuckDB warehouse file")
@pytest.mark.parametrize("leave", [0, 24 << 10], ids=["no-byte-left", "24KB-left"])
def test_cli_ingest_on_a_full_disk_says_so_keeps_the_data_and_the_file_loads_later(
        on_tinyfs, sales_csv, leave):
    folder, path = on_tinyfs
    before = snapshot(path)
    filler = fill(folder, leave)
    res = cli("ingest", "sales", str(sales_csv), "--warehouse", str(path))
    assert res.returncode == 74, (res.returncode, res.stdout, res.stderr)
    assert_storage_message(res.stderr, "full")
    assert "sales_march.csv" not in res.stderr        # the file is not the subject
    filler.unlink()
    assert snapshot(path) == before                   # nothing half-written, data intact
    again = cli("ingest", "sales", str(sales_csv), "--warehouse", str(path), "--no-alerts")
    assert again.returncode == 0, again.stderr        # the same file was fine all along
    after = snapshot(path)
    assert after["ingest_batches"] == before["ingest_batches"] + 1
    assert after["sales"] > before["sales"]


@pytest.mark.duckdb_only("its seed warehouse is a DuckDB file copied onto a small disk")
def test_cli_ingest_of_a_gzip_file_with_a_full_temporary_disk_is_no_damaged_file(
        seed, sales_csv, tmp_path):
    import gzip

    path = tmp_path / "wh.duckdb"
    shutil.copy(seed, path)
    packed = tmp_path / "sales_march.csv.gz"
    packed.write_bytes(gzip.compress(sales_csv.read_bytes()))
    before = snapshot(path)
    with tiny_tmpfs(1 << 20) as tmp_disk:
        fill(tmp_disk, leave=8 << 10)     # room for tempfile's probe, not for the copy
        res = cli("ingest", "sales", str(packed), "--warehouse", str(path),
                  env={"TMPDIR": str(tmp_disk)})
    assert res.returncode == 74, (res.returncode, res.stdout, res.stderr)
    assert_storage_message(res.stderr, "full")
    assert "the disk for temporary files is full" in res.stderr
    assert snapshot(path) == before


@pytest.mark.duckdb_only("fills the disk under the DuckDB warehouse file")
def test_cli_forecast_and_alerts_on_a_full_disk_end_with_one_storage_line(on_tinyfs):
    folder, path = on_tinyfs
    before = snapshot(path)
    filler = fill(folder)
    fc = cli("forecast", "--warehouse", str(path), "--models", "seasonal_naive",
             "moving_average", "--folds", "1", "--horizon", "7", "--workers", "1",
             "--quiet", "--no-alerts")
    assert fc.returncode == 74, (fc.returncode, fc.stdout, fc.stderr[-3000:])
    assert_storage_message(fc.stderr, "full")
    al = cli("alerts", "--warehouse", str(path), "--as-of", "2031-01-01")
    assert al.returncode == 74, (al.returncode, al.stdout, al.stderr[-3000:])
    assert_storage_message(al.stderr, "full")
    listed = cli("alerts", "--warehouse", str(path), "--no-generate")   # reads still work
    assert listed.returncode == 0, listed.stderr
    filler.unlink()
    assert snapshot(path) == before


# ---- REST API: disk full -----------------------------------------------------------------
def _app(path: Path):
    return create_app(path, Settings(jwt_secret=SECRET, rate_per_minute=10_000,
                                     batch_rate_per_minute=10_000))


def _upload(client, headers, csv: Path):
    with open(csv, "rb") as fh:
        return client.post("/v1/ingest/sales", headers=headers,
                           files={"file": (csv.name, fh, "text/csv")})


def _series(client, headers) -> tuple[str, str]:
    wh = client.app.state.micropulse.warehouse()
    return tuple(wh.query("SELECT sku_id, pin_code FROM forecasts LIMIT 1").iloc[0])


def _first_new_alert(client, headers) -> str:
    body = client.get("/v1/alerts", params={"status": "new"}, headers=headers).json()
    return body["alerts"][0]["alert_id"]


def _storage_error(res, status: int, code: str, kind: str) -> dict:
    assert res.status_code == status, (res.status_code, res.text)
    err = res.json()["error"]
    assert err["code"] == code, err
    assert_storage_message(err["message"], kind)
    assert "/" not in err["message"].split("(")[1].split(")")[0]     # a file name, no path
    return err


@pytest.mark.duckdb_only("fills the disk under the DuckDB warehouse file")
@pytest.mark.parametrize("upload_temp", ["same-disk", "other-disk"])
def test_api_on_a_full_disk_answers_507_for_writes_and_keeps_serving_reads(
        on_tinyfs, sales_csv, tmp_path, upload_temp):
    folder, path = on_tinyfs
    before = snapshot(path)
    app = _app(path)
    state = app.state.micropulse
    if upload_temp == "other-disk":       # the upload lands; the warehouse's commit fails
        state.process._home = tmp_path / "api-home"
        state.process._home.mkdir()
    client = TestClient(app, raise_server_exceptions=False)
    try:
        manager = token_headers(client, "manager")
        sku, pin = _series(client, manager)
        alert_id = _first_new_alert(client, manager)
        state.warehouse().scalar("CHECKPOINT")   # an empty log: no slack in its last page
        filler = fill(folder)

        up = _storage_error(_upload(client, manager, sales_csv), 507, "disk_full", "full")
        if upload_temp == "other-disk":
            assert up["details"]["file"].startswith("wh.duckdb")    # the warehouse's log
        else:
            assert "the uploaded file could not be saved" in up["message"]
        fill(folder)                           # the failed upload's pages were freed
        _storage_error(client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=manager),
                       507, "disk_full", "full")
        read = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin,
                                                   "horizon": 7}, headers=manager)
        assert read.status_code == 200, read.text
        inv = client.get("/v1/recommendations/inventory", headers=manager)
        assert inv.status_code == 200, inv.text     # its stored result is skipped, not fatal
        sim = client.post("/v1/pricing/simulate", headers=manager,
                          json={"changes": [{"pct": -0.05}]})
        assert sim.status_code == 200, sim.text
        assert client.get("/ready").status_code == 200
        filler.unlink()
        ok = client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=manager)
        assert ok.status_code == 200, ok.text       # the same connection writes again
    finally:
        state.close()
    after = snapshot(path)
    assert after["new_alerts"] == before["new_alerts"] - 1
    assert {k: after[k] for k in ("sales", "sales_daily", "ingest_batches", "forecasts")} \
        == {k: before[k] for k in ("sales", "sales_daily", "ingest_batches", "forecasts")}


# ---- read-only disk ----------------------------------------------------------------------
@pytest.mark.duckdb_only("makes the disk under the DuckDB warehouse file read-only")
def test_read_only_disk_api_serves_reads_and_refuses_writes_clearly(on_tinyfs, sales_csv):
    folder, path = on_tinyfs
    app = _app(path)
    client = TestClient(app, raise_server_exceptions=False)
    try:
        manager = token_headers(client, "manager")      # signing in writes: do it first
        sku, pin = _series(client, manager)
        alert_id = _first_new_alert(client, manager)
    finally:
        app.state.micropulse.close()
    shutil.rmtree(folder / "wh.duckdb.api", ignore_errors=True)
    before = snapshot(path)
    remount(folder, "ro")

    app = _app(path)
    client = TestClient(app, raise_server_exceptions=False)
    try:
        assert client.get("/ready").status_code == 200
        read = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin,
                                                   "horizon": 7}, headers=manager)
        assert read.status_code == 200, read.text
        assert client.get("/v1/alerts", headers=manager).status_code == 200
        sim = client.post("/v1/pricing/simulate", headers=manager,
                          json={"changes": [{"pct": -0.05}]})
        assert sim.status_code == 200, sim.text
        _storage_error(client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=manager),
                       503, "read_only", "read-only")
        _storage_error(_upload(client, manager, sales_csv), 503, "read_only", "read-only")
        _storage_error(client.post("/v1/auth/token", json={"username": "manager",
                                                           "password": "manager-pass-123"}),
                       503, "read_only", "read-only")
    finally:
        app.state.micropulse.close()

    res = cli("ingest", "sales", str(sales_csv), "--warehouse", str(path))
    assert res.returncode == 74, (res.returncode, res.stderr)
    assert_storage_message(res.stderr, "read-only")
    al = cli("alerts", "--warehouse", str(path))
    assert al.returncode == 74, (al.returncode, al.stderr[-3000:])
    assert_storage_message(al.stderr, "read-only")
    listed = cli("alerts", "--warehouse", str(path), "--no-generate", "--json")
    assert listed.returncode == 0, listed.stderr                   # reading commands work

    remount(folder, "rw")
    assert snapshot(path) == before


@pytest.mark.duckdb_only("its seed warehouse is a DuckDB file copied onto a small disk")
def test_app_upload_bytes_on_a_full_temporary_disk_is_a_storage_error(seed, sales_csv,
                                                                      tmp_path, monkeypatch):
    import tempfile as tempfile_module

    from engine.ingest.load import ingest_bytes
    from engine.warehouse.db import DiskFullError

    path = tmp_path / "wh.duckdb"
    shutil.copy(seed, path)
    before = snapshot(path)
    with tiny_tmpfs(1 << 20) as tmp_disk:
        fill(tmp_disk)
        monkeypatch.setattr(tempfile_module, "tempdir", str(tmp_disk))
        wh = Warehouse(path)
        try:
            with pytest.raises(DiskFullError) as err:
                ingest_bytes(wh, "sales", sales_csv.read_bytes(), "sales_march.csv")
        finally:
            wh.close()
        monkeypatch.undo()
    assert_storage_message(str(err.value), "full")
    assert "the uploaded file could not be saved" in str(err.value)
    assert snapshot(path) == before


def test_data_page_shows_a_storage_error_as_its_own_sentence(monkeypatch):
    """The Data page's load and preview report a full disk as the storage's fault, in the
    storage error's own words (not 'could not be loaded (DiskFullError: ...)')."""
    from components import ingest_views
    from engine.warehouse.db import DiskFullError

    def full(*a, **k):
        raise DiskFullError("The disk holding the warehouse is full: free some space and "
                            "try again.")

    monkeypatch.setattr(ingest_views, "ingest_bytes", full)
    monkeypatch.setattr(ingest_views, "preview_bytes", full)
    result, err = ingest_views.load_upload(None, "sales", b"x", "s.csv")
    assert result is None and err.startswith("The disk holding the warehouse is full")
    assert "DiskFullError" not in err and "Nothing was written" in err
    preview, err = ingest_views.preview_upload("sales", b"x", "s.csv", None)
    assert preview is None and err.startswith("The disk holding the warehouse is full")
