"""The embedded `local` model: chat format, install hint, server lifecycle, end-to-end run.

Tests marked `local_model` start the real llama.cpp server with Gemma 3 270M (the `local` extra).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from dilemma.models.local import model as local_model
from dilemma.models.local import server as local_server
from dilemma.models.local.chat_format import gemma3_prompt
from dilemma.models.registry import ModelOptions, ModelSpecError, StructuredMode, resolve_model
from tests.helpers.cli import invoke
from tests.helpers.signals import interruptible

ROOT = Path(__file__).resolve().parents[2]
needs_extra = pytest.mark.skipif(
    bool(local_model.missing_modules()), reason="needs the `local` extra"
)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process ends within `timeout` seconds, waiting on its pidfd (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if pid_alive(pid):
            select.select([fd], [], [], timeout)  # readable once the process has exited
        return not pid_alive(pid)
    finally:
        os.close(fd)


# --- chat format -------------------------------------------------------------------------


def test_gemma3_prompt_folds_system_into_first_user_turn() -> None:
    prompt = gemma3_prompt(
        [
            {"role": "system", "content": "You are Aria."},
            {"role": "user", "content": "Decide."},
            {"role": "assistant", "content": '{"x": 1}'},
            {"role": "user", "content": "Again."},
        ]
    )
    assert prompt == (
        "<start_of_turn>user\nYou are Aria.\n\nDecide.<end_of_turn>\n"
        '<start_of_turn>model\n{"x": 1}<end_of_turn>\n'
        "<start_of_turn>user\nAgain.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma3_prompt_renders_tool_calls_and_content_parts() -> None:
    prompt = gemma3_prompt(
        [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "reply", "arguments": '{"a": 2}'}}],
            },
            {"role": "tool", "content": "error: a must be 3"},
        ]
    )
    assert "<start_of_turn>user\nHi<end_of_turn>" in prompt
    assert '<start_of_turn>model\n{"a": 2}<end_of_turn>' in prompt
    assert "<start_of_turn>user\nerror: a must be 3<end_of_turn>" in prompt
    assert prompt.endswith("<start_of_turn>model\n")


def test_gemma3_prompt_system_only_becomes_a_user_turn() -> None:
    assert gemma3_prompt([{"role": "system", "content": "Rules."}]) == (
        "<start_of_turn>user\nRules.<end_of_turn>\n<start_of_turn>model\n"
    )


# --- missing extra and bad options --------------------------------------------------------


def test_missing_extra_gives_one_line_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        local_model, "REQUIRED_MODULES", ("json", "no_such_module_for_dilemma_tests")
    )
    with pytest.raises(ModelSpecError) as info:
        resolve_model("local")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install 'security-dilemma-sandbox[local]'" in message
    assert "openai:" in message and "scripted:" in message


def test_cli_without_extra_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if the extra were not installed
    result = invoke("run", "two-rivals", "--rounds", "1", "--out", str(tmp_path))
    assert result.code != 0 and result.exception is None, result.stderr
    hint_lines = [
        ln for ln in result.stderr.splitlines() if "security-dilemma-sandbox[local]" in ln
    ]
    assert len(hint_lines) == 1, result.stderr
    assert "pip install" in hint_lines[0]
    assert not list(tmp_path.glob("*.jsonl"))


def test_json_text_mode_is_refused_for_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "REQUIRED_MODULES", ("json",))
    with pytest.raises(ModelSpecError, match="function calling"):
        resolve_model("local", options=ModelOptions(structured=StructuredMode.JSON_TEXT))


def test_child_env_drops_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-env")
    monkeypatch.setenv("SOME_TOKEN", "t")
    env = local_server._child_env(os.getpid())
    assert "OPENAI_API_KEY" not in env and "SOME_TOKEN" not in env
    assert env["DILEMMA_PARENT_PID"] == str(os.getpid())


# --- real server lifecycle (needs the extra) -----------------------------------------------


@needs_extra
@pytest.mark.local_model
def test_model_file_is_assembled_atomically(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    target.write_bytes(b"partial")  # a crashed earlier assembly
    path = local_server.ensure_model_file(target)
    assert path == target and target.stat().st_size > 200 * 2**20
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert local_server.ensure_model_file(target) == target


@needs_extra
@pytest.mark.local_model
def test_startup_failure_shows_server_output(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    server = local_server.LocalServer(local_server.LocalServerConfig(model_path=missing))
    with pytest.raises(local_server.LocalServerError) as info:
        server.start()
    assert "exited with code" in str(info.value)  # not a wait for the startup timeout
    assert str(missing) in str(info.value)  # the server's own message names the file
    assert server.proc is None and not server.alive()


@needs_extra
@pytest.mark.local_model
def test_startup_timeout_stops_the_server() -> None:
    config = local_server.LocalServerConfig(
        model_path=local_server.ensure_model_file(), startup_timeout_s=0.3
    )
    server = local_server.LocalServer(config)
    seen: list[int] = []
    original = server._start_once

    def spy() -> bool:
        try:
            return original()
        finally:
            if server.pid is not None:
                seen.append(server.pid)

    server._start_once = spy  # type: ignore[method-assign]
    with pytest.raises(local_server.LocalServerError, match="did not answer within"):
        server.start()
    assert seen and wait_gone(seen[0], 5)


@needs_extra
@pytest.mark.local_model
def test_shared_server_starts_once_and_stops_with_last_close() -> None:
    a = resolve_model("local")
    b = resolve_model("local")
    server = local_server.current_server()
    assert server is not None and server.pid is not None
    pid = server.pid
    assert a.chat.openai_api_base == b.chat.openai_api_base == server.base_url  # type: ignore[attr-defined]
    assert a.provider == "local" and a.params["chat_format"] == "dilemma-gemma3"
    assert httpx.get(f"{server.base_url}/models").status_code == 200
    assert a.close is not None and b.close is not None
    a.close()
    a.close()  # idempotent: does not release b's use
    assert pid_alive(pid)
    b.close()
    assert wait_gone(pid, 5) and local_server.current_server() is None


@needs_extra
@pytest.mark.local_model
def test_stop_is_bounded_while_generating() -> None:
    server = local_server.LocalServer(
        local_server.LocalServerConfig(
            model_path=local_server.ensure_model_file(), stop_timeout_s=1.0
        )
    )
    server.start()
    pid = server.pid
    assert pid is not None

    generating = threading.Event()

    def long_request() -> None:
        body = {
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 4000,
            "stream": True,
        }
        url = f"{server.base_url}/chat/completions"
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream("POST", url, json=body, timeout=60) as response,
        ):
            for _ in response.iter_bytes():
                generating.set()  # the first streamed token is out: generation under way

    worker = threading.Thread(target=long_request, daemon=True)
    worker.start()
    assert generating.wait(120), "the server never started generating"
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(5)  # stop_timeout_s, then SIGKILL: far sooner than 4000 tokens
    assert not stopper.is_alive(), "stop() waited for the generation to finish"
    assert not pid_alive(pid)
    worker.join(10)


CHILD = """
import sys, threading
from dilemma.models.registry import resolve_model
from dilemma.models.local.server import current_server
model = resolve_model("local")
server = current_server()
print(server.pid, server._log_dir, flush=True)
if sys.argv[1] == "raise":
    raise RuntimeError("boom")
