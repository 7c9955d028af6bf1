"""The watcher that ends what a killed Ray driver leaves: the instance's processes, found by
their mark or by a file open in the session folder, and no other process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dilemma.experiments.ray_reaper import MARK_ENV, finish, new_mark, tell_session, watch

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

WAITING = "import sys; print('ready', flush=True); sys.stdin.read()"


def waiting(env: dict[str, str] | None = None, code: str = WAITING) -> subprocess.Popen[str]:
    """A process that blocks until its stdin closes, once it has said it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_the_watcher_ends_the_instances_processes_and_no_other(tmp_path: Path) -> None:
    mark = new_mark()
    session = tmp_path / "session_1"
    session.mkdir()
    marked = waiting({**os.environ, MARK_ENV: mark})
    opened = f"f = open({str(session / 'agent.log')!r}, 'w'); {WAITING}"
    holder = waiting(code=opened)  # like the agents: no mark left, a log open in the session
    other_mark = waiting({**os.environ, MARK_ENV: new_mark()})
    (tmp_path / "session_10").mkdir()
    near = waiting(code=f"f = open({str(tmp_path / 'session_10' / 'x')!r}, 'w'); {WAITING}")
    bystander = waiting()
    watcher = watch(mark)
    tell_session(watcher, str(session))
    finish(watcher)  # as when the driver closes the pipe (or dies)
    try:
        assert marked.wait(timeout=60) == -signal.SIGKILL
        assert holder.wait(timeout=60) == -signal.SIGKILL
        assert watcher.returncode == 0
        for proc in (other_mark, near, bystander):
            assert proc.poll() is None
    finally:
        for proc in (marked, holder, other_mark, near, bystander):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_the_watcher_outlives_a_killed_driver_and_reaps(tmp_path: Path) -> None:
    # the driver (here a child that started the watcher) is killed: the pipe closes by itself
    mark = new_mark()
    marked = waiting({**os.environ, MARK_ENV: mark})
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from dilemma.experiments.ray_reaper import watch;"
            f" w = watch({mark!r}); print(w.pid, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert driver.stdout is not None
        watcher_pid = int(driver.stdout.readline())
        driver.kill()
        driver.wait()
        assert marked.wait(timeout=60) == -signal.SIGKILL
    finally:
        for proc in (marked, driver):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert ended(watcher_pid)  # the watcher too, once it has reaped


def ended(pid: int, timeout_s: float = 60.0) -> bool:
    """Whether process `pid` ends (or is a zombie) within `timeout_s` (a bounded wait)."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    for _ in range(int(timeout_s * 10)):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        psutil.wait_procs([proc], timeout=0.1)
    return False
