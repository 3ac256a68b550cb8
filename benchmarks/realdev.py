"""Shared helpers for the real-data benchmarks (bench_real_*.py): where ../shared/data/realdev
is, a throw-away warehouse loaded through the product's own ingest, dense weekly panels,
the statsforecast peers and the scoring used for every model side by side.

The data is never copied into the repository; every benchmark exits 0 with a one-line
note when ../shared is absent.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REALDEV = Path(os.environ.get("MICROPULSE_REALDEV", ROOT.parent / "shared" / "data" / "realdev"))
DUNNHUMBY = REALDEV / "dunnhumby_dev_sales.csv.gz"
DUNNHUMBY_CATALOG = REALDEV / "dunnhumby_dev_catalog.csv"
TUNA = REALDEV / "tuna_sales.csv"
CHEESE = REALDEV / "cheese_sales.csv"
KEYS = ["sku_id", "pin_code"]
# the weekly sales files the forecasting benchmarks run on: name -> (sales, catalog)
SALES_FILES = {"dunnhumby": (DUNNHUMBY, DUNNHUMBY_CATALOG), "tuna": (TUNA, None),
               "cheese": (CHEESE, None)}
PEERS = ("Naive", "SeasonalNaive", "WindowAverage", "AutoETS", "AutoTheta")


def require(*paths: Path) -> bool:
    """True when every file exists; otherwise prints why the benchmark is skipped."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"skipped: real data not found ({', '.join(missing)}); "
              f"set MICROPULSE_REALDEV or check out ../shared next to the repo")
        return False
    return True


def load_warehouse(sales: Path, catalog: Path | None = None, name: str | None = None,
                   overrides: dict | None = None):
    """A fresh warehouse in the temp dir with `catalog` and `sales` uploaded through the
    product's ingest (the same code path as `python -m engine ingest`). Returns
    (Warehouse, {kind: IngestResult})."""
    from engine.ingest.load import ingest_file
    from engine.signals.festivals import load_festival_reference
    from engine.warehouse.db import Warehouse

    path = Path(tempfile.gettempdir()) / f"micropulse_{name or sales.stem}_{os.getpid()}.duckdb"
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    wh = Warehouse(path)
    load_festival_reference(wh)
    results = {}
    t = time.perf_counter()
    if catalog is not None:
        results["catalog"] = ingest_file(wh, "catalog", catalog)
    results["sales"] = ingest_file(wh, "sales", sales, overrides=overrides)
    r = results["sales"]
    print(f"ingested {sales.name}: {r.rows_read:,} rows read, {r.rows_loaded:,} loaded, "
          f"{r.rows_quarantined:,} quarantined, grain {r.grain} "
          f"({time.perf_counter() - t:.1f} s)")
    return wh, results


