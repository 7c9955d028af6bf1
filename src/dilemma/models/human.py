"""The model of a human seat: spec `human`, whose chat model is never called.

A person answers through a desk (`dilemma.agents.human_seat`); the registry resolves the spec
to this placeholder so that a run's models are all `ResolvedModel`s.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from dilemma.models.spec import HUMAN, HUMAN_SPEC
from dilemma.models.types import ModelUnavailable, ResolvedModel, StructuredMode


class NoChat(BaseChatModel):
    """The chat model of a human seat: never called (a person answers through a desk)."""

    @property
    def _llm_type(self) -> str:
        return HUMAN

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise ModelUnavailable("a human seat has no chat model; it answers through a desk")


def human_model() -> ResolvedModel:
    """The resolved model of a human seat (spec and provider `human`)."""
    return ResolvedModel(
        spec=HUMAN_SPEC,
        provider=HUMAN,
        model="",
        chat=NoChat(),
        structured=StructuredMode.JSON_TEXT,
        params={},
    )
