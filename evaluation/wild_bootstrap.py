"""Wild cluster restricted bootstrap of a CR2 t statistic (WCR; Cameron, Gelbach and Miller
2008; MacKinnon and Webb 2018), for least squares with absorbed fixed effects.

statsmodels has no wild cluster bootstrap, so it is built here from numpy. The null b_c = 0
is imposed: y is refitted without column c, and the bootstrap outcomes are the restricted fit
plus the restricted residuals of every cluster g times one weight w_g (Rademacher or Webb).
Each draw is refitted with the full model (every fixed effect included) and studentized by the
same CR2 standard error as the data (`dilemma.evaluation.cluster_robust.cr2_fit`).

Vectorised: the regressors do not change between draws, and the bootstrap residuals are
w_g times a fixed vector per cluster, so with U (n x G) holding each cluster's restricted
residuals in its own column, the draws' coefficient is v' w and their CR2 scores S w, with v
(G) and S (G x G) computed once (`wild_parts`); a draw costs O(G^2). The restricted residuals
are linear in the null value b0, so one `WildParts` serves any null (the contrast of two
conditions imposes their common estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.cluster_robust import ClusterFit, partial_out

WEIGHTS = ("rademacher", "mammen", "webb")
_BISECTIONS = 30

__all__ = ["WEIGHTS", "WildParts", "WildT", "cluster_weights", "wild_parts"]

_WEBB = np.sqrt(np.array([0.5, 1.0, 1.5]))
_WEBB = np.concatenate([-_WEBB, _WEBB])
_ROOT5 = np.sqrt(5.0)
_MAMMEN = np.array([-(_ROOT5 - 1.0) / 2.0, (_ROOT5 + 1.0) / 2.0])
_MAMMEN_P = (_ROOT5 + 1.0) / (2.0 * _ROOT5)
"""Mammen's two points (mean 0, variance 1, third moment 1) and the first one's probability."""


def cluster_weights(
    clusters: int, draws: int, rng: np.random.Generator, kind: str = "rademacher"
) -> np.ndarray:
    """Wild bootstrap weights, one per cluster and draw (clusters x draws): Rademacher (+-1),
    Mammen's two points (-(sqrt 5 - 1)/2 with probability (sqrt 5 + 1)/(2 sqrt 5), else
    (sqrt 5 + 1)/2) or Webb's six points (+-sqrt(1/2), +-1, +-sqrt(3/2))."""
    if kind == "rademacher":
        out: np.ndarray = rng.choice(np.array([-1.0, 1.0]), (clusters, draws))
    elif kind == "mammen":
        out = np.where(rng.random((clusters, draws)) < _MAMMEN_P, _MAMMEN[0], _MAMMEN[1])
    elif kind == "webb":
        out = rng.choice(_WEBB, (clusters, draws))
    else:
        raise ValueError(f"unknown weights {kind!r}; weights: {', '.join(WEIGHTS)}")
    return out


@dataclass(frozen=True)
class WildT:
    """The data's CR2 t statistic of one coefficient and its wild bootstrap draws under the null."""

    t: float
    draws: np.ndarray

    @property
    def p_value(self) -> float:
        """Symmetric bootstrap p: the share of draws with |t*| >= |t|."""
        return float(np.mean(np.abs(self.draws) >= abs(self.t)))

    def critical(self, alpha: float) -> float:
        """The 1 - alpha quantile of |t*|: the test rejects at alpha when |t| exceeds it."""
        return float(np.quantile(np.abs(self.draws), 1.0 - alpha))


