"""Fixtures shared by the test modules. Plain helpers (builders, fakes) are in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fake_openai_server import FakeOpenAIServer
from tests.helpers.hostile import play_hostile


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--fast`: the developer loop, whose marker expression is `fast_markers` in pyproject."""
    parser.addini("fast_markers", "marker expression of the tests `--fast` keeps", default="")
    parser.addoption(
        "--fast",
        action="store_true",
        help="developer loop: also deselect what the ini option fast_markers excludes"
        " (slow, local_model, browser and ray tests)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """With `--fast`, AND the `fast_markers` expression into any -m given (addopts' included)."""
    if not config.getoption("fast"):
        return
    fast = str(config.getini("fast_markers")).strip()
    if not fast:
        raise pytest.UsageError("--fast needs fast_markers in [tool.pytest.ini_options]")
    given = config.option.markexpr
    config.option.markexpr = f"({given}) and ({fast})" if given else fast


@pytest.fixture(autouse=True)
def _latency_file(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Measured model latencies go to a test's own file, never to the user's cache."""
    path = tmp_path_factory.mktemp("latency") / "latency.json"
    monkeypatch.setenv("DILEMMA_LATENCY_FILE", str(path))
    return path


@pytest.fixture(autouse=True)
def _score_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The score cache of commands run in a test is the test's own, and none is left in use
    for the next test (the command line turns one on for its process)."""
    from dilemma.evaluation import score_cache

    folder = tmp_path_factory.mktemp("score-cache")
    monkeypatch.setenv(score_cache.CACHE_DIR_ENV, str(folder))
    yield folder
    score_cache.use(None)


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server; set `responder` or script it per test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def hostile_record(tmp_path: Path) -> Path:
    """The record of `play_hostile` (seed 1), alone in the folder `tmp_path / "hostile"`."""
    return await play_hostile(tmp_path / "hostile")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright (sync API), shared by a test module.

    Module scope, not session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and async tests of later modules could not run their own."""
    from tests.helpers.browser import CHROMIUM_FLAGS, chromium_path

    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser page (own context: no cookies or storage shared between tests)."""
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
