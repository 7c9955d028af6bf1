"""A model's reply turned into a validated reply object, or the reason it cannot be.

A reply comes as a tool call (function calling) or as text holding JSON: the whole text, a
fenced block or the outermost braces. Arrays and objects nested deeper than `MAX_REPLY_DEPTH`
are refused before validation; text is scrubbed of control characters before it is kept; a
reply that does not fit the schema fails with pydantic's errors in short (`field: message`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage
from pydantic import BaseModel, ValidationError

from dilemma.core.safe_text import scrub, scrub_tree
from dilemma.models.openai_chat import NOT_AN_OBJECT, json_type
from dilemma.models.types import StructuredMode

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
ERROR_MAX = 1000
"""Longest error text kept from a parser or SDK message (it may quote the reply)."""
MAX_REPLY_DEPTH = 32
"""Arrays and objects nested deeper than this are refused before validation (replies need 4)."""
TOO_DEEP = f"reply is nested too deeply (more than {MAX_REPLY_DEPTH} levels of arrays and objects)"
SHORT_ERRORS = 8
"""Validation errors quoted at most in a reply's error (the rest are left out)."""


class ParseFailure(Exception):
    """A reply that gave no valid object: what it said (`raw`) and why it failed (`reason`)."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason


def error_lines(exc: ValidationError, whole: str) -> list[str]:
    """Readable lines of a pydantic error (`field.sub: message`; `whole` for the object itself)."""
    return [
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}" for err in exc.errors()
    ]


def json_from_text(text: str) -> Any:
    """The JSON value in a text reply: the whole text, a fenced block, or the outermost braces."""
    last: json.JSONDecodeError | None = None
    for candidate in _candidates(text):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            last = exc
        except RecursionError as exc:  # deeper than the interpreter's recursion limit
            raise ValueError(TOO_DEEP) from exc
    raise ValueError(f"reply is not JSON ({last})")


def _candidates(text: str) -> Iterator[str]:
    """The whole text, each fenced block, the outermost braces: made only as far as needed."""
    yield text.strip()
    for block in _FENCE.findall(text):
        yield block.strip()
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        yield text[start : end + 1]


def too_deep(value: Any, limit: int = MAX_REPLY_DEPTH) -> bool:
    """Whether a parsed JSON value nests arrays and objects more than `limit` levels deep."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:  # one level of arrays and objects at a time, leaves never stored
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return False


def parse_reply(
    reply: AIMessage, schema: type[BaseModel], structured: StructuredMode
) -> tuple[str, BaseModel]:
    """(the reply as recorded, the validated object); ParseFailure when it gives none."""
    if structured is StructuredMode.FUNCTION_CALLING and (
        reply.tool_calls or reply.invalid_tool_calls
    ):
        if reply.tool_calls:
            args = reply.tool_calls[0]["args"]
            if too_deep(args):
                raise ParseFailure("", TOO_DEEP)
            args = scrub_tree(args)
            return validate(json.dumps(args, ensure_ascii=False), args, schema)
        bad = reply.invalid_tool_calls[0]
        reason = str(bad.get("error") or "")
        if not reason.startswith(NOT_AN_OBJECT):
            # LangChain's message repeats the whole arguments: keep the decoder's part
            decoder = reason.rpartition("Received JSONDecodeError")[2].strip()
            reason = f"tool call arguments are not valid JSON: {decoder[:ERROR_MAX]}"
        raise ParseFailure(scrub(str(bad.get("args") or "")), reason)
    raw = scrub(reply.text)
    try:
        data = json_from_text(raw)
    except ValueError as exc:
        raise ParseFailure(raw, str(exc)) from exc
    if "\\u" in raw:  # an escaped lone surrogate decodes to one: scrub as the tool path does
        data = scrub_tree(data)
    if raw.count("{") + raw.count("[") > MAX_REPLY_DEPTH and too_deep(data):
        raise ParseFailure(raw, TOO_DEEP)  # (fewer brackets in all cannot nest deeper)
    return validate(raw, data, schema)


def validate(raw: str, data: Any, schema: type[BaseModel]) -> tuple[str, BaseModel]:
    """(raw, `data` validated with `schema`); ParseFailure when it is not an object that fits."""
    if not isinstance(data, dict):
        raise ParseFailure(raw, f"(reply): not a JSON object but {json_type(data)}")
    try:
        return raw, schema.model_validate(data)
    except ValidationError as exc:
        raise ParseFailure(raw, "; ".join(error_lines(exc, "(reply)")[:SHORT_ERRORS])) from exc
