"""Routing: per series, the model (or inverse-error blend of the best two) with the lowest
backtest error; thin series (few backtest points) take their segment's best model; series
with no backtest at all (new SKU/PIN) take the cold-start profile or the segment's best.
Every decision carries its evidence (errors per model, points, reason sentence)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

KEYS = ["sku_id", "pin_code"]
COLD_START_MODEL = "moving_average"


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
