"""Every model call is bounded, retried when transient, and its bounds are in the record.

Against the loopback fake server: a proxy's HTML or plain-text 200 is retried like a JSON one;
a reply dripped one byte at a time times out per attempt (`--timeout`); a server that never
answers fails the call at its deadline (`--call-deadline`), retries included. Hanging and
dripping requests wait on the server's stop event, so each test ends in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dilemma.scenarios.library import load_builtin, parse_scenario
from dilemma.scenarios.schema import Scenario
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.config import SweepConfig
from dilemma.models.registry import (
    REMOTE_ATTEMPT_TIMEOUT_S,
    REMOTE_CALL_DEADLINE_S,
    ModelOptions,
    StructuredMode,
)
from dilemma.records.reader import read_header, read_record
from dilemma.records.schema import LlmCallEvent
from dilemma.simulation.runner import RunConfig, RunFailed, run_scenario
from tests.helpers.fake_openai_server import FakeOpenAIServer, Hang, RawBody, SlowDrip

HTML = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-transport")
    monkeypatch.delenv("DILEMMA_BASE_URL", raising=False)


def one_round() -> Scenario:
    data = load_builtin("two-rivals").model_dump(mode="json")
    data["rules"].update(rounds=1, subturns=0)
    return parse_scenario(data, "two-rivals (one round)")


async def play(srv: FakeOpenAIServer, out: Path, **options: float | int) -> Path:
    scenario = one_round()
    return await run_scenario(
        scenario,
        RunConfig(seed=1, out_dir=out, max_retries=0),
        overrides={s: "openai:gpt-a" for s in scenario.ids},
        options=ModelOptions(
            base_url=srv.base_url,
            structured=StructuredMode.JSON_TEXT,
            **options,  # type: ignore[arg-type]
        ),
    )


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/json"])
async def test_a_200_error_page_is_retried_however_labelled(
    openai_server: FakeOpenAIServer, tmp_path: Path, content_type: str
) -> None:
    openai_server.script("gpt-a", RawBody(HTML, content_type=content_type))
    path = await play(openai_server, tmp_path, transport_retries=0)
    record = read_record(path)
    assert record.run_end is not None and record.run_end.outcome == "completed"
    assert len(openai_server.chat_requests()) == 3  # one call asked twice, the other once
    assert all(c.error is None for c in record.of_kind(LlmCallEvent))


async def test_a_persistent_html_page_fails_the_call_after_bounded_retries(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.responder = lambda body: RawBody(HTML, content_type="text/html")
    with pytest.raises(RunFailed) as info:
        await play(openai_server, tmp_path, transport_retries=0)
    assert "not JSON" in info.value.cause and "502 Bad Gateway" in info.value.cause
    failed = [c for c in read_record(info.value.path).of_kind(LlmCallEvent) if c.error]
    assert failed and (failed[0].error or "").startswith("call failed")
    assert len(openai_server.chat_requests()) <= 2 * 3  # 1 + BODY_RETRIES per call at most


async def test_a_dripped_reply_times_out_per_attempt_and_is_retried(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # a byte every 0.1 s: the read timeout (between bytes) never fires, the attempt bound does
    openai_server.script("gpt-a", SlowDrip(interval=0.1))
    path = await play(openai_server, tmp_path, timeout_s=0.5, transport_retries=1)
    record = read_record(path)
    assert record.run_end is not None and record.run_end.outcome == "completed"
    assert len(openai_server.chat_requests()) == 3  # the dripped call was asked again


async def test_a_server_that_never_answers_fails_at_the_call_deadline(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.responder = lambda body: Hang()
    with pytest.raises(RunFailed) as info:
        await play(openai_server, tmp_path, timeout_s=0.3, transport_retries=50, deadline_s=1.0)
    assert "call deadline of 1 s" in info.value.cause
    # far fewer than the 2 x 51 attempts the transport retries alone would allow
    assert len(openai_server.chat_requests()) < 20
    failed = [c for c in read_record(info.value.path).of_kind(LlmCallEvent) if c.error]
    assert failed and "call deadline" in (failed[0].error or "")


async def test_bounds_are_recorded_in_the_header(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = await play(openai_server, tmp_path / "set", timeout_s=7.5, deadline_s=42)
    models = read_header(path).models
    assert {(m.attempt_timeout_s, m.call_deadline_s) for m in models.values()} == {(7.5, 42)}
    path = await play(openai_server, tmp_path / "default")
    models = read_header(path).models
    assert {(m.attempt_timeout_s, m.call_deadline_s) for m in models.values()} == {
        (REMOTE_ATTEMPT_TIMEOUT_S, REMOTE_CALL_DEADLINE_S)
    }


def test_cli_timeout_options_reach_the_header(
    openai_server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DILEMMA_BASE_URL", openai_server.base_url)
    openai_server.strict_tool_choice = False
    result = CliRunner().invoke(
        app,
        [
            *("run", "two-rivals", "--model", "openai:gpt-a", "--rounds", "1"),
            *("--out", str(tmp_path), "--timeout", "9", "--call-deadline", "30"),
        ],
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*.jsonl")
    models = read_header(path).models
    assert {(m.attempt_timeout_s, m.call_deadline_s) for m in models.values()} == {(9, 30)}


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "0"],
        ["--timeout", "-1"],
        ["--timeout", "nan"],
        ["--call-deadline", "inf"],
        ["--concurrency", "0"],
        ["--concurrency", "-1"],
        ["--temperature", "nan"],
    ],
    ids=" ".join,
)
def test_bad_bounds_are_refused(tmp_path: Path, command: str, args: list[str]) -> None:
    target = "two-rivals"
    if command == "sweep":
        target = str(tmp_path / "exp.yaml")
        Path(target).write_text("name: e\nscenarios: [two-rivals]\nmodel: scripted:dove\n")
    result = CliRunner().invoke(
        app, [command, target, "--out", str(tmp_path / "out"), "--model", "scripted:dove", *args]
    )
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["-1", "-5"])
def test_negative_max_retries_is_refused(tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "two-rivals",
            "--model",
            "scripted:dove",
            "--out",
            str(out),
            "--max-retries",
            value,
        ],
    )
    assert result.exit_code == 2, result.output
    assert not out.exists()


def test_library_refuses_what_the_cli_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RunConfig(seed=0, out_dir=tmp_path, max_retries=-1)
    with pytest.raises(ValueError, match="max_in_flight"):
        RunConfig(seed=0, out_dir=tmp_path, max_in_flight=0)
    with pytest.raises(ValueError, match="concurrency"):
        SweepConfig(tmp_path / "sweep", concurrency=0)
    assert not (tmp_path / "sweep").exists()