threading.Event().wait()  # until signalled
"""


def _start_child(mode: str) -> tuple[subprocess.Popen[str], int, Path]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        preexec_fn=interruptible,  # Ctrl-C works even when this suite runs in the background
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        pytest.fail(f"child did not start a server: {proc.communicate()[1]}")
    pid, log_dir = line.split()
    return proc, int(pid), Path(log_dir)


@needs_extra
@pytest.mark.local_model
@pytest.mark.parametrize("how", ["sigint", "raise", "sigterm", "sigkill"])
def test_no_orphan_server_when_the_parent_ends(how: str) -> None:
    proc, server_pid, log_dir = _start_child("raise" if how == "raise" else "sleep")
    try:
        if how == "raise":
            proc.wait(60)
            assert proc.returncode != 0
        else:
            assert pid_alive(server_pid)
            sig = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[
                how
            ]
            proc.send_signal(sig)
            proc.wait(60)
        assert wait_gone(server_pid, 10), f"server {server_pid} left running after {how}"
        # removed before either process exits: by the parent's cleanup, or by the server's
        # parent watcher just before it exits
        assert not log_dir.exists(), f"server log folder left behind after {how}"
    finally:
        if proc.poll() is None:
            proc.kill()
        if pid_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)


# --- sampling under the grammar --------------------------------------------------------------


@needs_extra
@pytest.mark.local_model
async def test_prefilter_sampling_validates_and_greedy_matches_stock_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The `prefilter` sampling (dilemma.models.local.server_main: grammar matched against the 256
    most likely tokens) still gives a reply that validates, and greedy decoding picks the same
    tokens as llama-cpp-python's own order on a server started with
    DILEMMA_LOCAL_SAMPLING=stock. Both servers evaluate the whole prompt: a saved prompt state
    (dilemma.models.local.prefix_state) evaluates the rest in other batches, which can tip a
    near-tie, so neither may load one."""
    from dilemma.models.local.prefix_state import STATE_DIR_ENV

    monkeypatch.setenv(STATE_DIR_ENV, "off")
    from dilemma.agents.prompt_setup import load_prompt_setup
    from dilemma.agents.state_agent import StateAgent
    from dilemma.scenarios.library import load_builtin

    from dilemma.core.agent import CallLog
    from dilemma.core.decision import decision_reply_model
    from dilemma.core.observation import Phase
    from dilemma.core.personas import Persona
    from dilemma.simulation.visibility import observe
    from dilemma.simulation.world import new_world

    scenario = load_builtin("triad")  # three states: the longest reply
    spec = scenario.states[0]
    obs = observe(new_world(scenario, seed=2), spec.id, Phase.DECISION, 0)
    persona = Persona(spec.id, spec.name, spec.regime, spec.transparency, spec.disposition, "")
    schema = decision_reply_model([o.id for o in obs.others], obs.rules.arms_cap_pct, [])
    replies: dict[str, CallLog] = {}
    for sampling in ("prefilter", "stock"):
        # One thread: on a loaded machine two threads wait on each other far longer.
        config = local_server.LocalServerConfig(
            model_path=local_server.ensure_model_file(), sampling=sampling, n_threads=1
        )
        server = local_server.LocalServer(config)
        server.start()
        try:
            model = local_model.local_model_on(server, ModelOptions(temperature=0.0))
            assert model.params["sampling"] == sampling
            agent = StateAgent(persona, model, load_prompt_setup("base-model"), max_retries=0)
            logs: list[CallLog] = []
            result = await agent.ask(obs, schema, logs.append)
        finally:
            server.stop()
        (replies[sampling],) = logs
        if sampling == "prefilter":
            assert result.reply is not None, result.error
            assert isinstance(json.loads(logs[0].raw), dict)
    assert replies["prefilter"].raw == replies["stock"].raw
    assert replies["prefilter"].output_tokens == replies["stock"].output_tokens


