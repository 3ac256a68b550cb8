"""The map page's metrics: per-PIN inputs from the warehouse, rolled up to PIN, district
or state, then turned into one value per area.

Inputs are additive (sums, counts), so a district's growth is its PINs' summed revenue
over their summed revenue last year, not an average of PIN growth rates.

| metric    | value                                                                 |
|-----------|-----------------------------------------------------------------------|
| sales     | revenue in the selected period (₹)                                    |
| growth    | like-for-like revenue vs the same days (weekly data: weeks) last year  |
| forecast  | forecast units, next 4 weeks after the latest forecast run's cutoff   |
| uplift    | forecast per day vs actual units per day over as many days up to cutoff|
| stockout  | share of stocked SKUs that lose a unit of sales within the lead time   |
| festival  | festival demand lift expected this month, weighted by the PIN's mix    |
| cluster   | the PIN's store cluster (engine/intel/clusters.py); a district / state |
|           | shows the cluster most of its PIN codes belong to                      |
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError
from engine.geo import rollup
from engine.signals.festivals import festival_uplift
from engine.warehouse.festivals import has_festivals
from engine.warehouse.festivals import read_festivals
from engine.warehouse.forecasts import forecast_inputs
from engine.warehouse.grain import WEEKLY, periods_for, periods_text
from engine.warehouse.inventory import has_inventory, stock_inputs
from engine.warehouse.locations import pin_places
from engine.warehouse.runs import latest_forecast_run
from engine.warehouse.sales_summary import category_units, sales_inputs
from engine.warehouse.sales_summary import resolve_period
from engine.warehouse.sql import Filters


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fmt: str            # 'inr' | 'units' | 'pct'
    diverging: bool
    help: str


METRICS = {m.key: m for m in (
    Metric("sales", "Sales", "inr", False, "Revenue in the selected period."),
    Metric("growth", "Growth vs last year", "pct", True,
           "Revenue vs the same days last year (the same weeks, 52 weeks earlier, for weekly "
           "data), for PIN codes that sold in both periods."),
    Metric("forecast", "Forecast, next 4 weeks", "units", False,
           "Units forecast for the 4 weeks after the latest forecast run's cutoff."),
    Metric("uplift", "Forecast uplift vs baseline", "pct", True,
           "Forecast units per day vs actual units per day over the same number of days "
           "before the cutoff."),
    Metric("stockout", "Stock-out risk", "pct", False,
           "Share of stocked SKUs that lose at least one unit of sales (at the last 4 "
           "weeks' average demand) before an order placed today could arrive - the "
           "Reorder page's 'critical' rule."),
    Metric("festival", "Festival intensity this month", "pct", False,
           "Expected festival lift in demand this month, averaged over days and weighted "
           "by the PIN code's category mix."),
    Metric("cluster", "Store cluster", "cluster", False,
           "PIN codes grouped by how their demand behaves (see the Trends page); a district "
           "or state shows the cluster most of its PIN codes belong to."),
)}
NO_FORECAST = ("No forecast run yet — run `python -m engine forecast` or use the Forecast "
               "page, then come back for the forecast maps.")


class MetricUnavailable(MicroPulseError):
    """The metric's inputs are not in the warehouse yet; the message says what to do."""

    code = "metric_unavailable"
    http_status = 409


@dataclass(frozen=True)
class MetricInputs:
    metric: str
    frame: pd.DataFrame      # pin_code + additive columns
    note: str                # one sentence: what the numbers cover


def _fmt_day(d) -> str:
    return pd.Timestamp(d).strftime("%d-%b-%Y")


def _span(days: int, grain) -> str:
    """'28 days', or '4 weeks' for weekly data."""
    return periods_text(periods_for(days, grain), grain)


