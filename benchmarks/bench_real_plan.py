"""Plan-aware forecasts on real retail data: the same product with and without a price /
promotion plan, beside statsforecast's peers.

    .venv/bin/python benchmarks/bench_real_plan.py                      # dunnhumby, 13 weeks
    .venv/bin/python benchmarks/bench_real_plan.py --file tuna --horizon 26
    .venv/bin/python benchmarks/bench_real_plan.py --peers Naive WindowAverage   # quicker

Protocol (issue 18): the sales file goes through the product's ingest into a fresh
warehouse; the cutoff is `horizon` weeks before the last date. The plan is what a retailer
knows ahead: the prices and promotions actually run in the test weeks, written as a plan
file (SKU, PIN, date, planned price, promotion type: every recorded kind of the week,
e.g. 'feature+display', 'other' for a promotion without one; where the file records a
regular price, the week's list price too, as the discount % off it: `--no-list-prices`
plans the price paid alone, the earlier protocol) for every series-week (a
week without a sales row: the SKU's chain-wide promotion when most of its stores had one,
else none; `--sold-weeks-only` plans
only the weeks with a sales row, the earlier protocol) and uploaded through the plan
ingest (`python -m engine ingest plan`). The product forecasts twice with its own routed
pipeline (`run_forecast(plan="latest")` and `plan="none"`); statsforecast's peers are fitted
on the same dense weekly history (they cannot take a plan). Scored: series with >= 52 weeks
of history and sales in the test window; all series-weeks, and the promoted series-weeks
(the test weeks that were on promotion) separately. A week in which a store sent no rows at
all is missing data, left out of the scoring for every model (realdev.actuals); the
earlier protocol (scored as zero sales) is printed too. Prints the targets and whether they
are met. Skips cleanly when ../shared/data/realdev is absent.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import realdev as R


def promoted(history: pd.DataFrame) -> pd.Series:
    """Which sales rows were promoted: the file's promotion flag; for a file without one
    (tuna), the product's rule: a display / feature / tpr share of a half or more, or a
    price 5% or more under the highest price of the series' last 8 weeks."""
    if history["promo"].any():
        return history["promo"].fillna(False).astype(bool)
    out = history["price"] < 0.95 * reference_price(history)
    for c in ("display", "feature", "tpr"):
        out |= history[c].fillna(0) >= 0.5
    return out


def reference_price(history: pd.DataFrame) -> pd.Series:
    """Each sales row's regular price: the file's own where it ever differs from the price
    paid, else (tuna, cheese: the upload filled it with the price paid) the highest price
    of the series' last 8 weeks, as the product reads it."""
    if "regular_price" in history and (
            (history["regular_price"] - history["price"]).abs() > 1e-9).any():
        return history["regular_price"]
    h = history.sort_values(["sku_id", "pin_code", "date"])
    return h.groupby(["sku_id", "pin_code"])["price"].transform(
        lambda p: p.rolling(8, min_periods=1).max()).reindex(history.index)


KIND_NAMES = {"tpr": "price_cut", "feature": "feature", "display": "display"}


def kind_names(h: pd.DataFrame) -> np.ndarray:
    """Every recorded kind of each row (a half or more of the week), in the promotion
    types' order and joined as the plan upload stores them ('feature+display'); 'other'
    for none."""
    on_kind = {c: h[c].fillna(0).to_numpy() >= 0.5 for c in KIND_NAMES}
    return np.array(["+".join(KIND_NAMES[c] for c in KIND_NAMES if on_kind[c][i]) or "other"
                     for i in range(len(h))], dtype=object)


