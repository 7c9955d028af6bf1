"""An OpenAI-compatible model answered in-process: the real SDK and client path, no socket.

`inprocess_model(answer, mode)` builds the `openai:MODEL` client (ReplyChatOpenAI through the
openai SDK) on an HTTP mock transport. `answer(body)` returns what the server sends for one
request: a `Reply` (text content, or tool-call arguments when `mode` is function calling, sent
verbatim so they may be any string), or a `RawBody`. Fast enough for property-based tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

from dilemma.models.openai_chat import AttemptTimeoutClient, ReplyChatOpenAI
from dilemma.models.types import ResolvedModel, StructuredMode
from tests.helpers.fake_openai_server import RawBody, Reply, completion

Answer = Callable[[dict[str, Any]], Reply | RawBody]


def inprocess_model(
    answer: Answer,
    mode: StructuredMode = StructuredMode.JSON_TEXT,
    *,
    name: str = "gpt-inprocess",
    bodies: list[dict[str, Any]] | None = None,
) -> ResolvedModel:
    """A resolved openai model whose server is `answer`; request bodies are kept in `bodies`."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if bodies is not None:
            bodies.append(body)
        reply = answer(body)
        if isinstance(reply, RawBody):
            return httpx2.Response(
                reply.code,
                content=reply.text.encode("utf-8"),
                headers={"content-type": reply.content_type},
            )
        # ensure_ascii: a lone surrogate travels as a \\udXXX escape, as a server would send it
        data = json.dumps(completion(body, reply), ensure_ascii=True).encode("ascii")
        return httpx2.Response(200, content=data, headers={"content-type": "application/json"})

    chat = ReplyChatOpenAI(
        model=name,
        api_key="not-needed",
        base_url="http://inprocess.invalid/v1",
        max_retries=0,
        http_async_client=AttemptTimeoutClient(30.0, transport=httpx2.MockTransport(handle)),
    )
    return ResolvedModel(
        spec=f"openai:{name}",
        provider="openai",
        model=name,
        chat=chat,
        structured=mode,
        params={"model": name},
        attempt_timeout_s=30.0,
        call_deadline_s=60.0,
    )
