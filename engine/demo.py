"""Deterministic, believable Indian retail demo data with planted, known effects.

`generate(cfg)` is pure (same seed and end date -> identical frames); `load_demo(wh, cfg)`
writes every demo table in one warehouse transaction; `expected_demand(cfg, start, end)`
returns the noise-free mu below per series and day (the "oracle" forecast).

Planted demand model for one series (SKU s at PIN p) on day t, before count noise:

    mu = base_s * store_p * affinity_sp                      (units/day, Mon-Thu, neutral)
         * exp(trend_s * (years_t - years_end))              (so base_s is the level at end_date)
         * exp(yearly_amplitude_s * cos(2 pi (doy_t - peak_c) / 365.25))
         * weekday_c[dow]  (Mon-Thu average 1, Fri 1 + u/3, Sat and Sun 1 + u, u = weekend_uplift_s)
         * festival_uplift(date, state, category)            (engine.signals.festivals)
         * exp(temp_effect_per_c_s * 4 w_c (sigmoid((T - t0_c) / w_c) - 0.5))
         * exp(rain_effect_per_10mm_s * min(rain_mm, 80) / 10)
         * (price_t / reference_price_s) ** elasticity_s     (reference = first regular price)
         * launch ramp (new SKUs: zero before launch, 1 - exp(-days_since_launch / 21))

so `temp_effect_per_c` is the slope of log demand per degree C at the sigmoid's midpoint
(t0 = 27 C for cold beverages / ice cream, 22 C for tea & coffee). Quantities are
negative-binomial (gamma-Poisson) counts around mu; days with zero units are omitted.
The truth per SKU is in `demo_truth`; festival truth is the `festivals` and
`festival_effects` tables written alongside.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.categories import CATEGORIES
from engine.demo_catalog import PROFILE, build_catalog
from engine.demo_competitor import competitor_feed
from engine.warehouse.ingest_competitor import store_feed
from engine.demo_mandi import generate_mandi
from engine.demo_weather import generate_weather, stable_rng
from engine.geo import pin_reference

# city -> (state, districts in the PIN reference, PIN prefixes, relative store size)
CITIES: dict[str, tuple[str, tuple[str, ...] | None, tuple[str, ...], float]] = {
    "Delhi": ("Delhi", None, ("110",), 1.25),
    "Mumbai": ("Maharashtra", ("Mumbai", "Mumbai Suburban"), ("400",), 1.25),
    "Bengaluru": ("Karnataka", ("Bengaluru Urban",), ("560",), 1.15),
    "Chennai": ("Tamil Nadu", ("Chennai",), ("600",), 1.1),
    "Kolkata": ("West Bengal", ("Kolkata",), ("700",), 1.1),
    "Hyderabad": ("Telangana", ("Hyderabad",), ("500",), 1.1),
    "Pune": ("Maharashtra", ("Pune",), ("411",), 1.0),
    "Ahmedabad": ("Gujarat", ("Ahmadabad",), ("380", "382"), 1.0),
    "Jaipur": ("Rajasthan", ("Jaipur",), ("302",), 0.9),
    "Lucknow": ("Uttar Pradesh", ("Lucknow",), ("226",), 0.9),
    "Kochi": ("Kerala", ("Ernakulam",), ("682",), 0.85),
    "Patna": ("Bihar", ("Patna",), ("800", "801"), 0.85),
}
# Categories every store stocks widely, and ones only some stores carry.
_WIDE = {"Dairy": 1.35, "Staples": 1.35, "Fresh Vegetables": 1.3, "Snacks": 1.3}
_NARROW = {"Festive Gifts": 0.7, "Holi Colours": 0.6, "Ice Cream": 0.85}
_ALWAYS_DENSE = {"Dairy", "Staples", "Fresh Vegetables"}

COLUMNS: dict[str, list[str]] = {
    "locations": ["pin_code", "store_id", "locality", "city", "district", "state", "region",
                  "lat", "lon", "urban_rural"],
    "skus": ["sku_id", "name", "category", "subcategory", "brand", "mrp", "unit_cost",
             "shelf_life_days", "unit_volume_l", "supplier"],
    "weather": ["city", "date", "temp_c", "temp_max_c", "temp_min_c", "rainfall_mm",
                "humidity"],
    "sales": ["transaction_id", "batch_id", "sku_id", "pin_code", "store_id", "date",
              "quantity", "price", "promo"],
    "sales_daily": ["sku_id", "pin_code", "date", "quantity", "revenue", "price",
                    "regular_price", "promo"],
    "inventory": ["sku_id", "pin_code", "on_hand", "on_order", "lead_time_days", "moq",
                  "case_pack", "snapshot_date", "batch_id"],
    "mandi_prices": ["market", "state", "district", "commodity", "variety", "grade", "date",
                     "min_price", "max_price", "modal_price", "arrivals_tonnes", "batch_id"],
    "mandis": ["market", "district", "state", "lat", "lon", "quality_index",
               "reliability_index"],
    "demo_truth": ["sku_id", "category", "elasticity", "base_daily_units",
                   "temp_effect_per_c", "rain_effect_per_10mm", "trend_per_year",
                   "yearly_amplitude", "weekend_uplift", "intermittent"],
    "festivals": ["name", "date", "festival_type", "states", "pre_days", "post_days",
                  "source"],
    "festival_effects": ["name", "category", "multiplier"],
}
DEMO_BATCH = "demo"


@dataclass(frozen=True)
class DemoConfig:
    """Size and shape of the demo. `scale` multiplies PINs per city (and SKUs by its square
    root), so series grow about linearly; scale=5 gives > 10M sales rows."""
    seed: int = 42
    scale: float = 1.0
    end_date: date | None = None          # None = yesterday
    days: int = 760
    n_cities: int = 12
    pins_per_city: int = 6
    n_skus: int = 180
    cities: tuple[str, ...] | None = None  # None = the first n_cities of CITIES
    coverage: float = 0.215                # share of national SKU x PIN pairs that sell
    new_sku_share: float = 0.08            # SKUs launched part-way through the history
    chunk_series: int = 3000               # series generated per vectorised block

    @classmethod
    def small(cls, seed: int = 42, end_date: date | None = None) -> "DemoConfig":
        """Tiny preset for tests: 4 cities in 4 states, 3 PINs each, 40 SKUs, 450 days."""
        return cls(seed=seed, end_date=end_date, days=450, n_cities=4, pins_per_city=3,
                   n_skus=40, cities=("Delhi", "Mumbai", "Kolkata", "Chennai"),
                   coverage=0.36)

    def city_list(self) -> list[str]:
        names = list(self.cities) if self.cities else list(CITIES)[: self.n_cities]
        unknown = [c for c in names if c not in CITIES]
        if unknown:
            raise ValueError(f"Demo cities {unknown} are not available; choose from "
                             f"{', '.join(CITIES)}.")
        return names

    def date_range(self) -> pd.DatetimeIndex:
        end = self.end_date or (date.today() - timedelta(days=1))
        return pd.date_range(end=pd.Timestamp(end), periods=self.days, freq="D")

    def effective_pins_per_city(self) -> int:
        return max(1, int(round(self.pins_per_city * self.scale)))

    def effective_skus(self) -> int:
        return max(len(CATEGORIES) * 2, int(round(self.n_skus * np.sqrt(self.scale))))


# ---- locations ----------------------------------------------------------------------------
def build_locations(cfg: DemoConfig) -> pd.DataFrame:
    """Real PIN codes in each city's districts, chosen deterministically from the seed."""
    ref = pin_reference()
    ref = ref[ref["lat"].notna() & ref["lon"].notna()]
    frames = []
    for city in cfg.city_list():
        state, districts, prefixes, _ = CITIES[city]
        pool = ref[(ref["state"] == state) & ref["pin_code"].str[:3].isin(prefixes)]
        if districts is not None:
            pool = pool[pool["district"].isin(districts)]
        pool = pool.sort_values("pin_code")
        k = min(cfg.effective_pins_per_city(), len(pool))
        pick = stable_rng(cfg.seed, "pins", city).choice(len(pool), size=k, replace=False)
        chosen = pool.iloc[np.sort(pick)].copy()
        chosen["city"] = city
        frames.append(chosen)
    loc = pd.concat(frames, ignore_index=True)
    loc["store_id"] = "ST-" + loc["pin_code"]
    loc["urban_rural"] = "Urban"
    return loc[COLUMNS["locations"]].reset_index(drop=True)


