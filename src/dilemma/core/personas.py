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


@dataclass(frozen=True)
class Persona:
    """Everything a prompt needs to know about who the state is."""

    state_id: str
    name: str
    regime: Regime
    transparency: Transparency
    disposition: Disposition
    doctrine: str
