"""A small crafted warehouse with one planted case per alert rule and a clean twin.

Planted (as_of = AS_OF):
- demand spike: SKU-A @ 560001 sells ~20/day, 90 units on AS_OF - 1
- demand drop:  SKU-C @ 560001 sells ~30/day, 0 units on AS_OF - 2
- clean series: SKU-B @ 560001 (~20/day, nothing unusual)
- above MRP:    SKU-A @ 560002 sold at 55 (MRP 50) on AS_OF - 3
- below cost:   SKU-B @ 560002 sold at 25 (cost 30) on AS_OF - 1
- stale PIN:    560003 has no sales in the last 10 days
- mandi spike:  Azadpur onion jumps from ~2,000 to 3,000 on AS_OF; Vashi onion stays flat
- forecasts:    run covering the last 28 days: SKU-B @ 560001 forecast = its true mean
                (clean), SKU-D @ 560001 forecast = 3x its sales (deviation and accuracy)
- stock:        SKU-A @ 560001 has 0 on hand (critical); SKU-B @ 560001 has 5,000 (clean)
- competitor:   DMart sells SKU-C in Bengaluru at 30 on AS_OF - 2 (we sell at 40); clean: 39
"""
from __future__ import annotations

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2025-11-20")
DAYS = pd.date_range(AS_OF - pd.Timedelta(days=149), AS_OF)


def put(wh, table: str, frame: pd.DataFrame) -> None:
    with wh.transaction() as cur:
        cur.register("_f", frame)
        cur.execute(f"INSERT INTO {table} ({', '.join(frame.columns)}) "
                    f"SELECT {', '.join(frame.columns)} FROM _f")
        cur.unregister("_f")


def _series(rng, sku, pin, mean, price, days=DAYS):
    weekly = np.array([1.0, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2])
    q = rng.poisson(mean * weekly[days.dayofweek]).astype(float)
    return pd.DataFrame({"sku_id": sku, "pin_code": pin, "date": days, "quantity": q,
                         "price": price})