# ---- SKU behaviour (the planted truth) ----------------------------------------------------
def sku_truth(skus: pd.DataFrame, cfg: DemoConfig) -> pd.DataFrame:
    rng = stable_rng(cfg.seed, "truth")
    n = len(skus)
    prof = [PROFILE[c] for c in skus["category"]]
    el_lo, el_hi = (np.array([p["el"][i] for p in prof]) for i in (0, 1))
    b_lo, b_hi = (np.array([p["base"][i] for p in prof]) for i in (0, 1))
    base = np.exp(rng.uniform(np.log(b_lo), np.log(b_hi)))
    dense = skus["category"].isin(_ALWAYS_DENSE).to_numpy()
    long_tail = (~dense) & (rng.random(n) < 0.14)
    base = np.where(long_tail, rng.uniform(0.08, 0.6, n), base)
    jitter = lambda: rng.uniform(0.8, 1.2, n)  # noqa: E731
    out = pd.DataFrame({
        "sku_id": skus["sku_id"].to_numpy(),
        "category": skus["category"].to_numpy(),
        "elasticity": np.round(rng.uniform(el_lo, el_hi), 3),
        "base_daily_units": np.round(base, 3),
        "temp_effect_per_c": np.round(np.array([p["temp"] for p in prof]) * jitter(), 4),
        "rain_effect_per_10mm": np.round(np.array([p["rain"] for p in prof]) * jitter(), 4),
        "trend_per_year": np.round(np.clip(rng.normal(0.06, 0.10, n), -0.25, 0.35), 3),
        "yearly_amplitude": np.round(np.array([p["amp"] for p in prof]) * jitter(), 3),
        "weekend_uplift": np.round(np.array([p["wk"] for p in prof]) * jitter(), 3),
    })
    out["intermittent"] = out["base_daily_units"] < 0.7
    return out


