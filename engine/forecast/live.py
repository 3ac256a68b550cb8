"""Forecast vs actual, as actuals arrive: every stored forecast run scored on the sales
that have landed for its horizon.

    refresh(wh)                      # score every run whose stored scores are out of date
    after_upload(wh, report)         # after a sales upload: rescore only the runs it reaches
    scores(wh, run_id=None)          # stored scores (refreshed first when out of date)
    summaries(scores_frame)          # one dict per run, with its categories and drift flags

Scores (percentages, conventions of engine/forecast/metrics.py): WAPE, bias % (> 0 =
over-forecast), 80% and 95% interval coverage, for the run overall and by category, state
and horizon step, with the number of series and periods covered and the last date the
actuals reach. A period counts once the warehouse's sales reach its date; within it a
series with no sales row sold nothing. Each group also carries the run's own backtest
WAPE (its routed backtest on the same group), so drift - live WAPE well above what the
backtest promised - is flagged on read with the current `DriftRule`
(MICROPULSE_DRIFT_RATIO, default 1.25, and MICROPULSE_DRIFT_MIN_POINTS, default 5:
drift when live WAPE > ratio x backtest WAPE AND live - backtest >= min points).

Scoring is SQL over the forecasts of the runs being rescored and the sales of their
horizon (engine/warehouse/accuracy.py), and a sales upload rescores only the runs whose
horizon its dates reach or whose horizon was not yet fully covered, so it stays cheap
however many runs are kept.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import pandas as pd

from engine.warehouse import accuracy
from engine.warehouse.runs import forecast_runs
from engine.warehouse.sales import last_sales_date

log = logging.getLogger("micropulse.engine.live")


@dataclass(frozen=True)
class DriftRule:
    """Live WAPE counts as drift when it is above `ratio` x the backtest WAPE and at least
    `min_points` percentage points above it."""

    ratio: float = 1.25
    min_points: float = 5.0

    @classmethod
    def from_env(cls) -> "DriftRule":
        def num(name: str, default: float) -> float:
            try:
                value = float(os.environ.get(name, default))
            except ValueError:
                log.warning("%s is not a number; using %s", name, default)
                return default
            return value if math.isfinite(value) and value >= 0 else default
        return cls(num("MICROPULSE_DRIFT_RATIO", 1.25), num("MICROPULSE_DRIFT_MIN_POINTS", 5.0))

    def drifting(self, live_wape, backtest_wape) -> bool:
        if live_wape is None or backtest_wape is None:
            return False
        if pd.isna(live_wape) or pd.isna(backtest_wape):
            return False
        return (float(live_wape) > self.ratio * float(backtest_wape)
                and float(live_wape) - float(backtest_wape) >= self.min_points)


def _version(wh) -> str:
    version = wh.data_version("sales")
    return version.split(":", 1)[1] if ":" in version else version


def _scored(wh, runs: pd.DataFrame, run_ids: list[str], through) -> pd.DataFrame:
    """Live scores of `run_ids` (rows of `runs`) up to `through`, with each run's facts
    (periods covered, horizon, grain, cutoff, created_at, actuals reached)."""
    frame = accuracy.score_runs(wh, run_ids, through) if run_ids else pd.DataFrame()
    if len(frame):
        meta = runs.set_index("run_id")
        reach = frame[frame["dimension"] == "all"].set_index("run_id")["n_periods"]
        frame["periods_covered"] = frame["run_id"].map(reach)
        frame["horizon"] = frame["run_id"].map(meta["horizon"])
        frame["grain"] = frame["run_id"].map(meta["grain"])
        frame["cutoff"] = frame["run_id"].map(meta["cutoff"])
        frame["run_created_at"] = frame["run_id"].map(meta["created_at"])
        through_all = frame[frame["dimension"] == "all"].set_index("run_id")["actuals_through"]
        frame["actuals_through"] = frame["run_id"].map(through_all)
    return frame


def _rescore(wh, runs: pd.DataFrame, run_ids: list[str], through) -> int:
    """Score `run_ids` (rows of `runs`) up to `through` and store them (all stored rows
    get the current sales version). Returns the number of runs rescored."""
    version = _version(wh)        # read before computing: a write meanwhile -> stale
    accuracy.replace_scores(wh, _scored(wh, runs, run_ids, through), run_ids, version)
    return len(run_ids)


def refresh(wh, run_ids: list[str] | None = None, since=None, force: bool = False) -> int:
    """Rescore the runs whose stored scores are out of date: never scored though sales
    reach their horizon, scored on another version of the sales (`force`: all of them).
    With `since` (the first date of newly loaded sales) only runs whose horizon reaches
    that date, or was not yet fully covered, or was never scored, are rescored; the
    other runs' scores are unchanged by those sales and only get the new version stamp.
    `run_ids` limits the runs considered. Returns how many runs were rescored."""
    if getattr(wh, "read_only", False) or not hasattr(wh, "transaction"):
        return 0
    through = last_sales_date(wh)
    runs = forecast_runs(wh)
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(run_ids)]
    if through is None or runs.empty:
        return 0
    runs = runs[runs["first_date"] <= through]
    state = accuracy.stored_state(wh).set_index("run_id")
    version = _version(wh)
    # scored runs that no sales reach any more (a sales batch was rolled back): drop them
    considered = set(run_ids) if run_ids is not None else None
    todo = [r for r in state.index if r not in set(runs["run_id"])
            and (considered is None or r in considered)]
    for run in runs.itertuples(index=False):
        if force or run.run_id not in state.index:
            todo.append(run.run_id)
            continue
        done = state.loc[run.run_id]
        if since is not None:
            incomplete = pd.isna(done["actuals_through"]) or done["actuals_through"] < min(
                run.last_date, through)
            if run.last_date >= pd.Timestamp(since) or incomplete:
                todo.append(run.run_id)
        elif done["sales_version"] != version:
            todo.append(run.run_id)
    stale_stamp = (not state.empty) and (state["sales_version"] != version).any()
    if not todo and not stale_stamp:
        return 0
    n = _rescore(wh, runs, todo, through)
    if n:
        from engine.telemetry import live_scored

        live_scored(n, through.date())
    return n


def after_upload(wh, report: dict | None) -> int:
    """After a sales upload loaded rows: rescore the runs the new sales reach (never
    raises: the upload has committed; a failure is logged)."""
    try:
        since = (report or {}).get("date_min")
        return refresh(wh, since=pd.Timestamp(since) if since else None)
    except Exception as exc:   # noqa: BLE001 - scoring must never undo or fail an upload
        log.warning("live accuracy not refreshed after the upload: %s", exc)
        return 0


def after_sales(wh, since) -> dict:
    """After sales events loaded (engine/ingest/events.py, debounced): rescore the runs
    their sales reach and, when any was rescored, check the drift alert rule. Never
    raises (the sales have committed): a failure is logged and reported."""
    rescored = after_upload(wh, {"date_min": str(since)[:10] if since else None})
    out: dict = {"rescored": rescored, "alerts": None}
    if rescored:
        from engine.alerts import generate_alerts

        try:
            out["alerts"] = generate_alerts(wh, rules=["live_drift"]).to_dict()
        except Exception as exc:   # noqa: BLE001 - see above
            log.warning("drift alerts not checked after new sales: %s", exc)
    return out


def scores(wh, run_id: str | None = None, rule: DriftRule | None = None) -> pd.DataFrame:
    """The stored live scores (refreshed first when out of date), with a `drift` column
    under `rule` (default: DriftRule.from_env()). A PIN-scoped handle (a store user's)
    gets `scoped_scores` instead: the stored scores are chain-wide and hidden from it."""
    if getattr(wh, "pin_scope", None) is not None:
        return with_drift(scoped_scores(wh, run_id), rule)
    try:
        refresh(wh)
    except Exception as exc:   # noqa: BLE001 - a busy or read-only warehouse: show what is stored
        log.warning("live accuracy not refreshed: %s", exc)
    return with_drift(accuracy.read_scores(wh, run_id), rule)


def scoped_scores(wh, run_id: str | None = None) -> pd.DataFrame:
    """The live scores of the runs `wh` can see, computed (not stored) from the rows it
    can see: a store user's handle reads only their PIN codes' forecasts, sales and
    backtests, so every figure - WAPE, bias, coverage, series counts, the backtest's
    promise - is theirs alone, and actuals count up to their own last sales day (as on
    the Accuracy page's timeline). Same columns and order as `accuracy.read_scores`."""
    through = last_sales_date(wh)
    runs = forecast_runs(wh)
    if run_id is not None:
        runs = runs[runs["run_id"] == run_id]
    runs = runs.iloc[0:0] if through is None else runs[runs["first_date"] <= through]
    frame = _scored(wh, runs, runs["run_id"].tolist(), through)
    frame = frame.reindex(columns=accuracy.COLUMNS)
    for col in ("actuals_through", "cutoff"):
        frame[col] = pd.to_datetime(frame[col])
    return frame.sort_values(["run_created_at", "run_id", "dimension", "grp"],
                             ascending=[False, True, True, True], ignore_index=True)


def with_drift(frame: pd.DataFrame, rule: DriftRule | None = None) -> pd.DataFrame:
    rule = rule or DriftRule.from_env()
    out = frame.copy()
    out["drift"] = [rule.drifting(w, b) for w, b in zip(out["wape"], out["backtest_wape"])]
    return out


# ---- words ------------------------------------------------------------------------------
def _periods(n: int, grain) -> str:
    unit = "week" if str(grain or "D").upper().startswith("W") else "day"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _pct(value, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:+.1f}%" if signed else f"{value:.1f}%"


def _day(value) -> str:
    return "?" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%d-%b-%Y")


def _group(row) -> dict:
    return {"n_series": int(row.n_series), "n_periods": int(row.n_periods),
            "n_points": int(row.n_points), "wape": _num(row.wape),
            "bias_pct": _num(row.bias_pct), "coverage80": _num(row.coverage80),
            "coverage95": _num(row.coverage95), "backtest_wape": _num(row.backtest_wape),
            "drift": bool(row.drift)}


def _num(value):
    return None if value is None or pd.isna(value) else float(value)


def summaries(frame: pd.DataFrame) -> list[dict]:
    """One dict per run (newest first): run facts, the overall scores, `by_category`,
    `by_state`, `by_step` (lists of group dicts), `drift` (any group drifting) and
    `sentence`."""
    out = []
    if frame.empty:
        return out
    order = frame.drop_duplicates("run_id").sort_values("run_created_at", ascending=False)
    for run_id in order["run_id"]:
        rows = frame[frame["run_id"] == run_id]
        top = rows[rows["dimension"] == "all"].iloc[0]
        item = {"run_id": run_id, "created_at": str(pd.Timestamp(top.run_created_at)),
                "cutoff": None if pd.isna(top.cutoff) else str(pd.Timestamp(top.cutoff).date()),
                "grain": "W" if str(top.grain or "D").upper().startswith("W") else "D",
                "horizon": None if pd.isna(top.horizon) else int(top.horizon),
                "periods_covered": int(top.periods_covered),
                "actuals_through": str(pd.Timestamp(top.actuals_through).date()),
                **_group(top)}
        for dim in ("category", "state", "step"):
            part = rows[rows["dimension"] == dim].copy()
            if dim == "step":
                part = part.assign(_k=part["grp"].astype(int)).sort_values("_k")
            else:
                part = part.sort_values("grp")
            item[f"by_{dim}"] = [{dim: int(r.grp) if dim == "step" else r.grp, **_group(r)}
                                 for r in part.itertuples(index=False)]
        item["drift_groups"] = [f"{dim} {g[dim]}" for dim in ("category", "state")
                                for g in item[f"by_{dim}"] if g["drift"]]
        item["sentence"] = sentence(item)
        out.append(item)
    return out


def sentence(run: dict) -> str:
    """'forecasts made on 03-Mar-2026 for the 7 days that have actuals: WAPE 16.7%, bias
    -16.7%, coverage 100.0%' (+ the backtest's promise and DRIFT when it drifts)."""
    text = (f"forecasts made on {_day(run['created_at'])} (data to {_day(run['cutoff'])}) "
            f"for the {_periods(run['periods_covered'], run['grain'])} that have actuals "
            f"(to {_day(run['actuals_through'])}, {run['n_series']:,} series): "
            f"WAPE {_pct(run['wape'])}, bias {_pct(run['bias_pct'], True)}, "
            f"coverage {_pct(run['coverage95'])} (80%: {_pct(run['coverage80'])})")
    if run.get("backtest_wape") is not None:
        text += f"; backtest WAPE {_pct(run['backtest_wape'])}"
    if run.get("drift"):
        text += " - DRIFT: live WAPE well above the backtest's"
    return text


def group_line(name: str, g: dict) -> str:
    text = (f"{name}: WAPE {_pct(g['wape'])}, bias {_pct(g['bias_pct'], True)}, coverage "
            f"{_pct(g['coverage95'])} ({g['n_series']:,} series)")
    if g.get("backtest_wape") is not None:
        text += f"; backtest {_pct(g['backtest_wape'])}"
    return text + (" - DRIFT" if g.get("drift") else "")


# ---- the Accuracy page's timeline ------------------------------------------------------------
def timeline(wh) -> pd.DataFrame:
    """Every stored forecast run's live scores week by week, by category, state and horizon
    step (accuracy.period_scores), with the run's made_on (created_at), cutoff, grain and
    `weeks_before`: whole weeks from the run's cutoff to the week judged. Read through
    `wh`, so a store user's PIN-scoped handle gets their PIN codes' scores only. Empty
    when no run has actuals yet."""
    through = last_sales_date(wh)
    runs = forecast_runs(wh)
    if through is None or runs.empty:
        return pd.DataFrame()
    runs = runs[runs["first_date"] <= through]
    if runs.empty:
        return pd.DataFrame()
    frame = accuracy.period_scores(wh, runs["run_id"].tolist(), through)
    if frame.empty:
        return frame
    meta = runs.set_index("run_id")
    frame["made_on"] = frame["run_id"].map(meta["created_at"])
    frame["cutoff"] = frame["run_id"].map(meta["cutoff"])
    frame["grain"] = frame["run_id"].map(meta["grain"]).fillna("D")
    cut_week = frame["cutoff"].dt.to_period("W-SUN").dt.start_time
    frame["weeks_before"] = ((frame["week"] - cut_week).dt.days // 7).astype("Int64")
    return frame


def _ago(weeks: int) -> str:
    return "this week" if weeks <= 0 else ("1 week" if weeks == 1 else f"{weeks} weeks")


def held_sentences(frame: pd.DataFrame) -> list[str]:
    """One plain sentence per run, newest run first, for the newest week it has actuals
    for: 'Forecasts made 4 weeks ago (data to 02-Nov) for the week of 23-Nov: off by 31%,
    4% too low; 78% of sales inside the 95% band (120 series).'"""
    if frame.empty:
        return []
    overall = frame[frame["dimension"] == "all"]
    newest = overall["week"].max()
    out = []
    for run_id, rows in sorted(overall.groupby("run_id"), key=lambda kv: kv[1]["made_on"].iloc[0],
                               reverse=True):
        last = rows.sort_values("week").iloc[-1]
        ago = (newest - last["cutoff"].to_period("W-SUN").start_time).days // 7
        week = "last week" if last["week"] == newest else f"the week of {_day(last['week'])[:6]}"
        if last["week"] == newest:
            week += f" (week of {_day(last['week'])[:6]})"
        made = "this week" if ago <= 0 else f"{_ago(ago)} ago"
        if pd.isna(last["wape"]):
            miss = "nothing sold, so the error cannot be given as a share"
        else:
            lean = "too high" if last["bias_pct"] > 0 else "too low"
            miss = f"off by {last['wape']:.0f}%, {abs(last['bias_pct']):.0f}% {lean}"
        band = ("" if pd.isna(last["coverage95"]) else
                f"; {last['coverage95']:.0f}% of sales inside the 95% band")
        out.append(f"Forecasts made {made} (data to {_day(last['cutoff'])[:6]}) for {week}: "
                   f"{miss}{band} ({int(last['n_series']):,} series).")
    return out


# ---- drift alerts (the `live_drift` rule of engine/alerts.py) -------------------------------
def drift_run(wh, min_periods: int) -> dict | None:
    """The newest stored forecast run with at least `min_periods` periods of actuals, as
    {run_id, created_at, cutoff, grain, periods, through}, or None."""
    through = last_sales_date(wh)
    runs = forecast_runs(wh)
    if through is None or runs.empty:
        return None
    for run in runs.sort_values(["created_at", "run_id"], ascending=False).itertuples():
        if run.first_date > through:
            continue
        weekly = str(run.grain or "D").upper().startswith("W")
        days = (min(run.last_date, through) - run.first_date).days
        periods = days // 7 + 1 if weekly else days + 1
        if periods >= min_periods:
            return {"run_id": run.run_id, "created_at": run.created_at, "cutoff": run.cutoff,
                    "grain": "W" if weekly else "D", "periods": int(periods),
                    "through": min(run.last_date, through)}
    return None


def drift_candidates(pins: pd.DataFrame, run: dict, rule: DriftRule, severity: str,
                     min_units: float) -> pd.DataFrame:
    """One alert per PIN code whose live WAPE for `run` drifts under `rule` (and that sold
    at least `min_units` over the covered periods): reason in words, rupees at stake =
    the units missed beyond the backtest's promise x the average price of the misses."""
    from engine.alerts_rules import (candidates, ddmmm, details_json, num, rupees,
                                     shown_rupees, shown_units, stake, units)

    rows = []
    for r in pins.itertuples(index=False):
        if r.actual_sum is None or pd.isna(r.actual_sum) or r.actual_sum < max(min_units, 1e-9):
            continue
        if not rule.drifting(r.wape, r.backtest_wape):
            continue
        promised = float(r.backtest_wape) / 100.0 * float(r.actual_sum)
        beyond = max(float(r.abs_error_sum) - promised, 0.0)
        price = (float(r.error_value) / float(r.abs_error_sum)
                 if r.error_value is not None and not pd.isna(r.error_value)
                 and r.abs_error_sum else None)
        if price is None:
            at = stake(None, "No selling price or MRP is known for these products at this "
                             "PIN, so the rupees at stake are not estimated.")
        else:
            at = stake(shown_units(beyond) * shown_rupees(price),
                       f"{units(beyond)} missed beyond the backtest's "
                                       f"{r.backtest_wape:.1f}% x {rupees(price)} average "
                                       "price of the units missed")
        lean = ("too high" if r.bias_pct > 0 else "too low") if not pd.isna(r.bias_pct) else ""
        span = _periods(int(r.n_periods), run["grain"])
        reason = (f"Forecasts made on {ddmmm(run['created_at'])} (data to "
                  f"{ddmmm(run['cutoff'])}) for PIN {r.pin_code} "
                  f"({r.state}) were off by {r.wape:.0f}% over the {span} with actuals (to "
                  f"{ddmmm(r.actuals_through)}), against the {r.backtest_wape:.0f}% their "
                  f"backtest promised" + (f"; {abs(r.bias_pct):.0f}% {lean}" if lean else "")
                  + f". {num(r.abs_error_sum)} of {num(r.actual_sum)} units missed"
                  + (f", about {rupees(at['at_stake'])} beyond the promise." if
                     at["at_stake"] is not None else "."))
        rows.append({"rule": "live_drift", "severity": severity,
                     "entity": f"PIN {r.pin_code} · run {run['run_id']}",
                     "day": pd.Timestamp(run["cutoff"]).normalize(),
                     "reason": reason,
                     "details": details_json(
                         "Forecast", {"pin_code": r.pin_code}, r.pin_code, None,
                         run_id=run["run_id"], live_wape=float(r.wape),
                         backtest_wape=float(r.backtest_wape),
                         bias_pct=None if pd.isna(r.bias_pct) else float(r.bias_pct),
                         n_series=int(r.n_series), n_periods=int(r.n_periods),
                         actuals_through=r.actuals_through, drift_ratio=rule.ratio,
                         drift_min_points=rule.min_points, **at)})
    return candidates(rows)
