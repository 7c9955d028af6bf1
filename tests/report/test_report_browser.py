"""The HTML report in a real browser (Playwright, Debian's chromium): no sideways page scroll at
1366 and 390 px, the verdicts first, and a run's model calls visible with model text inert.
Screenshots go to tests/output/screenshots/report-*."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import expect

from dilemma.report.build import write_report
from tests.helpers.browser import screenshot
from tests.helpers.call_runs import MESSAGE, SCRIPT, STATEMENT, play_calls
from tests.helpers.report_sweeps import two_factor_sweep

pytestmark = pytest.mark.browser

WIDTHS = (1366, 390)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-factor sweep's report (8 runs, one round each) and a single run's report.

    Built before the module's browser starts (sync Playwright holds the main thread's loop)."""
    root = tmp_path_factory.mktemp("report-browser")
    sweep = two_factor_sweep(root, rounds=1, repeats=2)
    record = asyncio.run(play_calls(root / "one"))
    return {
        "sweep": write_report(sweep, root / "sweep.html"),
        "run": write_report(record, root / "run.html"),
    }


def _open(page: Any, path: Path, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path.as_uri())


def _page_width(page: Any) -> tuple[int, int]:
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(sizes[0]), int(sizes[1])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("which", ["sweep", "run"])
def test_no_horizontal_page_scroll(
    reports: dict[str, Path], page: Any, which: str, width: int
) -> None:
    _open(page, reports[which], width)
    assert _page_width(page)[0] <= width
    screenshot(page, f"report-{which}-{width}")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    scroll, inner = _page_width(page)  # open content (transcripts, prompts) must fit too
    assert inner == width and scroll <= inner, (scroll, inner)
    if which == "sweep":
        # the runs table is wider than the screen: it scrolls inside its own box instead
        box = page.locator("#runs ~ .scroll").first
        inside = box.evaluate("b => [b.scrollWidth, b.clientWidth]")
        assert inside[0] > inside[1]


@pytest.mark.parametrize("width", WIDTHS)
def test_verdicts_are_the_first_thing_on_the_page(
    reports: dict[str, Path], page: Any, width: int
) -> None:
    _open(page, reports["sweep"], width)
    first = page.locator("h2").first
    expect(first).to_have_text("Verdicts")
    assert first.bounding_box()["y"] < 900  # on the first screen, before scrolling
    items = page.locator("ul.verdicts li")
    expect(items).to_have_count(3)
    expect(items.nth(2)).to_contain_text("regime x transparency")
    items.first.locator("a").click()
    assert page.evaluate("location.hash") == "#cmp-regime"


def test_heatmap_numbers_stay_readable_on_a_phone(reports: dict[str, Path], page: Any) -> None:
    _open(page, reports["sweep"], 390)
    figure = page.locator("#heatmaps ~ .fig img").first
    natural, shown = figure.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
    assert shown >= 0.8 * natural - 1  # drawn at most 20% smaller; its box scrolls instead
    assert _page_width(page)[0] <= 390


@pytest.mark.parametrize("width", WIDTHS)
def test_call_history_is_visible_and_model_text_is_inert(
    reports: dict[str, Path], page: Any, width: int
) -> None:
    _open(page, reports["run"], width)
    title = page.title()
    page.locator("details.calls > summary").click()
    calls = page.locator("details.call")
    expect(calls).to_have_count(14)
    fallback = page.locator('details.call[data-fallback="true"]')
    expect(fallback).to_have_count(2)
    expect(fallback.first.locator(":scope > summary")).to_contain_text("FALLBACK")
    expect(fallback.nth(1).locator(":scope > summary")).to_contain_text("re-ask")
    fallback.first.locator(":scope > summary").click()
    expect(fallback.first.locator("pre.err")).to_contain_text("arms_change: Input should be")
    prompt = fallback.first.locator("details pre").first
    expect(prompt).to_be_hidden()  # the messages sent stay collapsed until asked for
    fallback.first.locator("details > summary").first.click()
    expect(prompt).to_be_visible()
    message = calls.filter(has_text="negotiation 1").first
    message.locator(":scope > summary").click()
    expect(message.locator(":scope > pre").last).to_contain_text(MESSAGE)  # tags shown as text
    later = calls.filter(has_text="attempt 2").nth(1)
    later.locator(":scope > summary").click()
    expect(later).to_contain_text(STATEMENT)
    assert SCRIPT in message.inner_text()
    assert page.evaluate("document.scripts.length") == 0
    assert page.title() == title  # the injected script never ran
    assert _page_width(page)[0] <= width
    screenshot(page, f"report-calls-{width}")
