"""A Gemma 3 chat format for llama-cpp-python that keeps the system message.

llama-cpp-python's built-in `gemma` format silently drops system messages. Gemma 3's own chat
template folds the system text into the first user turn; `format_gemma3` does the same, maps
`assistant` to `model`, renders an assistant tool call as its arguments and a `tool` message as
a user turn. Importing this module registers the format as `CHAT_FORMAT` (needs llama_cpp).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CHAT_FORMAT = "dilemma-gemma3"
START = "<start_of_turn>"
END = "<end_of_turn>\n"


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def _message_text(message: Mapping[str, Any]) -> str:
    text = _text(message.get("content"))
    if not text and message.get("tool_calls"):
        calls = message["tool_calls"]
        text = "\n".join(str(call.get("function", {}).get("arguments", "")) for call in calls)
    return text.strip()


def gemma3_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """The Gemma 3 prompt (without BOS, which the tokenizer adds) ending in an open model turn."""
    system = "\n\n".join(
        _message_text(m) for m in messages if m.get("role") in ("system", "developer")
    )
    turns: list[tuple[str, str]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            continue
        turns.append(("model" if role == "assistant" else "user", _message_text(m)))
    if system:
        if turns and turns[0][0] == "user":
            turns[0] = ("user", f"{system}\n\n{turns[0][1]}")
        else:
            turns.insert(0, ("user", system))
    prompt = "".join(f"{START}{role}\n{text}{END}" for role, text in turns)
    return prompt + f"{START}model\n"


def register() -> None:
    """Register `CHAT_FORMAT` with llama_cpp (idempotent)."""
    from llama_cpp import llama_chat_format

    def format_gemma3(
        messages: list[dict[str, Any]], **kwargs: Any
    ) -> llama_chat_format.ChatFormatterResponse:
        return llama_chat_format.ChatFormatterResponse(
            prompt=gemma3_prompt(messages), stop=[END.strip(), START]
        )

    llama_chat_format.register_chat_format(CHAT_FORMAT)(format_gemma3)
