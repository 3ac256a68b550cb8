"""Own-price elasticities on real retail data beside a fixed-effects log-log reference.

    .venv/bin/python benchmarks/bench_real_elasticity.py            # tuna, cheese, dunnhumby
    .venv/bin/python benchmarks/bench_real_elasticity.py --files tuna cheese
    .venv/bin/python benchmarks/bench_real_elasticity.py --lagged-price

Protocol (issue 19): each realdev file is uploaded through the product's own ingest into a
fresh warehouse (benchmarks/realdev.load_warehouse), and the product's elasticity per SKU
comes from the same entry point `python -m engine elasticity` uses (load_panel_inputs ->
estimate_elasticities). In the same run a reference is fitted with statsmodels straight
from the CSV: OLS of log(units) on log(price) with store and week fixed effects and the
file's promotion controls (dunnhumby: feature, display, tpr_only, one regression per UPC;
cheese: display_share; tuna, one store: brand and week effects, a price slope and a
display_share slope per brand), standard errors clustered by week. The fixed effects are
absorbed by the within transformation (alternating demeaning), which gives the same slopes
as the dummies. Weeks without sales have no log and are left out of the reference.

Printed per SKU: the product's estimate, its 95% interval and specification, the reference
(and the reference without week effects, which is what ignoring common time effects
gives), the difference, and whether the reference lies inside the product's interval.
Targets: every estimate negative and within 0.5 of the reference, the reference inside the
product's 95% interval for >= 80% of SKUs. The reference is an estimate too (a different
estimator: OLS in logs, without the zero weeks), so the summary also gives the share of
SKUs whose difference lies within the two estimates' combined 95% noise
(|difference| <= 1.96 sqrt(se^2 + se_ref^2)), and the figures over the SKUs whose
reference is clear about the sign (its own 95% interval excludes 0; a reference that is
not cannot be matched by any estimate), and over those whose reference is clearly
negative (a positive one cannot be matched by a negative estimate either).

--lagged-price: the product with ElasticityConfig(lagged_price=True) (the previous week's
price as a control, log(previous / this week's price); the slope is then the response to
a price that stays where it is moved), against the same reference with that term added
(rows without the previous week's row left out); its coefficient is printed as `lag`
(positive: a post-promotion dip).
Cross-price (dunnhumby, the one file with subcategories; each of its two categories is one
subcategory): per UPC the product's within-subcategory cross elasticity (the entry point of
`python -m engine elasticity --by subcategory`: the joint category fit with the other SKUs'
average log relative price as one more regressor) with its 95% interval from the sampling
SE alone and with the specification term (the slope's PPML-to-log-scale spread), beside a
fixed-effects log-log reference: OLS of log(units) on the UPC's log price and the mean log
price of the subcategory's other UPCs at the same store that week, store and week fixed
effects, the promotion controls, clustered by week. A second reference in the product's
own design (`ref, category week FE`): one OLS per subcategory with SKU x store effects and
week effects shared by its UPCs, each UPC's own slopes. Then the pooled subcategory value.
--no-cross leaves it out.

Skips cleanly (exit 0) when ../shared/data/realdev is absent.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

import realdev as R

FILES = {"tuna": (R.TUNA, None), "cheese": (R.CHEESE, None),
         "dunnhumby": (R.DUNNHUMBY, R.DUNNHUMBY_CATALOG)}
CONTROLS = {"dunnhumby": ("feature", "display", "tpr_only"), "tuna": ("display_share",),
            "cheese": ("display_share",)}
Z95 = 1.959963984540054


# ---- reference: fixed-effects log-log OLS (statsmodels) ------------------------------------
def _within(frame: pd.DataFrame, cols: list[str], fe: list[str], sweeps: int = 500
            ) -> pd.DataFrame:
    """`cols` net of the `fe` group effects (alternating projections to convergence)."""
    out = frame[cols].astype(float).copy()
    groups = [frame[f].to_numpy() for f in fe]
    for _ in range(sweeps):
        moved = 0.0
        for g in groups:
            means = out.groupby(g).transform("mean")
            out -= means
            moved = max(moved, float(np.abs(means.to_numpy()).max()))
        if moved < 1e-10:
            break
    return out


def _ols(frame: pd.DataFrame, xcols: list[str], fe: list[str]):
    import statsmodels.api as sm

    d = _within(frame, ["logq"] + xcols, fe)
    keep = [c for c in xcols if d[c].abs().max() > 1e-9]
    return sm.OLS(d["logq"], d[keep]).fit(
        cov_type="cluster", cov_kwds={"groups": frame["date"].astype("category").cat.codes})


def reference(name: str, path, lagged: bool = False) -> pd.DataFrame:
    """sku_id, ref, ref_se, ref_no_week, n_ref (and ref_lag with `lagged`): the
    fixed-effects reference per SKU."""
    d = pd.read_csv(path)
    controls = [c for c in CONTROLS[name] if c in d]
    if lagged:                       # log(previous week's price / this week's), same store
        d["date"] = pd.to_datetime(d["date"])
        d = d.sort_values(["sku_id", "store_id", "date"])
        g = d.groupby(["sku_id", "store_id"])
        lp = np.log(d["price"].where(d["price"] > 0))
        prev = g["date"].diff().dt.days == 7
        d["lag"] = np.where(prev, lp.groupby([d["sku_id"], d["store_id"]]).shift(1) - lp,
                            np.nan)
        d = d[d["lag"].notna()]
        controls = ["lag"] + controls
    d = d[(d["price"] > 0) & (d["quantity"] > 0)].copy()
    d["logq"], d["lp"] = np.log(d["quantity"]), np.log(d["price"])
    rows = []
    if d["store_id"].nunique() == 1:                  # one store: brand and week effects
        skus = sorted(d["sku_id"].unique())
        xcols = []
        for s in skus:
            mine = (d["sku_id"] == s).astype(float)
            for c in ["lp"] + controls:
                d[f"{c}:{s}"] = d[c] * mine
                xcols.append(f"{c}:{s}")
        full, no_week = _ols(d, xcols, ["sku_id", "date"]), _ols(d, xcols, ["sku_id"])
        for s in skus:
            rows.append((s, full.params[f"lp:{s}"], full.bse[f"lp:{s}"],
                         no_week.params[f"lp:{s}"], int((d["sku_id"] == s).sum()),
                         full.params.get(f"lag:{s}", np.nan)))
    else:                                             # per SKU: store and week effects
        for s, g in d.groupby("sku_id", sort=True):
            xcols = ["lp"] + [c for c in controls if g[c].std() > 0]
            full, no_week = _ols(g, xcols, ["store_id", "date"]), _ols(g, xcols, ["store_id"])
            rows.append((s, full.params["lp"], full.bse["lp"], no_week.params["lp"], len(g),
                         full.params.get("lag", np.nan)))
    return pd.DataFrame(rows, columns=["sku_id", "ref", "ref_se", "ref_no_week", "n_ref",
                                       "ref_lag"])


# ---- the product -----------------------------------------------------------------------
@contextmanager
def uploaded(name: str):
    """The product's panel inputs of the realdev file `name` uploaded into a throw-away
    warehouse (deleted afterwards)."""
    from engine.pricing.inputs import load_panel_inputs

    path, catalog = FILES[name]
    wh, _ = R.load_warehouse(path, catalog, name=f"elasticity_{name}")
    try:
        yield load_panel_inputs(wh)
    finally:
        wh.close()
        for p in (wh.path, Path(str(wh.path) + ".wal")):
            p.unlink(missing_ok=True)


def product(name: str, lagged: bool = False) -> tuple[pd.DataFrame, float]:
    """The product's elasticity table for the uploaded file and its fit time."""
    from engine.pricing.elasticity import ElasticityConfig, estimate_elasticities

    with uploaded(name) as inputs:
        t = time.perf_counter()
        table = estimate_elasticities(inputs, ElasticityConfig(lagged_price=lagged))
        return table, time.perf_counter() - t