def plan_file(history: pd.DataFrame, cutoff: pd.Timestamp, horizon: int,
              every_week: bool = True, list_prices: bool = True) -> Path:
    """The test weeks' actual prices and promotions as a plan upload (CSV). A retailer's
    plan covers every week of every series it stocks, not only the weeks that sold: with
    `every_week`, a series-week without a sales row is planned as its SKU's promotion
    that week when most of the SKU's stores with a row had it (the chain-wide rule of
    the product's features; at the mean price paid and the most common kind there), else
    as no promotion at the regular price ("none", no price). Without it only the
    series-weeks with a sales row are planned, and which weeks are planned tells the
    model which weeks sold."""
    end = cutoff + pd.Timedelta(weeks=horizon)
    on = promoted(history)
    keep = (history["date"] > cutoff) & (history["date"] <= end)
    h, on = history[keep], on[keep].to_numpy()
    kind = kind_names(h)      # every recorded kind of the week names its promotion
    rows = pd.DataFrame({"sku_id": h["sku_id"].astype(str), "pin_code": h["pin_code"].astype(str),
                         "date": pd.to_datetime(h["date"]), "price": h["price"].round(2),
                         "type": np.where(on, kind, "none"), "on": on})
    if list_prices and "regular_price" in h and (
            (h["regular_price"] - h["price"]).abs() > 1e-9).any():
        from engine.forecast.plan import discount_off

        # the week's list price as well, as the discount off it
        rows["discount"] = discount_off(h["price"].to_numpy(), h["regular_price"].to_numpy())
    if every_week:
        series = history.loc[history["date"] <= cutoff, ["sku_id", "pin_code"]].astype(
            str).drop_duplicates()
        grid = series.merge(pd.DataFrame({"date": np.sort(rows["date"].unique())}),
                            how="cross")
        missing = grid.merge(rows[["sku_id", "pin_code", "date"]], how="left",
                             indicator=True).query("_merge == 'left_only'").drop(
                                 columns="_merge")
        chain = rows.groupby(["sku_id", "date"]).agg(
            n=("on", "size"), n_on=("on", "sum"),
            price=("price", lambda p: np.nan), kind=("type", lambda t: "none"))
        promo_rows = rows[rows["on"]]
        chain["price"] = promo_rows.groupby(["sku_id", "date"])["price"].mean().round(2)
        chain["kind"] = promo_rows.groupby(["sku_id", "date"])["type"].agg(
            lambda t: t.value_counts().index[0])
        shared = chain[(chain["n_on"] >= 1) & (2 * chain["n_on"] > chain["n"])]
        missing = missing.merge(shared[["price", "kind"]].reset_index(),
                                on=["sku_id", "date"], how="left")
        filled = missing["kind"].notna()
        rows = pd.concat([rows, pd.DataFrame({
            "sku_id": missing["sku_id"], "pin_code": missing["pin_code"],
            "date": missing["date"], "price": missing["price"].where(filled),
            "type": missing["kind"].where(filled, "none"), "on": filled})],
            ignore_index=True)
    out = pd.DataFrame({"SKU": rows["sku_id"], "PIN code": rows["pin_code"],
                        "Date": rows["date"].dt.strftime("%Y-%m-%d"),
                        "Planned price": rows["price"], "Promotion type": rows["type"]})
    if "discount" in rows:
        out["Discount %"] = rows["discount"]
    path = Path(tempfile.gettempdir()) / f"micropulse_plan_{cutoff:%Y%m%d}.csv"
    out.to_csv(path, index=False)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", choices=sorted(R.SALES_FILES), default="dunnhumby")
    ap.add_argument("--horizon", type=int, default=None, help="weeks (13; tuna 26)")
    ap.add_argument("--peers", nargs="*", default=list(R.PEERS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="forecast settings to measure a variant (lgb_rounds=400, "
                         "lgb_learning_rate=0.05, lgb_num_leaves=63)")
    ap.add_argument("--sold-weeks-only", action="store_true",
                    help="plan only the series-weeks with a sales row (the earlier protocol)")
    ap.add_argument("--no-list-prices", dest="list_prices", action="store_false",
                    help="plan the price paid alone, not each week's list (regular) price "
                         "as a discount %% off it (the earlier protocol; a file without "
                         "recorded regular prices plans the price paid alone anyway)")
    args = ap.parse_args()
    horizon = args.horizon or (26 if args.file == "tuna" else 13)
    if not R.require(*(p for p in R.SALES_FILES[args.file] if p is not None)):
        return 0

    from engine.forecast.config import ForecastConfig
    from engine.forecast.pipeline import run_forecast
    from engine.ingest.load import ingest_file

    wh, full, cutoff = R.held_out(args.file, horizon, "realplan")
    path = plan_file(full, cutoff, horizon, every_week=not args.sold_weeks_only,
                     list_prices=args.list_prices)
    up = ingest_file(wh, "plan", path)
    print(f"plan upload {path.name}: {up.rows_read:,} rows read, {up.rows_loaded:,} loaded, "
          f"{up.rows_quarantined:,} quarantined")

    cfg = ForecastConfig(horizon=horizon, cutoff=cutoff.date(), workers=args.workers,
                         **R.config_changes(args.set))
    runs, seconds = {}, {}
    for plan in ("latest", "none"):
        t = time.perf_counter()
        runs[plan] = run_forecast(wh, cfg, persist=False, plan=plan)
        seconds[plan] = time.perf_counter() - t
        print(f"product, plan={plan}: {seconds[plan]:.1f} s; planned series-weeks "
              f"{runs[plan].planned_rows:,}")
    with_plan = runs["latest"]
    fc = [R.product_long(with_plan.forecasts, "MicroPulse + plan"),
          R.product_long(runs["none"].forecasts, "MicroPulse, no plan")]

    panel = R.dense_weekly(full, cutoff)
    test = R.actuals(full, cutoff, horizon)
    keep = R.scored_series(panel, test)
    scales = R.series_scales(panel)
    if args.peers:
        peer_fc, peer_sec = R.peers(panel[panel["unique_id"].isin(keep)], horizon,
                                    n_jobs=args.workers, names=tuple(args.peers))
        fc.append(peer_fc)
        seconds.update(peer_sec)
    fc = pd.concat(fc, ignore_index=True)
    seconds["MicroPulse + plan"], seconds["MicroPulse, no plan"] = \
        seconds.pop("latest"), seconds.pop("none")

    table = R.score_models(fc, test, scales, keep)
    table["seconds"] = table["model"].map(seconds)
    R.print_table(table.sort_values("wape"),
                  f"{args.file}: all scored series-weeks, {horizon}-week horizon")
    promo = _promoted(full, cutoff, horizon)
    t_promo = test.merge(promo, on=["unique_id", "ds"])
    t_promo = t_promo[t_promo["promo"]].drop(columns="promo")
    promo_table = R.score_models(fc, t_promo, scales, keep)
    R.print_table(promo_table.sort_values("wape"),
                  f"promoted series-weeks only ({len(t_promo[t_promo['unique_id'].isin(keep)]):,})")
    _coverage_by_week(fc, test, t_promo, keep)
    _promoted_breakdown(fc, full, cutoff, horizon, t_promo, keep)
    old = R.old_protocol(fc, full, cutoff, horizon, scales, keep, f"{args.file}: all")
    _ceiling(fc, test, full, cutoff, horizon, keep)
    _verdict(table, promo_table)
    print("\n== targets, EARLIER protocol (no-row store weeks as zero sales) ==")
    _verdict(old, promo_table, header=False)
    return 0


def _coverage_by_week(fc: pd.DataFrame, test: pd.DataFrame, t_promo: pd.DataFrame,
                      keep: pd.Index) -> None:
    """The product's 95% band coverage per horizon week, on all scored series-weeks and
    on the promoted ones (the interval targets: every week >= 90%)."""
    mine = fc[fc["model"].str.startswith("MicroPulse")]     # test rows carry the step
    for title, t in (("all scored series-weeks", test), ("promoted series-weeks", t_promo)):
        cov = R.coverage_by_step(mine, t, keep)["in95"]
        print(f"\n== 95% coverage per horizon week, {title} ==")
        print((100 * cov).round(1).to_string())
        print("lowest week: " + ", ".join(f"{m} {100 * cov.loc[m].min():.1f}%"
                                          for m in cov.index))


def _promoted_breakdown(fc: pd.DataFrame, full: pd.DataFrame, cutoff: pd.Timestamp,
                        horizon: int, t_promo: pd.DataFrame, keep: pd.Index) -> None:
    """Where the plan's information is lost: the product's WAPE and bias with and without
    the plan on the promoted series-weeks, by the week's promotion kind, its discount
    depth (1 - price paid / regular price), how often the series was promoted in the year
    before the cutoff (share of its weeks with rows), and whether it had a promotion of
    that kind in that year."""
    key = full["sku_id"].astype(str) + "|" + full["pin_code"].astype(str)
    h = pd.DataFrame({"unique_id": key, "date": full["date"], "on": promoted(full),
                      "kind": kind_names(full),
                      "depth": 1 - full["price"] / reference_price(full)})
    year = h[(h["date"] <= cutoff) & (h["date"] > cutoff - pd.Timedelta(weeks=52))]
    rate = year.groupby("unique_id")["on"].mean()
    seen = set(zip(year.loc[year["on"], "unique_id"], year.loc[year["on"], "kind"]))
    t = h[(h["date"] > cutoff) & (h["date"] <= cutoff + pd.Timedelta(weeks=horizon))
          & h["on"]].copy()
    t["ds"] = cutoff + pd.to_timedelta(
        np.ceil((t["date"] - cutoff).dt.days / 7).astype(int) * 7, unit="D")
    t = t.groupby(["unique_id", "ds"], as_index=False).agg(kind=("kind", "first"),
                                                          depth=("depth", "mean"))
    t = t_promo[t_promo["unique_id"].isin(keep)].merge(t, on=["unique_id", "ds"])
    mine = fc[fc["model"].str.startswith("MicroPulse")].pivot_table(
        index=["unique_id", "ds"], columns="model", values="forecast").reset_index()
    t = t.merge(mine, on=["unique_id", "ds"])
    t["depth"] = pd.cut(t["depth"], [-np.inf, 0.02, 0.1, 0.2, 0.3, np.inf],
                        labels=["< 2%", "2-10%", "10-20%", "20-30%", "30%+"])
    t["promoted share of the series' weeks"] = pd.cut(
        t["unique_id"].map(rate), [-0.01, 0.1, 0.25, 0.5, 1.0],
        labels=["<= 10%", "10-25%", "25-50%", "> 50%"])
    t["kind promoted before"] = [("yes" if (u, k) in seen else "no")
                                 for u, k in zip(t["unique_id"], t["kind"])]
    models = [m for m in ("MicroPulse + plan", "MicroPulse, no plan") if m in t]
    for by in ("kind", "depth", "promoted share of the series' weeks", "kind promoted before"):
        g = t.groupby(by, observed=True)
        out = pd.DataFrame({"series-weeks": g.size(), "units": g["actual"].sum()})
        for m in models:
            err = (t[m] - t["actual"]).abs().groupby(t[by], observed=True).sum()
            out[f"WAPE {m}"] = (100 * err / out["units"]).round(1)
            out[f"bias {m}"] = (100 * (g[m].sum() / out["units"] - 1)).round(1)
        print(f"\n== promoted series-weeks by {by} ==")
        print(out.to_string())


def _ceiling(fc: pd.DataFrame, test: pd.DataFrame, full: pd.DataFrame,
             cutoff: pd.Timestamp, horizon: int, keep: pd.Index) -> None:
    """How far the targets are from what is knowable: the WAPE of a forecast that knew,
    for every series, its actual mean sales over the test weeks of the same status
    (promoted or not; for the second row also the same promotion kind). Such a forecast
    cannot be made at the cutoff: it reads the test weeks, and it is the ceiling of any
    method that forecasts each series' level over the quarter (its weekly noise around
    that level stays). Its error on a week is |actual - the mean of the group's OTHER
    test weeks| x sqrt((n-1)/n), n the group's weeks: leaving the week out removes the
    in-sample fit, and the factor removes the extra noise of a mean of n-1 weeks, so it
    is the expected error at the group's true mean when its weeks vary independently
    around it (what a model could add: week-to-week moves inside a group, such as a
    deeper cut or a holiday week). Scored on the weeks whose group has 2 or more, with
    the product on the same weeks and the WAPE the targets ask for there."""
    on = _promoted(full, cutoff, horizon)
    h = full[(full["date"] > cutoff) & (full["date"] <= cutoff + pd.Timedelta(weeks=horizon))]
    kinds = pd.DataFrame({
        "unique_id": h["sku_id"].astype(str) + "|" + h["pin_code"].astype(str),
        "ds": cutoff + pd.to_timedelta(np.ceil((h["date"] - cutoff).dt.days / 7).astype(int)
                                       * 7, unit="D"),
        "kind": np.where(promoted(h), kind_names(h), "none")}).groupby(
            ["unique_id", "ds"], as_index=False)["kind"].first()
    t = test[test["unique_id"].isin(keep)].merge(on, on=["unique_id", "ds"], how="left")
    t = t.merge(kinds, on=["unique_id", "ds"], how="left")
    t["promo"] = t["promo"].astype("boolean").fillna(False).astype(bool)
    t["kind"] = t["kind"].fillna("none")
    mine = fc[fc["model"].str.startswith("MicroPulse")].pivot_table(
        index=["unique_id", "ds"], columns="model", values="forecast").reset_index()
    t = t.merge(mine, on=["unique_id", "ds"])
    models = [m for m in ("MicroPulse + plan", "MicroPulse, no plan") if m in t]
    print("\n== ceiling: a forecast that knew each series' mean over the test weeks "
          "(reads the test weeks; see _ceiling) ==")
    rows = []
    for label, keys in (("series x promoted or not", ["unique_id", "promo"]),
                        ("series x promoted or not x kind", ["unique_id", "promo", "kind"])):
        err, n = known_level_errors(t, keys)
        for weeks, sub in (("promoted", (n >= 2) & t["promo"]), ("all", n >= 2)):
            units = t.loc[sub, "actual"].sum()
            row = {"known level": label, "weeks": weeks, "series-weeks": int(sub.sum()),
                   "WAPE known level": 100 * err[sub].sum() / units}
            for m in models:
                row[f"WAPE {m}"] = 100 * (t.loc[sub, m] - t.loc[sub, "actual"]).abs().sum() \
                    / units
            if "MicroPulse, no plan" in t:
                row["target asks"] = (0.75 if weeks == "promoted" else 0.85) \
                    * row["WAPE MicroPulse, no plan"]
            rows.append(row)
    print(pd.DataFrame(rows).round(1).to_string(index=False))
    # what the plan is worth to that forecast: the same known level with and without
    # knowing which weeks are promoted (one mean per series), on the weeks both score
    with_plan, n_with = known_level_errors(t, ["unique_id", "promo"])
    without, n_without = known_level_errors(t, ["unique_id"])
    both = (n_with >= 2) & (n_without >= 2)
    units = t.loc[both, "actual"].sum()
    a, b = 100 * with_plan[both].sum() / units, 100 * without[both].sum() / units
    print(f"the plan's worth to the known-level forecast ({int(both.sum()):,} series-weeks): "
          f"{a:.1f}% knowing the promoted weeks against {b:.1f}% with one mean per series "
          f"({100 * (1 - a / b):.1f}% better; the target asks 15% of the product)")
    _plan_worth_at_known_levels(t, full, cutoff)


def _plan_worth_at_known_levels(t: pd.DataFrame, full: pd.DataFrame,
                                cutoff: pd.Timestamp) -> None:
    """The plan's worth to a forecast that knew each series' regular-week and promoted-week
    mean over the test weeks, compared the way the product is: with the plan it forecasts
    each week at its status' mean; without it, every week at the mixture the product
    forecasts an unplanned week with: (1 - r) x regular mean + r x promoted mean, r = the
    series' promoted share of its selling weeks in the product's window before the cutoff
    (features.PROMO_RATE_PERIODS: the last quarter; a series
    with no promoted test week takes its promoted mean as its regular mean x its
    promoted / regular mean ratio in that window, else 1). Both in-sample (each week's own
    group mean), so the two share the same footing."""
    from engine.forecast.features import PROMO_RATE_PERIODS

    key = full["sku_id"].astype(str) + "|" + full["pin_code"].astype(str)
    window = (full["date"] <= cutoff) & (
        full["date"] > cutoff - pd.Timedelta(weeks=PROMO_RATE_PERIODS["W"]))
    y = pd.DataFrame({"unique_id": key[window], "on": promoted(full)[window],
                      "q": full.loc[window, "quantity"]})
    sold = y[y["q"] > 0]
    rate = sold.groupby("unique_id")["on"].mean()
    means = y.groupby(["unique_id", "on"])["q"].mean().unstack()
    lift = (means.get(True) / means.get(False)).replace([np.inf, -np.inf], np.nan)
    m = t.groupby(["unique_id", "promo"])["actual"].transform("mean")
    reg = t[~t["promo"]].groupby("unique_id")["actual"].mean()
    pro = t[t["promo"]].groupby("unique_id")["actual"].mean()
    uid = t["unique_id"]
    reg_m = uid.map(reg)
    pro_m = uid.map(pro).fillna(reg_m * uid.map(lift).fillna(1.0))
    reg_m = reg_m.fillna(pro_m / uid.map(lift).fillna(1.0))
    r = uid.map(rate).fillna(0.0)
    mix = (1 - r) * reg_m + r * pro_m
    ok = mix.notna() & m.notna()
    units = t.loc[ok, "actual"].sum()
    a = 100 * (m[ok] - t.loc[ok, "actual"]).abs().sum() / units
    b = 100 * (mix[ok] - t.loc[ok, "actual"]).abs().sum() / units
    print(f"the same with the product's no-plan mixture instead of one mean "
          f"({int(ok.sum()):,} series-weeks, in-sample): {a:.1f}% with the plan against "
          f"{b:.1f}% without ({100 * (1 - a / b):.1f}% better)")


def known_level_errors(t: pd.DataFrame, keys: list[str]) -> tuple[pd.Series, pd.Series]:
    """Each row's expected absolute error had its `actual` been forecast at its group's
    true mean (groups: `keys`), estimated from the group's other rows: |actual - mean of
    the others| x sqrt((n-1)/n). The difference of a week and the mean of the n-1 others
    has n/(n-1) times the variance of a week around the true mean, so the factor makes
    it the error at the true mean, for weeks that vary independently around it (exact
    for normal noise; for Poisson counts of 100 within 1%, tested). Returns
    (errors, each row's group size n); rows of a group of one have no estimate (NaN)."""
    g = t.groupby(keys)["actual"]
    n, total = g.transform("size"), g.transform("sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        err = (t["actual"] - (total - t["actual"]) / (n - 1)).abs() * np.sqrt((n - 1) / n)
    return err.where(n >= 2), n


def _promoted(full: pd.DataFrame, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame:
    h = full[(full["date"] > cutoff) & (full["date"] <= cutoff + pd.Timedelta(weeks=horizon))]
    step = np.ceil((h["date"] - cutoff).dt.days / 7).astype(int)
    out = pd.DataFrame({"unique_id": h["sku_id"].astype(str) + "|" + h["pin_code"].astype(str),
                        "ds": cutoff + pd.to_timedelta(step * 7, unit="D"),
                        "promo": promoted(full)[h.index].to_numpy()})
    return out.groupby(["unique_id", "ds"], as_index=False)["promo"].max()


def _verdict(table: pd.DataFrame, promo: pd.DataFrame, header: bool = True) -> None:
    t, p = table.set_index("model"), promo.set_index("model")
    me, base = "MicroPulse + plan", "MicroPulse, no plan"
    if header:
        print("\n== targets ==")
    gain = 1 - t.loc[me, "wape"] / t.loc[base, "wape"]
    print(f"WAPE with the plan {t.loc[me, 'wape']:.4f} vs without {t.loc[base, 'wape']:.4f}: "
          f"{100 * gain:+.2f}% (target >= +15%) {'MET' if gain >= 0.15 else 'NOT MET'}")
    peers = t.drop(index=[me, base])
    if len(peers):
        best = peers["wape"].idxmin()
        g = 1 - t.loc[me, "wape"] / peers.loc[best, "wape"]
        print(f"vs the best peer {best} {peers.loc[best, 'wape']:.3f}: {100 * g:+.1f}% "
              f"(target >= +10%) {'MET' if g >= 0.10 else 'NOT MET'}")
    if me in p.index and base in p.index:
        g = 1 - p.loc[me, "wape"] / p.loc[base, "wape"]
        print(f"promoted series-weeks: WAPE {p.loc[me, 'wape']:.3f} with the plan vs "
              f"{p.loc[base, 'wape']:.3f} without: {100 * g:+.1f}% (target >= +25%) "
              f"{'MET' if g >= 0.25 else 'NOT MET'}")


if __name__ == "__main__":
    raise SystemExit(main())
