"""Model specs -> LangChain chat models, through a small registry of providers.

Specs:
- `scripted:hawk|dove|tit-for-tat|reactive|random`: baseline policies (dilemma.models.scripted).
- `human`: a person in the seat (dilemma.agents.human_seat; played with `dilemma play` or `dilemma
serve`).
- `local`: the embedded Gemma 3 270M served by llama.cpp (dilemma.models.local.model; `local`
extra).
- `openai:MODEL`: OpenAI, or any OpenAI-compatible server when a base URL is given
  (`--base-url` or DILEMMA_BASE_URL).
- `PROVIDER:MODEL`: anything LangChain's `init_chat_model` supports, with its package installed.

A spec is parsed once into a `ModelSpec` (`dilemma.models.spec`). The shared types
(ModelOptions, ResolvedModel, StructuredMode, ModelSpecError) live in `dilemma.models.types` and
are importable from here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dilemma.core.safe_text import register_url_secrets
from dilemma.models.scripted import POLICIES, ScriptedPolicy
from dilemma.models.spec import DEFAULT_SPEC, HUMAN, LOCAL, OPENAI, SCRIPTED, ModelSpec
from dilemma.models.types import (
    ModelOptions,
    ModelSpecError,
    ModelUnavailable,
    ResolvedModel,
    StructuredMode,
)

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_SPEC",
    "PROVIDERS",
    "ModelOptions",
    "ModelRequest",
    "ModelSpec",
    "ModelSpecError",
    "ModelUnavailable",
    "Provider",
    "ResolvedModel",
    "StructuredMode",
    "check_spec",
    "resolve_model",
]

BASE_URL_ENV = "DILEMMA_BASE_URL"
REMOTE_ATTEMPT_TIMEOUT_S = 120.0
"""Default bound on one HTTP attempt to a remote API (`--timeout`)."""
REMOTE_CALL_DEADLINE_S = 300.0
"""Default bound on one model call to a remote API, all retries included (`--call-deadline`)."""


@dataclass(frozen=True)
class ModelRequest:
    """A parsed spec with what a provider needs to build the model."""

    spec: ModelSpec
    seed: int
    options: ModelOptions
    base_url: str | None


@dataclass(frozen=True)
class Provider:
    """How to build the models of one provider."""

    resolve: Callable[[ModelRequest], ResolvedModel]


def _local(request: ModelRequest) -> ResolvedModel:
    from dilemma.models.local.model import resolve_local

    return resolve_local(request.options)


def _human(request: ModelRequest) -> ResolvedModel:
    from dilemma.models.human import human_model

    return human_model()


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ModelSpecError(f"unknown scripted policy {policy!r}; choose from {list(POLICIES)}")


def _scripted(request: ModelRequest) -> ResolvedModel:
    policy = request.spec.model
    _check_policy(policy)
    return ResolvedModel(
        spec=request.spec.text,
        provider=SCRIPTED,
        model=policy,
        chat=ScriptedPolicy(policy=policy, seed=request.seed),
        structured=StructuredMode.JSON_TEXT,
        params={"seed": request.seed},
    )


def _openai_compatible(request: ModelRequest) -> ResolvedModel:
    from dilemma.models.openai_chat import AttemptTimeoutClient, ReplyChatOpenAI

    options, base_url = request.options, request.base_url
    register_url_secrets(base_url)
    timeout = options.timeout_s or REMOTE_ATTEMPT_TIMEOUT_S
    key = os.environ.get("OPENAI_API_KEY")
    if base_url is None and not key:
        raise ModelSpecError(
            f"model {request.spec.text!r} needs OPENAI_API_KEY in the environment (or --base-url"
            " for an OpenAI-compatible server)"
        )
    params: dict[str, Any] = {
        "model": request.spec.model,
        "max_tokens": options.max_tokens,
        "timeout": timeout,
        "max_retries": options.transport_retries,
    }
    if options.temperature is not None:
        params["temperature"] = options.temperature
    if base_url is not None:
        params["base_url"] = base_url
    chat = ReplyChatOpenAI(
        **params,
        api_key=key or "not-needed",
        rate_limiter=options.rate_limiter,
        http_async_client=AttemptTimeoutClient(timeout),
        # Servers such as llama.cpp ignore max_completion_tokens; send max_tokens as well.
        extra_body={"max_tokens": options.max_tokens},
    )
    return ResolvedModel(
        spec=request.spec.text,
        provider=OPENAI,
        model=request.spec.model,
        chat=chat,
        structured=options.structured or StructuredMode.FUNCTION_CALLING,
        params=params,
        attempt_timeout_s=timeout,
        call_deadline_s=options.deadline_s or REMOTE_CALL_DEADLINE_S,
    )


def _langchain(request: ModelRequest) -> ResolvedModel:
    """Any other provider, through LangChain's `init_chat_model`."""
    from langchain.chat_models import init_chat_model

    options, spec = request.options, request.spec
    timeout = options.timeout_s or REMOTE_ATTEMPT_TIMEOUT_S
    params: dict[str, Any] = {"max_tokens": options.max_tokens, "timeout": timeout}
    if options.temperature is not None:
        params["temperature"] = options.temperature
    try:
        chat = init_chat_model(
            spec.model,
            model_provider=spec.provider,
            rate_limiter=options.rate_limiter,
            **params,
        )
    except ImportError as exc:
        raise ModelSpecError(f"model {spec.text!r}: provider package missing: {exc}") from exc
    except ValueError as exc:
        raise ModelSpecError(f"model {spec.text!r}: {exc}") from exc
    return ResolvedModel(
        spec=spec.text,
        provider=spec.provider,
        model=spec.model,
        chat=chat,
        structured=options.structured or StructuredMode.FUNCTION_CALLING,
        params=params,
        attempt_timeout_s=timeout,
        call_deadline_s=options.deadline_s or REMOTE_CALL_DEADLINE_S,
    )


PROVIDERS: dict[str, Provider] = {
    LOCAL: Provider(_local),
    HUMAN: Provider(_human),
    SCRIPTED: Provider(_scripted),
    OPENAI: Provider(_openai_compatible),
}
"""Providers by name; any other `PROVIDER:MODEL` goes to LangChain's `init_chat_model`."""
_FALLBACK = Provider(_langchain)


def check_spec(spec: str | ModelSpec) -> ModelSpec:
    """The parsed spec; ModelSpecError for a malformed spec or an unknown scripted policy (builds
    nothing)."""
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    if parsed.is_scripted:
        _check_policy(parsed.model)
    return parsed


def resolve_model(
    spec: str | ModelSpec, *, seed: int = 0, options: ModelOptions | None = None
) -> ResolvedModel:
    """Turn a model spec into a chat model; raises ModelSpecError with a one-line reason."""
    options = options or ModelOptions()
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    request = ModelRequest(
        spec=parsed,
        seed=seed,
        options=options,
        base_url=options.base_url or os.environ.get(BASE_URL_ENV),
    )
    return PROVIDERS.get(parsed.provider, _FALLBACK).resolve(request)
