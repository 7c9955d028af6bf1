"""The t and chi-squared functions of the scoring path give scipy.stats' values exactly."""

from __future__ import annotations

import numpy as np
from dilemma.evaluation.distributions import chi2_ppf, t_ppf, t_sf
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

finite = st.floats(allow_nan=True, allow_infinity=True, width=64)
dofs = st.one_of(st.integers(-2, 400).map(float), st.just(float("nan")))
probs = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 1.0, 0.975, 0.8]))


@given(finite, dofs)
def test_t_sf_is_scipys(x: float, df: float) -> None:
    np.testing.assert_array_equal(t_sf(x, df), stats.t.sf(x, df))


@given(probs, dofs)
def test_t_ppf_is_scipys(q: float, df: float) -> None:
    np.testing.assert_array_equal(t_ppf(q, df), stats.t.ppf(q, df))


@given(probs, dofs)
def test_chi2_ppf_is_scipys(q: float, df: float) -> None:
    np.testing.assert_array_equal(chi2_ppf(q, df), stats.chi2.ppf(q, df))


def test_arrays_broadcast_like_scipy() -> None:
    x = np.linspace(-5, 5, 11)
    df = np.arange(1, 12, dtype=float)
    np.testing.assert_array_equal(t_sf(np.abs(x), df), stats.t.sf(np.abs(x), df))
    np.testing.assert_array_equal(t_ppf(0.975, df), stats.t.ppf(0.975, df))
