"""Resolution rules: caps, democratic forewarning, treaties and breaches, war."""

from __future__ import annotations

from typing import Any

import pytest
from dilemma.scenarios.library import parse_scenario

from dilemma.core.decision import Decision
from dilemma.simulation.world import World, new_world, resolve_round


def scenario(**rules: Any) -> dict[str, Any]:
    return {
        "name": "unit",
        "states": [
            {
                "id": "A",
                "name": "A",
                "regime": "democracy",
                "transparency": "transparent",
                "arms": 100,
                "economy": 1000,
            },
            {
                "id": "B",
                "name": "B",
                "regime": "autocracy",
                "transparency": "secretive",
                "arms": 100,
                "economy": 1000,
            },
        ],
        "rules": {
            "rounds": 5,
            "subturns": 0,
            "arms_cap_pct": 10,
            "forewarning_threshold_pct": 3,
            **rules,
        },
    }


def world(**rules: Any) -> World:
    w = new_world(parse_scenario(scenario(**rules), "unit"), seed=7)
    w.round = 1
    return w


def decision(other: str, change: int, **extra: Any) -> Decision:
    data: dict[str, Any] = {
        "threat": [{"state": other, "level": 3, "reason": "r"}],
        "arms_change": change,
        "action": "status_quo",
        "private_intent": [{"state": other, "intent": "defensive"}],
        "perceived_intent": [{"state": other, "intent": "defensive"}],
        "forecast": [{"state": other, "arms_change": 0}],
        "signals": [{"state": other, "rung": "status_quo"}],
    }
    data.update(extra)
    return Decision.model_validate(data)


def play(w: World, a: Decision | None, b: Decision | None) -> Any:
    res = resolve_round(w, {"A": a, "B": b})
    w.round += 1
    return res


def outcome(res: Any, sid: str) -> Any:
    return next(o for o in res.outcomes if o.state == sid)


def test_cap_limits_requested_change() -> None:
    w = world()
    res = play(w, decision("B", -25), decision("A", 40))
    assert outcome(res, "A").applied_change == -10
    assert outcome(res, "B").applied_change == 10
    assert w.nations["B"].arms == pytest.approx(110)
    assert any("cap" in a for a in outcome(res, "B").adjustments)


def test_democracy_needs_forewarning_for_large_rises() -> None:
    w = world()
    res = play(w, decision("B", 8, announced_next_arms_change=8), decision("A", 8))
    assert outcome(res, "A").applied_change == 3  # not announced: limited to threshold
    assert any("forewarning" in a for a in outcome(res, "A").adjustments)
    assert outcome(res, "B").applied_change == 8  # autocracy: no forewarning rule
    res = play(w, decision("B", 8), decision("A", 8))
    assert outcome(res, "A").applied_change == 8  # announced the round before
    res = play(w, decision("B", 8), decision("A", 8))
    assert outcome(res, "A").applied_change == 3  # last round announced nothing


def test_announcement_only_covers_what_was_announced() -> None:
    w = world()
    play(w, decision("B", 0, announced_next_arms_change=5), decision("A", 0))
    res = play(w, decision("B", 9), decision("A", 0))
    assert outcome(res, "A").applied_change == 5


def offer(kind: str, value: int = 0) -> list[dict[str, Any]]:
    return [{"kind": kind, "parties": ["B"], "value": value}]


def test_treaty_forms_when_all_parties_accept_then_breach_ends_it() -> None:
    w = world()
    res = play(w, decision("B", 0, proposals=offer("arms_cap", 0)), decision("A", 0))
    assert [p.id for p in res.proposals_opened] == ["P1-A-1"]
    assert not res.treaties_formed
    res = play(
        w, decision("B", 0), decision("A", 0, responses=[{"proposal": "P1-A-1", "accept": True}])
    )
    assert len(res.treaties_formed) == 1 and set(res.treaties_formed[0].parties) == {"A", "B"}
    res = play(w, decision("B", 0), decision("A", 0))
    assert not res.breaches
    res = play(w, decision("B", 0), decision("A", 5))
    assert [(b.state, b.applied_change) for b in res.breaches] == [("B", 5)]
    assert res.treaties_ended == [res.breaches[0].treaty]
    assert not w.treaties


def test_rejected_or_unanswered_offer_forms_no_treaty() -> None:
    w = world()
    play(w, decision("B", 0, proposals=offer("verification")), decision("A", 0))
    res = play(
        w, decision("B", 0), decision("A", 0, responses=[{"proposal": "P1-A-1", "accept": False}])
    )
    assert not res.treaties_formed and not w.treaties
    play(w, decision("B", 0, proposals=offer("verification")), decision("A", 0))
    res = play(w, decision("B", 0), None)  # B's decision failed: it accepted nothing
    assert not res.treaties_formed


def test_fallback_keeps_arms_and_is_marked() -> None:
    w = world()
    res = play(w, decision("B", 5), None)
    b = outcome(res, "B")
    assert b.fallback and b.applied_change == 0 and b.requested_change is None
    assert b.arms_after == b.arms_before


def test_war_action_is_recorded() -> None:
    w = world()
    res = play(w, decision("B", 0), decision("A", 0, action="full_scale_war", target="A"))
    assert [(x.initiator, x.target) for x in res.wars] == [("B", "A")]
    assert w.war is not None and w.war.initiator == "B"


def test_arming_costs_economy() -> None:
    w = world(arms_cost=2.0, economy_growth_pct=0)
    play(w, decision("B", 0), decision("A", 10))
    assert w.nations["B"].economy == pytest.approx(1000 - 2.0 * 10)
    assert w.nations["A"].economy == pytest.approx(1000)
