"""No API key is ever written to a record, a log, a cache, a report or the console.

The CLI runs as a researcher runs it, with a sentinel OPENAI_API_KEY against the fake
OpenAI-compatible server; then every file under the test folder (records, response cache,
exported tables, HOME) and every console output is searched for the sentinel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fake_openai_server import Behaviour, FakeOpenAIServer, Status, policy_responder

pytestmark = pytest.mark.slow  # six CLI processes, each with the SDK's debug logging

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = f"sk-sentinel-{uuid.uuid4().hex}"


def masked_401_for(model: str) -> Any:
    """A server that rejects `model` the way OpenAI does, echoing a masked key."""
    default = policy_responder()
    masked = f"{SENTINEL[:8]}{'*' * (len(SENTINEL) - 12)}{SENTINEL[-4:]}"

    def respond(body: dict[str, Any]) -> Behaviour:
        if body.get("model") == model:
            return Status(401, message=f"Incorrect API key provided: {masked}.")
        return default(body)

    return respond


def dilemma(home: Path, base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": SENTINEL,
        "DILEMMA_BASE_URL": base_url,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(ROOT),
        "OPENAI_LOG": "debug",  # the SDK's own request logging goes to stderr
    }
    return subprocess.run(
        [sys.executable, "-m", "dilemma.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=home,
        env=env,
        timeout=300,
    )


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_sentinel_key_is_never_written(openai_server: FakeOpenAIServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "exp.yaml").write_text(
        "name: secrets\nscenarios: [two-rivals]\nrounds: 2\nmodel: openai:gpt-4o-mini\n"
        "factors:\n  regime:\n    - [democracy, autocracy]\nrepeats: 2\n",
        encoding="utf-8",
    )
    outputs: list[str] = []
    # strict_tool_choice off: test_faults pins that contract; this test is about secrets only
    openai_server.responder = masked_401_for("gpt-rejected")
    openai_server.strict_tool_choice = False
    url = openai_server.base_url
    steps = [
        (
            "run",
            "two-rivals",
            "--model",
            "openai:gpt-4o-mini",
            "--rounds",
            "2",
            "--out",
            "runs",
        ),
        (
            "run",
            "two-rivals",
            "--model",
            "openai:gpt-rejected",
            "--rounds",
            "1",
            "--out",
            "failed",
        ),
        ("sweep", "exp.yaml", "--cache", "cache/responses.sqlite", "--out", "sweep"),
        ("score", "runs", "--json"),
        ("score", "sweep"),
        ("export", "sweep", "-o", "tables"),
    ]
    results = [dilemma(home, url, *step) for step in steps]
    for step, result in zip(steps, results, strict=True):
        outputs += [result.stdout, result.stderr]
        expected_ok = step[0] != "run" or step[-1] != "failed"
        assert (result.returncode == 0) == expected_ok, (step, result.stderr[-2000:])

    # the key was really in use: every request carried it
    auth = {r.headers.get("authorization") for r in openai_server.chat_requests()}
    assert auth == {f"Bearer {SENTINEL}"}
    # the failed run says why, without the key
    failed = list((home / "failed").glob("*.jsonl"))
    assert failed and "401" in failed[0].read_text(encoding="utf-8")

    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in written)
    assert any(p.suffix == ".sqlite" for p in written)
    assert any(p.suffix in (".csv", ".parquet") for p in written)
    leaks = files_containing(tmp_path, SENTINEL.encode())
    assert not leaks, f"API key written to {leaks}"
    assert not [o for o in outputs if SENTINEL in o], "API key printed to the console"
    # nor its tail, in case something is logged half-masked
    assert not files_containing(home, SENTINEL[-20:].encode())
