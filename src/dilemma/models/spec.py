"""A model spec, parsed once into a typed value (light: no provider package is imported).

Specs:
- `PROVIDER:MODEL`: e.g. `openai:gpt-4o-mini`, or anything LangChain's `init_chat_model` knows;
- `scripted:POLICY`: a baseline policy (`dilemma.models.scripted`);
- `local`: the embedded llama.cpp model; `human`: a person in the seat.

`ModelSpec.parse` checks the syntax only; `dilemma.models.registry.check_spec` also checks what
a provider needs to know up front (the scripted policy's name). Records keep the spec's text.
"""

from __future__ import annotations

from dataclasses import dataclass

HUMAN = "human"
LOCAL = "local"
SCRIPTED = "scripted"
OPENAI = "openai"
BARE = frozenset({LOCAL, HUMAN})
"""Providers named alone, without a model: their spec is the provider's name."""
HUMAN_SPEC = HUMAN
"""The spec of a person's seat."""
LOCAL_SPEC = LOCAL
"""The spec of the embedded model."""
DEFAULT_SPEC = LOCAL_SPEC
"""The model of a state that no override, scenario or experiment gives one."""


class ModelSpecError(ValueError):
    """A model spec that cannot be turned into a model (bad syntax, missing key or package)."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: its text (as written and recorded), provider and model."""

    text: str
    provider: str
    model: str
    """The part after `PROVIDER:`; empty for a bare spec (`local`, `human`)."""

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """The spec `text`; ModelSpecError when it is malformed."""
        if text in BARE:
            return cls(text, text, "")
        provider, sep, model = text.partition(":")
        if not sep or not provider or not model or provider in BARE:
            raise ModelSpecError(
                f"model spec {text!r} must look like PROVIDER:MODEL (e.g. openai:gpt-4o-mini),"
                f" scripted:POLICY, local or human"
            )
        return cls(text, provider, model)

    @property
    def is_human(self) -> bool:
        """A person's seat (`human`)."""
        return self.provider == HUMAN

    @property
    def is_local(self) -> bool:
        """The embedded model (`local`)."""
        return self.provider == LOCAL

    @property
    def is_scripted(self) -> bool:
        """A baseline policy (`scripted:POLICY`): no model, nothing shared between runs."""
        return self.provider == SCRIPTED

    def __str__(self) -> str:
        return self.text
