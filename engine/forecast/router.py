"""Routing: which model, or which equal-weight mix of models, forecasts each series.

Decided per segment (the SKU category), not per series: on real retail data a per-series
pick among many candidates chases backtest noise and loses to the segment's best choice
(measured in benchmarks/bench_real_accuracy.py). Within a segment, the series that the
same set of models covers (every model fits every series, except models that run on the
top-volume series only, which form their own group) compete together:
1. every covering model is scored by its total absolute backtest error on the group;
2. so is the equal-weight mean of its best 2, 3 and 4 models (when `ensemble` is on): a
   mix of different methods errs less than any of them on most retail data;
3. the candidate with the lowest total error wins, for every series of the group;
4. a series keeps it unless, on its own backtest points, one model beats it clearly (the
   mean paired difference in absolute error over its standard error, t > OVERRIDE_T = 3:
   on real weekly data a lower bar switched series on noise and lost accuracy).
Groups with fewer than MIN_GROUP_SERIES series are pooled across segments (same models).
A model a class declares unfit for a series (`min_seasons`: seasonal naive needs two full
seasons of history) is left out of that series' backtest, so it cannot be picked where a
plain average would beat it. Series with no backtest (new SKU/PIN) take the cold-start
profile or their segment's choice. Every decision carries its evidence: the series' own
backtest MAE per model and per mix, its points, and a reason sentence.

Vectorised on integer codes: series are ranked in (sku_id, pin_code) order, points by
(series, fold, date)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from engine.forecast.features import segment_text

KEYS = ["sku_id", "pin_code"]
COLD_START_MODEL = "moving_average"
ROUTING_COLUMNS = KEYS + ["model", "weights", "reason", "n_points", "mae", "errors", "segment"]
PLAN_FLAGS = ("planned", "promoted")   # a plan run's per-row flags, carried by combine
MIN_GROUP_SERIES = 10
MAX_MIX = 4
OVERRIDE_T = 3.0          # a series leaves its segment's choice only on clear evidence


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


def mix_label(weights: dict) -> str:
    """'lightgbm' for one model, 'mix(lightgbm+tsb)' for an equal-weight mix."""
    names = sorted(weights)
    return names[0] if len(names) == 1 else "mix(" + "+".join(names) + ")"


def _candidates(models: list[str], err: np.ndarray, fv: np.ndarray, actual: np.ndarray,
                ensemble: bool) -> list[tuple[tuple[int, ...], float]]:
    """(member model indices, total absolute error) of every candidate of one group:
    each model alone, and the equal-weight mean of the best 2..MAX_MIX of them."""
    total = np.nansum(err, axis=0)
    order = [int(j) for j in np.argsort(total, kind="stable")]
    cands = [((j,), float(total[j])) for j in order]
    if ensemble:
        for k in range(2, min(MAX_MIX, len(order)) + 1):
            members = tuple(sorted(order[:k]))
            mean = fv[:, list(members)].mean(axis=1)
            cands.append((members, float(np.nansum(np.abs(actual - mean)))))
    return cands


def _clear_winners(chosen_err: np.ndarray, abs_err: np.ndarray, row_series: np.ndarray,
                   n_series: int) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the model (column index, -1 = none) whose backtest errors beat the
    group's choice by a clear margin on the series' own points: the mean of the paired
    differences |e_choice| - |e_model| over its standard error (a Diebold-Mariano-type t)
    above OVERRIDE_T; the largest t wins. Returns (model index, t)."""
    d = chosen_err[:, None] - abs_err                    # > 0 where the model did better
    frame = pd.DataFrame(d).groupby(row_series)
    mean, sd, n = frame.mean(), frame.std(), frame.count()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean / (sd / np.sqrt(n))).where((mean > 0) & (n >= 8)).reindex(range(n_series))
    t = t.to_numpy(dtype=float)
    t = np.where(np.isfinite(t), t, -np.inf)
    best = np.argmax(t, axis=1) if t.shape[1] else np.zeros(n_series, dtype=np.int64)
    best_t = t[np.arange(n_series), best] if t.shape[1] else np.full(n_series, -np.inf)
    return np.where(best_t > OVERRIDE_T, best, -1), best_t