@dataclass(frozen=True)
class WildParts:
    """What the wild bootstrap of one coefficient b needs, for any null b = b0 imposed.

    The restricted residuals are r(b0) = r0 - b0 * m (r0 those of y, m those of the tested
    column on the others), so a draw's estimate minus b0 is (v[0] - b0 v[1]) w and its CR2
    scores (s[0] - b0 s[1]) w. `num` / `den` is the estimate (m'y / m'm), for pooling nulls.
    """

    estimate: float
    se: float
    v: np.ndarray
    s: np.ndarray
    num: float
    den: float

    @property
    def clusters(self) -> int:
        return int(self.v.shape[1])

    def draws(self, weights: np.ndarray, null: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Per draw (columns of `weights`, G x draws): estimate minus `null`, and CR2 se."""
        dev = (self.v[0] - null * self.v[1]) @ weights
        se = np.sqrt(np.sum(((self.s[0] - null * self.s[1]) @ weights) ** 2, axis=0))
        return dev, se

    def wild_t(self, weights: np.ndarray, null: float = 0.0) -> WildT:
        """Bootstrap-t of b = `null`: the data's t and the draws' t under that null."""
        dev, se = self.draws(weights, null)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_star = np.where(se > 0, dev / se, 0.0)
        return WildT(t=(self.estimate - null) / self.se, draws=t_star)

    def interval(self, weights: np.ndarray, alpha: float) -> tuple[float, float]:
        """The 1 - alpha interval by test inversion: the values b0 whose bootstrap test (null
        b = b0 imposed, the same `weights` for every b0) does not reject at alpha. Each limit
        is found by bisection; (-inf or inf where no limit within 64 standard errors)."""

        def excess(null: float) -> float:
            dev, se = self.draws(weights, null)
            with np.errstate(divide="ignore", invalid="ignore"):
                t_star = np.abs(np.where(se > 0, dev / se, 0.0))
            return abs(self.estimate - null) / self.se - float(np.quantile(t_star, 1.0 - alpha))

        limits = []
        for side in (-1.0, 1.0):
            inner, outer = self.estimate, self.estimate + side * 2.0 * self.se
            while excess(outer) <= 0:
                inner, outer = outer, self.estimate + 2.0 * (outer - self.estimate)
                if abs(outer - self.estimate) > 64.0 * self.se:
                    outer = side * float("inf")
                    break
            if np.isfinite(outer):
                for _ in range(_BISECTIONS):
                    mid = 0.5 * (inner + outer)
                    inner, outer = (mid, outer) if excess(mid) <= 0 else (inner, mid)
                outer = 0.5 * (inner + outer)
            limits.append(outer)
        return limits[0], limits[1]


def wild_parts(
    fit: ClusterFit,
    x: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    groups: Sequence[np.ndarray],
    coef: int = 0,
) -> WildParts:
    """The `WildParts` of coefficient `coef` of `fit` (a `cr2_fit` of x, y whose fixed effects,
    the integer codes in `groups`, are already partialled out of x and y)."""
    if fit.score_weights is None:
        raise ValueError("the fit carries no CR2 score weights")
    g_count = fit.n_clusters
    n = len(y)
    others = [c for c in range(x.shape[1]) if c != coef]
    targets = np.column_stack([y, x[:, coef]])
    if others:
        xo = x[:, others]
        targets = targets - xo @ np.linalg.lstsq(xo, targets, rcond=None)[0]
    xtx_inv = np.linalg.inv(x.T @ x)
    lever = x @ xtx_inv[:, coef]
    weights = fit.score_weights[:, coef * g_count : (coef + 1) * g_count].T
    v = np.empty((2, g_count))
    s = np.empty((2, g_count, g_count))
    for j in range(2):
        # each cluster's restricted residuals in its own column: a draw is basis @ w
        basis = np.zeros((n, g_count))
        basis[np.arange(n), cluster] = targets[:, j]
        v[j] = lever @ basis
        # residuals of a draw: (I - H) basis w, H the full model's hat matrix
        annihilated = partial_out(basis, list(groups)) - x @ (xtx_inv @ (x.T @ basis))
        s[j] = weights @ annihilated
    m = targets[:, 1]
    return WildParts(
        estimate=float(fit.params[coef]),
        se=float(np.sqrt(fit.cov[coef, coef])),
        v=v,
        s=s,
        num=float(m @ y),
        den=float(m @ m),
    )
