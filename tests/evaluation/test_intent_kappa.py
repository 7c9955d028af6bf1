"""Cohen's kappa of intent reading: chance-corrected, per run, per observer and per dyad."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation import score
from dilemma.evaluation.intent import run_intent
from statsmodels.stats.inter_rater import cohens_kappa

from dilemma.core.decision import Intent
from tests.helpers.records import Move, RecordBuilder

D, T, C, A = Intent.DEFENSIVE, Intent.DETERRENT, Intent.COERCIVE, Intent.AGGRESSIVE
V1 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1"


def _judgements(actual: np.ndarray, perceived: np.ndarray) -> pd.DataFrame:
    """Pair rows of one run with the judgement columns the intent measures read."""
    return pd.DataFrame(
        {
            "run_id": "r",
            "i": "A",
            "j": "B",
            "perceived_intent": perceived.astype("float64"),
            "actual_intent": actual.astype("float64"),
            "intent_error": (perceived - actual).astype("float64"),
        }
    )


def test_random_guessing_over_four_intents_scores_kappa_near_zero() -> None:
    rng = np.random.default_rng(3)
    actual, perceived = rng.integers(0, 4, 8000), rng.integers(0, 4, 8000)
    run = run_intent(_judgements(actual, perceived)).iloc[0]
    assert run["intent_accuracy"] == pytest.approx(0.25, abs=0.02)
    assert run["intent_kappa"] == pytest.approx(0.0, abs=0.03)


def test_perfect_reading_scores_one_and_matches_statsmodels() -> None:
    rng = np.random.default_rng(4)
    actual = rng.integers(0, 4, 200)
    assert run_intent(_judgements(actual, actual)).iloc[0]["intent_kappa"] == 1.0
    noisy = np.where(rng.random(200) < 0.6, actual, rng.integers(0, 4, 200))
    table = pd.crosstab(actual, noisy).reindex(index=range(4), columns=range(4), fill_value=0)
    want = cohens_kappa(table.to_numpy()).kappa
    assert run_intent(_judgements(actual, noisy)).iloc[0]["intent_kappa"] == pytest.approx(want)


def test_kappa_per_observer_and_per_dyad_from_a_record(tmp_path: Path) -> None:
    """A reads B right in both rounds (two levels): kappa 1; B always says aggressive: kappa 0."""
    b = RecordBuilder(["A", "B"], rounds=2)
    b.play({"A": Move(intent=D, perceived=C), "B": Move(intent=C, perceived=A)})
    b.play({"A": Move(intent=T, perceived=D), "B": Move(intent=D, perceived=A)})
    s = score(b.write(tmp_path / "r.jsonl"))
    d = s.dyads.iloc[0]
    assert (d["intent_kappa_ab"], d["intent_kappa_ba"]) == (1.0, 0.0)
    states = s.states.set_index("state")
    assert states.loc["A", "intent_kappa"] == 1.0 and states.loc["A", "intent_accuracy"] == 1.0
    assert states.loc["B", "intent_kappa"] == 0.0 and states.loc["B", "intent_accuracy"] == 0.0
    # run: 4 judgements, 2 right; actual D,T,C,D, perceived C,A,D,A
    # p_o = 0.5, p_e = (2*1 + 1*1 + 1*0 + 0*2) / 16 = 3/16
    assert s.runs.iloc[0]["intent_kappa"] == pytest.approx((0.5 - 3 / 16) / (1 - 3 / 16))


def test_kappa_is_missing_not_zero_without_judgements() -> None:
    s = score(V1 / "scripted")
    assert s.runs["intent_kappa"].isna().all()
    assert s.dyads["intent_kappa_ab"].isna().all()
    assert s.states["intent_kappa"].isna().all()
    one = run_intent(_judgements(np.array([1]), np.array([1])))["intent_kappa"].iloc[0]
    assert math.isnan(one)  # a single agreeing judgement: chance agreement is 1, kappa undefined
