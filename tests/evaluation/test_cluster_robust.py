"""CR2 with Bell-McCaffrey degrees of freedom and absorbed fixed effects: known answers."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from dilemma.evaluation.cluster_robust import cr2_fit, partial_out


def _inv_sqrt(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(m)
    out: np.ndarray = (vecs * np.where(vals > 1e-10, 1 / np.sqrt(np.abs(vals)), 0.0)) @ vecs.T
    return out


def _brute_force(
    full: np.ndarray, y: np.ndarray, cluster: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CR2 and Bell-McCaffrey dof of the first p coefficients from the explicit design."""
    bread = np.linalg.pinv(full.T @ full)
    hat = full @ bread @ full.T
    beta = bread @ full.T @ y
    resid = y - full @ beta
    lead = bread[:p]
    meat = np.zeros((p, p))
    cols = []
    n = len(y)
    for g in np.unique(cluster):
        rows = np.flatnonzero(cluster == g)
        adjust = _inv_sqrt(np.eye(len(rows)) - hat[np.ix_(rows, rows)])
        score = lead @ full[rows].T @ adjust @ resid[rows]
        meat += np.outer(score, score)
        cols.append((rows, adjust @ full[rows] @ lead.T))
    dof = np.empty(p)
    for c in range(p):
        gm = np.column_stack([(np.eye(n) - hat)[:, rows] @ b[:, c] for rows, b in cols])
        gg = gm.T @ gm
        dof[c] = np.trace(gg) ** 2 / np.sum(gg * gg)
    return beta[:p], meat, dof


def test_cr2_with_absorbed_effects_matches_the_explicit_dummy_design() -> None:
    """6 clusters of unequal size, 2 nested groups per cluster and 5 crossed groups."""
    rng = np.random.default_rng(0)
    sizes = [4, 6, 5, 8, 3, 7]
    cluster = np.repeat(np.arange(6), sizes)
    n = len(cluster)
    nested = cluster * 2 + (rng.random(n) < 0.5)
    nested = np.unique(nested, return_inverse=True)[1]
    crossed = rng.integers(0, 5, n)
    x = rng.normal(size=(n, 2)) + crossed[:, None] * 0.3
    y = x @ [0.5, -1.0] + rng.normal(size=n) * (1 + cluster)
    dummies = [np.eye(nested.max() + 1)[nested], np.eye(crossed.max() + 1)[crossed]]
    beta, meat, dof = _brute_force(np.hstack([x, *dummies]), y, cluster, 2)
    z = partial_out(np.column_stack([y, x]), [nested, crossed])
    fit = cr2_fit(z[:, 1:], z[:, 0], cluster, nested, crossed)
    np.testing.assert_allclose(fit.params, beta, rtol=1e-8)
    np.testing.assert_allclose(fit.cov, meat, rtol=1e-6)
    np.testing.assert_allclose(fit.dof, dof, rtol=1e-6)
    assert np.all(fit.dof < 5)  # far below G - 1 = 5 with so few, unequal clusters


def test_one_observation_per_cluster_is_hc2() -> None:
    rng = np.random.default_rng(1)
    n = 30
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = x @ [1.0, 2.0] + rng.normal(size=n) * np.abs(x[:, 1])
    fit = cr2_fit(x, y, np.arange(n))
    ref = sm.OLS(y, x).fit(cov_type="HC2")
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(fit.cov, ref.cov_params(), rtol=1e-8)


def test_nested_groups_must_lie_within_clusters() -> None:
    x = np.ones((4, 1))
    with pytest.raises(ValueError, match="within one cluster"):
        cr2_fit(x, np.arange(4.0), np.array([0, 0, 1, 1]), nested=np.array([0, 1, 1, 2]))