def price_paths(skus: pd.DataFrame, n_days: int, cfg: DemoConfig):
    """Regular price (1-3 changes of 3-12%), promotions (5-20% off, 3-10 days, a few a
    year) per SKU per day. Returns (regular, price, promo, reference_price)."""
    n = len(skus)
    mrp = skus["mrp"].to_numpy(dtype=float)
    regular = np.empty((n, n_days))
    price = np.empty((n, n_days))
    promo = np.zeros((n, n_days), dtype=bool)
    for i in range(n):
        rng = stable_rng(cfg.seed, "price", skus["sku_id"].iat[i])
        path = np.ones(n_days)
        for day in np.sort(rng.integers(30, max(31, n_days - 30), rng.integers(1, 4))):
            step = rng.uniform(0.03, 0.12) * (1 if rng.random() < 0.7 else -1)
            path[day:] *= 1 + step
        start = mrp[i] * rng.uniform(0.88, 1.0)
        reg = start * path
        reg *= min(1.0, mrp[i] / reg.max())
        regular[i] = np.maximum(np.round(reg * 2) / 2, 0.5)
        depth = np.zeros(n_days)
        for _ in range(rng.poisson(3.5 * n_days / 365.25) + 1):
            s, length = rng.integers(0, n_days), rng.integers(3, 11)
            depth[s:s + length] = np.maximum(depth[s:s + length], rng.uniform(0.05, 0.20))
        promo[i] = depth > 0
        price[i] = np.where(promo[i], np.maximum(np.round(regular[i] * (1 - depth) * 2) / 2,
                                                 0.5), regular[i])
    return regular, price, promo, regular[:, 0].copy()


# ---- active series ------------------------------------------------------------------------
def active_series(skus: pd.DataFrame, locations: pd.DataFrame, cfg: DemoConfig) -> pd.DataFrame:
    """Which SKUs sell at which PINs: national SKUs at a share of stores, regional products
    mostly in their home states."""
    rng = stable_rng(cfg.seed, "assortment")
    states = locations["state"].to_numpy()
    rows = []
    for i, sku in enumerate(skus.itertuples(index=False)):
        cat_factor = _WIDE.get(sku.category, _NARROW.get(sku.category, 1.0))
        p = np.full(len(locations), cfg.coverage * cat_factor)
        home = sku.home_states
        if home:
            in_home = np.isin(states, home)
            p = np.where(in_home, min(0.9, cfg.coverage * 3.5), 0.0) if in_home.any() \
                else p * 0.4
        sells = rng.random(len(locations)) < p
        if not sells.any():
            sells[rng.choice(np.flatnonzero(p > 0) if (p > 0).any()
                             else np.arange(len(locations)))] = True
        for j in np.flatnonzero(sells):
            rows.append((i, j))
    return pd.DataFrame(rows, columns=["sku_idx", "loc_idx"])


