"""Persona enums and the persona value: regime x transparency x disposition plus doctrine."""

from __future__ import annotations

from dataclasses import dataclass

from dilemma.core.str_enum import FastStrEnum


class Regime(FastStrEnum):
    """How a state is governed."""

    DEMOCRACY = "democracy"
    AUTOCRACY = "autocracy"


class Transparency(FastStrEnum):
    """Whether a state's arms and plans are visible to others."""

    TRANSPARENT = "transparent"
    SECRETIVE = "secretive"


class Disposition(FastStrEnum):
    """A state's private aim: keep the status quo or change it."""

    SECURITY_SEEKER = "security_seeker"
    REVISIONIST = "revisionist"


def join_doctrine(neutral: str, *fragments: str | None) -> str:
    """The doctrine a state is shown: its neutral text, then the fragment for each of its levels
    (None: the scenario gives no fragments for that dimension). Non-empty parts are joined by one
    space; with no fragments at all the neutral text is returned unchanged."""
    given = [f for f in fragments if f is not None]
    if not given:
        return neutral
    return " ".join(p.strip() for p in (neutral, *given) if p.strip())


@dataclass(frozen=True)
class Persona:
    """Everything a prompt needs to know about who the state is."""

    state_id: str
    name: str
    regime: Regime
    transparency: Transparency
    disposition: Disposition
    doctrine: str
