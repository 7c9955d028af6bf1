"""Power figures at every number of runs: no crash, and the numbers are what they claim.

statsmodels' `solve_power` sometimes returns a one-element array or a negative root, and its
power function gives NaN at some points; `compare` once crashed (TypeError) at such seed counts.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from dilemma.evaluation.comparison import Resampling, compare
from dilemma.evaluation.power import detectable, t_power
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import TTestIndPower, TTestPower

from dilemma.cli.compare import comparison_json, comparison_text
from dilemma.report.comparison import comparison_html
from tests.helpers.run_tables import synthetic_runs

# seed counts per level at which `compare` used to crash (paired, then unpaired)
KNOWN_PAIRED = (48, 57, 59, 69, 71, 79, 87, 97, 103, 121)
KNOWN_UNPAIRED = (96, 103, 104, 106, 107, 118, 122, 123, 126, 127)


@settings(max_examples=60, deadline=None)
@given(
    paired=st.booleans(),
    n=st.integers(2, 5_000),
    n_b=st.integers(2, 5_000),
    alpha=st.floats(1e-4, 0.1),
)
def test_the_detectable_effect_has_the_power_it_claims(
    paired: bool, n: int, n_b: int, alpha: float
) -> None:
    ratio = 1.0 if paired else n_b / n
    es = detectable(paired, n, ratio, alpha)
    assert isinstance(es, float) and 0 < es < math.inf
    power = float(t_power(paired, es, n, alpha, ratio=ratio)[()])
    assert power == pytest.approx(0.8, abs=1e-6)
    if paired:  # more pairs never need a larger effect
        assert detectable(paired, n + 1, ratio, alpha) <= es * (1 + 1e-9)


def test_t_power_is_statsmodels_where_that_gives_a_number_and_finite_elsewhere() -> None:
    es = np.geomspace(0.01, 50, 120)[:, None]
    n = np.arange(2, 200, dtype="float64")[None, :]
    for paired, analysis in ((True, TTestPower()), (False, TTestIndPower())):
        for alternative in ("two-sided", "larger"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = np.asarray(analysis.power(es, n, 0.0125, alternative=alternative), float)
            mine = t_power(paired, es, n, 0.0125, alternative)
            known = np.isfinite(ref)
            assert (~known).any()  # the gaps this function fills exist
            assert np.array_equal(mine[known], ref[known])
            assert np.isfinite(mine).all() and ((mine >= 0) & (mine <= 1 + 1e-12)).all()
            # power rises with the effect size, also across the filled gaps
            assert (np.diff(mine, axis=0) >= -1e-9).all()


def _compare_everywhere(n: int, matched: bool) -> None:
    """compare, its terminal and JSON forms and the report's section, at n runs per level."""
    table = synthetic_runs(np.random.default_rng(n), n, cells=("g1",), matched=matched)
    result = compare(table, "f", resampling=Resampling(n_boot=99, n_perm=2_000))
    design = "paired" if matched else "independent"
    assert (result.pairs["design"] == design).all()
    primary = result.pairs[result.pairs["family"] == "primary"]
    assert primary["mde"].notna().all() and (primary["mde"] > 0).all(), primary["mde"]
    assert primary["seeds_needed"].notna().all()
    comparison_text(result, "default set")
    json.dumps(comparison_json(result, [], "default set"), allow_nan=False)
    assert "verdict" in comparison_html(result)


@pytest.mark.parametrize("n", KNOWN_PAIRED)
def test_compare_at_the_seed_counts_that_crashed_paired(n: int) -> None:
    _compare_everywhere(n, matched=True)


@pytest.mark.parametrize("n", KNOWN_UNPAIRED)
def test_compare_at_the_seed_counts_that_crashed_unpaired(n: int) -> None:
    _compare_everywhere(n, matched=False)


@pytest.mark.slow
@pytest.mark.parametrize("matched", [True, False], ids=["paired", "unpaired"])
def test_compare_at_every_seed_count_from_2_to_150(matched: bool) -> None:
    for n in range(2, 151):
        _compare_everywhere(n, matched)
