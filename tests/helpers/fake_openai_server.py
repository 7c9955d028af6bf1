"""A fake OpenAI-compatible chat server on 127.0.0.1 for fault and secrets tests.

It answers `POST /v1/chat/completions` and `GET /v1/models` from a background thread. Each
request takes the next scripted behaviour for its model (`script(model, ...)`), else the next one
queued for any model (`enqueue(...)`), else the responder, whose default answers like a
scripted policy would: a valid reply as a tool call when tools were offered, else as JSON text.
Every request is kept in `requests` (path, headers, body). A `Hang` holds its request open on an
event until the server stops: nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from dilemma.models.scripted import ScriptedPolicy


@dataclass(frozen=True)
class Reply:
    """A 200 chat completion: text content, or a tool call with these raw arguments."""

    content: str | None = None
    tool_args: str | None = None
    input_tokens: int = 120
    output_tokens: int = 40


@dataclass(frozen=True)
class Status:
    """An error status with an OpenAI-style error body and an optional Retry-After header."""

    code: int
    retry_after: str | None = None
    message: str = "fake error"


@dataclass(frozen=True)
class Hang:
    """Send nothing until the server stops (the client's read timeout fires first), then drop."""


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class RawBody:
    """Send this body verbatim with the given status (e.g. a 200 that is not JSON)."""

    text: str
    code: int = 200
    content_type: str = "application/json"
    """What the body claims to be: a proxy's error page says text/html or text/plain."""


@dataclass(frozen=True)
class SlowDrip:
    """Send headers and then a valid reply one byte every `interval` seconds.

    The pause between bytes waits on the server's stop event, so stopping the server releases
    it at once. With `interval` shorter than the client's read timeout, only a bound on the
    attempt's total time can stop the call.
    """

    interval: float = 0.2


Behaviour = Reply | Status | Hang | Drop | RawBody | SlowDrip


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: dict[str, Any]


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


def _lc_messages(body: dict[str, Any]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in body.get("messages", []):
        content = m.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        out.append(SystemMessage(content) if m.get("role") == "system" else HumanMessage(content))
    return out


def policy_responder(policy: str = "dove") -> Callable[[dict[str, Any]], Behaviour]:
    """Answer every request as the scripted policy would, as a tool call if tools were offered."""
    model = ScriptedPolicy(policy=policy, seed=0)

    def respond(body: dict[str, Any]) -> Behaviour:
        try:
            answer = model._answer(_lc_messages(body))
        except (StopIteration, ValueError):  # not a sandbox prompt
            return Reply(content="ok")
        return Reply(tool_args=answer) if body.get("tools") else Reply(content=answer)

    return respond


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The JSON body of a chat completion for `reply`."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    finish = "stop"
    if reply.tool_args is not None:
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        name = (
            choice["function"]["name"]
            if isinstance(choice, dict)
            else (tools[0]["function"]["name"] if tools else "reply")
        )
        message["tool_calls"] = [
            {
                "id": "call_fake_1",
                "type": "function",
                "function": {"name": name, "arguments": reply.tool_args},
            }
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }


def check_tool_choice(body: dict[str, Any]) -> str | None:
    """What OpenAI would reject about tools/tool_choice, or None."""
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("none", "auto", "required"):
            return None
        return f"tool_choice must be none, auto, required or a function object, not {choice!r}"
    names = [t.get("function", {}).get("name") for t in body.get("tools") or []]
    wanted = choice.get("function", {}).get("name")
    if wanted not in names:
        return f"tool_choice names function {wanted!r}, but the tools offered are {names}"
    return None


@dataclass
class FakeOpenAIServer:
    """The fake server; use as a context manager or call start()/stop()."""

    responder: Callable[[dict[str, Any]], Behaviour] = field(default_factory=policy_responder)
    strict_tool_choice: bool = True
    requests: list[SeenRequest] = field(default_factory=list)
    _queue: deque[Behaviour] = field(default_factory=deque)
    _scripts: dict[str, deque[Behaviour]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *behaviours: Behaviour) -> FakeOpenAIServer:
        """Behaviours for the next requests, whatever their model."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def script(self, model: str, *behaviours: Behaviour) -> FakeOpenAIServer:
        """Behaviours for the next requests naming `model`."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(behaviours)
        return self

    def chat_requests(self, model: str | None = None) -> list[SeenRequest]:
        """The chat completion requests received, optionally for one model."""
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions")
            and (model is None or r.body.get("model") == model)
        ]

    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            script = self._scripts.get(str(body.get("model")))
            if script:
                return script.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def start(self) -> FakeOpenAIServer:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(
                self,
                code: int,
                text: str,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                data = text.encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def do_GET(self) -> None:
                server.requests.append(SeenRequest(self.path, _lower(self.headers.items()), {}))
                if self.path.rstrip("/").endswith("/models"):
                    models = {"object": "list", "data": [{"id": "fake", "object": "model"}]}
                    self._send(200, json.dumps(models))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    body = {"_unparsed": raw}
                server.requests.append(SeenRequest(self.path, _lower(self.headers.items()), body))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": {"message": "not found"}}))
                    return
                problem = check_tool_choice(body) if server.strict_tool_choice else None
                if problem is not None:
                    error = {"message": problem, "type": "invalid_request_error"}
                    self._send(400, json.dumps({"error": error}))
                    return
                self._behave(body, server._next(body))

            def _behave(self, body: dict[str, Any], behaviour: Behaviour) -> None:
                if isinstance(behaviour, Reply):
                    self._send(200, json.dumps(completion(body, behaviour)))
                elif isinstance(behaviour, Status):
                    headers = {}
                    if behaviour.retry_after is not None:
                        headers["Retry-After"] = behaviour.retry_after
                    error = {"message": behaviour.message, "type": "fake", "code": None}
                    self._send(behaviour.code, json.dumps({"error": error}), headers)
                elif isinstance(behaviour, Hang):
                    server._stopping.wait()
                    self._drop()
                elif isinstance(behaviour, Drop):
                    self._drop()
                elif isinstance(behaviour, SlowDrip):
                    self._drip(json.dumps(completion(body, Reply(content="ok"))), behaviour)
                else:
                    self._send(behaviour.code, behaviour.text, content_type=behaviour.content_type)

            def _drip(self, text: str, drip: SlowDrip) -> None:
                data = text.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.flush()
                for byte in data:
                    if server._stopping.wait(drip.interval):
                        break
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        break
                self._drop()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
