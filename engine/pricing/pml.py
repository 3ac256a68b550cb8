"""Negative-binomial pseudo-maximum likelihood with two sets of fixed effects and block-wise
slopes.

    E[y_i] = mu_i = exp(alpha[nested_i] + gamma[crossed_i] + x_i . beta[block_i])

The estimating equations are the negative-binomial (NB2) scores with the dispersion phi
held fixed, sum x (y - mu) / (1 + phi mu) = 0: unbiased whenever the mean is right,
whatever the true variance, like Poisson PML (phi = 0), which they reduce to for sparse
counts (phi mu small); for large volumes (phi mu large) they weight every observation by
its relative error, like a regression in logs, instead of letting the few biggest weeks
(deep promotions) decide the slope. phi is the moment estimate
sum((y - mu)^2 - y) / sum(mu^2) at the Poisson fit (0 for Poisson-like counts).

* `nested` effects (each group inside one block: SKU x PIN series, or for a single SKU its
  dates) are profiled out: per group, alpha solves sum (y - mu) / (1 + phi mu) = 0 (closed
  form for phi = 0, a few vectorised Newton steps otherwise);
* `crossed` effects (the other dimension; the common time effects a joint category fit
  shares across its SKUs) are explicit parameters;
* `beta` has one k-vector per `block` (one SKU each): every SKU of a joint category fit
  keeps its own price slope and controls, and the blocks meet only through the crossed
  effects.

Newton steps (observed information, weights mu (1 + phi y) / (1 + phi mu)^2) solve the
block system by
a Schur complement on the crossed effects: the SKU blocks are small (k x k each) and there
are a few hundred crossed groups, so a category of many SKUs costs little more than its
SKUs fitted one by one. Step-halving keeps the NB deviance falling. The covariance is the
cluster-robust sandwich of the beta rows of a generalised inverse of the information (the
scores of the regressors partialled on both sets of effects). A slope is `identified` only
when no direction of the information's null space moves it (e.g. a price that moves
exactly like the common time effects, or exactly with a promotion flag); its standard
error is then NaN instead of a number a generalised inverse would make up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_RCOND = 1e-9
GAMMA_PHI = 1000.0   # NB dispersion at which phi mu >> 1 for any mean that matters: the
#                      weights mu (1 + phi y) / (1 + phi mu)^2 are then Gamma PML's


@dataclass(frozen=True)
class FEFit:
    beta: np.ndarray          # (blocks, k); 0 for unidentified or unused columns
    cov: np.ndarray           # (blocks, k, k) cluster-robust covariance
    identified: np.ndarray    # (blocks, k) bool
    dispersion: float         # phi (0 = Poisson PML)
    converged: bool
    iterations: int
    n_used: int               # rows left after dropping groups that sold nothing
    spread: np.ndarray | None = None   # (blocks, k) family spread (see pml_fe's `family`)

    def se(self) -> np.ndarray:
        d = np.sqrt(np.clip(np.einsum("bkk->bk", self.cov), 0.0, None))
        return np.where(self.identified, d, np.nan)


def _sums(codes: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """(k, size) sums of each row of `rows` (k, n) by `codes` (n,)."""
    return np.stack([np.bincount(codes, weights=r, minlength=size) for r in rows]) \
        if len(rows) else np.zeros((0, size))


def _pinv_sym(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-inverse of a symmetric PSD matrix and an orthonormal basis of its null space."""
    vals, vecs = np.linalg.eigh(m)
    top = vals.max() if vals.size else 0.0
    keep = vals > _RCOND * max(top, 1e-300)
    return (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T, vecs[:, ~keep]


def recode(codes: np.ndarray) -> np.ndarray:
    """Non-negative integer codes renumbered 0, 1, ... in order of value (linear time)."""
    if len(codes) == 0:
        return codes.astype(np.int64)
    present = np.zeros(int(codes.max()) + 1, dtype=bool)
    present[codes] = True
    return (np.cumsum(present) - 1)[codes]


def _usable(y: np.ndarray, nested: np.ndarray, crossed: np.ndarray) -> np.ndarray:
    """Rows whose nested and crossed groups sold something (an all-zero group carries no
    information about the slopes and its effect would run to minus infinity)."""
    keep = np.ones(len(y), dtype=bool)
    while True:
        yn = np.bincount(nested[keep], weights=y[keep], minlength=nested.max() + 1)
        yc = np.bincount(crossed[keep], weights=y[keep], minlength=crossed.max() + 1)
        new = keep & (yn[nested] > 0) & (yc[crossed] > 0)
        if new.sum() == keep.sum():
            return keep
        keep = new


class _Problem:
    """Re-coded arrays of one fit (regressors stored as (k, n) rows) and the pieces every
    scoring step needs."""

    def __init__(self, y, XT, block, nested, crossed, cluster, n_blocks):
        keep = np.flatnonzero(_usable(y, nested, crossed))
        bn = block[keep] * (int(nested.max()) + 1) + nested[keep]
        if np.any(bn[1:] < bn[:-1]):                 # callers usually pass sorted rows
            keep = keep[np.argsort(bn, kind="stable")]
        whole = len(keep) == len(y) and bool(np.all(keep == np.arange(len(y))))
        self.y = y[keep]
        source = XT if whole else XT[:, keep]
        self.block = block[keep]
        # nested groups are contiguous after the sort: code them by run, so sums are
        # reduceat's and broadcasts are repeat's (much faster than bincount / gathers)
        nest = nested[keep]
        change = np.r_[True, nest[1:] != nest[:-1]]
        self.nested = np.cumsum(change) - 1
        self.starts = np.flatnonzero(change)
        self.counts = np.diff(np.r_[self.starts, len(nest)])
        group_bounds = np.searchsorted(self.block[self.starts], np.arange(n_blocks + 1))
        self.group_slices = [slice(group_bounds[b], group_bounds[b + 1])
                             for b in range(n_blocks)]
        self.crossed = recode(crossed[keep])
        self.cluster = recode(cluster[keep])
        self.n_blocks = n_blocks
        self.k = source.shape[0]
        self.N = int(self.nested.max()) + 1
        self.T = int(self.crossed.max()) + 1
        self.C = int(self.cluster.max()) + 1
        bounds = np.searchsorted(self.block, np.arange(n_blocks + 1))
        self.slices = [slice(bounds[b], bounds[b + 1]) for b in range(n_blocks)]
        # every column is scaled to unit spread within its block (conditioning: the
        # pseudo-inverses' thresholds then mean near-collinearity, not small units)
        self.scale = np.ones((n_blocks, self.k))
        self.XT = np.empty(source.shape)
        for b, s in enumerate(self.slices):
            if s.stop > s.start:
                sd = source[:, s].std(axis=1)
                self.scale[b] = np.where(sd > 0, sd, 1.0)
                self.XT[:, s] = source[:, s] / self.scale[b][:, None]
        self.bt = self.block * self.T + self.crossed
        self.nt = self.nested * self.T + self.crossed
        self.y_n = np.add.reduceat(self.y, self.starts)
        self.pos = self.y > 0
        self.ylogy = float(np.sum(self.y[self.pos] * np.log(self.y[self.pos])))

    def mu(self, beta: np.ndarray, gamma: np.ndarray, phi: float) -> np.ndarray:
        """Means with the nested effects at their optimum for (beta, gamma, phi)."""
        eta = gamma[self.crossed].copy()
        for b, s in enumerate(self.slices):
            eta[s] += beta[b] @ self.XT[:, s]
        e = np.exp(np.clip(eta, -30, 30))
        s = self.group_sum(e)
        alpha = np.log(self.y_n) - np.log(np.where(s > 0, s, 1.0))     # Poisson: exact
        if phi > 0:
            for _ in range(50):
                mu = e * self.spread(np.exp(alpha))
                den = 1.0 + phi * mu
                f = self.group_sum((self.y - mu) / den)
                fp = self.group_sum(mu * (1 + phi * self.y) / den ** 2)
                step = f / np.where(fp > 0, fp, 1.0)
                alpha = alpha + np.clip(step, -5, 5)
                if np.abs(step).max() < 1e-9:
                    break
        return e * self.spread(np.exp(alpha))

    def group_sum(self, values: np.ndarray) -> np.ndarray:
        """Sums per nested group of (n,) or (k, n) values (the last axis)."""
        return np.add.reduceat(values, self.starts, axis=-1)

    def spread(self, values: np.ndarray) -> np.ndarray:
        """Per-group (N,) or (k, N) values repeated onto the rows."""
        return np.repeat(values, self.counts, axis=-1)

    def deviance(self, mu: np.ndarray, phi: float) -> float:
        """-2 x the NB2 log-likelihood with phi fixed (Poisson for phi = 0), up to terms
        free of mu."""
        if phi <= 0:
            return 2 * (self.ylogy - float(np.sum(self.y[self.pos] * np.log(mu[self.pos])))
                        - float(np.sum(self.y - mu)))
        return -2 * float(np.sum(self.y * np.log(mu) - (self.y + 1 / phi) * np.log1p(phi * mu)))

    def dispersion(self, mu: np.ndarray) -> float:
        return max(0.0, float(np.sum((self.y - mu) ** 2 - self.y) / np.sum(mu ** 2)))

    def information(self, mu: np.ndarray, phi: float, demeaned: bool = False):
        """Blocks of the profile information (the observed one, minus the Hessian of the
        NB log-likelihood): A (blocks, k, k), B (blocks, T, k), C (T, T), each nested
        group's weight share per crossed group (N, T) and, when asked, the
        nested-demeaned regressors (k, n). A and B come from raw weighted sums minus the
        nested groups' parts, without forming the demeaned regressors."""
        w = mu * (1.0 + phi * self.y) / (1.0 + phi * mu) ** 2
        W_n = self.group_sum(w)
        XwT = self.XT * w
        G = self.group_sum(XwT)                       # (k, N) weighted sums per group
        xbar = G / W_n
        A = np.stack([XwT[:, s] @ self.XT[:, s].T - xbar[:, g] @ G[:, g].T
                      for s, g in zip(self.slices, self.group_slices)])
        M = np.bincount(self.nt, weights=w, minlength=self.N * self.T).reshape(self.N, self.T)
        B = _sums(self.bt, XwT, self.n_blocks * self.T).T.reshape(self.n_blocks, self.T, self.k)
        for b, g in enumerate(self.group_slices):
            B[b] -= M[g].T @ xbar[:, g].T
        share = M / W_n[:, None]
        C = np.diag(M.sum(axis=0)) - M.T @ share
        XdT = self.XT - self.spread(xbar) if demeaned else None
        return A, B, C, share, XdT


def _schur(A, B, C):
    """A^-1 per block (and its null space), B A^-1, the crossed effects' Schur complement's
    pseudo-inverse and its null space."""
    parts = [_pinv_sym(a) for a in A]
    A_inv = np.stack([p[0] for p in parts])
    BA = np.einsum("btk,bkl->btl", B, A_inv)
    S_inv, null = _pinv_sym(C - np.einsum("btk,buk->tu", BA, B))
    return A_inv, [p[1] for p in parts], BA, S_inv, null


def pml_fe(y: np.ndarray, XT: np.ndarray, block: np.ndarray, nested: np.ndarray,
           crossed: np.ndarray, cluster: np.ndarray, n_blocks: int | None = None,
           max_iter: int = 50, tol: float = 1e-2, dispersion: float | None = None,
           family: bool = False) -> FEFit:
    """Fit the model in the module docstring. `XT` is (k, n): column i holds row i's
    regressors, whose coefficients are those of its block. Integer codes start at 0;
    every nested group lies in one block. A column that is zero on all of a block's rows
    is not identified. `dispersion` fixes phi (0 = Poisson PML); None estimates it. `tol`
    is in deviance units (the Newton decrement that ends the fit).

    `family`: also refit at the two ends of the NB family, Poisson PML (phi = 0: every
    unit counts alike, the big weeks decide) and phi = GAMMA_PHI (every week weighed by
    its relative error, as a regression in logs does), from this fit's solution with the
    same effects and rows; `spread` is the larger of the two slopes' distances from this
    fit's. All three are consistent when the mean is right, so a spread beyond sampling
    noise says the constant-elasticity mean does not fit every week alike."""
    n_blocks = int(block.max()) + 1 if n_blocks is None else n_blocks
    k = XT.shape[0]
    empty = FEFit(np.zeros((n_blocks, k)), np.full((n_blocks, k, k), np.nan),
                  np.zeros((n_blocks, k), dtype=bool), 0.0, False, 0, 0)
    if len(y) == 0 or float(np.sum(y)) <= 0:
        return empty
    block, nested, crossed, cluster = (np.asarray(a, dtype=np.int64)
                                       for a in (block, nested, crossed, cluster))
    p = _Problem(np.asarray(y, float), np.asarray(XT), block, nested, crossed, cluster,
                 n_blocks)
    beta = np.zeros((n_blocks, k))
    gamma = np.zeros(p.T)
    # Poisson steps first (at most three: phi needs the means roughly right, not exactly);
    # then phi is fixed at its moment estimate (unless given) and the NB steps run from
    # there (any fixed phi keeps the estimating equations unbiased).
    # A stage ends when the Newton decrement (the deviance a full step would still gain)
    # is below `tol`, or the deviance stops moving: a nuisance coefficient running off
    # (a control that separates the data) then no longer holds the fit up.
    phi = 0.0
    mu = p.mu(beta, gamma, phi)
    dev = p.deviance(mu, phi)
    stage_tol = tol if dispersion == 0.0 else max(tol, 1.0)
    converged, it, poisson_steps = False, 0, 0
    for it in range(1, max_iter + 1):
        beta, gamma, mu, dev, done = _newton_step(p, beta, gamma, mu, dev, phi, stage_tol)
        poisson_steps += phi == 0.0
        if (done or poisson_steps >= 3) and phi == 0.0 and dispersion != 0.0:
            phi = p.dispersion(mu) if dispersion is None else dispersion
            if phi > 0:
                mu = p.mu(beta, gamma, phi)
                dev = p.deviance(mu, phi)
                stage_tol = tol
                continue
        if done:
            converged = True
            break
    cov, identified = _sandwich(p, mu, phi)
    spread = np.zeros((n_blocks, k))
    for end in (0.0, GAMMA_PHI) if family else ():     # the NB family's ends, from here
        b_end, g_end = beta, gamma
        m_end = p.mu(b_end, g_end, end)
        d_end = p.deviance(m_end, end)
        for _ in range(max_iter if end != phi else 0):
            b_end, g_end, m_end, d_end, done = _newton_step(p, b_end, g_end, m_end, d_end,
                                                            end, tol)
            if done:
                break
        spread = np.maximum(spread, np.abs(b_end - beta))
    beta = beta / p.scale
    cov = cov / (p.scale[:, :, None] * p.scale[:, None, :])
    spread = np.where(identified, spread / p.scale, 0.0) if family else None
    return FEFit(np.where(identified, beta, 0.0), cov, identified, phi, converged, it,
                 len(p.y), spread)


def _newton_step(p: _Problem, beta: np.ndarray, gamma: np.ndarray, mu: np.ndarray,
                 dev: float, phi: float, tol: float):
    """One Newton step at fixed phi with step-halving (the deviance never rises). Returns
    (beta, gamma, mu, deviance, done): done when the Newton decrement (the deviance a
    full step would still gain) is below `tol` or the deviance stopped moving."""
    A, B, C, _, _ = p.information(mu, phi)
    r = (p.y - mu) / (1.0 + phi * mu)
    g_beta = np.stack([p.XT[:, s] @ r[s] for s in p.slices])
    g_gamma = np.bincount(p.crossed, weights=r, minlength=p.T)
    A_inv, _, BA, S_inv, _ = _schur(A, B, C)
    d_gamma = S_inv @ (g_gamma - np.einsum("btk,bk->t", BA, g_beta))
    d_beta = np.einsum("bkl,bl->bk", A_inv, g_beta - np.einsum("btk,t->bk", B, d_gamma))
    decrement = float(np.sum(g_beta * d_beta) + g_gamma @ d_gamma)
    t = 1.0
    while True:
        cand_b, cand_g = beta + t * d_beta, gamma + t * d_gamma
        mu_c = p.mu(cand_b, cand_g, phi)
        dev_c = p.deviance(mu_c, phi)
        if dev_c <= dev + 1e-9 * abs(dev) or t < 1e-3:
            break
        t /= 2
    done = decrement < tol or abs(dev - dev_c) <= 1e-12 * (abs(dev_c) + 1.0)
    return cand_b, cand_g, mu_c, dev_c, done


def _sandwich(p: _Problem, mu: np.ndarray, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-robust covariance of every block's slopes and which slopes are identified."""
    A, B, C, share, XdT = p.information(mu, phi, demeaned=True)
    A_inv, A_null, BA, S_inv, null = _schur(A, B, C)
    r = (p.y - mu) / (1.0 + phi * mu)
    nb, k, T, Cn = p.n_blocks, p.k, p.T, p.C
    # identified: a used column that no null direction of the information moves
    scale = np.sqrt(np.clip(np.einsum("bkk->bk", A_inv), 0.0, None))
    identified = scale > 0
    for b, nv in enumerate(A_null):
        if nv.shape[1]:
            identified[b] &= np.sqrt((nv ** 2).sum(axis=1)) <= 1e-6
    if null.shape[1]:
        drift = np.sqrt((np.einsum("btk,tn->bkn", BA, null) ** 2).sum(axis=2))
        identified &= drift <= 1e-6 * (1.0 + scale)
    # cluster scores of the slopes (U_b) and of the crossed effects (U_g)
    U_b = _sums(p.cluster * nb + p.block, XdT * r, Cn * nb).T.reshape(Cn, nb, k)
    direct = np.bincount(p.cluster * T + p.crossed, weights=r, minlength=Cn * T).reshape(Cn, T)
    E = np.bincount(p.nested * Cn + p.cluster, weights=r, minlength=p.N * Cn).reshape(p.N, Cn)
    U_g = direct - E.T @ share
    # V[c, b] = A_b^-1 (U_b[c, b] + B_b' S^+ (sum_r B_r A_r^-1 U_b[c, r] - U_g[c]))
    Q = (np.einsum("btk,cbk->ct", BA, U_b) - U_g) @ S_inv
    V = np.einsum("bkl,cbl->cbk", A_inv, U_b + np.einsum("btk,ct->cbk", B, Q))
    g = int(np.count_nonzero(np.bincount(p.cluster, minlength=Cn)))
    cov = np.einsum("cbk,cbl->bkl", V, V) * (g / max(g - 1, 1))
    return cov, identified
