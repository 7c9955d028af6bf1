"""Every enumeration of records and prompts reads `.value` fast and still behaves as a StrEnum."""

from __future__ import annotations

import enum
import pickle

import pytest
from pydantic import TypeAdapter

import agents.decision
import agents.ladder
import agents.observation
import agents.personas
import agents.structured_mode
from agents.str_enum import FastStrEnum

ENUMS = [
    agents.decision.Intent,
    agents.decision.ProposalKind,
    agents.ladder.Rung,
    agents.ladder.Action,
    agents.observation.Phase,
    agents.observation.ArmsSource,
    agents.personas.Regime,
    agents.personas.Transparency,
    agents.personas.Disposition,
    agents.structured_mode.StructuredMode,
]


def test_every_enumeration_of_the_package_is_listed() -> None:
    """A new enumeration that forgets the fast base is caught here."""
    modules = (
        agents.decision,
        agents.ladder,
        agents.observation,
        agents.personas,
        agents.structured_mode,
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