# ---- demand simulation --------------------------------------------------------------------
def _weekday_factors(uplift: np.ndarray) -> np.ndarray:
    """(n, 7) Mon..Sun multipliers: Mon-Thu average 1, Fri 1 + u/3, Sat/Sun 1 + u."""
    base = np.array([1.0, 0.97, 0.98, 1.05, 0.0, 0.0, 0.0])
    out = np.tile(base, (len(uplift), 1))
    out[:, 4] = 1 + uplift / 3
    out[:, 5] = out[:, 6] = 1 + uplift
    return out


def _festival_grid(dates: pd.DatetimeIndex, states: list[str],
                   calendar: pd.DataFrame, effects: pd.DataFrame) -> np.ndarray:
    """festival_uplift on the (state, category, date) grid -> array [state, cat, day]."""
    from engine.signals.festivals import festival_uplift

    n_s, n_c, n_d = len(states), len(CATEGORIES), len(dates)
    frame = pd.DataFrame({
        "date": np.tile(dates.to_numpy(), n_s * n_c),
        "state": np.repeat(np.asarray(states, dtype=object), n_c * n_d),
        "category": np.tile(np.repeat(np.asarray(CATEGORIES, dtype=object), n_d), n_s),
    })
    return festival_uplift(frame, calendar, effects).reshape(n_s, n_c, n_d)


@dataclass(frozen=True)
class DemandModel:
    """The precomputed terms of log mu (module docstring) for the active series, so that
    the count simulation and `expected_demand` share one formula. Day axes span
    cfg.date_range(); per-series index arrays follow the `active_series` rows."""
    log_base: np.ndarray    # (series,) log(base * store * affinity)
    sku_log: np.ndarray     # (sku, day) trend, yearly cycle, weekday, price, launch ramp
    curve: np.ndarray       # (city, category, day) temperature response
    rain: np.ndarray        # (city, day) min(rain_mm, 80) / 10
    log_fest: np.ndarray    # (state, category, day) log festival uplift
    temp_coef: np.ndarray   # (sku,)
    rain_coef: np.ndarray   # (sku,)
    sku: np.ndarray         # (series,) index into the SKU axis
    city: np.ndarray        # (series,) index into the city axis
    state: np.ndarray       # (series,) index into the state axis
    category: np.ndarray    # (series,) index into CATEGORIES

    def mu(self, rows: slice, days: slice = slice(None)) -> np.ndarray:
        """Expected units per (series, day) for a block of series and a range of days."""
        sk, ci = self.sku[rows], self.city[rows]
        si, ca = self.state[rows], self.category[rows]
        log_mu = (self.log_base[rows, None] + self.sku_log[sk, days]
                  + self.temp_coef[sk, None] * self.curve[ci, ca, days]
                  + self.rain_coef[sk, None] * self.rain[ci, days] + self.log_fest[si, ca, days])
        return np.exp(log_mu)


