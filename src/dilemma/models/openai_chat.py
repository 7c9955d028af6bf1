"""The chat client for OpenAI-compatible servers, hardened against what a server can send.

- `ReplyChatOpenAI` turns a 200 whose body is not a chat completion (a proxy's HTML or plain-text
  error page, JSON without `choices`, an `error` object) into `NotAChatCompletion`, which the
  state agent retries as a transient fault and then records as a failed call. A tool call whose
  arguments are valid JSON but not an object (a number, a string, an array, null, nothing)
  becomes an invalid tool call that keeps its raw arguments, so the state agent re-asks and then
  flags it; LangChain would otherwise fail the whole call (or silently read `0` or `[]` as `{}`).
- `AttemptTimeoutClient` bounds each HTTP attempt's total time, from connecting to the last
  byte. The SDK's read timeout only bounds the wait between two bytes, so a server that drips
  its reply one byte at a time was never timed out; now it times out like one that never
  answers, and the SDK retries it as a timeout.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
from langchain_core.messages import AIMessage, InvalidToolCall
from langchain_core.messages.tool import invalid_tool_call
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI

from dilemma.models.types import ModelUnavailable

NOT_AN_OBJECT = "(reply): tool call arguments are not a JSON object"
"""Start of the error of a tool call whose arguments parse but are not an object."""
_PREVIEW = 200


class NotAChatCompletion(ModelUnavailable):
    """A 200 response whose body is not a chat completion (e.g. a proxy's error page)."""


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "..."


def json_type(value: Any) -> str:
    """The JSON type of a parsed value, with an article (`a number`, `an array`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _arguments_problem(raw: Any) -> str | None:
    """Why a raw tool call cannot become a tool call with object arguments, or None.

    Arguments that are not JSON at all are left to LangChain, which makes them an invalid tool
    call with the decoder's message.
    """
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict):
        return "(reply): the tool call names no function"
    arguments = function.get("arguments")
    if not isinstance(arguments, str) or not arguments.strip():
        return f"{NOT_AN_OBJECT}: the tool call has no arguments"
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        return f"{NOT_AN_OBJECT}: they are nested too deeply to read"
    if isinstance(value, dict):
        return None
    return f"{NOT_AN_OBJECT} but {json_type(value)}"


def _invalid(raw: Any, problem: str) -> InvalidToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    function = function if isinstance(function, dict) else {}
    arguments = function.get("arguments")
    return invalid_tool_call(
        name=str(function.get("name") or ""),
        args=arguments if isinstance(arguments, str) else json.dumps(arguments),
        id=raw.get("id") if isinstance(raw, dict) else None,
        error=problem,
    )


class ReplyChatOpenAI(ChatOpenAI):
    """ChatOpenAI that never fails a call over what the server put in a 200 body."""

    def _create_chat_result(
        self,
        response: dict[str, Any] | openai.BaseModel,
        generation_info: dict[str, Any] | None = None,
    ) -> ChatResult:
        if isinstance(response, openai.BaseModel):
            response = response.model_dump(
                exclude={"choices": {"__all__": {"message": {"parsed"}}}}, warnings=False
            )
        if not isinstance(response, dict):
            raise NotAChatCompletion(
                f"the body of a 200 response is not JSON: {_preview(response)}"
            )
        choices = response.get("choices")
        if (
            response.get("error")
            or not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices)
        ):
            raise NotAChatCompletion(
                f"the body of a 200 response is not a chat completion: {_preview(response)}"
            )
        removed: dict[int, list[InvalidToolCall]] = {}
        cleaned = []
        for n, choice in enumerate(choices):
            message = dict(choice["message"])
            raw_calls = message.get("tool_calls")
            if isinstance(raw_calls, list):
                keep = []
                for raw in raw_calls:
                    problem = _arguments_problem(raw)
                    if problem is None:
                        keep.append(raw)
                    else:
                        removed.setdefault(n, []).append(_invalid(raw, problem))
                message["tool_calls"] = keep or None
            elif raw_calls is not None:
                message["tool_calls"] = None
                removed.setdefault(n, []).append(
                    invalid_tool_call(error="(reply): tool_calls is not a list", args=None)
                )
            cleaned.append({**choice, "message": message})
        result = super()._create_chat_result({**response, "choices": cleaned}, generation_info)
        for n, invalid in removed.items():
            reply = result.generations[n].message
            if isinstance(reply, AIMessage):
                reply.invalid_tool_calls = [*reply.invalid_tool_calls, *invalid]
        return result


class AttemptTimeoutClient(openai.DefaultAsyncHttpxClient):
    """The SDK's HTTP client, with a bound on the total time of each request attempt."""

    def __init__(self, attempt_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attempt_timeout_s = attempt_timeout_s

    async def send(self, request: Any, **kwargs: Any) -> Any:
        """Send one attempt; past the bound, raise a read timeout that the SDK retries."""
        try:
            async with asyncio.timeout(self.attempt_timeout_s):
                return await super().send(request, **kwargs)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no complete response within {self.attempt_timeout_s:g} s"
            ) from exc
