"""A server that echoes the whole API key in its error never gets it written or printed.

Several OpenAI-compatible servers and proxies answer 401 with the key they were sent. The CLI
runs against such a server (the fake one on 127.0.0.1) as a researcher would: run, sweep, show,
report, export, score (in-process, for speed; test_secrets runs the CLI as a subprocess). Then
every file under the test folder and every output stream is searched for the key and its tail.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from dilemma.cli.main import app
from dilemma.core.safe_text import REDACTED, redact
from tests.helpers.fake_openai_server import Behaviour, FakeOpenAIServer, Status, policy_responder

KEY = f"proxy-key-{uuid.uuid4().hex}"
"""Not shaped like `sk-...`: only the value of OPENAI_API_KEY itself can give it away."""


def echo_401_for(model: str) -> Any:
    """`model` is refused with a 401 that quotes the key twice; others answer validly."""
    default = policy_responder()

    def respond(body: dict[str, Any]) -> Behaviour:
        if body.get("model") != model:
            return default(body)
        return Status(
            401,
            message=f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}; see docs.",
        )

    return respond


def test_an_echoed_key_is_redacted_everywhere(
    openai_server: FakeOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DILEMMA_BASE_URL", openai_server.base_url)
    monkeypatch.chdir(tmp_path)
    Path("exp.yaml").write_text(
        "name: echoed\nscenarios: [two-rivals]\nrounds: 1\n"
        "factors:\n  model: [openai:gpt-ok, openai:gpt-bad]\n",
        encoding="utf-8",
    )
    openai_server.responder = echo_401_for("gpt-bad")
    openai_server.strict_tool_choice = False
    runner = CliRunner()

    def dilemma(*args: str) -> Result:
        return runner.invoke(app, list(args))

    run = dilemma("run", "two-rivals", "--model", "openai:gpt-bad", "--out", "runs")
    sweep = dilemma("sweep", "exp.yaml", "--out", "sweep")
    assert run.exit_code == 1 and sweep.exit_code == 1, (run.output, sweep.output)
    (record,) = Path("runs").glob("*.jsonl")
    steps = [
        ("show", str(record)),
        ("report", "runs", "-o", "report.html"),
        ("export", "sweep", "-o", "tables"),
        ("score", "sweep"),
        ("score", "runs", "--json"),
    ]
    results = [run, sweep, *(dilemma(*step) for step in steps)]
    for step, result in zip(steps, results[2:], strict=True):
        assert result.exit_code == 0, (step, result.output[-2000:])

    # the key was in use and the server did echo it
    assert {r.headers.get("authorization") for r in openai_server.chat_requests()} == {
        f"Bearer {KEY}"
    }
    # the record says why the run failed, with the key redacted
    text = record.read_text(encoding="utf-8")
    assert "401" in text and REDACTED in text
    assert "401" in run.stderr and REDACTED in run.stderr
    assert "401" in results[2].output  # show
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".jsonl", ".html", ".csv", ".parquet"}
    for needle in (KEY, KEY[-16:]):
        leaks = [p for p in written if needle.encode() in p.read_bytes()]
        assert not leaks, f"key written to {leaks}"
        printed = [n for n, r in enumerate(results) if needle in r.stdout + r.stderr]
        assert not printed, f"key printed by steps {printed}"


def test_key_shaped_strings_are_redacted() -> None:
    text = (
        "key sk-proj-AbCdEfGhIjKlMnOpQrStUv123, header Authorization: Bearer abc.def-ghi_jkl012,"
        " google AIzaSyA1234567890abcdefghijklmnopqrstu, hf hf_abcdefghijklmnopqrstuvwxyz0123"
    )
    redacted = redact(text)
    for secret in ("sk-proj-", "abc.def-ghi", "AIzaSy", "hf_abcdef"):
        assert secret not in redacted
    assert redacted.count(REDACTED) == 4 and "Authorization: Bearer [REDACTED]" in redacted
    # ordinary words and short tokens stay
    assert redact("task-force ask-me sk-learn Bearer of bad news") == (
        "task-force ask-me sk-learn Bearer of bad news"
    )


def test_key_env_values_and_registered_secrets_are_redacted(monkeypatch: Any) -> None:
    from dilemma.core.safe_text import register_url_secrets

    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-value-0123456789")
    monkeypatch.setenv("HF_TOKEN", "tok-value-abcdefghijk")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to be a key: never redacted
    register_url_secrets(
        "https://user:p4ssw0rd-long-enough@proxy.example/v1?api_key=qk-0123456789ab"
    )
    out = redact(
        "a anthropic-value-0123456789 b tok-value-abcdefghijk c abc d p4ssw0rd-long-enough"
        " e qk-0123456789ab"
    )
    assert out == "a [REDACTED] b [REDACTED] c abc d [REDACTED] e [REDACTED]"


async def test_a_key_in_an_old_record_is_redacted_on_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record written before redaction existed (or by hand) may hold a key: every output
    (show, score, report, export) redacts it."""
    from dilemma.simulation.runner import RunConfig, run_scenario
    from tests.helpers.engine import make_scenario

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    runs = tmp_path / "runs"
    path = await run_scenario(
        make_scenario([{"id": "A"}, {"id": "B"}], rounds=1),
        RunConfig(seed=0, out_dir=runs, argv=["test"]),
        default_model="scripted:dove",
    )
    text = path.read_text(encoding="utf-8")
    text = text.replace('"name":"test"', f'"name":"{KEY}"', 1)
    text = text.replace('"error":null,"ended_at"', f'"error":"401 {KEY}","ended_at"')
    assert text.count(KEY) == 2
    path.write_text(text, encoding="utf-8")

    runner = CliRunner()
    results = [
        runner.invoke(app, ["show", str(path)]),
        runner.invoke(app, ["score", str(runs)]),
        runner.invoke(app, ["score", str(runs), "--json"]),
        runner.invoke(app, ["report", str(runs), "-o", str(tmp_path / "r.html")]),
        runner.invoke(app, ["export", str(runs), "-o", str(tmp_path / "tables")]),
    ]
    assert [r.exit_code for r in results] == [0] * len(results), [r.output for r in results]
    assert REDACTED in results[0].output
    assert not [r.output for r in results if KEY in r.output]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert {p.suffix for p in written} >= {".html", ".csv", ".parquet"}
    assert not [p for p in written if KEY.encode() in p.read_bytes()]


def test_secrets_are_recomputed_when_the_environment_or_registrations_change(
    monkeypatch: Any,
) -> None:
    """The secret values are cached between redactions, never past a change."""
    from dilemma.core.safe_text import register_secret

    text = "x later-secret-0123456789 y registered-later-0123 z"
    assert redact(text) == text  # fills the cache
    monkeypatch.setenv("LATER_API_KEY", "later-secret-0123456789")
    assert redact(text) == "x [REDACTED] y registered-later-0123 z"
    register_secret("registered-later-0123")
    assert redact(text) == "x [REDACTED] y [REDACTED] z"
    monkeypatch.setenv("LATER_API_KEY", "other-secret-0123456789")
    assert redact("later-secret-0123456789") == "later-secret-0123456789"
    assert redact("AUTHORIZATION: BEARER abcdefghijklmnop") == "AUTHORIZATION: BEARER [REDACTED]"