def compare(name: str, lagged: bool = False) -> tuple[pd.DataFrame, float]:
    table, seconds = product(name, lagged)
    m = table.merge(reference(name, FILES[name][0], lagged), on="sku_id", how="inner")
    m["diff"] = m["elasticity"] - m["ref"]
    m["inside"] = (m["lo"] <= m["ref"]) & (m["ref"] <= m["hi"])
    m["ref_clear"] = (m["ref"] + Z95 * m["ref_se"] < 0) | (m["ref"] - Z95 * m["ref_se"] > 0)
    m["consistent"] = m["diff"].abs() <= Z95 * np.sqrt(m["se"] ** 2 + m["ref_se"] ** 2)
    m.insert(0, "file", name)
    return m, seconds


def summary(m: pd.DataFrame, label: str) -> str:
    if m.empty:
        return f"{label}: no SKUs"
    close = (m["diff"].abs() <= 0.5).mean()
    # the reference is the truth plus its own sampling error (se_ref): even an estimate
    # equal to each SKU's true elasticity lands within 0.5 of it with probability
    # 2 Phi(0.5 / se_ref) - 1, so the target's ceiling is the mean of that over the SKUs
    ceiling = np.mean([math.erf(0.5 / (s * math.sqrt(2))) for s in m["ref_se"]])
    # and two unbiased estimates with these standard errors agree within 0.5 this often
    both = np.mean([math.erf(0.5 / math.sqrt(2 * (a * a + b * b)))
                    for a, b in zip(m["se"], m["ref_se"])])
    return (f"{label}: {len(m)} SKUs; negative {(m['elasticity'] < 0).mean():.0%} "
            f"(target 100%); within 0.5 of the reference {close:.0%} (target 100%; "
            f"expected if both were unbiased with their standard errors: {both:.0%}; even "
            f"an estimate equal to the true elasticity: {ceiling:.0%}); "
            f"reference inside the 95% interval {m['inside'].mean():.0%} (target >= 80%); "
            f"difference within the two estimates' combined 95% noise "
            f"{m['consistent'].mean():.0%}; median |difference| {m['diff'].abs().median():.2f}")


