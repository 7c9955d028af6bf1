"""A Ray sweep whose driver is killed or terminated mid-sweep: no Ray process is left (the two
agents that outlived a killed driver by a minute included), and --resume finishes the sweep
with every run recorded once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from dilemma.records.reader import record_status
from tests.helpers.fake_openai_server import Behaviour, FakeOpenAIServer, Hang, policy_responder
from tests.helpers.ray_sweeps import CALLS_PER_RUN, EXPERIMENT, experiment

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
FREE = 2 * CALLS_PER_RUN + 3
"""Requests the first server answers; later ones are held open until it stops."""
GONE_WITHIN_S = 20.0
"""How long the test waits for the processes of a killed driver's instance to end: well under
the 60 s that `ray::DashboardAgent` and `ray::RuntimeEnvAgent` stayed before they were reaped
(their report of the raylet's death to the dead GCS times out after 60 s)."""
AGENTS = {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}


def held_after(free: int, held: threading.Event) -> Any:
    """A responder answering `free` requests as the dove policy, then holding every request."""
    answer = policy_responder()
    seen = 0
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Behaviour:
        nonlocal seen
        with lock:
            seen += 1
            late = seen > free
        if late:
            held.set()
            return Hang()
        return answer(body)

    return respond


def zombie(proc: Any) -> bool:
    """Whether a psutil process has ended but not been waited for (or is gone)."""
    import psutil

    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def dilemma(*args: str) -> list[str]:
    return [sys.executable, "-m", "dilemma.cli.main", *args]


@pytest.mark.parametrize(
    ("stop", "code", "cut"),
    [(signal.SIGKILL, -signal.SIGKILL, "incomplete"), (signal.SIGTERM, 130, "interrupted")],
)
def test_killed_ray_sweep_leaves_no_ray_process_and_resumes_without_duplicates(
    tmp_path: Path, stop: signal.Signals, code: int, cut: str
) -> None:
    # SIGKILL: Ray's processes die with the driver and the runs in flight stay without an end;
    # SIGTERM: the driver cancels them (records closed as interrupted) and shuts Ray down
    import psutil  # the `ray` extra's; imported here so that `-m 'not ray'` runs without it

    path, runs = experiment(tmp_path, EXPERIMENT.replace("scripted:reactive", "openai:fake"))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    held = threading.Event()
    server = FakeOpenAIServer(responder=held_after(FREE, held)).start()
    try:
        args = ["sweep", str(path), "--executor", "ray", "--workers", "2", "--concurrency", "2"]
        args += ["--base-url", server.base_url, "--out", str(out)]
        proc = subprocess.Popen(
            dilemma(*args),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert held.wait(timeout=600), "the sweep never reached the held requests"
            ray_processes = psutil.Process(proc.pid).children(recursive=True)
            assert ray_processes  # the local Ray instance the driver started, and its watcher
            names = {p.name() for p in ray_processes} | {
                " ".join(p.cmdline()) for p in ray_processes
            }
            assert names >= AGENTS, names  # the agents that would outlive a killed driver
            os.kill(proc.pid, stop)
            _, stderr = proc.communicate(timeout=300)
            assert proc.returncode == code, stderr
        finally:
            if proc.poll() is None:
                proc.kill()
        # none outlives the driver for long: most share its fate, the watcher ends the agents
        _, alive = psutil.wait_procs(ray_processes, timeout=GONE_WITHIN_S)
        alive = [p for p in alive if not zombie(p)]
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        server.stop()
    statuses = [record_status(p) for p in out.glob("*.jsonl")]
    assert cut in statuses, statuses
    finished = {
        p.name: p.read_bytes() for p in out.glob("*.jsonl") if record_status(p) == "completed"
    }
    assert finished

    with FakeOpenAIServer() as again:
        args = ["sweep", str(path), "--executor", "ray", "--workers", "2", "--resume"]
        args += ["--model", "openai:fake", "--base-url", again.base_url, "--out", str(out)]
        result = subprocess.run(
            dilemma(*args), env=env, capture_output=True, text=True, timeout=600
        )
    assert result.returncode == 0, result.stderr
    records = sorted(out.glob("*.jsonl"))
    assert sorted(p.stem for p in records) == sorted(r.run_id for r in runs)
    for p in records:
        assert record_status(p) == "completed"
        kinds = [json.loads(line)["kind"] for line in p.read_text().splitlines()]
        assert kinds.count("header") == 1 and kinds.count("run_end") == 1
    for name, content in finished.items():  # finished records were left untouched
        assert (out / name).read_bytes() == content
    assert list((out / "failed").glob("*.jsonl"))  # the cut records were set aside, not merged