def demand_model(cfg, dates, skus, truth, locations, series, weather, fest_grid, states,
                 prices) -> DemandModel:
    """Every term of the planted demand model, before count noise."""
    _, price, _, ref_price = prices
    n_days = len(dates)
    years = (dates - dates[-1]).days.to_numpy() / 365.25
    doy = dates.dayofyear.to_numpy(dtype=float)
    dow = dates.dayofweek.to_numpy()
    cat_idx = skus["category"].map({c: i for i, c in enumerate(CATEGORIES)}).to_numpy()
    peak = np.array([PROFILE[c]["peak"] for c in skus["category"]], dtype=float)
    # SKU x day log terms: trend, yearly cycle, weekday, price response, launch.
    sku_log = (truth["trend_per_year"].to_numpy()[:, None] * years[None, :]
               + truth["yearly_amplitude"].to_numpy()[:, None]
               * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365.25)
               + np.log(_weekday_factors(truth["weekend_uplift"].to_numpy()))[:, dow]
               + truth["elasticity"].to_numpy()[:, None] * np.log(price / ref_price[:, None]))
    rng = stable_rng(cfg.seed, "launch")
    launched = np.zeros(len(skus), dtype=bool)
    n_new = int(round(cfg.new_sku_share * len(skus)))
    if n_new:
        launched[rng.choice(len(skus), size=max(1, n_new), replace=False)] = True
    launch_day = np.where(launched, rng.integers(int(n_days * 0.35), max(
        int(n_days * 0.35) + 1, n_days - 90), len(skus)), 0)
    since = np.arange(n_days)[None, :] - launch_day[:, None]
    ramp = np.where(since < 0, 0.0, np.where(launched[:, None],
                                             1 - np.exp(-(since + 1) / 21.0), 1.0))
    with np.errstate(divide="ignore"):
        sku_log = sku_log + np.log(ramp)
    # City x day weather terms.
    cities = list(dict.fromkeys(locations["city"]))
    wx = weather.set_index(["city", "date"])
    temp = np.stack([wx.loc[c, "temp_c"].to_numpy() for c in cities])
    rain = np.stack([np.minimum(wx.loc[c, "rainfall_mm"].to_numpy(), 80.0) / 10 for c in cities])
    t0 = np.array([PROFILE[c]["t0"] for c in CATEGORIES])
    w = np.array([PROFILE[c]["w"] for c in CATEGORIES])
    curve = 4 * w[None, :, None] * (1 / (1 + np.exp(-(temp[:, None, :] - t0[None, :, None])
                                                    / w[None, :, None])) - 0.5)
    # Per-series static terms.
    rng = stable_rng(cfg.seed, "stores")
    store = rng.lognormal(-0.35 ** 2 / 2, 0.35, len(locations)) * locations["city"].map(
        {c: CITIES[c][3] for c in CITIES}).to_numpy()
    s_sku, s_loc = series["sku_idx"].to_numpy(), series["loc_idx"].to_numpy()
    affinity = stable_rng(cfg.seed, "affinity").lognormal(-0.25 ** 2 / 2, 0.25, len(series))
    city_of_loc = locations["city"].map({c: i for i, c in enumerate(cities)}).to_numpy()
    state_of_loc = locations["state"].map({s: i for i, s in enumerate(states)}).to_numpy()
    return DemandModel(
        log_base=np.log(truth["base_daily_units"].to_numpy()[s_sku] * store[s_loc] * affinity),
        sku_log=sku_log, curve=curve, rain=rain, log_fest=np.log(fest_grid),
        temp_coef=truth["temp_effect_per_c"].to_numpy(),
        rain_coef=truth["rain_effect_per_10mm"].to_numpy(),
        sku=s_sku, city=city_of_loc[s_loc], state=state_of_loc[s_loc], category=cat_idx[s_sku])


def simulate_sales(cfg, demand: DemandModel, truth):
    """Gamma-Poisson count noise around mu. Returns (rows dict of arrays, recent mean
    demand per series)."""
    shape = np.where(truth["intermittent"].to_numpy(), 1.5, 6.0)
    n_series = len(demand.sku)
    out_series, out_day, out_qty, recent = [], [], [], np.zeros(n_series)
    noise = stable_rng(cfg.seed, "counts")
    for lo in range(0, n_series, cfg.chunk_series):
        sl = slice(lo, lo + cfg.chunk_series)
        mu = demand.mu(sl)
        recent[sl] = mu[:, -28:].mean(axis=1)
        k = shape[demand.sku[sl]][:, None]
        lam = mu * noise.gamma(k, 1.0, mu.shape) / k
        qty = noise.poisson(lam)
        r, d = np.nonzero(qty)
        out_series.append(r + lo)
        out_day.append(d)
        out_qty.append(qty[r, d])
    rows = {"series": np.concatenate(out_series), "day": np.concatenate(out_day),
            "quantity": np.concatenate(out_qty).astype(float)}
    return rows, recent