# --- end to end -----------------------------------------------------------------------------


@needs_extra
@pytest.mark.local_model
async def test_two_rivals_runs_on_the_local_model(tmp_path: Path) -> None:
    from dilemma.scenarios.library import load_builtin, parse_scenario

    from dilemma.records.reader import read_record
    from dilemma.records.schema import DecisionEvent, LlmCallEvent, ResolutionEvent
    from dilemma.simulation.runner import RunConfig, run_scenario

    base = load_builtin("two-rivals").model_dump(mode="json")
    base["rules"].update(rounds=1, subturns=0)
    scenario = parse_scenario(base, "two-rivals (1 round, no negotiation)")
    cap = scenario.rules.arms_cap_pct
    t0 = time.monotonic()
    path = await run_scenario(
        scenario,
        RunConfig(seed=3, out_dir=tmp_path, max_retries=1),
        overrides={s: "local" for s in scenario.ids},
        options=ModelOptions(max_tokens=400),  # bounds a call to about a minute
    )
    elapsed = time.monotonic() - t0
    record = read_record(path)
    assert record.run_end is not None and record.run_end.outcome in ("completed", "war")
    assert {m.spec for m in record.header.models.values()} == {"local"}

    calls = record.of_kind(LlmCallEvent)
    assert calls, "no model call recorded"
    for call in calls:
        assert call.input_tokens and call.output_tokens is not None
        assert call.cost_usd == 0.0
        if call.output_tokens < 390:  # not cut off by max_tokens
            json.loads(call.raw)  # grammar-constrained: always JSON

    decisions = record.of_kind(DecisionEvent)
    assert sorted(d.state for d in decisions) == sorted(scenario.ids)
    for d in decisions:
        assert (d.decision is not None) != d.flagged
        if d.decision is not None:
            assert all(0 <= t.level <= 10 for t in d.decision.threat)
            assert -cap <= d.decision.arms_change <= cap
    (resolution,) = record.of_kind(ResolutionEvent)
    for outcome in resolution.outcomes:
        assert -cap - 1e-9 <= outcome.applied_change <= cap + 1e-9
    assert local_server.current_server() is None  # the runner closed the model
    print(
        f"\nlocal e2e: {len(calls)} calls, {elapsed:.0f}s, "
        f"valid {sum(d.decision is not None for d in decisions)}/{len(decisions)}"
    )
