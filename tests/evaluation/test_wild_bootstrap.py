"""The wild cluster restricted bootstrap of a CR2 t statistic: its vectorised draws against
explicit refits, the null it imposes, its weights and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from dilemma.evaluation.cluster_robust import cr2_fit, partial_out
from dilemma.evaluation.reaction_pooled import EQ, _codes, _design, pooled_reaction
from dilemma.evaluation.reaction_sim import simulate, simulated_rows
from dilemma.evaluation.wild_bootstrap import WEIGHTS, cluster_weights, wild_parts


def _pool(kind: str, seed: int, runs: int = 12) -> tuple[np.ndarray, ...]:
    rows = simulated_rows(simulate(kind, runs, 8, np.random.default_rng(seed)))
    rows = rows.dropna(subset=["d_own", "own", "rival"]).reset_index(drop=True)
    z = _design(rows, ["d_own", "rival", "own"])
    groups = (_codes(rows, EQ), _codes(rows, ["i", "j", "round"]))
    return z[:, 1:], z[:, 0], _codes(rows, ["run_id"]), *groups


def _refit_t(x: np.ndarray, y: np.ndarray, cluster: np.ndarray, groups: list[np.ndarray],
             w: np.ndarray, null: float) -> float:  # fmt: skip
    """One draw the slow way: the restricted fit plus w_g times its residuals, refitted."""
    target = y - null * x[:, 0]
    own = x[:, 1:]
    fitted = own @ np.linalg.lstsq(own, target, rcond=None)[0]
    resid = target - fitted
    y_star = fitted + null * x[:, 0] + partial_out(w[cluster] * resid, groups)[:, 0]
    fit = cr2_fit(x, y_star, cluster, *groups)
    return float((fit.params[0] - null) / fit.se[0])


@pytest.mark.parametrize("null", [0.0, 0.07])
def test_vectorised_draws_equal_explicit_refits(null: float) -> None:
    x, y, cluster, nested, crossed = _pool("random", seed=3)
    fit = cr2_fit(x, y, cluster, nested, crossed)
    parts = wild_parts(fit, x, y, cluster, [nested, crossed])
    weights = cluster_weights(fit.n_clusters, 4, np.random.default_rng(1), "webb")
    draws = parts.wild_t(weights, null).draws
    for j in range(weights.shape[1]):
        slow = _refit_t(x, y, cluster, [nested, crossed], weights[:, j], null)
        assert draws[j] == pytest.approx(slow, rel=1e-6, abs=1e-8)


def test_unit_weights_give_back_the_data() -> None:
    x, y, cluster, nested, crossed = _pool("stable", seed=4)
    fit = cr2_fit(x, y, cluster, nested, crossed)
    parts = wild_parts(fit, x, y, cluster, [nested, crossed])
    boot = parts.wild_t(np.ones((fit.n_clusters, 1)))
    assert boot.draws[0] == pytest.approx(boot.t)
    assert boot.t == pytest.approx(fit.params[0] / fit.se[0])
    assert parts.num / parts.den == pytest.approx(fit.params[0])


def test_score_weights_give_the_cr2_variance() -> None:
    x, y, cluster, nested, crossed = _pool("random", seed=5)
    fit = cr2_fit(x, y, cluster, nested, crossed)
    assert fit.score_weights is not None
    resid = y - x @ fit.params
    g = fit.n_clusters
    for c in range(2):
        scores = fit.score_weights[:, c * g : (c + 1) * g].T @ resid
        assert np.sum(scores**2) == pytest.approx(fit.cov[c, c])


def test_planted_reaction_is_far_outside_the_null_draws() -> None:
    """A stable reactive system (k = 0.10): no draw under k = 0 reaches the data's t."""
    fit = pooled_reaction(simulated_rows(simulate("stable", 20, 8, np.random.default_rng(6))))
    assert fit["p_k"] < 0.002 and fit["p_k_bm"] < 0.002


def test_draws_under_the_null_are_centred_t_like() -> None:
    """With the null imposed the draws' t are centred with unit-order spread, whatever the
    data's t, and the p of independent random arming is not concentrated near 0."""
    x, y, cluster, nested, crossed = _pool("stable", seed=7, runs=20)
    fit = cr2_fit(x, y, cluster, nested, crossed)
    boot = wild_parts(fit, x, y, cluster, [nested, crossed]).wild_t(
        cluster_weights(20, 2000, np.random.default_rng(2))
    )
    assert abs(boot.t) > 5
    assert abs(np.mean(boot.draws)) < 0.1 and 0.7 < np.std(boot.draws) < 1.5
    rng = np.random.default_rng(8)
    ps = [pooled_reaction(simulated_rows(simulate("random", 20, 8, rng)))["p_k"] for _ in range(40)]
    # roughly uniform: about a quarter in each quarter of [0, 1]
    counts = np.histogram(ps, bins=4, range=(0, 1))[0]
    assert counts.min() >= 3, counts


@pytest.mark.parametrize("kind", WEIGHTS)
def test_weights_have_mean_zero_and_unit_variance(kind: str) -> None:
    w = cluster_weights(50, 4000, np.random.default_rng(0), kind)
    assert w.shape == (50, 4000)
    assert abs(w.mean()) < 0.02 and abs(w.var() - 1.0) < 0.03
    again = cluster_weights(50, 4000, np.random.default_rng(0), kind)
    assert np.array_equal(w, again)


def test_unknown_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown weights"):
        cluster_weights(3, 3, np.random.default_rng(0), "normal")