def dense_weekly(history: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per series x week from the series' first sale to `cutoff` (weeks on the
    cutoff's weekday lattice), zero where the week had no sales: what every model sees.
    Columns: unique_id, ds, y, sku_id, pin_code, price (NaN where unknown)."""
    h = history[history["date"] <= cutoff]
    week = cutoff - pd.to_timedelta(((cutoff - h["date"]).dt.days // 7) * 7, unit="D")
    h = h.assign(date=week).groupby(KEYS + ["date"], as_index=False).agg(
        quantity=("quantity", "sum"), price=("price", "mean"))
    first = h.groupby(KEYS)["date"].min()
    n = ((cutoff - first).dt.days // 7 + 1).to_numpy()
    idx = np.repeat(np.arange(len(first)), n)
    offs = np.concatenate([np.arange(k) for k in n]) if len(n) else np.array([], int)
    grid = pd.DataFrame({"sku_id": first.index.get_level_values(0).to_numpy()[idx],
                         "pin_code": first.index.get_level_values(1).to_numpy()[idx],
                         "date": first.to_numpy()[idx] + pd.to_timedelta(offs * 7, unit="D")})
    d = grid.merge(h, on=KEYS + ["date"], how="left")
    d["quantity"] = d["quantity"].fillna(0.0)
    d["unique_id"] = d["sku_id"].astype(str) + "|" + d["pin_code"].astype(str)
    return d.rename(columns={"date": "ds", "quantity": "y"})


def actuals(history: pd.DataFrame, cutoff: pd.Timestamp, horizon: int,
            no_row_weeks: str = "missing") -> pd.DataFrame:
    """Weekly actuals for the `horizon` weeks after the cutoff, for every series that has
    history up to the cutoff: zero where the series had no sales but its store (PIN)
    reported rows that week. A week in which the store has no rows at all (a store that
    stopped reporting, or a week missing from the whole file) is missing data, as the
    product's own data-gap rule (features.data_gaps) treats it, and is left out of the
    scoring for every model alike; `no_row_weeks="zero"` scores it as zero sales (the
    earlier protocol). Columns: unique_id, ds, step, actual."""
    if no_row_weeks not in ("missing", "zero"):
        raise ValueError(f"no_row_weeks must be 'missing' or 'zero', not {no_row_weeks!r}")
    h = history[(history["date"] > cutoff)
                & (history["date"] <= cutoff + pd.Timedelta(weeks=horizon))]
    step = np.ceil((h["date"] - cutoff).dt.days / 7).astype(int)
    h = h.assign(step=step).groupby(KEYS + ["step"], as_index=False)["quantity"].sum()
    series = history.loc[history["date"] <= cutoff, KEYS].drop_duplicates()
    grid = series.loc[series.index.repeat(horizon)].reset_index(drop=True)
    grid["step"] = np.tile(np.arange(1, horizon + 1), len(series))
    out = grid.merge(h, on=KEYS + ["step"], how="left")
    if no_row_weeks == "missing":
        reported = h[["pin_code", "step"]].drop_duplicates()
        out = out.merge(reported, on=["pin_code", "step"], how="inner")
    out["actual"] = out["quantity"].fillna(0.0)
    out["ds"] = cutoff + pd.to_timedelta(out["step"] * 7, unit="D")
    out["unique_id"] = out["sku_id"].astype(str) + "|" + out["pin_code"].astype(str)
    return out[["unique_id", "ds", "step", "actual"]]


def old_protocol(fc: pd.DataFrame, full: pd.DataFrame, cutoff: pd.Timestamp, horizon: int,
                 scales: pd.DataFrame, keep: pd.Index, title: str) -> pd.DataFrame:
    """The same forecasts scored with the earlier protocol (a store's weeks without any
    rows as zero sales), printed beside the new one; returns the table."""
    test = actuals(full, cutoff, horizon, no_row_weeks="zero")
    new = actuals(full, cutoff, horizon)
    dropped = int(test["unique_id"].isin(keep).sum() - new["unique_id"].isin(keep).sum())
    table = score_models(fc, test, scales, keep).sort_values("wape")
    print_table(table[["model", "series", "wape", "rmsse", "bias", "cov95"]],
                f"{title}, EARLIER protocol: {dropped:,} series-weeks whose store sent no "
                "rows scored as zero sales")
    return table


def peers(panel: pd.DataFrame, horizon: int, season: int = 52, n_jobs: int = 1,
          names: tuple[str, ...] = ("Naive", "SeasonalNaive", "WindowAverage", "AutoETS",
                                    "AutoTheta")) -> tuple[pd.DataFrame, dict]:
    """statsforecast's textbook peers fitted on the same dense weekly history, each timed
    on its own. Returns (long frame unique_id, ds, model, forecast, lo80, hi80, lo, hi;
    seconds per model)."""
    from statsforecast import StatsForecast
    from statsforecast import models as M

    build = {"Naive": lambda: M.Naive(), "SeasonalNaive": lambda: M.SeasonalNaive(season),
             "WindowAverage": lambda: M.WindowAverage(4),
             "AutoETS": lambda: M.AutoETS(season_length=season),
             "AutoTheta": lambda: M.AutoTheta(season_length=season),
             "AutoARIMA": lambda: M.AutoARIMA(season_length=season)}
    df = panel[["unique_id", "ds", "y"]]
    weekday = pd.Timestamp(df["ds"].max()).day_name()[:3].upper()
    freq = f"W-{weekday}"
    parts, seconds = [], {}
    for name in names:
        model = build[name]()
        sf = StatsForecast(models=[model], freq=freq, n_jobs=n_jobs)
        t = time.perf_counter()
        levels = [80, 95]
        try:
            fc = sf.forecast(df=df, h=horizon, level=levels)
        except Exception:        # a model without intervals
            fc = sf.forecast(df=df, h=horizon)
        seconds[name] = time.perf_counter() - t
        col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c
               and "-hi-" not in c][0]
        out = pd.DataFrame({"unique_id": fc["unique_id"].to_numpy(), "ds": fc["ds"].to_numpy(),
                            "model": name, "forecast": fc[col].clip(lower=0).to_numpy()})
        for lvl, (lo, hi) in {80: ("lo80", "hi80"), 95: ("lo", "hi")}.items():
            if f"{col}-lo-{lvl}" in fc:
                out[lo] = fc[f"{col}-lo-{lvl}"].clip(lower=0).to_numpy()
                out[hi] = fc[f"{col}-hi-{lvl}"].to_numpy()
            else:
                out[lo] = np.nan
                out[hi] = np.nan
        parts.append(out)
    return pd.concat(parts, ignore_index=True), seconds


def scored_series(panel: pd.DataFrame, test: pd.DataFrame, min_weeks: int = 52) -> pd.Index:
    """Series with at least `min_weeks` weeks of history and some sales in the test window."""
    length = panel.groupby("unique_id").size()
    sold = test.groupby("unique_id")["actual"].sum()
    ok = length[length >= min_weeks].index.intersection(sold[sold > 0].index)
    return ok.sort_values()


def series_scales(panel: pd.DataFrame) -> pd.DataFrame:
    """Per series: RMSSE denominator (mean squared one-step naive error in sample) and the
    revenue weight (revenue over the last 13 history weeks, as M5 weights by recent sales)."""
    p = panel.sort_values(["unique_id", "ds"])
    d = p.groupby("unique_id")["y"].diff()
    scale2 = (d ** 2).groupby(p["unique_id"]).mean()
    last = p.groupby("unique_id").tail(13)
    price = last["price"].fillna(last.groupby("unique_id")["price"].transform("median"))
    rev = (last["y"] * price.fillna(1.0)).groupby(last["unique_id"]).sum()
    return pd.DataFrame({"scale2": scale2, "revenue": rev})


def score_models(fc: pd.DataFrame, test: pd.DataFrame, scales: pd.DataFrame,
                 keep: pd.Index, by: str | None = None) -> pd.DataFrame:
    """WAPE, mean RMSSE, revenue-weighted RMSSE, bias and 80/95% coverage per model (and
    per `by` column of `fc`), on the series in `keep` and the test weeks."""
    d = fc[fc["unique_id"].isin(keep)].merge(test, on=["unique_id", "ds"], how="inner")
    d = d.join(scales, on="unique_id")
    d["e"] = d["actual"] - d["forecast"]
    groups = ["model"] + ([by] if by else [])
    rows = []
    for key, g in d.groupby(groups, sort=False):
        per = g.groupby("unique_id").agg(mse=("e", lambda e: float(np.mean(e ** 2))),
                                         scale2=("scale2", "first"),
                                         revenue=("revenue", "first"))
        ok = per["scale2"] > 0
        rmsse = np.sqrt(per.loc[ok, "mse"] / per.loc[ok, "scale2"])
        w = per.loc[ok, "revenue"] / per.loc[ok, "revenue"].sum()
        row = dict(zip(groups, key if isinstance(key, tuple) else (key,)))
        a = g["actual"].to_numpy()
        row.update(series=g["unique_id"].nunique(),
                   wape=float(np.abs(g["e"]).sum() / a.sum()),
                   rmsse=float(rmsse.mean()), rmsse_rev=float((rmsse * w).sum()),
                   bias=float((g["forecast"].sum() - a.sum()) / a.sum()))
        for lvl, (lo, hi) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
            inside = (g["actual"] >= g[lo]) & (g["actual"] <= g[hi])
            row[f"cov{lvl}"] = float(inside.mean()) if g[lo].notna().all() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def coverage_by_step(fc: pd.DataFrame, test: pd.DataFrame, keep: pd.Index) -> pd.DataFrame:
    """95% (and 80%) coverage per model and horizon week (models with intervals only)."""
    d = fc[fc["unique_id"].isin(keep) & fc["lo"].notna()].merge(test, on=["unique_id", "ds"])
    d["in95"] = (d["actual"] >= d["lo"]) & (d["actual"] <= d["hi"])
    d["in80"] = (d["actual"] >= d["lo80"]) & (d["actual"] <= d["hi80"])
    return d.groupby(["model", "step"])[["in80", "in95"]].mean().unstack("step")


def print_table(df: pd.DataFrame, title: str) -> None:
    print(f"\n== {title} ==")
    fmt = df.copy()
    for c in ("wape", "bias", "cov80", "cov95"):
        if c in fmt:
            fmt[c] = fmt[c].map(lambda x: "—" if pd.isna(x) else f"{100 * x:.1f}%")
    for c in ("rmsse", "rmsse_rev"):
        if c in fmt:
            fmt[c] = fmt[c].map(lambda x: f"{x:.3f}")
    if "seconds" in fmt:
        fmt["seconds"] = fmt["seconds"].map(lambda x: "—" if pd.isna(x) else f"{x:.1f}")
    print(fmt.to_string(index=False))


def config_changes(settings: list[str] | None) -> dict:
    """`--set KEY=VALUE` options as ForecastConfig changes: a field of the config
    (lgb_rounds=400) sets the field, any other key goes into its `params`
    (lgb_learning_rate=0.05). Values are read as int, float, or left as text; `models`
    takes a comma-separated list (models=seasonal_naive,lightgbm,arima). Lets a
    benchmark measure a method variant without editing the engine."""
    from dataclasses import fields

    from engine.forecast.config import ForecastConfig

    names = {f.name for f in fields(ForecastConfig)}
    out, params = {}, {}
    for item in settings or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {item!r}")
        value: object = text
        if key == "models":                 # models=seasonal_naive,tsb,lightgbm,arima
            out[key] = tuple(m.strip() for m in text.split(",") if m.strip())
            continue
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        (out if key in names else params)[key] = value
    if params:
        out["params"] = tuple(sorted(params.items()))
    return out


def held_out(name: str, horizon: int, tag: str):
    """Upload the `name` sales file (SALES_FILES) into a fresh warehouse and hold out its
    last `horizon` weeks. Prints the panel's size and dates. Returns (Warehouse, the full
    history as the forecast reads it, the cutoff)."""
    from engine.warehouse.sales_history import read_history

    sales, catalog = SALES_FILES[name]
    wh, _ = load_warehouse(sales, catalog, name=f"{tag}_{name}")
    full = read_history(wh)
    last = full["date"].max()
    cutoff = last - pd.Timedelta(weeks=horizon)
    print(f"{full[KEYS].drop_duplicates().shape[0]:,} series, "
          f"{full['date'].min():%d-%b-%Y} .. {last:%d-%b-%Y}; cutoff {cutoff:%d-%b-%Y}, "
          f"horizon {horizon} weeks")
    return wh, full, cutoff


def product_long(forecasts: pd.DataFrame, name: str, column: str = "forecast") -> pd.DataFrame:
    """The product's forecast rows in the peers' long shape (unique_id, ds, model,
    forecast, lo80, hi80, lo, hi), the point forecast taken from `column`."""
    f = forecasts
    return pd.DataFrame({"unique_id": f["sku_id"].astype(str) + "|" + f["pin_code"].astype(str),
                         "ds": pd.to_datetime(f["date"]), "model": name,
                         "forecast": f[column], "lo80": f["lo80"], "hi80": f["hi80"],
                         "lo": f["lo"], "hi": f["hi"]})
