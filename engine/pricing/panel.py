"""Estimation panels for the price-response models, one category at a time.

* **Grain** comes from the dates (`detect_grain`): rows of a series that fall on one weekday
  a week or more apart are weekly, on one day of the month a month apart monthly, anything
  else daily. Weekly and monthly rows stay as they are (a period without a row is unknown,
  not zero: a weekly export that skips a week says nothing about that week's price).
  Daily rows are filled with zero-sale days from each SKU x PIN's first to its last sale
  (POS exports omit days without sales); a filled day's price is that day's price at the
  SKU's other PINs, else the last known one, and its promotion flags are the other PINs'
  share, else 0.
* **Periods** are the cells of the common time effects: weeks for daily and weekly data
  (daily data adds day-of-week terms), months for monthly data.
* **Columns** of the design (`CategoryPanel.columns`), in this order: `price` = log(price /
  the SKU's latest regular price); the promotion controls the sales carry (`promo`,
  `feature`, `display`, `tpr`: 0/1 flags or shares; `promo` is left out when it is only
  the union of the others, and a SKU's `promo` when it only marks that the price is below
  the regular price); `lag_price` = log(the previous period's relative price / this
  period's) of the same series (fits use it only when asked: `FitRules.lagged_price`);
  `festival` = log festival uplift of the row's state, category
  and period (the mean factor over the period's days); `temp`, `temp2`, `rain` = the
  row's city weather over the period (centred, per 10 units); `dow_1..dow_6` for daily
  data; `trend` (years) and `season_sin`, `season_cos` (yearly cycle), used only when
  SKUs share their category's time effects, each SKU with its own.

A weekly row's label is the last day of its week, as in the forecast engine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CONTROL_COLUMNS = ("promo", "feature", "display", "tpr")
UNIT = {"D": "day", "W": "week", "M": "month"}
_PAD = 31                       # days of signal kept either side of the sales dates


def _runs(sorted_codes: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... per run of equal values in an array sorted by those values."""
    if len(sorted_codes) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.cumsum(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) - 1


def detect_grain(series: np.ndarray, day: np.ndarray, origin: pd.Timestamp) -> str:
    """'D', 'W' or 'M' from each series' sale days (`series` codes, days since `origin`)."""
    if len(day) < 3:
        return "D"
    order = np.lexsort((day, series))
    s, d = series[order], day[order]
    same = s[1:] == s[:-1]
    gaps = np.diff(d)[same]
    gaps = gaps[gaps > 0]
    gap = float(np.median(gaps)) if len(gaps) else 1.0
    run = _runs(s)

    def same_share(values: np.ndarray, size: int) -> float:
        """Share of rows on their series' most common value (weekday, day of month)."""
        counts = np.bincount(run * size + values, minlength=(run[-1] + 1) * size)
        return float(counts.reshape(-1, size).max(axis=1).sum() / len(values))

    dates = origin + pd.to_timedelta(d, unit="D")
    if gap >= 28 and same_share(dates.day.to_numpy() - 1, 31) >= 0.95:
        return "M"
    if gap >= 7 and same_share(dates.dayofweek.to_numpy(), 7) >= 0.95:
        return "W"
    return "D"


def grain_of(sales: pd.DataFrame) -> str:
    """detect_grain for a sales frame (sku_id, pin_code, date)."""
    if sales.empty:
        return "D"
    dates = pd.to_datetime(sales["date"]).to_numpy("datetime64[D]")
    series = pd.factorize(sales["sku_id"].astype(str) + "|" + sales["pin_code"].astype(str))[0]
    return detect_grain(series, (dates - dates.min()).astype(np.int64),
                        pd.Timestamp(dates.min()))


@dataclass(frozen=True)
class CategoryPanel:
    """The rows of one category's SKUs (numpy arrays of equal length n)."""
    category: str
    grain: str
    sku_ids: np.ndarray       # sku_id of each local SKU code
    pins: np.ndarray          # pin_code of each local PIN code
    sku: np.ndarray           # (n,) local SKU code
    series: np.ndarray        # (n,) SKU x PIN code
    pin: np.ndarray           # (n,) local PIN code
    period: np.ndarray        # (n,) period index (the time-effect cell)
    date: np.ndarray          # (n,) day index (days since the data's first date)
    y: np.ndarray             # (n,) units
    XT: np.ndarray            # (k, n) design, rows named in `columns`
    columns: tuple[str, ...]

    def col(self, name: str) -> int:
        return self.columns.index(name)


