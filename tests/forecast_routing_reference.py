"""Frozen reference: the routed-path code of engine/forecast (backtest actuals and scale,
router, conformal intervals, forecast_full) as it was before vectorisation. Slow
(per-series Python loops, string-key merges) but the behaviour the vectorised code must
reproduce exactly; tests/test_forecast_routing_equivalence.py compares both."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from engine.forecast.backtest import fold_cutoffs
from engine.forecast.config import ForecastConfig, ForecastError
from engine.forecast.drivers import driver_frame
from engine.forecast.features import Signals, detect_grain, normalize_history
from engine.forecast.intervals import Calibration, poisson_intervals
from engine.forecast.metrics import seasonal_scale
from engine.forecast.pipeline import OUTPUT, ForecastResult
from engine.forecast.runner import fit_predict

KEYS = ["sku_id", "pin_code"]
COLD_START_MODEL = "moving_average"
LEVELS = {"80": 0.80, "95": 0.95}
MIN_POOL = 200
SCALE_FLOOR = 0.5


# ---- backtest ----------------------------------------------------------------------------
def backtest(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
             progress=None) -> pd.DataFrame:
    """Point-level rolling-origin backtest of every model in `cfg.models` (history cut at
    cfg.cutoff when set). Raises ForecastError when the history is too short for even
    one fold."""
    say = progress or (lambda msg: None)
    h = normalize_history(history)
    if cfg.cutoff is not None:
        h = h[h["date"] <= pd.Timestamp(cfg.cutoff)]
    grain = cfg.grain or detect_grain(h)
    cfg = cfg.with_(grain=grain)
    cutoffs = fold_cutoffs(h["date"].max(), cfg, grain)
    first = h["date"].min()
    cutoffs = [c for c in cutoffs if c > first]
    if not cutoffs:
        raise ForecastError(
            f"The history ({first:%d-%b-%Y} to {h['date'].max():%d-%b-%Y}) is too short for a "
            f"{cfg.horizon}-period backtest; add more history or shorten the horizon.",
            evidence={"first": first, "last": h["date"].max()}, code="history_too_short")
    parts = []
    for k, cut in enumerate(cutoffs):
        say(f"fold {k + 1}/{len(cutoffs)}: cutoff {cut:%d-%b-%Y}")
        res = fit_predict(h, signals, cfg, cutoff=cut, progress=say)
        fc = res.forecasts
        if fc.empty:
            continue
        panel_hist = res.panel.history
        actual = _actuals(h, fc, cut, grain)
        fc = fc.assign(fold=k, cutoff=cut)
        fc["actual"] = actual
        scale = panel_hist.groupby(KEYS)["quantity"].apply(
            lambda y: seasonal_scale(y.to_numpy()[-365:], cfg.season_length)).rename("scale")
        attrs = panel_hist.groupby(KEYS)[["category", "city", "state"]].first()
        fc = fc.merge(scale.reset_index(), on=KEYS, how="left").merge(
            attrs.reset_index(), on=KEYS, how="left")
        parts.append(fc)
    bt = pd.concat(parts, ignore_index=True)
    bt["segment"] = bt["category"].fillna("unknown").astype(str)
    bt = cross_conformal(bt, cfg.horizon)
    cols = ["model", "fold", "cutoff", *KEYS, "date", "step", "actual", "forecast", "lo", "hi",
            "lo80", "hi80", "scale", "segment", "category", "city", "state"]
    return bt[cols].sort_values(["model", "fold", *KEYS, "date"]).reset_index(drop=True)


def _actuals(h: pd.DataFrame, fc: pd.DataFrame, cut: pd.Timestamp, grain: str) -> np.ndarray:
    """Observed demand for each forecast row; a period without sales is zero demand."""
    if grain == "W":   # sum daily/weekly rows into the fold's week lattice
        lab = cut + pd.to_timedelta(((h["date"] - cut).dt.days - 1) // 7 * 7 + 7, unit="D")
        obs = h.assign(date=lab).groupby(KEYS + ["date"], as_index=False)["quantity"].sum()
    else:
        obs = h[KEYS + ["date", "quantity"]]
    m = fc[KEYS + ["date"]].merge(obs, on=KEYS + ["date"], how="left")
    return m["quantity"].fillna(0.0).to_numpy(dtype=float)


# ---- router ------------------------------------------------------------------------------
def route(bt: pd.DataFrame, min_points: int = 28, ensemble: bool = True) -> pd.DataFrame:
    """bt: point-level backtest (model, fold, sku_id, pin_code, date, actual, forecast,
    optional segment). Returns one row per series: sku_id, pin_code, model, weights (JSON
    {model: weight}), reason, n_points, mae (of the choice), errors (JSON {model: mae})."""
    if bt.empty:
        return pd.DataFrame(columns=KEYS + ["model", "weights", "reason", "n_points", "mae",
                                            "errors", "segment"])
    b = bt.copy()
    if "segment" not in b:
        b["segment"] = "all"
    b["segment"] = b["segment"].fillna("unknown").astype(str)
    b["abs_e"] = (b["actual"] - b["forecast"]).abs()
    wide = b.pivot_table(index=KEYS + ["fold", "date"], columns="model", values="abs_e",
                         aggfunc="first")
    models = list(wide.columns)
    per = wide.groupby(level=KEYS).mean()                 # series x model MAE (own points)
    npts = wide.notna().groupby(level=KEYS).sum()
    seg_of = b.groupby(KEYS)["segment"].first()
    # segment best: among models covering every series of the segment, lowest total error
    seg_best = {}
    for seg, idx in seg_of.groupby(seg_of).groups.items():
        sub = wide[wide.index.droplevel(["fold", "date"]).isin(idx)]
        full = [m for m in models if sub[m].notna().all()]
        tot = sub[full].sum() if full else sub.sum()
        seg_best[seg] = str(tot.idxmin())
    # vectorised: best and runner-up per series, and their inverse-MAE blend
    fc = b.pivot_table(index=KEYS + ["fold", "date"], columns="model", values="forecast",
                       aggfunc="first").reindex(index=wide.index, columns=models)
    actual = b.groupby(KEYS + ["fold", "date"])["actual"].first().reindex(wide.index)
    err = per.to_numpy(dtype=float)
    order = np.argsort(np.where(np.isnan(err), np.inf, err), axis=1)
    n_models = (~np.isnan(err)).sum(axis=1)
    series_pos = pd.Index(per.index).get_indexer(wide.index.droplevel(["fold", "date"]))
    i1, i2 = order[:, 0], order[:, 1] if len(models) > 1 else order[:, 0]
    e1 = err[np.arange(len(err)), i1]
    e2 = err[np.arange(len(err)), i2]
    w1 = np.where(n_models > 1, (1 / np.maximum(e1, 1e-9)) /
                  (1 / np.maximum(e1, 1e-9) + 1 / np.maximum(e2, 1e-9)), 1.0)
    fv = fc.to_numpy(dtype=float)
    rows_ = np.arange(len(fv))
    blend = (w1[series_pos] * fv[rows_, i1[series_pos]]
             + (1 - w1[series_pos]) * fv[rows_, i2[series_pos]])
    blend_mae = pd.Series(np.abs(actual.to_numpy() - blend)).groupby(series_pos).mean()
    blend_mae = blend_mae.reindex(range(len(per))).to_numpy()
    rows = []
    for j, key in enumerate(per.index):
        n = int(npts.iloc[j].max())
        seg = seg_of.loc[key]
        evidence = {m: round(float(v), 4) for m, v in zip(models, err[j]) if np.isfinite(v)}
        if n < min_points or n_models[j] == 0:
            choice = seg_best[seg]
            rows.append((*key, choice, json.dumps({choice: 1.0}),
                         f"{choice}: best in its segment ({seg}); this series has only "
                         f"{n} backtest points", n, evidence.get(choice, np.nan),
                         json.dumps(evidence), seg))
            continue
        best, best_mae = models[i1[j]], float(e1[j])
        runner = f", next {models[i2[j]]} {e2[j]:.2f}" if n_models[j] > 1 else ""
        choice, weights, mae = best, {best: 1.0}, best_mae
        reason = f"{best}: lowest backtest MAE {best_mae:.2f}{runner} ({n} points)"
        if ensemble and n_models[j] > 1 and blend_mae[j] < best_mae:
            a, c = best, models[i2[j]]
            choice, mae = "ensemble", float(blend_mae[j])
            weights = {a: round(float(w1[j]), 4), c: round(float(1 - w1[j]), 4)}
            reason = (f"ensemble of {a} ({w1[j]:.0%}) and {c} ({1 - w1[j]:.0%}): backtest "
                      f"MAE {mae:.2f} beats {a} alone ({best_mae:.2f}, {n} points)")
            evidence["ensemble"] = round(mae, 4)
        rows.append((*key, choice, json.dumps(weights), reason, n, mae, json.dumps(evidence),
                     seg))
    out = pd.DataFrame(rows, columns=KEYS + ["model", "weights", "reason", "n_points", "mae",
                                             "errors", "segment"])
    out.attrs["segment_best"] = seg_best
    return out


def fill_unrouted(series: pd.DataFrame, routing: pd.DataFrame, default: str,
                  young: pd.Index | None = None) -> pd.DataFrame:
    """Routing rows for series the backtest did not see: young series (index of KEYS
    tuples in `young`) use the cold-start profile, the rest their segment's best model
    (else `default`)."""
    seg_best = routing.attrs.get("segment_best", {})
    known = pd.MultiIndex.from_frame(routing[KEYS]) if len(routing) else pd.MultiIndex.from_tuples(
        [], names=KEYS)
    missing = series[~pd.MultiIndex.from_frame(series[KEYS]).isin(known)]
    rows = []
    young = young if young is not None else pd.Index([])
    for r in missing.itertuples(index=False):
        seg = str(getattr(r, "segment", "unknown"))
        if (r.sku_id, r.pin_code) in young:
            m, why = COLD_START_MODEL, "new series: category x city profile (cold start)"
        else:
            m = seg_best.get(seg, default)
            why = f"{m}: no backtest for this series; best in its segment ({seg})"
        rows.append((r.sku_id, r.pin_code, m, json.dumps({m: 1.0}), why, 0, np.nan, "{}", seg))
    extra = pd.DataFrame(rows, columns=list(routing.columns) if len(routing.columns) else
                         KEYS + ["model", "weights", "reason", "n_points", "mae", "errors",
                                 "segment"])
    out = pd.concat([routing, extra], ignore_index=True) if len(extra) else routing.copy()
    out.attrs["segment_best"] = seg_best
    return out


def combine(forecasts: pd.DataFrame, routing: pd.DataFrame) -> pd.DataFrame:
    """Apply routing weights to long per-model forecasts (model, sku_id, pin_code, date,
    forecast, ...). Returns one row per series x date with `model` = the routed label
    (a model name or 'ensemble(a+b)'). A series whose routed model has no forecast falls
    back to whichever model does (cheapest first in the frame)."""
    w = []
    for r in routing.itertuples(index=False):
        for m, wt in json.loads(r.weights).items():
            w.append((r.sku_id, r.pin_code, m, wt))
    w = pd.DataFrame(w, columns=KEYS + ["model", "weight"])
    label = routing.set_index(KEYS)["model"].copy()
    ens = routing["model"] == "ensemble"
    label.loc[ens.to_numpy()] = ["ensemble(" + "+".join(sorted(json.loads(x))) + ")"
                                 for x in routing.loc[ens, "weights"]]
    m = forecasts.merge(w, on=KEYS + ["model"], how="inner")
    keys = KEYS + ["date"]
    m["wf"] = m["forecast"] * m["weight"]
    got = m.groupby(keys, as_index=False).agg(forecast=("wf", "sum"), wsum=("weight", "sum"))
    got["forecast"] = got["forecast"] / got["wsum"]
    got = got.drop(columns="wsum")
    got["model"] = pd.MultiIndex.from_frame(got[KEYS]).map(label.to_dict()).to_numpy()
    have = pd.MultiIndex.from_frame(got[KEYS]).unique()
    rest = forecasts[~pd.MultiIndex.from_frame(forecasts[KEYS]).isin(have)]
    if len(rest):
        first = rest.drop_duplicates(keys)[keys + ["forecast", "model"]]
        got = pd.concat([got, first], ignore_index=True)
    return got


# ---- intervals ---------------------------------------------------------------------------
def _bucket(step, horizon: int) -> np.ndarray:
    step = np.asarray(step, dtype=float)
    return np.clip(((step - 1) * 3 // max(horizon, 1)), 0, 2).astype(int)


def _quantiles(r: np.ndarray) -> dict:
    n = len(r)
    out = {}
    for name, level in LEVELS.items():
        a = (1 - level) / 2
        lo = max(0.0, np.floor(a * (n + 1)) / n) if n else 0
        hi = min(1.0, np.ceil((1 - a) * (n + 1)) / n) if n else 1
        out[f"q_lo{name}"] = float(np.quantile(r, lo)) if n else np.nan
        out[f"q_hi{name}"] = float(np.quantile(r, hi)) if n else np.nan
    return out


def calibrate(residuals: pd.DataFrame, horizon: int) -> Calibration:
    """residuals: sku_id, pin_code, step, actual, forecast, optional segment."""
    r = residuals.drop(columns=[c for c in ("scale",) if c in residuals]).copy()
    if "segment" not in r:
        r["segment"] = "all"
    r["segment"] = r["segment"].fillna("unknown").astype(str)
    r["err"] = r["actual"] - r["forecast"]
    per = r.groupby(KEYS).agg(mae=("err", lambda e: float(np.mean(np.abs(e)))),
                              level=("forecast", "mean"), segment=("segment", "first"))
    per["scale"] = per["mae"].clip(lower=SCALE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["ratio"] = per["mae"] / per["level"].where(per["level"] > 0)
    ratio = per.groupby("segment")["ratio"].median().rename("ratio").reset_index()
    r = r.merge(per["scale"].reset_index(), on=KEYS)
    r["r"] = r["err"] / r["scale"]
    r["bucket"] = _bucket(r["step"], horizon)
    rows, pooled = [], []
    for (seg, b), part in r.groupby(["segment", "bucket"]):
        if len(part) >= MIN_POOL:
            rows.append({"segment": seg, "bucket": b, **_quantiles(part["r"].to_numpy())})
    for b, part in r.groupby("bucket"):
        pooled.append({"bucket": b, **_quantiles(part["r"].to_numpy())})
    qcols = ["q_lo80", "q_hi80", "q_lo95", "q_hi95"]
    quant = pd.DataFrame(rows, columns=["segment", "bucket", *qcols])
    pool = pd.DataFrame(pooled, columns=["bucket", *qcols])
    quant[qcols] = quant[qcols].astype(float)
    pool[qcols] = pool[qcols].astype(float)
    quant["bucket"] = quant["bucket"].astype(int)
    pool["bucket"] = pool["bucket"].astype(int)
    return Calibration(scales=per["scale"].reset_index(), ratio=ratio,
                       quantiles=quant, pooled=pool,
                       horizon=horizon, n_points=len(r))


def apply(forecast: pd.DataFrame, cal: Calibration) -> pd.DataFrame:
    """Add lo, hi (95%) and lo80, hi80 to a frame with sku_id, pin_code, step, forecast
    (and optional segment). Returns a new frame."""
    f = forecast.copy()
    seg = f["segment"].fillna("unknown").astype(str) if "segment" in f else \
        pd.Series("all", index=f.index)
    f["_segment"] = seg.to_numpy()
    f["_bucket"] = _bucket(f["step"], cal.horizon)
    m = f[KEYS].merge(cal.scales, on=KEYS, how="left")
    scale = m["scale"].to_numpy(dtype=float)   # conformal scale (not the MASE column)
    ratio = f[["_segment"]].merge(cal.ratio.rename(columns={"segment": "_segment"}),
                                  on="_segment", how="left")["ratio"].to_numpy(dtype=float)
    global_ratio = np.nanmedian(cal.ratio["ratio"]) if len(cal.ratio) else 1.0
    ratio = np.where(np.isnan(ratio), global_ratio if np.isfinite(global_ratio) else 1.0, ratio)
    level = f.groupby(KEYS)["forecast"].transform("mean").to_numpy(dtype=float)
    scale = np.where(np.isnan(scale), np.maximum(ratio * level, SCALE_FLOOR), scale)
    q = f[["_segment", "_bucket"]].merge(
        cal.quantiles.rename(columns={"segment": "_segment", "bucket": "_bucket"}),
        on=["_segment", "_bucket"], how="left")
    qp = f[["_bucket"]].merge(cal.pooled.rename(columns={"bucket": "_bucket"}),
                              on="_bucket", how="left")
    fc = f["forecast"].to_numpy(dtype=float)
    for name, (lo_col, hi_col) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        qlo = q[f"q_lo{name}"].fillna(qp[f"q_lo{name}"]).to_numpy(dtype=float)
        qhi = q[f"q_hi{name}"].fillna(qp[f"q_hi{name}"]).to_numpy(dtype=float)
        f[lo_col] = np.clip(np.minimum(fc + qlo * scale, fc), 0, None)
        f[hi_col] = np.maximum(fc + qhi * scale, fc)
    return f.drop(columns=["_segment", "_bucket"])


def cross_conformal(bt: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Intervals for every backtest row, each fold calibrated on the other folds (a
    single fold is calibrated on itself). Groups by `model` when present."""
    parts = []
    groups = bt.groupby("model") if "model" in bt else [(None, bt)]
    for _, frame in groups:
        folds = sorted(frame["fold"].unique())
        for k in folds:
            test = frame[frame["fold"] == k]
            train = frame[frame["fold"] != k] if len(folds) > 1 else test
            cal = calibrate(train, horizon)
            parts.append(apply(test.drop(columns=[c for c in ("lo", "hi", "lo80", "hi80")
                                                  if c in test]), cal))
    return pd.concat(parts).loc[bt.index] if parts else bt