def print_file(m: pd.DataFrame, seconds: float) -> None:
    name = m["file"].iat[0]
    show = pd.DataFrame({
        "sku_id": m["sku_id"], "product": m["elasticity"].round(2),
        "95% interval": [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(m["lo"], m["hi"])],
        "reference": [f"{r:.2f} ± {Z95 * s:.2f}" for r, s in zip(m["ref"], m["ref_se"])],
        "ref no week FE": m["ref_no_week"].round(2),
        **({"lag": m["ref_lag"].round(2)} if m["ref_lag"].notna().any() else {}),
        "diff": m["diff"].round(2),
        "inside": np.where(m["inside"], "yes", "no"),
        "spec": m["spec"] if "spec" in m else m["method"]})
    print(f"\n== {name}: product fit {seconds:.1f} s ==")
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(show.to_string(index=False))
    print(summary(m, name))


# ---- cross-price (dunnhumby) ---------------------------------------------------------------
def cross_reference(path, catalog) -> pd.DataFrame:
    """sku_id, xref, xref_se: per UPC, OLS of log units on its log price and the mean log
    price of its subcategory's other UPCs at the same store and week (store-weeks where
    another sold), store and week fixed effects, promotion controls; clustered by week.
    xref_cat, xref_cat_se: the same slopes from one OLS per subcategory with UPC x store
    and shared week effects (the product's design)."""
    d = pd.read_csv(path)
    d = d.merge(pd.read_csv(catalog)[["sku_id", "subcategory"]], on="sku_id")
    d = d[(d["price"] > 0) & (d["quantity"] > 0)].copy()
    d["logq"], d["lp"] = np.log(d["quantity"]), np.log(d["price"])
    cell = d.groupby(["subcategory", "store_id", "date"])["lp"]
    total, count = cell.transform("sum"), cell.transform("size")
    d = d[count >= 2].copy()
    d["lo"] = (total[d.index] - d["lp"]) / (count[d.index] - 1)
    controls = [c for c in CONTROLS["dunnhumby"] if c in d]
    rows = []
    for s, g in d.groupby("sku_id", sort=True):
        fit = _ols(g, ["lp", "lo"] + [c for c in controls if g[c].std() > 0],
                   ["store_id", "date"])
        rows.append((s, fit.params["lo"], fit.bse["lo"]))
    out = pd.DataFrame(rows, columns=["sku_id", "xref", "xref_se"])
    joint = []
    d["sku_store"] = d["sku_id"] + "|" + d["store_id"].astype(str)
    for _, g in d.groupby("subcategory"):
        g, xcols = g.copy(), []
        for s in sorted(g["sku_id"].unique()):
            mine = (g["sku_id"] == s).astype(float)
            for c in ["lp", "lo"] + controls:
                g[f"{c}:{s}"] = g[c] * mine
                xcols.append(f"{c}:{s}")
        fit = _ols(g, xcols, ["sku_store", "date"])
        joint += [(s, fit.params[f"lo:{s}"], fit.bse[f"lo:{s}"])
                  for s in sorted(g["sku_id"].unique())]
    return out.merge(pd.DataFrame(joint, columns=["sku_id", "xref_cat", "xref_cat_se"]),
                     on="sku_id")