class PanelContext:
    """What every category's panel shares: grain, calendar origin, PIN places and the
    festival and weather signals as cumulative sums over days (for period means)."""

    def __init__(self, sales: pd.DataFrame, locations: pd.DataFrame,
                 weather: pd.DataFrame | None, festival: pd.DataFrame | None):
        dates = pd.to_datetime(sales["date"]).to_numpy("datetime64[D]")
        self.origin = pd.Timestamp(dates.min())
        self.day = (dates - dates.min()).astype(np.int64)
        self.n_days = int(self.day.max()) + 1
        self.span = pd.date_range(self.origin - pd.Timedelta(days=_PAD),
                                  periods=self.n_days + 2 * _PAD, freq="D")
        self.sku_code, self.sku_ids = pd.factorize(sales["sku_id"], sort=True)
        self.pin_code, self.pins = pd.factorize(sales["pin_code"], sort=True)
        self.grain = detect_grain(self.sku_code.astype(np.int64) * len(self.pins)
                                  + self.pin_code, self.day, self.origin)
        self.controls = tuple(c for c in CONTROL_COLUMNS
                              if c in sales.columns and sales[c].notna().any())
        # the columns every category panel reads, converted once
        self.quantity = sales["quantity"].to_numpy(float)
        self.price = sales["price"].to_numpy(float)
        self.regular = (sales["regular_price"].to_numpy(float) if "regular_price" in sales
                        else self.price)
        self.flags = (np.stack([pd.to_numeric(sales[c], errors="coerce").to_numpy(float)
                                for c in self.controls]) if self.controls
                      else np.zeros((0, len(sales))))
        loc = locations.drop_duplicates("pin_code").set_index("pin_code")
        state = loc["state"].reindex(self.pins) if "state" in loc else pd.Series(
            None, index=self.pins, dtype=object)
        city = loc["city"].reindex(self.pins) if "city" in loc else pd.Series(
            None, index=self.pins, dtype=object)
        self.pin_state = state.to_numpy()
        self._weather(weather, city.to_numpy())
        self._festival(festival)

    # -- calendar ----------------------------------------------------------------------
    def period_of(self, day: np.ndarray) -> np.ndarray:
        if self.grain == "M":
            d = self.origin + pd.to_timedelta(day, unit="D")
            return ((d.year - self.origin.year) * 12 + d.month - self.origin.month).to_numpy()
        return day // 7

    def window(self, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last day (indices into `span`) each row's units were sold over."""
        end = day + _PAD
        if self.grain == "W":
            return end - 6, end
        if self.grain == "M":
            d = self.origin + pd.to_timedelta(day, unit="D")
            first = day - (d.day.to_numpy() - 1)
            return first + _PAD, first + d.days_in_month.to_numpy() - 1 + _PAD
        return end, end

    @staticmethod
    def _mean(cum: np.ndarray, which: np.ndarray, lo: np.ndarray, hi: np.ndarray
              ) -> np.ndarray:
        """Mean over days lo..hi of row `which` of the cumulative sums `cum` (m, days)."""
        lo = np.clip(lo, 0, cum.shape[1] - 1)
        hi = np.clip(hi, 0, cum.shape[1] - 1)
        before = np.where(lo > 0, cum[which, np.maximum(lo - 1, 0)], 0.0)
        return (cum[which, hi] - before) / (hi - lo + 1)

    # -- signals -------------------------------------------------------------------------
    def _weather(self, weather: pd.DataFrame | None, pin_city: np.ndarray) -> None:
        """Cumulative temperature and rain per city (rows) and each PIN's city row."""
        self.pin_weather = np.full(len(self.pins), -1)
        self.temp_cum = self.rain_cum = np.zeros((0, len(self.span)))
        if weather is None or not len(weather):
            return
        w = weather.assign(date=pd.to_datetime(weather["date"]))
        temps, rains, cities = [], [], []
        for city, grp in w.groupby("city"):
            g = grp.groupby("date")[["temp_c", "rainfall_mm"]].mean().reindex(self.span)
            temp = g["temp_c"].interpolate(limit_direction="both").to_numpy(float)
            if np.isnan(temp).all():
                continue
            cities.append(city)
            temps.append(np.cumsum(temp))
            rains.append(np.cumsum(g["rainfall_mm"].fillna(0.0).to_numpy(float)))
        if cities:
            self.temp_cum, self.rain_cum = np.stack(temps), np.stack(rains)
            index = {c: i for i, c in enumerate(cities)}
            self.pin_weather = np.array([index.get(c, -1) for c in pin_city])

    def _festival(self, festival: pd.DataFrame | None) -> None:
        """Cumulative festival factor per (state, category) key."""
        self.festival: dict[tuple[str, str], np.ndarray] = {}
        if festival is None or not len(festival):
            return
        f = festival.assign(date=pd.to_datetime(festival["date"]))
        pos = self.span.get_indexer(f["date"])
        f = f.assign(_pos=pos)[pos >= 0]
        for key, grp in f.groupby(["state", "category"]):
            arr = np.ones(len(self.span))
            arr[grp["_pos"].to_numpy()] = np.clip(grp["factor"].to_numpy(float), 1e-3, None)
            self.festival[key] = np.cumsum(arr)

    def festival_column(self, category: str, pin: np.ndarray, day: np.ndarray) -> np.ndarray:
        """log(mean festival factor over each row's period) for its PIN's state."""
        keys = [(s, category) for s in self.pin_state]
        have = sorted({k for k in keys if k in self.festival})
        if not have:
            return np.zeros(len(day))
        cum = np.vstack([self.festival[k] for k in have] + [np.arange(1, len(self.span) + 1)])
        index = {k: i for i, k in enumerate(have)}
        pin_row = np.array([index.get(k, len(have)) for k in keys])   # last row: factor 1
        lo, hi = self.window(day)
        return np.log(self._mean(cum, pin_row[pin], lo, hi))

    def weather_columns(self, pin: np.ndarray, day: np.ndarray) -> np.ndarray | None:
        """(3, n): centred temperature / 10, its square, rain / 10 over each row's period."""
        row = self.pin_weather[pin]
        known = row >= 0
        if not known.any():
            return None
        lo, hi = self.window(day)
        temp = np.full(len(day), np.nan)
        rain = np.zeros(len(day))
        temp[known] = self._mean(self.temp_cum, row[known], lo[known], hi[known])
        rain[known] = self._mean(self.rain_cum, row[known], lo[known], hi[known])
        centre = np.nanmean(temp)
        t = (np.where(known, temp, centre) - centre) / 10.0
        return np.stack([t, t ** 2, rain / 10.0])


def _sku_day_fill(sku: np.ndarray, day: np.ndarray, values: np.ndarray, n_sku: int,
                  n_days: int, carry: bool) -> np.ndarray:
    """Per row, the median (`carry`: carried forward, first one back) or mean of `values`
    over the SKU's PINs on that day; NaN where there is none."""
    frame = pd.DataFrame({"k": sku * n_days + day, "v": values}).dropna()
    grouped = frame.groupby("k")["v"]
    agg = grouped.median() if carry else grouped.mean()
    table = np.full(n_sku * n_days, np.nan)
    table[agg.index.to_numpy()] = agg.to_numpy()
    table = table.reshape(n_sku, n_days)
    if carry:
        table = pd.DataFrame(table.T).ffill().bfill().to_numpy().T
    return table[sku, day]


def build_panels(sales: pd.DataFrame, skus: pd.DataFrame, locations: pd.DataFrame,
                 weather: pd.DataFrame | None, festival: pd.DataFrame | None
                 ) -> tuple[PanelContext, list[CategoryPanel]]:
    """The estimation panel of every category with sales (SKUs without a catalog row are
    'Unknown')."""
    ctx = PanelContext(sales, locations, weather, festival)
    cats = skus.drop_duplicates("sku_id").set_index("sku_id")["category"]
    sku_cat = cats.reindex(ctx.sku_ids).fillna("Unknown").astype(str).to_numpy()
    row_cat = sku_cat[ctx.sku_code]
    panels = []
    for category in sorted(set(sku_cat)):
        rows = np.flatnonzero(row_cat == category)
        panel = category_panel(ctx, rows, category)
        if panel is not None:
            panels.append(panel)
    return ctx, panels


def category_panel(ctx: PanelContext, rows: np.ndarray, category: str
                   ) -> CategoryPanel | None:
    """The estimation rows of one category's SKUs (`rows` of the sales the context was
    built from; see the module docstring)."""
    order = rows[np.lexsort((ctx.day[rows], ctx.pin_code[rows], ctx.sku_code[rows]))]
    g_sku, g_pin, day = ctx.sku_code[order], ctx.pin_code[order], ctx.day[order]
    sku_codes, sku = np.unique(g_sku, return_inverse=True)
    series = _runs(g_sku.astype(np.int64) * len(ctx.pins) + g_pin)
    pin = g_pin
    # relative price: over each SKU's latest regular price (a constant per SKU)
    price = ctx.price[order]
    regular = ctx.regular[order]
    regular = np.where(regular > 0, regular, price)
    last = day == pd.Series(day).groupby(sku).transform("max").to_numpy()
    ref = pd.Series(regular[last]).groupby(sku[last]).median().reindex(
        range(len(sku_codes))).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = price / ref[sku]
    rel = np.where(np.isfinite(rel) & (rel > 0), rel, np.nan)
    ctrl = ctx.flags[:, order]
    union = _union_of_flags(ctrl, ctx.controls)
    _drop_price_marker(ctrl, ctx.controls, sku, price, regular)
    qty = ctx.quantity[order]
    if ctx.grain == "D":
        sku, pin, series, day, qty, rel, ctrl = _fill_days(sku, pin, series, day, qty, rel, ctrl)
    if len(qty) == 0:
        return None
    n_sku = len(sku_codes)
    if np.isnan(rel).any():
        rel = np.where(np.isnan(rel), _sku_day_fill(sku, day, rel, n_sku, ctx.n_days, True), rel)
        rel = np.where(np.isnan(rel), 1.0, rel)
    for j in range(len(ctrl)):
        gap = np.isnan(ctrl[j])
        if gap.any():
            share = _sku_day_fill(sku, day, ctrl[j], n_sku, ctx.n_days, False)
            ctrl[j] = np.where(gap, np.nan_to_num(share), ctrl[j])
    log_rel = np.log(rel)
    cols, names = [log_rel], ["price"]
    for j, c in enumerate(ctx.controls):
        if np.ptp(ctrl[j]) > 0 and not (c == "promo" and union):
            cols.append(ctrl[j])
            names.append(c)
    lag = _previous_period(log_rel, sku, series, ctx.period_of(day), ctx.grain) - log_rel
    if np.ptp(lag) > 0:
        cols.append(lag)
        names.append("lag_price")
    fest = ctx.festival_column(category, pin, day)
    if np.any(fest != 0):
        cols.append(fest)
        names.append("festival")
    wx = ctx.weather_columns(pin, day)
    if wx is not None:
        cols += list(wx)
        names += ["temp", "temp2", "rain"]
    if ctx.grain == "D":
        dow = (ctx.origin.dayofweek + day) % 7
        for d in range(1, 7):
            cols.append((dow == d).astype(float))
            names.append(f"dow_{d}")
    years = day / 365.25
    cols.append(years - years.mean())
    doy = 2 * np.pi * (ctx.origin.dayofyear + day) / 365.25
    cols += [np.sin(doy), np.cos(doy)]
    names += ["trend", "season_sin", "season_cos"]
    local_pins, pin = np.unique(pin, return_inverse=True)
    return CategoryPanel(category, ctx.grain, np.asarray(ctx.sku_ids)[sku_codes],
                         np.asarray(ctx.pins)[local_pins], sku, series, pin,
                         ctx.period_of(day), day, qty, np.stack(cols), tuple(names))


def _previous_period(x: np.ndarray, sku: np.ndarray, series: np.ndarray, period: np.ndarray,
                     grain: str) -> np.ndarray:
    """Each row's value of `x` (log relative price) over the previous period of its series
    (rows in series, then date order): for daily rows the mean of the 7 days before (the
    filled span has every day), for weekly and monthly rows the previous row when it is
    one period before, else the median over the SKU's rows (its other PINs) in that
    period; the row's own value where there is none (no move)."""
    n = len(x)
    idx = np.arange(n)
    first = np.r_[True, series[1:] != series[:-1]] if n else np.zeros(0, dtype=bool)
    out = np.full(n, np.nan)
    if grain == "D":
        start = np.maximum.accumulate(np.where(first, idx, 0))
        w = np.minimum(idx - start, 7)
        cs = np.r_[0.0, np.cumsum(x)]
        has = w > 0
        out[has] = (cs[idx[has]] - cs[idx[has] - w[has]]) / w[has]
    else:
        prev = np.r_[False, (~first[1:]) & (period[:-1] == period[1:] - 1)]
        out[prev] = x[idx[prev] - 1]
        gap = np.isnan(out)
        if gap.any():
            size = int(period.max()) + 2
            med = pd.Series(x).groupby(sku.astype(np.int64) * size + period).median()
            out[gap] = med.reindex(sku[gap].astype(np.int64) * size + period[gap] - 1
                                   ).to_numpy()
    return np.where(np.isnan(out), x, out)


def _drop_price_marker(ctrl: np.ndarray, controls: tuple[str, ...], sku: np.ndarray,
                       price: np.ndarray, regular: np.ndarray) -> None:
    """Zero a SKU's generic `promo` flag (in place) where it is on exactly when the price is
    below the regular price (99% of its rows agree): it then only marks the discount, says
    nothing the price does not, and as a control would leave just the depth of the
    discounts to identify the slope. A `promo` that also marks displays, features or
    coupons stays, and so does an explicit `tpr` flag (the deal tag of a temporary price
    reduction, whose own lift is not price response)."""
    if "promo" not in controls:
        return
    j = controls.index("promo")
    below = price < regular * (1 - 0.005)
    ok = np.isfinite(price) & np.isfinite(regular) & np.isfinite(ctrl[j])
    flag = ctrl[j] > 0
    agree = pd.Series((flag == below)[ok]).groupby(sku[ok]).mean()
    used = pd.Series(flag[ok]).groupby(sku[ok]).any()
    marker = agree.index[(agree >= 0.99).to_numpy() & used.to_numpy()]
    ctrl[j, np.isin(sku, marker.to_numpy())] = 0.0


def _union_of_flags(ctrl: np.ndarray, controls: tuple[str, ...]) -> bool:
    """True when `promo` is on exactly when one of feature / display / tpr is: it is their
    union (as the ingest derives it) and says nothing they do not."""
    finer = [j for j, c in enumerate(controls) if c != "promo"]
    if "promo" not in controls or not finer:
        return False
    promo = ctrl[controls.index("promo")] > 0
    return bool(np.array_equal(promo, (ctrl[finer] > 0).any(axis=0)))


def _fill_days(sku, pin, series, day, qty, rel, ctrl):
    """Every day of each series' active span (first to last sale); absent days sell 0 and
    carry no price or flags yet (NaN). Rows come in series order."""
    n_series = int(series.max()) + 1
    sold = qty > 0
    span = pd.Series(day[sold]).groupby(series[sold]).agg(["min", "max"]).reindex(
        range(n_series))
    active = span["max"].notna().to_numpy()
    first = span["min"].fillna(0).to_numpy(np.int64)
    last = span["max"].fillna(-1).to_numpy(np.int64)
    length = np.where(active, last - first + 1, 0)
    offset = np.concatenate([[0], np.cumsum(length)[:-1]])
    total = int(length.sum())
    row_series = np.repeat(np.arange(n_series), length)
    row_day = first[row_series] + (np.arange(total) - offset[row_series])
    sku_of = np.zeros(n_series, dtype=sku.dtype)
    pin_of = np.zeros(n_series, dtype=pin.dtype)
    sku_of[series], pin_of[series] = sku, pin
    inside = active[series] & (day >= first[series]) & (day <= last[series])
    idx = offset[series[inside]] + day[inside] - first[series[inside]]
    y = np.zeros(total)
    y[idx] = qty[inside]
    r = np.full(total, np.nan)
    r[idx] = rel[inside]
    c = np.full((len(ctrl), total), np.nan)
    c[:, idx] = ctrl[:, inside]
    return (sku_of[row_series], pin_of[row_series], _runs(row_series), row_day, y, r, c)
