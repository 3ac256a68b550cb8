"""A load killed half-way leaves the warehouse exactly as it was."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.warehouse.db import Warehouse

REPO = Path(__file__).resolve().parents[1]


def _big_csv(path: Path, rows: int) -> None:
    pins = ["560001", "110001", "400001", "600001"]
    with open(path, "w") as fh:
        fh.write("transaction_id,date,sku_id,pin_code,quantity,price\n")
        for i in range(rows):
            fh.write(f"T{i},{1 + i % 28:02d}-01-2024,SKU{i % 500},{pins[i % 4]},{1 + i % 5},"
                     f"{10 + i % 90}\n")


def test_kill_mid_load_leaves_warehouse_unchanged(tmp_path):
    db = tmp_path / "w.duckdb"
    small = tmp_path / "small.csv"
    small.write_text("transaction_id,date,sku_id,pin_code,quantity,price\n"
                     "S1,05-01-2024,SKU1,560001,1,10\n")
    subprocess.run([sys.executable, "-m", "engine", "ingest", "sales", str(small),
                    "--warehouse", str(db)], cwd=REPO, check=True, capture_output=True)
    wh = Warehouse(db)
    tables = ("sales", "sales_daily", "skus", "quarantine", "ingest_batches")
    before = {t: wh.count(t) for t in tables}
    wh.close()
    big = tmp_path / "big.csv"
    rows = 1_200_000  # several seconds of loading, so the kill lands inside the transaction
    _big_csv(big, rows)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "ingest", "sales", str(big),
                             "--warehouse", str(db), "--no-alerts"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.5)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wh = Warehouse(db)
    try:
        after = {t: wh.count(t) for t in tables}
        complete = (after["sales"] == before["sales"] + rows
                    and after["ingest_batches"] == before["ingest_batches"] + 1)
        # Never a partial load: either nothing of the batch or all of it (a fast machine
        # may have committed before the kill arrived).
        assert after == before or complete, after
        if not killed:
            assert complete
        assert wh.scalar("SELECT count(*) FROM sales WHERE transaction_id = 'S1'") == 1
    finally:
        wh.close()
