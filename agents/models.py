"""Model specs -> LangChain chat models.

Specs:
- `scripted:hawk|dove|tit-for-tat|reactive|random`: baseline policies (agents.scripted).
- `local`: the embedded Gemma 3 270M served by llama.cpp (agents.local_model; `local` extra).
- `openai:MODEL`: OpenAI, or any OpenAI-compatible server when a base URL is given
  (`--base-url` or DILEMMA_BASE_URL).
- `PROVIDER:MODEL`: anything LangChain's `init_chat_model` supports, with its package installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import BaseRateLimiter

from agents.scripted import POLICIES, ScriptedPolicy

BASE_URL_ENV = "DILEMMA_BASE_URL"
DEFAULT_SPEC = "local"


class StructuredMode(StrEnum):
    """How a model is asked for structured output."""

    FUNCTION_CALLING = "function_calling"
    JSON_TEXT = "json_text"


class ModelSpecError(ValueError):
    """A model spec that cannot be turned into a model (bad syntax, missing key or package)."""


@dataclass
class ModelOptions:
    """Options shared by every model of a run."""

    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int = 700
    timeout_s: float = 120.0
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


def _openai_compatible(
    spec: str, model: str, options: ModelOptions, base_url: str | None
) -> ResolvedModel:
    from langchain_openai import ChatOpenAI

    key = os.environ.get("OPENAI_API_KEY")
    if base_url is None and not key:
        raise ModelSpecError(
            f"model {spec!r} needs OPENAI_API_KEY in the environment (or --base-url for an"
            " OpenAI-compatible server)"
        )
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": options.max_tokens,
        "timeout": options.timeout_s,
        "max_retries": options.transport_retries,
    }
    if options.temperature is not None:
        params["temperature"] = options.temperature
    if base_url is not None:
        params["base_url"] = base_url
    chat = ChatOpenAI(
        **params,
        api_key=key or "not-needed",
        rate_limiter=options.rate_limiter,
        # Servers such as llama.cpp ignore max_completion_tokens; send max_tokens as well.
        extra_body={"max_tokens": options.max_tokens},
    )
    return ResolvedModel(
        spec=spec,
        provider="openai",
        model=model,
        chat=chat,
        structured=options.structured or StructuredMode.FUNCTION_CALLING,
        params=params,
    )


def resolve_model(
    spec: str, *, seed: int = 0, options: ModelOptions | None = None
) -> ResolvedModel:
    """Turn a model spec string into a chat model; raises ModelSpecError with a one-line reason."""
    options = options or ModelOptions()
    base_url = options.base_url or os.environ.get(BASE_URL_ENV)
    if spec == "local":
        from agents.local_model import resolve_local

        resolved: ResolvedModel = resolve_local(options)
        return resolved
    provider, sep, model = spec.partition(":")
    if not sep or not provider or not model:
        raise ModelSpecError(
            f"model spec {spec!r} must look like PROVIDER:MODEL (e.g. openai:gpt-4o-mini),"
            f" scripted:POLICY or local"
        )
    if provider == "scripted":
        if model not in POLICIES:
            raise ModelSpecError(f"unknown scripted policy {model!r}; choose from {list(POLICIES)}")
        return ResolvedModel(
            spec=spec,
            provider="scripted",
            model=model,
            chat=ScriptedPolicy(policy=model, seed=seed),
            structured=StructuredMode.JSON_TEXT,
            params={"seed": seed},
        )
    if provider == "openai":
        return _openai_compatible(spec, model, options, base_url)
    from langchain.chat_models import init_chat_model

    params: dict[str, Any] = {"max_tokens": options.max_tokens, "timeout": options.timeout_s}
    if options.temperature is not None:
        params["temperature"] = options.temperature
    try:
        chat = init_chat_model(
            model, model_provider=provider, rate_limiter=options.rate_limiter, **params
        )
    except ImportError as exc:
        raise ModelSpecError(f"model {spec!r}: provider package missing: {exc}") from exc
    except ValueError as exc:
        raise ModelSpecError(f"model {spec!r}: {exc}") from exc
    return ResolvedModel(
        spec=spec,
        provider=provider,
        model=model,
        chat=chat,
        structured=options.structured or StructuredMode.FUNCTION_CALLING,
        params=params,
    )
