"""Routing: per series, the model (or inverse-error blend of the best two) with the lowest
backtest error; thin series (few backtest points) take their segment's best model; series
with no backtest at all (new SKU/PIN) take the cold-start profile or the segment's best.
Every decision carries its evidence (errors per model, points, reason sentence).

Vectorised on integer codes: series are ranked in (sku_id, pin_code) order, points by
(series, fold, date), so no per-series Python work except formatting the reason text."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

KEYS = ["sku_id", "pin_code"]
COLD_START_MODEL = "moving_average"
ROUTING_COLUMNS = KEYS + ["model", "weights", "reason", "n_points", "mae", "errors", "segment"]


def series_codes(*frames: pd.DataFrame) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Integer series ids shared by several frames with sku_id / pin_code columns, ranked
    in sorted (sku_id, pin_code) order. Returns (codes per frame, series table)."""
    sku = np.concatenate([f["sku_id"].to_numpy() for f in frames])
    pin = np.concatenate([f["pin_code"].to_numpy() for f in frames])
    s_code, s_uni = pd.factorize(sku, sort=True)
    p_code, p_uni = pd.factorize(pin, sort=True)
    key = s_code.astype(np.int64) * max(len(p_uni), 1) + p_code
    code, k_uni = pd.factorize(key, sort=True)
    table = pd.DataFrame({"sku_id": np.asarray(s_uni, dtype=object)[k_uni // max(len(p_uni), 1)],
                          "pin_code": np.asarray(p_uni, dtype=object)[k_uni % max(len(p_uni), 1)]})
    bounds = np.cumsum([0] + [len(f) for f in frames])
    return [code[a:b] for a, b in zip(bounds[:-1], bounds[1:])], table


def _first_per_group(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """values[i] for the first row i (in frame order) of each group 0..n-1."""
    first = np.full(n, -1, dtype=np.int64)
    order = np.arange(len(group))[::-1]
    first[group[order]] = order
    return values[first]


def route(bt: pd.DataFrame, min_points: int = 28, ensemble: bool = True) -> pd.DataFrame:
    """bt: point-level backtest (model, fold, sku_id, pin_code, date, actual, forecast,
    optional segment). Returns one row per series: sku_id, pin_code, model, weights (JSON
    {model: weight}), reason, n_points, mae (of the choice), errors (JSON {model: mae})."""
    if bt.empty:
        return pd.DataFrame(columns=ROUTING_COLUMNS)
    seg_all = (bt["segment"].fillna("unknown").astype(str).to_numpy() if "segment" in bt
               else np.full(len(bt), "all", dtype=object))
    abs_e = (bt["actual"] - bt["forecast"]).abs().to_numpy(dtype=float)
    (sid,), series = series_codes(bt)
    n_series = len(series)
    fold_code, _ = pd.factorize(bt["fold"].to_numpy(), sort=True)
    date_code, date_uni = pd.factorize(bt["date"].to_numpy(), sort=True)
    nf, nd = fold_code.max() + 1, max(len(date_uni), 1)
    point_key = (sid.astype(np.int64) * nf + fold_code) * nd + date_code
    prow, _ = pd.factorize(point_key, sort=True)         # rows of the (series, fold, date) grid
    n_rows = prow.max() + 1
    mcode, models = pd.factorize(bt["model"].to_numpy(), sort=True)
    models = [str(m) for m in models]
    rev = np.arange(len(bt))[::-1]                       # assign in reverse: first row wins

    def grid(values: np.ndarray) -> np.ndarray:
        out = np.full((n_rows, len(models)), np.nan)
        ok = ~np.isnan(values[rev])
        out[prow[rev][ok], mcode[rev][ok]] = values[rev][ok]
        return out

    wide = grid(abs_e)
    row_series = np.empty(n_rows, dtype=np.int64)
    row_series[prow] = sid
    wdf = pd.DataFrame(wide, columns=models)
    per = wdf.groupby(row_series).mean()                 # series x model MAE (own points)
    npts = wdf.notna().groupby(row_series).sum()
    seg_of = _first_per_group(seg_all, sid, n_series)
    # segment best: among models covering every series of the segment, lowest total error
    seg_best = {}
    seg_row = seg_of[row_series]
    for seg in sorted(set(seg_of.tolist())):
        sub = wdf[seg_row == seg]
        full = [m for m in models if sub[m].notna().all()]
        tot = sub[full].sum() if full else sub.sum()
        seg_best[seg] = str(tot.idxmin())
    # vectorised: best and runner-up per series, and their inverse-MAE blend
    fv = grid(bt["forecast"].to_numpy(dtype=float))
    act = bt["actual"].to_numpy(dtype=float)
    ok = ~np.isnan(act[rev])
    actual = np.full(n_rows, np.nan)
    actual[prow[rev][ok]] = act[rev][ok]
    err = per.to_numpy(dtype=float)
    order = np.argsort(np.where(np.isnan(err), np.inf, err), axis=1)
    n_models = (~np.isnan(err)).sum(axis=1)
    i1, i2 = order[:, 0], order[:, 1] if len(models) > 1 else order[:, 0]
    e1 = err[np.arange(len(err)), i1]
    e2 = err[np.arange(len(err)), i2]
    w1 = np.where(n_models > 1, (1 / np.maximum(e1, 1e-9)) /
                  (1 / np.maximum(e1, 1e-9) + 1 / np.maximum(e2, 1e-9)), 1.0)
    rows_ = np.arange(n_rows)
    blend = (w1[row_series] * fv[rows_, i1[row_series]]
             + (1 - w1[row_series]) * fv[rows_, i2[row_series]])
    blend_mae = pd.Series(np.abs(actual - blend)).groupby(row_series).mean()
    blend_mae = blend_mae.reindex(range(n_series)).to_numpy()
    n_all = npts.to_numpy().max(axis=1).astype(int)
    thin = (n_all < min_points) | (n_models == 0)
    use_ens = (~thin) & ensemble & (n_models > 1) & (blend_mae < e1)
    choice = np.where(thin, pd.Series(seg_of).map(seg_best).to_numpy(),
                      np.asarray(models, dtype=object)[i1])
    choice = np.where(use_ens, "ensemble", choice).astype(object)
    out = pd.DataFrame({"sku_id": series["sku_id"].to_numpy(),
                        "pin_code": series["pin_code"].to_numpy(), "model": choice})
    finite = np.isfinite(err)
    rounded = [[round(v, 4) for v in row] for row in err.tolist()]
    weights, reasons, maes, errors = [], [], [], []
    for j, (n, seg, is_thin, is_ens) in enumerate(zip(n_all.tolist(), seg_of.tolist(),
                                                      thin.tolist(), use_ens.tolist())):
        evidence = {m: rounded[j][k] for k, m in enumerate(models) if finite[j, k]}
        if is_thin:
            c = choice[j]
            weights.append(json.dumps({c: 1.0}))
            reasons.append(f"{c}: best in its segment ({seg}); this series has only "
                           f"{n} backtest points")
            maes.append(evidence.get(c, np.nan))
            errors.append(json.dumps(evidence))
            continue
        best, best_mae = models[i1[j]], float(e1[j])
        runner = f", next {models[i2[j]]} {e2[j]:.2f}" if n_models[j] > 1 else ""
        if is_ens:
            a, c = best, models[i2[j]]
            mae = float(blend_mae[j])
            weights.append(json.dumps({a: round(float(w1[j]), 4), c: round(float(1 - w1[j]), 4)}))
            reasons.append(f"ensemble of {a} ({w1[j]:.0%}) and {c} ({1 - w1[j]:.0%}): backtest "
                           f"MAE {mae:.2f} beats {a} alone ({best_mae:.2f}, {n} points)")
            evidence["ensemble"] = round(mae, 4)
            maes.append(mae)
        else:
            weights.append(json.dumps({best: 1.0}))
            reasons.append(f"{best}: lowest backtest MAE {best_mae:.2f}{runner} ({n} points)")
            maes.append(best_mae)
        errors.append(json.dumps(evidence))
    out["weights"] = weights
    out["reason"] = reasons
    out["n_points"] = n_all.astype(np.int64)
    out["mae"] = np.asarray(maes, dtype=float)
    out["errors"] = errors
    out["segment"] = seg_of
    out.attrs["segment_best"] = seg_best
    return out


def fill_unrouted(series: pd.DataFrame, routing: pd.DataFrame, default: str,
                  young: pd.Index | None = None) -> pd.DataFrame:
    """Routing rows for series the backtest did not see: young series (index of KEYS
    tuples in `young`) use the cold-start profile, the rest their segment's best model
    (else `default`)."""
    seg_best = routing.attrs.get("segment_best", {})
    (s_code, r_code), _ = series_codes(series, routing)
    missing = series[~np.isin(s_code, r_code)]
    cols = list(routing.columns) if len(routing.columns) else ROUTING_COLUMNS
    if len(missing):
        seg = (missing["segment"].astype(str) if "segment" in missing
               else pd.Series("unknown", index=missing.index)).to_numpy()
        is_young = np.zeros(len(missing), dtype=bool)
        if young is not None and len(young):
            yk = pd.DataFrame(list(young), columns=KEYS)
            (m_code, y_code), _ = series_codes(missing, yk)
            is_young = np.isin(m_code, y_code)
        model = np.where(is_young, COLD_START_MODEL,
                         pd.Series(seg).map(lambda s: seg_best.get(s, default)).to_numpy())
        why = np.array([f"{m}: no backtest for this series; best in its segment ({s})"
                        for m, s in zip(model.tolist(), seg.tolist())], dtype=object)
        why[is_young] = "new series: category x city profile (cold start)"
        extra = pd.DataFrame({"sku_id": missing["sku_id"].to_numpy(),
                              "pin_code": missing["pin_code"].to_numpy(),
                              "model": model.astype(object),
                              "weights": pd.Series(model).map(
                                  lambda m: json.dumps({m: 1.0})).to_numpy(),
                              "reason": why.astype(object), "n_points": 0,
                              "mae": np.nan, "errors": "{}", "segment": seg.astype(object)})
        extra.columns = cols
        out = pd.concat([routing, extra], ignore_index=True)
    else:
        out = routing.copy()
    out.attrs["segment_best"] = seg_best
    return out


def _decoded(routing: pd.DataFrame) -> tuple[list[dict], np.ndarray]:
    """Unique weight JSONs decoded once, and each routing row's index into them."""
    code, uni = pd.factorize(routing["weights"].to_numpy())
    return [json.loads(u) for u in uni], code


def combine(forecasts: pd.DataFrame, routing: pd.DataFrame) -> pd.DataFrame:
    """Apply routing weights to long per-model forecasts (model, sku_id, pin_code, date,
    forecast, ...). Returns one row per series x date with `model` = the routed label
    (a model name or 'ensemble(a+b)'). A series whose routed model has no forecast falls
    back to whichever model does (cheapest first in the frame)."""
    keys = KEYS + ["date"]
    (f_sid, r_sid), series = series_codes(forecasts, routing)
    n_series = len(series)
    mcode, models = pd.factorize(forecasts["model"].to_numpy())
    decoded, wcode = _decoded(routing)
    # dense weight table: series x model (NaN = not in the blend); later duplicates win
    wt = np.full((n_series, len(models) + 1), np.nan)
    m_index = {m: k for k, m in enumerate(models)}
    label = np.empty(n_series, dtype=object)
    rmodel = routing["model"].to_numpy()
    uni_label = ["ensemble(" + "+".join(sorted(d)) + ")" for d in decoded]
    for j, (s, c, lab) in enumerate(zip(r_sid.tolist(), wcode.tolist(), rmodel.tolist())):
        label[s] = uni_label[c] if lab == "ensemble" else lab
    for c, d in enumerate(decoded):
        rows = r_sid[wcode == c]
        for m, w in d.items():
            wt[rows, m_index.get(m, len(models))] = w
    w = wt[f_sid, mcode]
    hit = ~np.isnan(w)
    fsub = forecasts["forecast"].to_numpy(dtype=float)[hit]
    d_code, d_uni = pd.factorize(forecasts["date"].to_numpy(), sort=True)
    gkey = f_sid[hit].astype(np.int64) * max(len(d_uni), 1) + d_code[hit]
    agg = pd.DataFrame({"g": gkey, "wf": fsub * w[hit], "w": w[hit]}).groupby(
        "g", sort=True).sum()
    g = agg.index.to_numpy()
    gs, gd = g // max(len(d_uni), 1), g % max(len(d_uni), 1)
    got = pd.DataFrame({"sku_id": series["sku_id"].to_numpy()[gs],
                        "pin_code": series["pin_code"].to_numpy()[gs],
                        "date": np.asarray(d_uni)[gd],
                        "forecast": agg["wf"].to_numpy() / agg["w"].to_numpy()})
    got["date"] = got["date"].astype(forecasts["date"].dtype)
    got["model"] = label[gs]
    have = np.zeros(n_series, dtype=bool)
    have[gs] = True
    rest = forecasts[~have[f_sid]]
    if len(rest):
        first = rest.drop_duplicates(keys)[keys + ["forecast", "model"]]
        got = pd.concat([got, first], ignore_index=True)
    return got
