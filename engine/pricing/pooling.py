"""Empirical-Bayes pooling of SKU elasticities: SKU -> category -> all categories.

A normal model of the sufficient SKUs' raw estimates b (standard error s):

    b ~ N(theta, s^2),  theta ~ N(category mean, tau2_sku),  category mean ~ N(mu, tau2_cat)

tau2_sku is the within-category spread, a moment estimate pooled over the categories (Paule
and Mandel's: the tau2 at which the generalised Q statistic, each estimate weighted by
1 / (s^2 + tau2) around its category's mean, equals its degrees of freedom); a category
with at least MIN_OWN estimates uses its own (a variance from fewer is too noisy to trust).
DerSimonian-Laird's one-step version weights by 1 / s^2 alone, so when precisions differ
widely the few precise estimates decide Q: its estimate varies more and is mostly too
small (planted tau2 0.36, three SKUs with s = 0.05 and nine with 0.4: median 0.26 against
Paule-Mandel's 0.33), and the SKUs are pulled too far towards a mean they differ from (on
the dunnhumby file 0.15 / 0.22 against 0.36 / 0.38 for Paule-Mandel, 0.31 / 0.35 REML).
Each category's mean is shrunk towards mu (plug-in; tau2_cat also Paule-Mandel), and
each SKU towards its category's mean with Morris's (1983) corrections for having
estimated its tau2 (less pull than the plug-in, and a wider interval the further the
estimate lies from the mean; no pull at all with two or fewer degrees of freedom). A SKU without a usable
estimate gets its category's mean (or mu) with the predictive variance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_OWN = 8     # estimated SKUs a category needs for its own within-category spread


def dersimonian_laird(b: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Random-effects mean, its variance, and the between-estimate variance tau^2."""
    w = 1.0 / se ** 2
    k = len(b)
    mu_fe = np.sum(w * b) / np.sum(w)
    if k < 2:
        return float(mu_fe), float(1.0 / np.sum(w)), 0.0
    q = np.sum(w * (b - mu_fe) ** 2)
    denom = np.sum(w) - np.sum(w ** 2) / np.sum(w)
    tau2 = max(0.0, (q - (k - 1)) / denom) if denom > 0 else 0.0
    w_re = 1.0 / (se ** 2 + tau2)
    mu = np.sum(w_re * b) / np.sum(w_re)
    return float(mu), float(1.0 / np.sum(w_re)), float(tau2)


def _q(t: float, b: np.ndarray, s2: np.ndarray, group: np.ndarray) -> float:
    """Generalised Q: weighted squared deviations from each group's weighted mean."""
    w = 1.0 / (s2 + t)
    sw = np.bincount(group, weights=w)
    m = np.bincount(group, weights=w * b) / np.where(sw > 0, sw, 1.0)
    return float(np.sum(w * (b - m[group]) ** 2))


def paule_mandel(b: np.ndarray, se: np.ndarray, group: np.ndarray | None = None) -> float:
    """Between-estimate variance tau^2 around each `group`'s mean (one group by default):
    the root of Q(tau2) = degrees of freedom (Q falls as tau2 grows), 0 when even Q(0) is
    below them."""
    b = np.asarray(b, float)
    s2 = np.asarray(se, float) ** 2
    group = np.zeros(len(b), dtype=int) if group is None else pd.factorize(group)[0]
    df = len(b) - (int(group.max()) + 1 if len(b) else 0)
    if df < 1 or _q(0.0, b, s2, group) <= df:
        return 0.0
    lo, hi = 0.0, max(float(np.var(b)) * 4, 1e-6)
    while _q(hi, b, s2, group) > df:
        lo, hi = hi, hi * 4
    for _ in range(100):                               # bisection on a monotone function
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _q(mid, b, s2, group) > df else (lo, mid)
        if hi - lo < 1e-8 * (1 + hi):
            break
    return 0.5 * (lo + hi)


def random_effects(b: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Random-effects mean, its variance and tau^2 (Paule-Mandel)."""
    b, se = np.asarray(b, float), np.asarray(se, float)
    tau2 = paule_mandel(b, se)
    w = 1.0 / (se ** 2 + tau2)
    return float(np.sum(w * b) / np.sum(w)), float(1.0 / np.sum(w)), float(tau2)


@dataclass(frozen=True)
class Prior:
    mean: float           # what the SKU is shrunk towards
    var: float            # that mean's variance
    tau2: float           # the SKUs' spread around it
    df: int               # degrees of freedom behind tau2
    where: str            # "category" or "all categories"
    n: int                # estimated SKUs behind the mean


class Pooling:
    """The fitted two-level model; `prior(category)` is a SKU's shrinkage target."""

    def __init__(self, good: pd.DataFrame):
        b = good["raw_elasticity"].to_numpy(float)
        s2 = good["raw_se"].to_numpy(float) ** 2
        cat = good["category"].astype(str).to_numpy()
        df = 0
        own: dict[str, tuple[float, int]] = {}
        for c in pd.unique(cat):                       # within-category spread
            k = int((cat == c).sum())
            if k >= MIN_OWN:
                own[c] = (paule_mandel(b[cat == c], np.sqrt(s2[cat == c])), k - 1)
            df += k - 1
        self.tau2 = paule_mandel(b, np.sqrt(s2), cat)
        self.df = df
        self.own = own
        self.counts = pd.Series(cat).value_counts().to_dict()
        means = {}
        for c in self.counts:                          # category means given their spread
            w = 1.0 / (s2[cat == c] + own.get(c, (self.tau2,))[0])
            means[c] = (float(np.sum(w * b[cat == c]) / np.sum(w)), float(1.0 / np.sum(w)))
        names = list(means)
        self.mu, self.var_mu, self.tau2_cat = random_effects(
            np.array([means[c][0] for c in names]), np.sqrt(np.array([means[c][1] for c in names])))
        self.category = {}
        for c, (m, v) in means.items():                # shrunk towards mu
            pull = v / (v + self.tau2_cat) if self.tau2_cat > 0 else 1.0
            self.category[c] = (m + pull * (self.mu - m),
                                self.tau2_cat * pull + pull ** 2 * self.var_mu)

    def prior(self, category: str) -> Prior:
        tau2, df = self.own.get(category, (self.tau2, self.df))
        if category in self.category:
            return Prior(*self.category[category], tau2, df, "category", self.counts[category])
        return Prior(self.mu, self.var_mu + self.tau2_cat, tau2, df, "all categories",
                     int(sum(self.counts.values())))

    @staticmethod
    def posterior(b: float, s2: float, prior: Prior) -> tuple[float, float, float]:
        """Posterior mean and variance of one estimate and its pull towards the prior mean
        (none when the spread rests on two or fewer degrees of freedom)."""
        df = prior.df
        if df <= 2:
            return b, s2, 0.0
        pull = s2 / (s2 + prior.tau2) * (df - 2) / df
        var = (s2 * (1 - pull) + pull ** 2 * prior.var
               + 2 / (df - 2) * pull ** 2 * (b - prior.mean) ** 2)
        return b + pull * (prior.mean - b), var, pull

    @staticmethod
    def predictive_var(prior: Prior) -> float:
        """Variance of a SKU without an estimate around its prior mean."""
        return prior.tau2 + prior.var
