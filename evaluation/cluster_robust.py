"""Small-sample cluster-robust inference for least squares with absorbed fixed effects.

CR2 (Bell and McCaffrey 2002): the sandwich covariance with every cluster's residuals
adjusted by A_g = (I - H_gg)^(-1/2), H the hat matrix of the full model (regressors and
every fixed effect), so that it is unbiased when the errors are independent and homoskedastic.
Tests use t with Bell-McCaffrey (Satterthwaite) degrees of freedom for each coefficient under
that working model (Pustejovsky and Tipton 2018): with few clusters, or clusters of unequal
leverage, these are far fewer than G - 1, and t(G - 1) over-rejects.

Fixed effects come in two kinds: `nested` groups lie within one cluster each (e.g. one
equation of one run when clusters are runs); `crossed` groups span clusters (e.g. round
effects), few enough to be handled as explicit dummies. The regressors and outcome passed in
must already have both partialled out (`partial_out`); the hat matrix is then rebuilt blockwise
as H = H_nested + H_W + H_X with W the crossed dummies with the nested effects removed.
Checked against the explicit dummy design in tests/evaluation/test_cluster_robust.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_TOL = 1e-11
_MAX_SWEEPS = 500
_EIGEN_FLOOR = 1e-10

__all__ = ["ClusterFit", "cr2_fit", "jackknife_cov", "partial_out"]


def partial_out(values: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Residuals of every column of `values` on the dummies of several groupings (integer codes
    0..k-1 per row), by alternating projections (exact at convergence)."""
    x = np.array(values, dtype="float64", copy=True)
    if x.ndim == 1:
        x = x[:, None]
    if not groups or x.size == 0:
        return x
    scale = max(float(np.abs(x).max()), 1.0)
    sizes = [np.maximum(np.bincount(codes), 1) for codes in groups]
    for _ in range(_MAX_SWEEPS):
        before = x.copy()
        for codes, size in zip(groups, sizes, strict=True):
            sums = [np.bincount(codes, x[:, c], minlength=len(size)) for c in range(x.shape[1])]
            x -= (np.stack(sums, axis=1) / size[:, None])[codes]
        if np.max(np.abs(x - before)) <= _TOL * scale:
            break
    return x


@dataclass(frozen=True)
class ClusterFit:
    """Coefficients, CR2 covariance and Bell-McCaffrey degrees of freedom per coefficient."""

    params: np.ndarray
    cov: np.ndarray
    dof: np.ndarray
    n_clusters: int
    score_weights: np.ndarray | None = None
    """n x (p * G): column c * G + g is A_g X_g (X'X)^-1 e_c on the rows of cluster g (0
    elsewhere), so that coefficient c's CR2 variance is the sum over g of (column' resid)^2."""

    @property
    def se(self) -> np.ndarray:
        out: np.ndarray = np.sqrt(np.diag(self.cov))
        return out


def _inv_sqrt(m: np.ndarray) -> np.ndarray:
    """Symmetric (pseudo-)inverse square root: directions without residual freedom get 0."""
    vals, vecs = np.linalg.eigh(m)
    scaled = np.where(vals > _EIGEN_FLOOR, 1.0 / np.sqrt(np.maximum(vals, _EIGEN_FLOOR)), 0.0)
    out: np.ndarray = (vecs * scaled) @ vecs.T
    return out


def _nested_hat(codes: np.ndarray) -> np.ndarray:
    """Hat block of group-mean dummies for rows of one cluster (groups nested in it)."""
    same = codes[:, None] == codes[None, :]
    out: np.ndarray = same / np.bincount(codes)[codes][None, :]
    return out


def cr2_fit(
    x: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    nested: np.ndarray | None = None,
    crossed: np.ndarray | None = None,
) -> ClusterFit:
    """OLS of y on x with CR2 covariance and Bell-McCaffrey degrees of freedom.

    x (n x p) and y (n) have the `nested` and `crossed` fixed effects (integer codes per row,
    or None) already partialled out; `cluster` codes 0..G-1. Every nested group must lie
    within one cluster (ValueError otherwise).
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n, p = x.shape
    if nested is not None:
        per_group = np.zeros(nested.max() + 1, dtype="int64") - 1
        per_group[nested] = cluster
        if np.any(per_group[nested] != cluster):
            raise ValueError("nested fixed effects must lie within one cluster each")
    groups = [g for g in (nested, crossed) if g is not None]
    xtx_inv = np.linalg.inv(x.T @ x)
    params = xtx_inv @ (x.T @ y)
    resid = y - x @ params
    if crossed is not None:
        dummies = np.zeros((n, crossed.max() + 1))
        dummies[np.arange(n), crossed] = 1.0
        w = partial_out(dummies, [nested] if nested is not None else [])
        wtw_inv = np.linalg.pinv(w.T @ w)
    g_count = int(cluster.max()) + 1
    meat = np.zeros((p, p))
    # b[:, c*G + g]: A_g x_g (X'X)^-1 e_c embedded in the rows of cluster g
    b = np.zeros((n, p * g_count))
    for g in range(g_count):
        rows = np.flatnonzero(cluster == g)
        hat = x[rows] @ xtx_inv @ x[rows].T
        if nested is not None:
            hat += _nested_hat(nested[rows])
        if crossed is not None:
            hat += w[rows] @ wtw_inv @ w[rows].T
        adjust = _inv_sqrt(np.eye(len(rows)) - hat)
        score = x[rows].T @ (adjust @ resid[rows])
        meat += np.outer(score, score)
        b[rows, g::g_count] = adjust @ x[rows] @ xtx_inv
    cov = xtx_inv @ meat @ xtx_inv
    # columns g_s = (I - H)[:, s] b_s = M_D b_s - X (X'X)^-1 X' b_s (b_s lives in cluster s)
    gm = partial_out(b, groups) - x @ (xtx_inv @ (x.T @ b))
    dof = np.empty(p)
    for c in range(p):
        block = gm[:, c * g_count : (c + 1) * g_count]
        gg = block.T @ block
        dof[c] = np.trace(gg) ** 2 / np.sum(gg * gg)
    return ClusterFit(params=params, cov=cov, dof=dof, n_clusters=g_count, score_weights=b)


def jackknife_cov(x: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """CV3, the cluster jackknife: (G - 1) / G times the covariance of the leave-one-cluster-out
    OLS estimates (MacKinnon, Nielsen and Webb 2023). For comparison in the benchmarks."""
    g = int(cluster.max()) + 1
    p = x.shape[1]
    xtx, xty = x.T @ x, x.T @ y
    a = np.zeros((g, p, p))
    np.add.at(a, cluster, x[:, :, None] * x[:, None, :])
    c = np.zeros((g, p))
    np.add.at(c, cluster, x * y[:, None])
    est = np.array([np.linalg.lstsq(xtx - a[h], xty - c[h], rcond=None)[0] for h in range(g)])
    dev = est - est.mean(axis=0)
    out: np.ndarray = (g - 1) / g * dev.T @ dev
    return out