# ---- inventory snapshot -------------------------------------------------------------------
def build_inventory(cfg, skus, series, locations, recent, end) -> pd.DataFrame:
    """On hand around 0-40 days of cover (some short, some overstocked), lead times by
    category, MOQ and case packs per SKU."""
    rng = stable_rng(cfg.seed, "inventory")
    n = len(series)
    s_sku = series["sku_idx"].to_numpy()
    cats = skus["category"].to_numpy()[s_sku]
    lead_lo = np.array([PROFILE[c]["lead"][0] for c in cats])
    lead_hi = np.array([PROFILE[c]["lead"][1] for c in cats])
    lead = np.clip(rng.integers(lead_lo, lead_hi + 1), 2, 14)
    sku_rng = stable_rng(cfg.seed, "packs")
    packs = np.array([sku_rng.choice(PROFILE[c]["packs"]) for c in skus["category"]])
    moq_mult = sku_rng.choice([1, 1, 2, 3], len(skus))
    case_pack = packs[s_sku]
    kind = rng.choice(4, n, p=[0.08, 0.14, 0.62, 0.16])   # out, short, normal, overstock
    cover = np.select([kind == 0, kind == 1, kind == 2],
                      [np.zeros(n), rng.uniform(0.2, 1.0, n) * lead,
                       rng.uniform(lead + 2, 40, n)], rng.uniform(45, 90, n))
    on_hand = np.round(cover * recent)
    ordered = (rng.random(n) < 0.3) & (kind < 3)
    on_order = np.where(ordered, case_pack * rng.integers(1, 5, n), 0)
    return pd.DataFrame({
        "sku_id": skus["sku_id"].to_numpy()[s_sku],
        "pin_code": locations["pin_code"].to_numpy()[series["loc_idx"].to_numpy()],
        "on_hand": on_hand.astype(float), "on_order": on_order.astype(float),
        "lead_time_days": lead.astype(np.int32),
        "moq": (case_pack * moq_mult[s_sku]).astype(np.int32),
        "case_pack": case_pack.astype(np.int32),
        "snapshot_date": pd.Timestamp(end), "batch_id": DEMO_BATCH,
    })


# ---- public API ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _World:
    """Everything the demo is drawn from, before count noise."""
    dates: pd.DatetimeIndex
    locations: pd.DataFrame
    catalog: pd.DataFrame
    truth: pd.DataFrame
    weather: pd.DataFrame
    calendar: pd.DataFrame
    effects: pd.DataFrame
    series: pd.DataFrame
    prices: tuple
    demand: DemandModel


def _build_world(cfg: DemoConfig) -> _World:
    from engine.signals.festivals import festival_calendar, festival_effects

    dates = cfg.date_range()
    start, end = dates[0].date(), dates[-1].date()
    locations = build_locations(cfg)
    catalog = build_catalog(cfg.effective_skus(), cfg.seed)
    truth = sku_truth(catalog, cfg)
    weather = generate_weather(list(dict.fromkeys(locations["city"])), start, end, cfg.seed)
    calendar = festival_calendar(min(start.year, 2023), max(end.year + 1, 2027))
    effects = festival_effects()
    states = list(dict.fromkeys(locations["state"]))
    fest_grid = _festival_grid(dates, states, calendar, effects)
    series = active_series(catalog, locations, cfg)
    prices = price_paths(catalog, len(dates), cfg)
    demand = demand_model(cfg, dates, catalog, truth, locations, series, weather, fest_grid,
                          states, prices)
    return _World(dates, locations, catalog, truth, weather, calendar, effects, series,
                  prices, demand)


def expected_demand(cfg: DemoConfig | None = None, start=None, end=None) -> pd.DataFrame:
    """The generator's expected daily demand mu (the planted model in the module docstring,
    before the gamma-Poisson noise, so E[quantity] = mu) for every active SKU x PIN series
    and every day from `start` to `end` (inclusive; None = the demo's first / last day).

    Columns sku_id, pin_code, date, mu; one row per series per day, zero-demand days
    included (mu is 0 only before a new SKU's launch). Pure: same cfg -> same frame, and
    the same mu that generate(cfg) draws its sales around. This is the "oracle" forecast
    no model can beat on average: its error is the demand's own noise."""
    cfg = cfg or DemoConfig()
    world = _build_world(cfg)
    dates = world.dates
    lo = 0 if start is None else int(dates.searchsorted(pd.Timestamp(start)))
    hi = len(dates) if end is None else int(dates.searchsorted(pd.Timestamp(end), side="right"))
    if lo >= hi:
        raise ValueError(f"The window {start} to {end} holds none of the demo's dates "
                         f"({dates[0]:%d-%b-%Y} to {dates[-1]:%d-%b-%Y}).")
    days = slice(lo, hi)
    n_series = len(world.series)
    mu = np.concatenate([world.demand.mu(slice(a, a + cfg.chunk_series), days)
                         for a in range(0, n_series, cfg.chunk_series)])
    width = hi - lo
    s_sku = world.series["sku_idx"].to_numpy()
    s_loc = world.series["loc_idx"].to_numpy()
    return pd.DataFrame({
        "sku_id": np.repeat(world.catalog["sku_id"].to_numpy(dtype=object)[s_sku], width),
        "pin_code": np.repeat(world.locations["pin_code"].to_numpy(dtype=object)[s_loc], width),
        "date": np.tile(dates.to_numpy()[lo:hi], n_series),
        "mu": mu.ravel(),
    })


