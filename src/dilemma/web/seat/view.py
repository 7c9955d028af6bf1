"""The observation of a seat rendered for reading: shared phrases and the terminal's text.

A person sees the same observation a model gets (dilemma.core.observation.Observation), as text
instead
of JSON. Everything other states wrote is shown as plain text, never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass

from dilemma.agents.human_seat import SeatRequest
from dilemma.agents.prompt_setup import round_line
from dilemma.core.decision import Intent
from dilemma.core.ladder import ACTION_RUNG, Action, Rung, action_weight
from dilemma.core.observation import ArmsSource, Observation, OtherView, Phase

RUNG_MEANING: dict[Rung, str] = {
    Rung.DE_ESCALATION: "de-escalation",
    Rung.STATUS_QUO: "status quo",
    Rung.POSTURING: "posturing",
    Rung.NON_VIOLENT_ESCALATION: "non-violent escalation",
    Rung.VIOLENT_ESCALATION: "violent escalation",
    Rung.ALL_OUT_WAR: "all-out war (it starts a war)",
}
INTENTS = [i.value for i in Intent]
ACTIONS = [a.value for a in Action]
RUNGS = tuple(r.value for r in Rung)
"""The rungs a public signal can declare, least escalatory first."""


@dataclass(frozen=True)
class LadderRow:
    """One action of the escalation ladder, least escalatory first."""

    action: str
    rung: str
    weight: int


LADDER = [LadderRow(a.value, RUNG_MEANING[ACTION_RUNG[a]], action_weight(a)) for a in Action]


def arms_text(other: OtherView) -> str:
    """How the observer knows another state's arms, with the estimate's uncertainty."""
    if other.arms_source is ArmsSource.INTELLIGENCE:
        spread = other.arms * other.arms_uncertainty_pct / 100
        return (
            f"{other.arms:.1f} (intelligence estimate as of round {other.arms_as_of_round},"
            f" ±{other.arms_uncertainty_pct}% at one standard deviation: about"
            f" {other.arms - spread:.1f} to {other.arms + spread:.1f})"
        )
    source = {
        ArmsSource.EXACT: "exact",
        ArmsSource.VERIFICATION: "exact, by verification treaty",
        ArmsSource.SUMMIT: "exact, disclosed at the summit",
    }[other.arms_source]
    return f"{other.arms:.1f} ({source}, as of round {other.arms_as_of_round})"


def pct(value: float | None) -> str:
    """A percent change, or `-` when there is none."""
    return "-" if value is None else f"{value:+.1f}%"


def phase_title(obs: Observation) -> str:
    """`Round 2 of 8: negotiation 1 of 1` or `Round 2 of 8: decision`."""
    step = (
        f"negotiation {obs.subturn} of {obs.subturns_total}"
        if obs.phase is Phase.NEGOTIATION
        else "decision"
    )
    return f"{round_line(obs)}: {step}"


def observation_text(request: SeatRequest) -> str:
    """The whole observation of a turn as plain text for the terminal."""
    obs = request.observation
    you = obs.you
    lines = [
        f"=== {phase_title(obs)}. You are {you.name} ({you.id}) ===",
        f"Your arms {you.arms:.1f}, economy {you.economy:.1f}, last arms change"
        f" {pct(you.last_arms_change)}, announced for this round"
        f" {pct(you.my_announced_arms_change)}.",
        f"Rules: arms change within ±{obs.rules.arms_cap_pct}% per round"
        + (
            f"; increases above {obs.rules.forewarning_threshold_pct}% must be announced the"
            " round before"
            if obs.rules.forewarning_threshold_pct is not None
            else ""
        )
        + f"; offense-defense balance {obs.rules.offense_defense:g}"
        + ("; a war ends the run" if obs.rules.war_ends_run else "")
        + ("; summit this round" if obs.rules.summit_this_round else "")
        + ("; summit next round" if obs.rules.summit_next_round else "")
        + ".",
        "Other states:",
    ]
    for o in obs.others:
        lines.append(
            f"  {o.name} ({o.id}), {o.regime.value}, {o.transparency.value}: arms {arms_text(o)};"
            f" last change {pct(o.last_arms_change)}; announced next"
            f" {pct(o.announced_next_arms_change)}; last action"
            f" {o.last_action.value if o.last_action else '-'}"
            + (f" toward {o.last_target}" if o.last_target else "")
        )
    sections: list[tuple[str, list[str]]] = [
        ("Public statements", [f"  r{s.round} {s.sender}: {s.text}" for s in obs.statements or ()]),
        (
            "Messages",
            [f"  r{s.round} {s.sender} -> {', '.join(s.to)}: {s.text}" for s in obs.messages or ()],
        ),
        (
            "Open offers",
            [
                f"  {p.id}: {p.kind.value} by {p.proposer} to {', '.join(p.parties)}"
                f" (value {p.value})"
                for p in obs.open_proposals or ()
            ],
        ),
        (
            "Treaties in force",
            [
                f"  {t.id}: {t.kind.value} among {', '.join(t.parties)} (value {t.value},"
                f" since round {t.since_round})"
                for t in obs.treaties
            ],
        ),
        (
            "Plans disclosed at the summit",
            [f"  {p.state}: {pct(p.announced_arms_change)}" for p in obs.disclosed_plans],
        ),
        (
            "History (arms as you saw them; actions)",
            [
                f"  r{h.round}: "
                + "; ".join(
                    f"{sid} {arms:.1f}" + (f" {h.actions[sid].value}" if sid in h.actions else "")
                    for sid, arms in h.arms.items()
                )
                for h in obs.history
            ],
        ),
    ]
    for title, rows in sections:
        if rows:
            lines += [f"{title}:", *rows]
    return "\n".join(lines)


def ladder_text() -> str:
    """The escalation ladder, one numbered action per line."""
    return "\n".join(
        f"  {i:2}. {row.action:<18} {row.rung} (weight {row.weight})"
        for i, row in enumerate(LADDER, 1)
    )