def route(bt: pd.DataFrame, ensemble: bool = True) -> pd.DataFrame:
    """bt: point-level backtest (model, fold, sku_id, pin_code, date, actual, forecast,
    optional segment). Returns one row per series: sku_id, pin_code, model (a model name
    or 'ensemble'), weights (JSON {model: weight}), reason, n_points, mae (the series' own
    backtest MAE of the choice), errors (JSON {model or mix: the series' MAE}), segment.
    attrs['segment_best'] = {segment: weights JSON of its largest group's choice}."""
    if bt.empty:
        out = pd.DataFrame(columns=ROUTING_COLUMNS)
        out.attrs["segment_best"] = {}
        return out
    seg_all = (segment_text(bt["segment"]) if "segment" in bt
               else np.full(len(bt), "all", dtype=object))
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

    fv = grid(bt["forecast"].to_numpy(dtype=float))
    act = bt["actual"].to_numpy(dtype=float)
    actual = np.full(n_rows, np.nan)
    ok = ~np.isnan(act[rev])
    actual[prow[rev][ok]] = act[rev][ok]
    row_series = np.empty(n_rows, dtype=np.int64)
    row_series[prow] = sid
    abs_err = np.abs(actual[:, None] - fv)
    seg_of = _first_per_group(seg_all, sid, n_series)
    n_pts = np.bincount(row_series, minlength=n_series)
    # a series' model set = the models with a forecast on every one of its backtest points
    have = pd.DataFrame(~np.isnan(fv)).groupby(row_series).all().to_numpy()
    bits = have.astype(np.int64) @ (np.int64(1) << np.arange(len(models), dtype=np.int64))
    set_code, set_uni = pd.factorize(bits)
    set_models = [np.flatnonzero((int(b) >> np.arange(len(models))) & 1) for b in set_uni]
    group = pd.Series(list(zip(seg_of.tolist(), set_code.tolist())))
    sizes = group.map(group.value_counts())
    # small groups are pooled across segments (same model set)
    label = np.where(sizes.to_numpy() >= MIN_GROUP_SERIES, seg_of, "all segments")
    gkey = pd.Series(list(zip(label.tolist(), set_code.tolist())))
    g_code, g_uni = pd.factorize(gkey)
    choice_members: list[tuple[int, ...]] = []
    choice_text: list[str] = []
    for g, (g_label, s_code) in enumerate(g_uni):
        in_group = (g_code == g)[row_series]
        cols = set_models[s_code]
        if len(cols) == 0:
            choice_members.append(())
            choice_text.append("")
            continue
        cands = _candidates([models[j] for j in cols], abs_err[np.ix_(in_group, cols)],
                            fv[np.ix_(in_group, cols)], actual[in_group], ensemble)
        best = min(cands, key=lambda c: (c[1], len(c[0])))
        members = tuple(int(cols[j]) for j in best[0])
        denom = np.nansum(np.abs(actual[in_group]))
        single = cands[0]
        n_g = int((g_code == g).sum())
        what = (models[members[0]] if len(members) == 1 else
                "the mean of " + " and ".join(models[j] for j in members))
        text = (f"{what}: lowest backtest error in {g_label} ("
                f"WAPE {100 * best[1] / max(denom, 1e-9):.1f}%")
        if len(members) > 1:
            text += (f" vs {models[cols[single[0][0]]]} alone "
                     f"{100 * single[1] / max(denom, 1e-9):.1f}%")
        text += f", {n_g:,} series, {len(cols)} models compared)"
        choice_members.append(members)
        choice_text.append(text)
    # the group's choice on every backtest row, and each series' own MAE of it
    chosen_fc = np.full(n_rows, np.nan)
    for g, members in enumerate(choice_members):
        if members:
            rows = (g_code == g)[row_series]
            chosen_fc[rows] = fv[np.ix_(rows, list(members))].mean(axis=1)
    chosen_err = np.abs(actual - chosen_fc)
    chosen_mae = pd.Series(chosen_err).groupby(row_series).mean().reindex(
        range(n_series)).to_numpy()
    per = pd.DataFrame(abs_err).groupby(row_series).mean().reindex(range(n_series)).to_numpy()
    own, own_t = _clear_winners(chosen_err, abs_err, row_series, n_series)
    members_of = [choice_members[g] for g in g_code]
    out_model, weights, reasons, errors = [], [], [], []
    rounded = np.round(per, 4)
    for j in range(n_series):
        members = members_of[j]
        evidence = {m: float(rounded[j, k]) for k, m in enumerate(models)
                    if np.isfinite(rounded[j, k])}
        if not members:
            out_model.append(None)
            weights.append(json.dumps({}))
            reasons.append("no model covered this series' backtest")
            errors.append(json.dumps(evidence))
            continue
        w = {models[k]: round(1.0 / len(members), 4) for k in members}
        if len(members) > 1:
            evidence[mix_label(w)] = round(float(chosen_mae[j]), 4)
        if own[j] >= 0 and (own[j],) != members:
            m = models[own[j]]
            out_model.append(m)
            weights.append(json.dumps({m: 1.0}))
            reasons.append(f"{m}: on this series' own backtest it clearly beats its segment's "
                           f"choice, {mix_label(w)} (MAE {per[j, own[j]]:.2f} vs "
                           f"{chosen_mae[j]:.2f} over {int(n_pts[j])} points, t = "
                           f"{own_t[j]:.1f})")
            errors.append(json.dumps(evidence))
            chosen_mae[j] = per[j, own[j]]
            continue
        out_model.append(models[members[0]] if len(members) == 1 else "ensemble")
        weights.append(json.dumps(w))
        reasons.append(f"{choice_text[g_code[j]]}; this series: backtest MAE "
                       f"{chosen_mae[j]:.2f} over {int(n_pts[j])} points")
        errors.append(json.dumps(evidence))
    out = pd.DataFrame({"sku_id": series["sku_id"].to_numpy(),
                        "pin_code": series["pin_code"].to_numpy(),
                        "model": np.asarray(out_model, dtype=object),
                        "weights": weights, "reason": reasons,
                        "n_points": n_pts.astype(np.int64), "mae": chosen_mae,
                        "errors": errors, "segment": seg_of})
    out = out[out["model"].notna()].reset_index(drop=True)
    # each segment's choice for series without a backtest: its largest group's
    seg_best = {}
    for seg in sorted(set(seg_of.tolist())):
        in_seg = out[out["segment"] == seg]
        if len(in_seg):
            seg_best[seg] = in_seg["weights"].value_counts().index[0]
    out.attrs["segment_best"] = seg_best
    return out