def generate(cfg: DemoConfig | None = None) -> dict[str, pd.DataFrame]:
    """Every demo table as a DataFrame with the warehouse's columns (pure, seeded).

    Keys: locations, skus, weather, sales, sales_daily, inventory, mandi_prices, mandis,
    demo_truth, plus the festival reference used to plant uplifts (festivals,
    festival_effects)."""
    cfg = cfg or DemoConfig()
    world = _build_world(cfg)
    dates, locations, catalog, series = world.dates, world.locations, world.catalog, world.series
    start, end = dates[0].date(), dates[-1].date()
    rows, recent = simulate_sales(cfg, world.demand, world.truth)
    regular, price, promo, _ = world.prices
    s_sku = series["sku_idx"].to_numpy()[rows["series"]]
    s_loc = series["loc_idx"].to_numpy()[rows["series"]]
    day = rows["day"]
    sku_ids = catalog["sku_id"].to_numpy(dtype=object)[s_sku]
    pins = locations["pin_code"].to_numpy(dtype=object)[s_loc]
    day_dates = dates.to_numpy()[day]
    paid = price[s_sku, day]
    promo_flag = promo[s_sku, day]
    sales = pd.DataFrame({
        "transaction_id": pd.Series([None] * len(day), dtype=object),
        "batch_id": DEMO_BATCH, "sku_id": sku_ids, "pin_code": pins,
        "store_id": locations["store_id"].to_numpy(dtype=object)[s_loc],
        "date": day_dates, "quantity": rows["quantity"], "price": paid, "promo": promo_flag,
    })
    sales_daily = pd.DataFrame({
        "sku_id": sku_ids, "pin_code": pins, "date": day_dates,
        "quantity": rows["quantity"], "revenue": np.round(rows["quantity"] * paid, 2),
        "price": paid, "regular_price": regular[s_sku, day], "promo": promo_flag,
    })
    inventory = build_inventory(cfg, catalog, series, locations, recent, end)
    mandi_prices, mandis = generate_mandi(start, end, cfg.seed)
    frames = {"locations": locations, "skus": catalog, "weather": world.weather,
              "sales": sales, "sales_daily": sales_daily, "inventory": inventory,
              "mandi_prices": mandi_prices, "mandis": mandis, "demo_truth": world.truth,
              "festivals": world.calendar, "festival_effects": world.effects}
    return {name: df[COLUMNS[name]].reset_index(drop=True) for name, df in frames.items()}


def load_demo(wh, cfg: DemoConfig | None = None) -> dict:
    """Replace every demo table (and the festival reference) in ONE transaction.

    Returns row counts per table plus generate_seconds, write_seconds and seconds."""
    cfg = cfg or DemoConfig()
    started = time.perf_counter()
    frames = generate(cfg)
    generated = time.perf_counter()
    with wh.transaction() as cur:
        for table in frames:
            cur.execute(f"DELETE FROM {table}")  # table names come from COLUMNS, not input
        for table, df in frames.items():
            view = f"demo_df_{table}"
            cols = ", ".join(COLUMNS[table])
            cur.register(view, df)
            try:
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {view}")
            finally:
                cur.unregister(view)
        summary = {table: len(df) for table, df in frames.items()}
        from engine.pricing.competitor_match import match_items

        summary["competitor_prices"] = store_feed(cur, DEMO_BATCH, competitor_feed(
            frames["skus"], frames["locations"], frames["sales_daily"]["date"].max(),
            cfg.seed), match_items)
        wh.audit(cur, "demo", "load_demo", json.dumps(
            {"seed": cfg.seed, "scale": cfg.scale, "days": cfg.days, "rows": summary}))
    done = time.perf_counter()
    summary["series"] = int(frames["inventory"].shape[0])
    summary["generate_seconds"] = round(generated - started, 2)
    summary["write_seconds"] = round(done - generated, 2)
    summary["seconds"] = round(done - started, 2)
    return summary
