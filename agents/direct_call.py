"""A chat model's call without LangChain's wrapper, when the wrapper would do nothing.

`BaseChatModel.agenerate` configures callbacks and tracing, checks the LangChain cache, waits for
the rate limiter, may stream, then calls the model's own `_agenerate` and copies the generation
info into the message's `response_metadata`. When none of those is configured, everything but
the last step is work without effect, and it costs about as much CPU as a fake model's reply.
`direct_path` decides once per model and reply schema whether the wrapper can be skipped;
`generate_directly` then makes the call and does the metadata step itself, so the reply is the
message `agenerate` would have returned (tests/agents/test_direct_call.py compares the records
written both ways).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models import chat_models as _chat_models
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration

GATEWAY_KEY: str = getattr(_chat_models, "GATEWAY_METADATA_RESPONSE_KEY", "gateway_metadata")
"""The generation-info key LangChain keeps out of `response_metadata` (a private name of
LangChain's, read from it when it defines one)."""


def cache_configured(chat: BaseChatModel) -> bool:
    """Whether `agenerate` would look in a LangChain cache (the model's own or the global one).

    Checked on every call: the global cache can be set at any time.
    """
    if chat.cache is False:
        return False
    return chat.cache is not None or get_llm_cache() is not None


def direct_path(chat: BaseChatModel, kwargs: dict[str, Any]) -> bool:
    """Whether calling `chat._agenerate` directly skips nothing `agenerate` would do for it.

    False as soon as the model has callbacks (or tracing or verbose output configures some), a
    rate limiter, content-block output (`output_version="v1"`) or would stream.
    """
    if chat.callbacks or chat.rate_limiter is not None or chat.verbose:
        return False
    if getattr(chat, "output_version", None) == "v1":
        return False
    manager = AsyncCallbackManager.configure(
        None, chat.callbacks, chat.verbose, None, chat.tags, None, chat.metadata
    )
    if manager.handlers or manager.inheritable_handlers:
        return False  # tracing (LANGSMITH_TRACING), a configure hook, a context handler ...
    if getattr(chat, "streaming", False) or kwargs.get("stream"):
        return False
    return not chat._should_stream(async_api=True, run_manager=None, **kwargs)


async def generate_directly(
    chat: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]
) -> BaseMessage | None:
    """The reply `agenerate` would give, from the model's `_agenerate` (see `direct_path`)."""
    result = await chat._agenerate(messages, stop=None, **kwargs)
    generation = result.generations[0]
    if not isinstance(generation, ChatGeneration):
        return None
    message = generation.message
    info = generation.generation_info or {}
    message.response_metadata = {
        **{k: v for k, v in info.items() if k != GATEWAY_KEY},
        **message.response_metadata,
    }
    if len(result.generations) == 1 and result.llm_output is not None:
        message.response_metadata = {**result.llm_output, **message.response_metadata}
    return message