def fill_unrouted(series: pd.DataFrame, routing: pd.DataFrame, default: str,
                  young: pd.Index | None = None) -> pd.DataFrame:
    """Routing rows for series the backtest did not see: young series (index of KEYS
    tuples in `young`) use the cold-start profile, the rest their segment's choice (else
    `default`)."""
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
        fallback = json.dumps({default: 1.0})
        cold = json.dumps({COLD_START_MODEL: 1.0})
        weights = np.where(is_young, cold,
                           pd.Series(seg).map(lambda s: seg_best.get(s, fallback)).to_numpy())
        decoded = [json.loads(w) for w in weights]
        model = np.array([next(iter(d)) if len(d) == 1 else "ensemble" for d in decoded],
                         dtype=object)
        why = np.array([f"{mix_label(d)}: no backtest for this series; its segment's choice "
                        f"({s})" for d, s in zip(decoded, seg.tolist())], dtype=object)
        why[is_young] = "new series: category x city profile (cold start)"
        extra = pd.DataFrame({"sku_id": missing["sku_id"].to_numpy(),
                              "pin_code": missing["pin_code"].to_numpy(),
                              "model": model, "weights": weights.astype(object),
                              "reason": why, "n_points": 0,
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
    (a model name or 'mix(a+b)'). A series whose routed model has no forecast falls
    back to whichever model does (cheapest first in the frame). `forecast_no_plan` (the
    forecast had there been no plan) is blended alike when present, the plan flags
    (`planned`, `promoted`) carried."""
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
    uni_label = [mix_label(d) for d in decoded]
    for j, (s, c, lab) in enumerate(zip(r_sid.tolist(), wcode.tolist(), rmodel.tolist())):
        label[s] = uni_label[c] if lab == "ensemble" else lab
    for c, d in enumerate(decoded):
        rows = r_sid[wcode == c]
        for m, w in d.items():
            wt[rows, m_index.get(m, len(models))] = w
    w = wt[f_sid, mcode]
    hit = ~np.isnan(w)
    values = [c for c in ("forecast", "forecast_no_plan") if c in forecasts]
    d_code, d_uni = pd.factorize(forecasts["date"].to_numpy(), sort=True)
    gkey = f_sid[hit].astype(np.int64) * max(len(d_uni), 1) + d_code[hit]
    flags = [c for c in PLAN_FLAGS if c in forecasts]
    agg = pd.DataFrame({"g": gkey, "w": w[hit], **{
        c: forecasts[c].to_numpy(dtype=float)[hit] * w[hit] for c in values}, **{
        c: forecasts[c].to_numpy(dtype=bool)[hit] for c in flags}}).groupby("g", sort=True).sum()
    g = agg.index.to_numpy()
    gs, gd = g // max(len(d_uni), 1), g % max(len(d_uni), 1)
    got = pd.DataFrame({"sku_id": series["sku_id"].to_numpy()[gs],
                        "pin_code": series["pin_code"].to_numpy()[gs],
                        "date": np.asarray(d_uni)[gd],
                        **{c: agg[c].to_numpy() / agg["w"].to_numpy() for c in values}})
    for c in flags:                             # a period any blended model saw planned
        got[c] = agg[c].to_numpy() > 0
    got["date"] = got["date"].astype(forecasts["date"].dtype)
    got["model"] = label[gs]
    have = np.zeros(n_series, dtype=bool)
    have[gs] = True
    rest = forecasts[~have[f_sid]]
    if len(rest):
        first = rest.drop_duplicates(keys)[keys + values + ["model"] + flags]
        got = pd.concat([got, first], ignore_index=True)
    return got
