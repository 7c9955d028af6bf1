"""The live viewer (`dilemma view`) in a real browser: listing, live updates, filters, a run's
timeline, and model text that stays text. Screenshots go to tests/output/screenshots/viewer-*."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("playwright")

from dilemma.evaluation.tables import score
from playwright.sync_api import expect

from dilemma.web.viewer.app import create_app
from tests.helpers.browser import screenshot, serve_asgi
from tests.helpers.viewer_runs import (
    IMG,
    MESSAGE,
    RATIONALE,
    REASON,
    SCRIPT,
    STATEMENT,
    make_sweep,
    play_injected,
    write_in_two_steps,
)

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
"""Upper bound for the page's poll (every 2 s) to show a change; never a sleep."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of 4 scripted runs, and in a subfolder a war whose model injects markup."""
    root = tmp_path_factory.mktemp("viewer") / "sweep"
    make_sweep(root)
    play_injected(root / "extra")
    return root


def rows(page: Any) -> Any:
    return page.locator("#runs tbody tr.run")


def test_lists_a_sweep_and_shows_a_run_written_while_open(
    page: Any, folder: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live"
    shutil.copytree(folder, live)
    source = sorted(live.glob("*.jsonl"))[0]
    with serve_asgi(create_app(live)) as url:
        page.goto(url)
        expect(rows(page)).to_have_count(5)
        table = page.locator("#runs")
        expect(table).to_contain_text("two-rivals")
        expect(table).to_contain_text("transparency = secretive/secretive")
        expect(table).to_contain_text("model = scripted:hawk")
        expect(table).to_contain_text("all: scripted:reactive")
        expect(page.locator("tr[data-outcome=war]")).to_have_count(1)
        expect(page.locator("tr[data-outcome=completed]")).to_have_count(4)
        screenshot(page, "viewer-list")

        new = page.locator('tr[data-key="late/new-run.jsonl"]')
        with write_in_two_steps(source, live / "late" / "new-run.jsonl", "late-run"):
            expect(new).to_have_count(1, timeout=WAIT_MS)
            expect(new.locator("td.outcome")).to_have_text("running")
            expect(new).to_contain_text("late-run")
            expect(new).to_contain_text("truncated last line")
            screenshot(page, "viewer-list-running")
        expect(new.locator("td.outcome")).to_have_text("completed", timeout=WAIT_MS)
        expect(new).not_to_contain_text("truncated")
        expect(rows(page)).to_have_count(6)
        expect(page.locator("#total")).to_have_text("6")
        screenshot(page, "viewer-list-new-run")


def test_filters_by_outcome_and_condition(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url)
        expect(rows(page)).to_have_count(5)
        with page.expect_navigation():
            page.select_option("select[name=outcome]", "war")
        expect(rows(page)).to_have_count(1)
        expect(rows(page).locator("td.outcome")).to_have_text("war")
        expect(page.locator("#shown")).to_have_text("1")
        screenshot(page, "viewer-filter-war")

        page.goto(url)
        with page.expect_navigation():
            page.select_option('select[name="c.transparency"]', "secretive/secretive")
        expect(rows(page)).to_have_count(2)
        for text in page.locator("#runs tr.group-head").all_inner_texts():
            assert "transparency = secretive/secretive" in text
        with page.expect_navigation():
            page.select_option('select[name="c.model"]', "scripted:hawk")
        expect(rows(page)).to_have_count(1)
        expect(rows(page)).to_contain_text("all: scripted:hawk")
        screenshot(page, "viewer-filter-condition")
        page.click("text=clear filters")
        expect(rows(page)).to_have_count(5)


def test_a_run_shows_its_timeline_and_measures(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url + "/?c.model=scripted%3Ahawk&c.transparency=transparent%2Ftransparent")
        expect(rows(page)).to_have_count(1)
        page.locator("#runs tbody tr.run a").click()
        expect(page.locator("h1")).to_contain_text("Run ")
        for n in (1, 2, 3):
            round_ = page.locator(f"#round-{n}")
            for state in ("Aria", "Borea"):
                card = round_.locator(f"article.decision[data-state={state}]")
                expect(card).to_contain_text("action")
                expect(card).to_contain_text("private intent")
                expect(card).to_contain_text("perceived intent")
                expect(card).to_contain_text("statement")
        expect(page.locator("#round-1 .messages li").first).to_be_visible()
        expect(page.locator("#arms-chart polyline")).to_have_count(2)
        expect(page.locator("#threat-chart polyline")).to_have_count(2)
        expect(page.locator("#threat-chart")).to_contain_text("Aria → Borea")
        key = page.url.split("path=", 1)[1]
        expected = score([folder / key]).runs["escalation_index"].iloc[0]
        index = page.locator("tr[data-measure=escalation_index] td.num")
        expect(index).to_have_text(f"{expected:.2f}")
        expect(page.locator("table.quality tbody tr")).to_have_count(2)
        screenshot(page, "viewer-run")


def test_injected_markup_stays_text(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url)
        with page.expect_navigation():
            page.locator("tr[data-outcome=war] a").click()
        expect(page.locator("#outcome")).to_contain_text("war started by A in round 2")
        statement = page.locator("article.decision[data-state=A] dd.statement").first
        expect(statement).to_have_text(STATEMENT)
        rationale = page.locator("article.decision[data-state=A] dd.private.text").first
        expect(rationale).to_have_text(RATIONALE)
        expect(page.locator(".messages q").first).to_have_text(MESSAGE)
        expect(page.locator("article.decision[data-state=A]").first).to_contain_text(REASON)
        assert SCRIPT in page.inner_text("body") and IMG in page.inner_text("body")
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 1  # the viewer's own, from /static
        assert page.evaluate("window.__pwned") is None
        screenshot(page, "viewer-injected-text")