def cross_compare() -> None:
    from engine.pricing.cross import pool_cross_elasticities, sku_cross_estimates

    with uploaded("dunnhumby") as inputs:
        t = time.perf_counter()
        per = sku_cross_estimates(inputs)
        seconds = time.perf_counter() - t
    m = per.merge(cross_reference(*FILES["dunnhumby"]), on="sku_id", how="inner")
    half_before = Z95 * m["cross_se"]
    half_after = Z95 * np.hypot(m["cross_se"], m["cross_spec_se"])
    m["in_before"] = (m["cross_raw"] - m["xref"]).abs() <= half_before
    m["in_after"] = (m["cross_raw"] - m["xref"]).abs() <= half_after
    show = pd.DataFrame({
        "sku_id": m["sku_id"], "subcategory": m["subcategory"],
        "product": m["cross_raw"].round(2),
        "95% sampling only": [f"[{b - h:.2f}, {b + h:.2f}]"
                              for b, h in zip(m["cross_raw"], half_before)],
        "spec term": m["cross_spec_se"].round(2),
        "95% with spec term": [f"[{b - h:.2f}, {b + h:.2f}]"
                               for b, h in zip(m["cross_raw"], half_after)],
        "reference": [f"{r:.2f} ± {Z95 * s:.2f}" for r, s in zip(m["xref"], m["xref_se"])],
        "diff": (m["cross_raw"] - m["xref"]).round(2),
        "inside": [f"{'yes' if a else 'no'} -> {'yes' if b else 'no'}"
                   for a, b in zip(m["in_before"], m["in_after"])],
        "ref, category week FE": [f"{r:.2f} ± {Z95 * s:.2f}"
                                  for r, s in zip(m["xref_cat"], m["xref_cat_se"])]})
    print(f"\n== dunnhumby cross-price, within subcategory: product fit {seconds:.1f} s ==")
    with pd.option_context("display.width", 250):
        print(show.to_string(index=False))
    print(f"reference inside the product's 95% interval: sampling only "
          f"{m['in_before'].mean():.0%} -> with the spec term {m['in_after'].mean():.0%} "
          f"({len(m)} UPCs); median |difference| {(m['cross_raw'] - m['xref']).abs().median():.2f};"
          f" median spec term {m['cross_spec_se'].median():.2f} (sampling SE "
          f"{m['cross_se'].median():.2f}); product positive {(m['cross_raw'] > 0).mean():.0%}, "
          f"reference positive {(m['xref'] > 0).mean():.0%}")
    gap = (m["cross_raw"] - m["xref_cat"]).abs()
    print(f"against the reference in the product's design (category week FE): inside "
          f"{(gap <= half_before).mean():.0%} -> {(gap <= half_after).mean():.0%}, "
          f"median |difference| {gap.median():.2f}")
    pooled = {"sampling only": pool_cross_elasticities(per.assign(cross_spec_se=0.0)),
              "with spec term": pool_cross_elasticities(per)}
    for label, table in pooled.items():
        for r in table.itertuples():
            print(f"  pooled {r.subcategory} ({label}): {r.cross_elasticity:+.2f} "
                  f"[{r.lo:+.2f}, {r.hi:+.2f}], {r.note}")
    ref = m.groupby("subcategory")[["xref", "xref_cat"]].median()
    print("  reference medians per subcategory (per UPC / category week FE): "
          + ", ".join(f"{k} {r.xref:+.2f} / {r.xref_cat:+.2f}" for k, r in ref.iterrows()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="*", choices=sorted(FILES), default=list(FILES))
    ap.add_argument("--lagged-price", action="store_true",
                    help="the previous week's price as a control, in the product and the "
                         "reference")
    ap.add_argument("--no-cross", action="store_true",
                    help="leave out the dunnhumby cross-price section")
    args = ap.parse_args(argv)
    paths = [p for name in args.files for p in FILES[name] if p is not None]
    if not R.require(*paths):
        return 0
    np.seterr(all="ignore")
    parts = []
    for name in args.files:
        m, seconds = compare(name, args.lagged_price)
        print_file(m, seconds)
        parts.append(m)
    allm = pd.concat(parts, ignore_index=True)
    print("\n== summary ==")
    print(summary(allm, "all SKUs"))
    print(summary(allm[allm["ref_clear"]], "SKUs whose reference has a clear sign"))
    negative = allm["ref"] + Z95 * allm["ref_se"] < 0
    print(summary(allm[negative], "SKUs whose reference is clearly negative"))
    unclear = allm[~allm["ref_clear"]]
    if len(unclear):
        print("reference too noisy to sign (its own 95% interval contains 0): "
              + ", ".join(f"{r.sku_id} {r.ref:+.2f} ± {Z95 * r.ref_se:.2f}"
                          for r in unclear.itertuples()))
    if "dunnhumby" in args.files and not args.no_cross:
        cross_compare()
    return 0


if __name__ == "__main__":
    sys.exit(main())