def _festival_inputs(wh, f: Filters) -> tuple[pd.DataFrame, str]:
    if not has_festivals(wh):
        raise MetricUnavailable("No festival calendar in the warehouse yet — run "
                                "`python -m engine init` to load the shipped calendar.")
    start, end = resolve_period(wh, f)
    if end is None:
        return pd.DataFrame(columns=["pin_code", "lift_weighted", "weight"]), "No sales yet."
    month_start = pd.Timestamp(end).replace(day=1)
    days = pd.date_range(month_start, month_start + pd.offsets.MonthEnd(0), freq="D")
    units = category_units(wh, f, start, end)
    calendar, effects = read_festivals(wh)
    combos = units[["state", "category"]].drop_duplicates()
    grid = combos.merge(pd.DataFrame({"date": days}), how="cross")
    grid["lift"] = festival_uplift(grid, calendar, effects) - 1.0 if len(grid) else []
    lift = grid.groupby(["state", "category"], as_index=False, dropna=False)["lift"].mean()
    units = units.merge(lift, on=["state", "category"], how="left").fillna({"lift": 0.0})
    units["lift_weighted"] = units["units"] * units["lift"]
    out = units.groupby("pin_code", as_index=False).agg(
        lift_weighted=("lift_weighted", "sum"), weight=("units", "sum"))
    return out, (f"Festival lift expected in {month_start.strftime('%B %Y')}, weighted by each "
                 f"PIN code's units by category from {_fmt_day(start)} to {_fmt_day(end)}.")