# ---- pipeline ----------------------------------------------------------------------------
def _prepare(history: pd.DataFrame, cfg: ForecastConfig) -> tuple[pd.DataFrame, ForecastConfig]:
    h = normalize_history(history)
    if h.empty:
        raise ForecastError("There is no sales history to forecast from.", code="no_history")
    cut = pd.Timestamp(cfg.cutoff) if cfg.cutoff is not None else h["date"].max()
    h = h[h["date"] <= cut]
    if h.empty:
        raise ForecastError(f"There is no sales history on or before the cutoff {cut:%d-%b-%Y}.",
                            evidence={"cutoff": cut.date()}, code="no_history")
    grain = cfg.grain or detect_grain(h)
    return h, cfg.with_(grain=grain, cutoff=cut.date())


def _routed(frame: pd.DataFrame, routing: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    """Routed forecasts for a long per-model frame (extra keys e.g. fold)."""
    if not extra:
        return combine(frame, routing)
    parts = []
    for value, part in frame.groupby(extra):
        out = combine(part, routing)
        for col, v in zip(extra, value if isinstance(value, tuple) else (value,)):
            out[col] = v
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def forecast_full(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                  progress=None) -> ForecastResult:
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    h, cfg = _prepare(history, cfg)
    timings: dict = {}
    bt = None
    try:
        bt = backtest(h, signals, cfg, progress=say)
    except ForecastError as exc:
        if exc.code != "history_too_short":
            raise
        say("history too short for a backtest: no routing, negative-binomial intervals")
    timings["backtest"] = round(time.perf_counter() - t0, 2)
    t1 = time.perf_counter()
    say("final fit at the cutoff")
    final = fit_predict(h, signals, cfg, cutoff=cfg.cutoff, progress=say)
    timings["final_fit"] = round(time.perf_counter() - t1, 2)
    timings.update({f"final_{k}": v for k, v in final.timings.items()})
    fut = final.panel.future
    series = fut.groupby(KEYS, as_index=False)["category"].first()
    series["segment"] = series["category"].fillna("unknown").astype(str)
    hist = final.panel.history
    age = hist.groupby(KEYS)["pos"].max() + 1
    young = age[age < 14].index

    available = [m for m in cfg.models if m in final.covered]
    if bt is not None and cfg.route and len(available) > 1:
        routing = route(bt, min_points=cfg.min_route_points, ensemble=cfg.ensemble)
    else:
        routing = route(pd.DataFrame(), 0)
        routing.attrs["segment_best"] = {}
    routing = fill_unrouted(series, routing, default=available[0], young=young)
    if not (cfg.route and len(available) > 1):
        routing = routing.assign(model=available[0], weights=f'{{"{available[0]}": 1.0}}',
                                 reason=f"{available[0]}: the only model requested")
    out = combine(final.forecasts, routing)
    out = out.merge(fut[KEYS + ["date", "weather_source", "category", "pos", "sid"]],
                    on=KEYS + ["date"], how="left")
    out["step"] = out["pos"] - out["sid"].map(hist.groupby("sid")["pos"].max())
    out = out.drop(columns=["pos", "sid"])
    out["segment"] = out["category"].fillna("unknown").astype(str)

    bt_all = None
    method = "conformal"
    if bt is not None:
        routed_bt = _routed(bt[["model", "fold", *KEYS, "date", "forecast"]], routing, ["fold"])
        ref = bt.drop_duplicates(["fold", *KEYS, "date"])[
            ["fold", "cutoff", *KEYS, "date", "step", "actual", "scale", "segment", "category",
             "city", "state"]]
        routed_bt = routed_bt.drop(columns="model").merge(ref, on=["fold", *KEYS, "date"])
        routed_bt["model"] = "routed"
        cal = calibrate(routed_bt, cfg.horizon)
        out = apply(out, cal)
        routed_bt = cross_conformal(routed_bt, cfg.horizon)
        bt_all = pd.concat([bt, routed_bt[bt.columns]], ignore_index=True)
    else:
        out = poisson_intervals(out)
        method = "negative_binomial"
    drivers = None
    if "lightgbm" in final.fitted:
        drivers = driver_frame(final.fitted["lightgbm"], fut)
    timings["total"] = round(time.perf_counter() - t0, 2)
    cols = OUTPUT + ["weather_source", "step", "category"]
    out = out[cols].sort_values(KEYS + ["date"]).reset_index(drop=True)
    out["date"] = pd.to_datetime(out["date"])
    return ForecastResult(run_id=None, forecasts=out, routing=routing, backtest=bt_all,
                          drivers=drivers, cutoff=pd.Timestamp(cfg.cutoff), grain=cfg.grain,
                          horizon=cfg.horizon, timings=timings, interval_method=method,
                          fitted=final.fitted)