def sales_frame(seed: int = 7, planted: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = [
        _series(rng, "SKU-A", "560001", 20, 45.0),
        _series(rng, "SKU-B", "560001", 20, 40.0),
        _series(rng, "SKU-C", "560001", 30, 40.0),
        _series(rng, "SKU-D", "560001", 10, 40.0),
        _series(rng, "SKU-A", "560002", 8, 45.0),
        _series(rng, "SKU-B", "560002", 8, 40.0),
        _series(rng, "SKU-B", "560003", 8, 40.0, DAYS[:-10] if planted else DAYS),
    ]
    df = pd.concat(parts, ignore_index=True)
    if planted:
        def at(sku, pin, day):
            return (df["sku_id"] == sku) & (df["pin_code"] == pin) & (df["date"] == day)
        df.loc[at("SKU-A", "560001", AS_OF - pd.Timedelta(days=1)), "quantity"] = 90.0
        df.loc[at("SKU-C", "560001", AS_OF - pd.Timedelta(days=2)), "quantity"] = 0.0
        df.loc[at("SKU-A", "560002", AS_OF - pd.Timedelta(days=3)), "price"] = 55.0
        df.loc[at("SKU-B", "560002", AS_OF - pd.Timedelta(days=1)), "price"] = 25.0
    df = df[df["quantity"] > 0].copy()
    df["revenue"] = df["quantity"] * df["price"]
    df["regular_price"] = df["price"]
    df["date"] = df["date"].dt.date
    return df


def mandi_frame(planted: bool = True) -> pd.DataFrame:
    days = pd.date_range(AS_OF - pd.Timedelta(days=20), AS_OF)
    rows = []
    for market, state in (("Azadpur", "Delhi"), ("Vashi", "Maharashtra")):
        for i, d in enumerate(days):
            price = 2000.0 + (i % 3) * 20
            if planted and market == "Azadpur" and d == AS_OF:
                price = 3000.0
            rows.append({"market": market, "state": state, "commodity": "Onion",
                         "date": d.date(), "modal_price": price, "min_price": price - 100,
                         "max_price": price + 100})
    return pd.DataFrame(rows)


def forecast_run(sales: pd.DataFrame):
    """(run meta, forecasts, backtests) for engine.warehouse.forecasts.write_run."""
    days = pd.date_range(AS_OF - pd.Timedelta(days=27), AS_OF)
    fc = pd.concat([
        pd.DataFrame({"sku_id": "SKU-B", "pin_code": "560001", "date": days,
                      "forecast": 20.0 * np.array([1.0, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2])
                      [days.dayofweek]}),
        pd.DataFrame({"sku_id": "SKU-D", "pin_code": "560001", "date": days,
                      "forecast": 30.0}),
    ], ignore_index=True)
    fc["lo"], fc["hi"] = fc["forecast"] * 0.5, fc["forecast"] * 1.5
    fc["lo80"], fc["hi80"] = fc["forecast"] * 0.7, fc["forecast"] * 1.3
    fc["model"] = "ets"
    bt_days = pd.date_range(AS_OF - pd.Timedelta(days=90), AS_OF - pd.Timedelta(days=63))
    hist = pd.DataFrame(sales)
    hist["date"] = pd.to_datetime(hist["date"])
    bt = hist[hist["date"].isin(bt_days) & (hist["pin_code"] == "560001")
              & hist["sku_id"].isin(["SKU-B", "SKU-D"])].copy()
    bt = bt.rename(columns={"quantity": "actual"})
    bt["forecast"] = bt["actual"] * 1.2                          # backtest WAPE 20%
    for col in ("lo", "hi", "lo80", "hi80"):
        bt[col] = np.nan
    bt["model"], bt["fold"], bt["cutoff"], bt["step"] = "routed", 1, bt_days[0], 1
    meta = {"run_id": "fc_test", "kind": "forecast", "grain": "daily",
            "cutoff": AS_OF - pd.Timedelta(days=28), "horizon": 28, "n_series": 2,
            "models": ["ets"]}
    return meta, fc, bt


def build(wh, planted: bool = True, with_forecast: bool = True) -> None:
    put(wh, "skus", pd.DataFrame({
        "sku_id": ["SKU-A", "SKU-B", "SKU-C", "SKU-D"],
        "name": ["Amul Taaza 1L", "Parle-G 800 g", "Tata Salt 1 kg", "Maggi 280 g"],
        "category": "Staples", "mrp": 50.0, "unit_cost": 30.0, "shelf_life_days": 180}))
    put(wh, "locations", pd.DataFrame({"pin_code": ["560001", "560002", "560003"],
                                       "city": "Bengaluru", "state": "Karnataka"}))
    sales = sales_frame(planted=planted)
    put(wh, "sales_daily", sales[["sku_id", "pin_code", "date", "quantity", "revenue",
                                  "price", "regular_price"]])
    put(wh, "mandi_prices", mandi_frame(planted))
    put(wh, "competitor_prices", pd.DataFrame({
        "batch_id": "test", "row_no": [1, 2], "competitor": "DMart",
        "item_name": "TATA SALT 1KG", "item_key": "tata salt 1kg", "pin_code": None,
        "city": "Bengaluru", "date": [(AS_OF - pd.Timedelta(days=9)).date(),
                                      (AS_OF - pd.Timedelta(days=2)).date()],
        "price": [40.0, 30.0 if planted else 39.0], "in_stock": True}))
    put(wh, "competitor_matches", pd.DataFrame({
        "item_key": ["tata salt 1kg"], "item_name": "TATA SALT 1KG", "sku_id": "SKU-C",
        "suggested_sku": "SKU-C", "confidence": 0.93, "status": "auto"}))
    put(wh, "inventory", pd.DataFrame({
        "sku_id": ["SKU-A", "SKU-B"], "pin_code": ["560001", "560001"],
        "on_hand": [0.0 if planted else 5000.0, 5000.0], "on_order": 0.0,
        "lead_time_days": 7, "moq": 1, "case_pack": 1, "snapshot_date": AS_OF.date()}))
    if with_forecast:
        from engine.warehouse.forecasts import write_run

        meta, fc, bt = forecast_run(sales)
        if not planted:
            fc.loc[fc["sku_id"] == "SKU-D", "forecast"] = 10.0 * np.array(
                [1.0, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2])[
                pd.DatetimeIndex(fc.loc[fc["sku_id"] == "SKU-D", "date"]).dayofweek]
        write_run(wh, meta, forecasts=fc, backtests=bt)