def pin_inputs(wh, f: Filters, metric: str) -> MetricInputs:
    """Per-PIN additive inputs for `metric`; raises MetricUnavailable with what to do."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}")
    if metric in ("sales", "growth"):
        df, meta = sales_inputs(wh, f)
        if meta.get("start") is None:
            return MetricInputs(metric, df, "No sales in the warehouse yet.")
        note = f"{_fmt_day(meta['start'])} to {_fmt_day(meta['end'])}"
        if metric == "growth":
            same = "weeks" if meta.get("grain") == WEEKLY else "days"
            if not meta["covered"]:
                raise MetricUnavailable(
                    f"Growth needs sales for the same {same} last year, and the warehouse "
                    "does not reach back that far for this period — pick a later date range.")
            note += (f" vs the same {same} last year, {_fmt_day(meta['prior_start'])} to "
                     f"{_fmt_day(meta['prior_end'])}, like-for-like PIN codes")
        return MetricInputs(metric, df, note + ".")
    if metric in ("forecast", "uplift"):
        run = latest_forecast_run(wh)
        if run is None:
            raise MetricUnavailable(NO_FORECAST)
        df, meta = forecast_inputs(wh, f, run)
        span = _span(meta["days"], run.get("grain"))
        note = (f"Forecast run {meta.get('run_id', run['run_id'])}: {span} after "
                f"{_fmt_day(meta['cutoff'])}")
        if metric == "uplift":
            note += f", against actual sales in the {span} up to the cutoff"
        return MetricInputs(metric, df, note + ".")
    if metric == "stockout":
        if not has_inventory(wh):
            raise MetricUnavailable("No inventory in the warehouse yet — upload a stock file "
                                    "on the Data page to see stock-out risk.")
        df, meta = stock_inputs(wh, f)
        as_of = _fmt_day(meta["as_of"]) if meta["as_of"] else "—"
        return MetricInputs(metric, df, f"Stock as loaded, demand = average per day of the "
                                        f"{_span(meta['demand_days'], meta['grain'])} up to "
                                        f"{as_of}.")
    if metric == "cluster":
        return _cluster_inputs(wh, f)
    df, note = _festival_inputs(wh, f)
    return MetricInputs(metric, df, note)


def _cluster_inputs(wh, f: Filters) -> MetricInputs:
    """One column per cluster (cluster_1, ...: 1 for the PIN's cluster), for the PINs with
    sales under the filters, so a roll-up counts PIN codes per cluster."""
    from engine.intel import IntelError
    from engine.intel.clusters import store_clusters

    try:
        rows = store_clusters(wh)
    except IntelError as exc:
        raise MetricUnavailable(exc.message) from exc
    pins, _ = sales_inputs(wh, f)
    rows = rows[rows["pin_code"].isin(set(pins["pin_code"].astype(str)))]
    frame = pd.get_dummies(rows.set_index("pin_code")["cluster"], prefix="cluster",
                           dtype=float).reset_index()
    names = rows.drop_duplicates("cluster").sort_values("cluster")["cluster_name"]
    return MetricInputs("cluster", frame, "Clusters: " + "; ".join(names) + ".")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num, den = num.astype(float), den.astype(float)
    return pd.Series(np.where(den > 0, num / den.where(den > 0, 1.0), np.nan), index=num.index)


def metric_values(inputs: MetricInputs, level: str = "pin") -> pd.DataFrame:
    """Roll the inputs up to `level` and compute `value` (NaN where not defined)."""
    df = inputs.frame
    cols = [c for c in df.columns if c != "pin_code"]
    out = rollup(df, level, cols, how="sum")
    m = inputs.metric
    if m == "sales":
        out["value"] = out["revenue"].astype(float)
    elif m == "growth":
        out["value"] = _ratio(out["revenue_lfl"], out["prior_revenue"]) - 1.0
    elif m == "forecast":
        out["value"] = out["forecast"].astype(float)
    elif m == "uplift":
        out["value"] = _ratio(out["forecast"], out["baseline"]) - 1.0
    elif m == "stockout":
        out["value"] = _ratio(out["at_risk"], out["n_skus"])
    elif m == "cluster":         # the cluster most of the area's PIN codes belong to
        counts = out[cols].to_numpy(dtype=float)
        best = [int(c.split("_")[1]) for c in np.array(cols)[counts.argmax(axis=1)]] \
            if len(cols) else []
        out["value"] = np.asarray(best, dtype=float) if len(out) else np.array([], float)
    else:
        out["value"] = _ratio(out["lift_weighted"], out["weight"])
    return out


def pin_options(inputs: MetricInputs) -> pd.DataFrame:
    """PINs the metric covers, highest value first: pin_code, label ('400001 · Fort,
    Mumbai'). Falls back to the PIN code alone for PINs the reference does not know."""
    from engine.geo import pin_reference

    values = metric_values(inputs, "pin")
    ref = pin_reference().set_index("pin_code")
    pins = values.sort_values("value", ascending=False, na_position="last",
                              kind="stable")["pin_code"].astype(str)
    loc = pins.map(ref["locality"]).fillna("")
    dist = pins.map(ref["district"]).fillna("")
    label = pins + " · " + loc + ", " + dist
    label = label.where(loc != "", pins)
    return pd.DataFrame({"pin_code": pins.to_numpy(), "label": label.to_numpy()})


def narrow_to_pin(f: Filters, pin: str) -> Filters:
    """The filters limited to one PIN, never wider than the scope already in force."""
    scope = (pin,) if f.pin_scope is None or pin in f.pin_scope else ()
    return Filters(f.states, f.cities, f.categories, f.start, f.end, pin_scope=scope)


def map_frame(wh, inputs: MetricInputs, level: str):
    """Values at `level` joined to their map polygons (GeoDataFrame), with the warehouse's
    city per PIN at PIN level (used to label the map)."""
    from engine.geo_polygons import attach_polygons

    gdf = attach_polygons(metric_values(inputs, level), level)
    if level == "pin" and len(gdf):
        places = pin_places(wh, gdf["pin_code"].tolist())[["pin_code", "city"]]
        unmapped = gdf.attrs.get("unmapped", 0)
        gdf = gdf.merge(places, on="pin_code", how="left")
        gdf["city"] = gdf["city"].fillna(gdf["district"])
        gdf.attrs["unmapped"] = unmapped
    return gdf
