"""Vectorised per-group statistics (dilemma.evaluation.stats) against statsmodels, on any index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from dilemma.evaluation.stats import group_ols2, group_slope, streak_lengths


def _grouped(seed: int) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in (("a", 9), ("b", 14), ("c", 30)):
        f = pd.DataFrame({"k": k, "x1": rng.normal(size=n), "x2": rng.normal(size=n) * 5})
        f["y"] = 1.5 + 2.0 * f["x1"] - 0.3 * f["x2"] + rng.normal(scale=0.7, size=n)
        frames.append(f)
    return frames


def test_group_ols2_matches_statsmodels_also_with_a_duplicated_index() -> None:
    frames = _grouped(1)
    stacked = pd.concat(frames)  # every group has index 0..n-1: labels repeat across groups
    assert not stacked.index.is_unique
    fit = group_ols2(stacked, ["k"], "y", "x1", "x2")
    assert fit.equals(group_ols2(stacked.reset_index(drop=True), ["k"], "y", "x1", "x2"))
    for f in frames:
        ref = sm.OLS(f["y"], sm.add_constant(f[["x1", "x2"]])).fit()
        got = fit.loc[f["k"].iloc[0]]
        assert got["n_obs"] == len(f) and got["dof"] == ref.df_resid
        np.testing.assert_allclose(got[["c0", "c1", "c2"]].to_numpy(float), ref.params, rtol=1e-10)
        np.testing.assert_allclose(got[["se0", "se1", "se2"]].to_numpy(float), ref.bse, rtol=1e-9)
        assert got["cov12"] == pytest.approx(ref.cov_params().iloc[1, 2], rel=1e-9)
        assert got["sigma2"] == pytest.approx(ref.scale, rel=1e-9)
        assert got["r2"] == pytest.approx(ref.rsquared, rel=1e-9)


def test_group_slope_and_streaks_ignore_the_index() -> None:
    stacked = pd.concat(_grouped(2))
    slopes = group_slope(stacked, ["k"], "x1", "y")
    assert slopes.equals(group_slope(stacked.reset_index(drop=True), ["k"], "x1", "y"))
    assert list(slopes["n"]) == [9, 14, 30]
    flags = pd.DataFrame(
        {"k": list("aaaaabbb"), "t": [1, 2, 3, 4, 5, 1, 2, 3], "on": [1, 1, 0, 1, 1, 1, 1, 1]},
        index=[0, 0, 1, 1, 2, 2, 3, 3],
    )
    flags["on"] = flags["on"].astype(bool)
    assert list(streak_lengths(flags, ["k"], "t", "on")) == [2, 2, 0, 2, 2, 3, 3, 3]
