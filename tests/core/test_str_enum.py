"""Every enumeration of records and prompts reads `.value` fast and still behaves as a StrEnum."""

from __future__ import annotations

import enum
import pickle

import pytest
from pydantic import TypeAdapter

import dilemma.core.decision
import dilemma.core.ladder
import dilemma.core.observation
import dilemma.core.personas
import dilemma.core.structured_mode
from dilemma.core.str_enum import FastStrEnum

ENUMS = [
    dilemma.core.decision.Intent,
    dilemma.core.decision.ProposalKind,
    dilemma.core.ladder.Rung,
    dilemma.core.ladder.Action,
    dilemma.core.observation.Phase,
    dilemma.core.observation.ArmsSource,
    dilemma.core.personas.Regime,
    dilemma.core.personas.Transparency,
    dilemma.core.personas.Disposition,
    dilemma.core.structured_mode.StructuredMode,
]


def test_every_enumeration_of_the_package_is_listed() -> None:
    """A new enumeration that forgets the fast base is caught here."""
    modules = (
        dilemma.core.decision,
        dilemma.core.ladder,
        dilemma.core.observation,
        dilemma.core.personas,
        dilemma.core.structured_mode,
    )
    found = {
        v
        for m in modules
        for v in vars(m).values()
        if isinstance(v, type) and issubclass(v, enum.Enum) and v is not FastStrEnum
    }
    assert found == set(ENUMS)
    assert all(issubclass(e, FastStrEnum) for e in ENUMS)


@pytest.mark.parametrize("kind", ENUMS, ids=lambda e: e.__name__)
def test_members_read_written_and_compared_as_their_strings(kind: type[FastStrEnum]) -> None:
    assert "value" not in kind.__members__
    adapter = TypeAdapter(list[kind])  # type: ignore[valid-type]
    for member in kind:
        raw = enum.Enum.__dict__["value"].__get__(member, kind)  # what Enum itself returns
        assert member.value == raw == str(member) == member
        assert kind(raw) is member and pickle.loads(pickle.dumps(member)) is member
    members = list(kind)
    text = adapter.dump_json(members).decode()
    assert text == "[" + ",".join(f'"{m.value}"' for m in members) + "]"
    assert adapter.validate_json(text) == members
