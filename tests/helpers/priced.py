"""A fake model priced as a real one, reporting realistic token counts, with its calls held open
together: what a spend limit meets at high concurrency."""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from dilemma.experiments.spec import RunSpec
from dilemma.models.types import ResolvedModel, StructuredMode
from tests.helpers.clock import InFlight
from tests.helpers.engine import HeldChatModel
from tests.helpers.replies import responder

OUTPUT_TOKENS = 700
"""Output tokens of every reply: the default reply cap, which real replies of a decision near."""
MODEL = ("openai", "gpt-4o-mini")
"""A model of the built-in price table (0.15 / 0.60 USD per 1M tokens), so no price file is
needed (a Ray worker does not see a test's environment changes)."""


def realistic_usage(messages: list[BaseMessage], text: str) -> tuple[int, int]:
    """About 4 characters an input token, and OUTPUT_TOKENS out."""
    return sum(len(m.text) for m in messages) // 4, OUTPUT_TOKENS


def priced_model(gate: InFlight) -> ResolvedModel:
    """The priced fake model, its calls held until `gate.wanted` are in flight (bounded)."""
    provider, model = MODEL
    return ResolvedModel(
        spec=f"{provider}:{model}",
        provider=provider,
        model=model,
        chat=HeldChatModel(responder=responder(), usage=realistic_usage, hold=gate),
        structured=StructuredMode.JSON_TEXT,
        params={"max_tokens": OUTPUT_TOKENS},
    )


_WORKER_GATE: InFlight | None = None


def priced_everywhere(run: RunSpec) -> dict[str, ResolvedModel]:
    """A resolver (picklable, for Ray workers): the priced model for every state, the calls of
    one process held together by one gate of 16."""
    global _WORKER_GATE
    if _WORKER_GATE is None:
        _WORKER_GATE = InFlight(wanted=16)
    return dict.fromkeys(run.models, priced_model(_WORKER_GATE))
