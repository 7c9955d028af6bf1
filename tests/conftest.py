"""Fixtures shared by the test modules. Plain helpers (builders, fakes) are in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.fake_openai_server import FakeOpenAIServer
from tests.helpers.hostile import play_hostile


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server; set `responder` or script it per test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def hostile_record(tmp_path: Path) -> Path:
    """The record of `play_hostile` (seed 1), alone in the folder `tmp_path / "hostile"`."""
    return await play_hostile(tmp_path / "hostile")
