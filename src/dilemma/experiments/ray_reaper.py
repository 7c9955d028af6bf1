"""Ends what is left of a local Ray instance once the driver that started it is gone.

When the driver is killed (`kill -9`), the raylet, the GCS and the workers die with it, but two
agents of the raylet do not: `ray::DashboardAgent` and `ray::RuntimeEnvAgent` notice the
raylet's death at once, then report it to the GCS, which is gone too, and wait out that call's
timeout (60 s in Ray 2.x) as children of PID 1 before they exit. A killed driver cleans up
nothing, so `watch` starts this watcher beside the instance: a small process, in a session of
its own (a Ctrl-C or a hang-up of the terminal does not reach it), that reads its standard input
until the driver closes it, on purpose or by dying, and then kills every process of the
instance, then exits. A process is the instance's when its environment holds the instance's
mark (the variable MARK_ENV, which the driver sets for `ray.init` and Ray's processes inherit)
or when it holds a file open in the instance's session folder, which the driver tells the
watcher once Ray has started (`tell_session`): the agents rename themselves over their
environment, so only the second test finds them.

Linux only (it reads /proc); elsewhere it does nothing. Run as a script (`python -I
ray_reaper.py MARK DRIVER_PID`), it imports nothing but the standard library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

MARK_ENV = "DILEMMA_RAY_INSTANCE"
"""The environment variable marking the processes of one local Ray instance."""
ROUNDS = 50
"""Passes over /proc at most: a process may start another while it is being killed."""
PAUSE_S = 0.05
"""Between two passes, while the processes killed are taken off the process table."""


def new_mark() -> str:
    """A value of MARK_ENV no other instance has."""
    return uuid.uuid4().hex


def marked(mark: str) -> Iterator[int]:
    """The live processes whose environment holds MARK_ENV=`mark`."""
    needle = f"{MARK_ENV}={mark}".encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, or not ours
            continue
        if needle in environ.split(b"\0"):
            yield int(name)


def in_session(session: str) -> Iterator[int]:
    """The live processes holding a file open in the folder `session` (or below it)."""
    prefix = session.rstrip("/") + "/"
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for name in entries:
        if not name.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{name}/fd")
            targets = (os.readlink(f"/proc/{name}/fd/{fd}") for fd in fds)
            if any(t.startswith(prefix) for t in targets):
                yield int(name)
        except OSError:  # gone, or not ours
            continue


def reap(mark: str, spare: set[int], session: str | None = None) -> int:
    """Kill (SIGKILL) every process of the instance (marked `mark`, or with a file open in
    `session`) but those in `spare`; the number killed."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        found = set(marked(mark)) | (set(in_session(session)) if session else set())
        left = sorted(found - spare)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                continue
        time.sleep(PAUSE_S)
    return len(killed)


def watch(mark: str) -> subprocess.Popen[bytes]:
    """Start the watcher of the processes marked `mark` (this process being their driver).

    Close its stdin (`finish`) once Ray is shut down; if this process dies first, the pipe
    closes by itself.
    """
    return subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), mark, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def tell_session(watcher: subprocess.Popen[bytes], session: str) -> None:
    """Tell the watcher the instance's session folder (once Ray has started)."""
    if watcher.stdin is not None and "\n" not in session:
        watcher.stdin.write(session.encode() + b"\n")
        watcher.stdin.flush()


def finish(watcher: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Tell the watcher the driver is done with Ray and wait for it to reap what is left."""
    if watcher.stdin is not None:
        watcher.stdin.close()
    try:
        watcher.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.wait()


def session_dir(ray: Any) -> str:
    """The session folder of the local instance this process started ("" if Ray hides it)."""
    try:
        return str(ray._private.worker.global_worker.node.get_session_dir_path())
    except AttributeError:
        return ""


class Watcher:
    """The watcher of the local instance this process is about to start: create it just before
    `ray.init` (it sets the mark for Ray's processes to inherit), call `started` right after,
    and `close` once Ray is shut down."""

    def __init__(self) -> None:
        self.mark = new_mark()
        os.environ[MARK_ENV] = self.mark
        self.process = watch(self.mark)

    def started(self, ray: Any) -> None:
        """Ray is up: only its processes keep the mark; the watcher learns the session."""
        os.environ.pop(MARK_ENV, None)
        tell_session(self.process, session_dir(ray))

    def close(self) -> None:
        """Ray is shut down: the watcher reaps what is left, and ends."""
        os.environ.pop(MARK_ENV, None)
        finish(self.process)


def main(argv: list[str]) -> int:
    """The watcher: wait for stdin to close, then reap."""
    mark, driver = argv[1], int(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    session: str | None = None
    try:
        for line in sys.stdin.buffer:  # until the driver closes the pipe, or dies
            text = line.decode(errors="replace").strip()
            if text.startswith("/"):
                session = text
    except OSError:
        pass
    reap(mark, {os.getpid(), driver}, session)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
