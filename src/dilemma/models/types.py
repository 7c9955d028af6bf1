"""Types shared by every model provider: options, the resolved model, and their errors.

They live apart from `dilemma.models.registry` (which turns a spec into a model) so that a provider
module such as `dilemma.models.local.model` can use them without importing the resolver back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import BaseRateLimiter

from dilemma.core.structured_mode import StructuredMode as StructuredMode
from dilemma.models.spec import HUMAN
from dilemma.models.spec import ModelSpecError as ModelSpecError


class ModelUnavailable(RuntimeError):
    """A chat model of ours that could not give a reply at all (like a failed transport).

    The state agent records such a call as failed, as it does a network or server error;
    other exceptions raised by our own code are bugs and propagate unchanged.
    """


@dataclass
class ModelOptions:
    """Options shared by every model of a run."""

    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int = 700
    timeout_s: float | None = None
    """Seconds per HTTP attempt (connect to last byte); None: the provider's default."""
    deadline_s: float | None = None
    """Seconds per model call, every attempt and retry included; None: the provider's default."""
    transport_retries: int = 4
    rate_limiter: BaseRateLimiter | None = None
    structured: StructuredMode | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResolvedModel:
    """A chat model with what the record needs to know about it."""

    spec: str
    provider: str
    model: str
    chat: BaseChatModel
    structured: StructuredMode
    params: dict[str, Any]
    close: Callable[[], None] | None = None
    """Releases what the model holds (e.g. stops a local server); the runner calls it."""
    attempt_timeout_s: float | None = None
    """Bound on one HTTP attempt; None for models that make no HTTP call (scripted, fakes)."""
    call_deadline_s: float | None = None
    """Bound on one call with all its retries (the state agent enforces it); None: unbounded."""

    @property
    def is_human(self) -> bool:
        """Whether this is a person's seat (it has no chat model to call)."""
        return self.provider == HUMAN
