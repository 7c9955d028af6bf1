"""The horizon and communication rules, the symmetric family and `n_states` (docs/scenarios.md)."""

from __future__ import annotations

from typing import Any

import pytest
from dilemma.scenarios.library import ScenarioError, load_builtin, parse_scenario, with_n_states
from dilemma.scenarios.schema import Rules
from hypothesis import given, settings
from hypothesis import strategies as st

from dilemma.core.rule_defaults import RULE_DEFAULTS_OMITTED
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.simulation.horizon import continuation_draws, realized_rounds


def _rules(**kw: Any) -> Rules:
    return Rules.model_validate({"rounds": 10, **kw})


def test_defaults_dump_as_before_so_run_ids_do_not_change() -> None:
    dumped = load_builtin("two-rivals").model_dump(mode="json")["rules"]
    for key in ("horizon", "continuation", "min_rounds", "communication"):
        assert key not in dumped
    geometric = _rules(horizon="geometric", continuation=0.5, communication="none")
    assert geometric.model_dump(mode="json")["horizon"] == "geometric"
    assert geometric.model_dump(mode="json")["communication"] == "none"


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ({"horizon": "geometric"}, "needs `continuation`"),
        ({"horizon": "geometric", "continuation": 1.0}, "less than 1"),
        ({"horizon": "geometric", "continuation": 0.0}, "greater than 0"),
        ({"horizon": "geometric", "continuation": 0.5, "min_rounds": 11}, "must not exceed"),
        ({"horizon": "sometimes"}, "horizon"),
        ({"communication": "smoke"}, "communication"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rules: dict[str, Any], words: str) -> None:
    data = load_builtin("symmetric").model_dump(mode="json")
    data["rules"] = {**data["rules"], **rules}
    with pytest.raises(ScenarioError, match=r"file\.yaml") as exc:
        parse_scenario(data, "file.yaml")
    assert words in str(exc.value)


@pytest.mark.parametrize(
    "rules",
    [
        {},
        {"horizon": "geometric", "continuation": 0.75, "min_rounds": 2},
        {"communication": "none", "accident_rate": 0.1, "accidents_disclosed": True},
    ],
)
def test_the_snapshot_dumps_rules_as_the_scenario_does(rules: dict[str, Any]) -> None:
    data = load_builtin("symmetric").model_dump(mode="json")
    data["rules"] = {**data["rules"], **rules}
    scenario = parse_scenario(data, "file.yaml").model_dump(mode="json")
    snapshot = ScenarioSnapshot.model_validate(data).model_dump(mode="json")
    assert snapshot["rules"] == scenario["rules"]
    assert set(RULE_DEFAULTS_OMITTED) - set(rules) <= set(RULE_DEFAULTS_OMITTED) - set(
        snapshot["rules"]
    )


def test_old_snapshots_read_as_known_and_full() -> None:
    data = load_builtin("two-rivals").model_dump(mode="json")
    snap = ScenarioSnapshot.model_validate(data)
    assert (snap.rules.horizon, snap.rules.communication) == ("known", "full")


def test_known_and_hidden_last_their_rounds() -> None:
    assert realized_rounds(_rules(), 3) == 10
    assert realized_rounds(_rules(horizon="hidden"), 3) == 10


def test_geometric_length_follows_the_draws() -> None:
    rules = _rules(horizon="geometric", continuation=0.6, min_rounds=3)
    for seed in range(50):
        draws = continuation_draws(seed, 7)
        stop = next((k for k, u in enumerate(draws) if u >= 0.6), None)
        assert realized_rounds(rules, seed) == (10 if stop is None else 3 + stop)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rounds=st.integers(1, 200),
    delta=st.floats(0.01, 0.99),
    first=st.integers(1, 200),
)
def test_geometric_length_is_bounded_and_deterministic(
    seed: int, rounds: int, delta: float, first: int
) -> None:
    first = min(first, rounds)
    rules = _rules(rounds=rounds, horizon="geometric", continuation=delta, min_rounds=first)
    length = realized_rounds(rules, seed)
    assert first <= length <= rounds
    assert realized_rounds(rules, seed) == length


def test_geometric_mean_length_matches_delta() -> None:
    rules = _rules(rounds=200, horizon="geometric", continuation=0.75, min_rounds=1)
    lengths = [realized_rounds(rules, seed) for seed in range(4000)]
    mean = sum(lengths) / len(lengths)
    assert mean == pytest.approx(1 + 0.75 / 0.25, abs=0.15)  # sd 3.5 / sqrt(4000) = 0.055


def test_symmetric_states_are_identical_apart_from_names() -> None:
    sc = load_builtin("symmetric")
    dumps = [s.model_dump(mode="json") for s in sc.states]
    for d in dumps:
        d.pop("id"), d.pop("name"), d.pop("name_by_regime")
    assert all(d == dumps[0] for d in dumps)
    assert sc.ids == ["A", "B"]


@pytest.mark.parametrize("n", [2, 3, 8])
def test_with_n_states_makes_n_copies(n: int) -> None:
    data = with_n_states(load_builtin("symmetric").model_dump(mode="json"), n, "x")
    sc = parse_scenario(data, "x")
    assert sc.ids == list("ABCDEFGH"[:n])
    assert [s.name for s in sc.states] == [f"State {c}" for c in "ABCDEFGH"[:n]]
    assert len({(s.arms, s.economy, s.regime, s.transparency) for s in sc.states}) == 1


@pytest.mark.parametrize("n", [1, 9, 2.0, True, "3"])
def test_with_n_states_refuses_out_of_range(n: object) -> None:
    with pytest.raises(ScenarioError, match="n_states must be an integer from 2 to 8"):
        with_n_states(load_builtin("symmetric").model_dump(mode="json"), n, "x")


def test_with_n_states_refuses_an_asymmetric_scenario() -> None:
    with pytest.raises(ScenarioError, match="differs from 'Aria' in"):
        with_n_states(load_builtin("two-rivals").model_dump(mode="json"), 3, "x")
