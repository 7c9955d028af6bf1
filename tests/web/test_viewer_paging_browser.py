"""The viewer's list in pages in a real browser: moving between pages, sorting and filtering a
folder with more runs than a page, and the groups' intervals arriving after the list.
Screenshots go to tests/output/screenshots/viewer-paging-*."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("playwright")

from playwright.sync_api import expect

from dilemma.web.viewer.app import create_app
from tests.helpers.browser import screenshot, serve_asgi
from tests.helpers.viewer_runs import make_sweep

pytestmark = pytest.mark.browser

PER = 3
RUNS = 8
"""make_sweep(repeats=2): 4 conditions (transparency x model) x 2 seeds."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paging") / "sweep"
    make_sweep(root, repeats=2)
    return root


def shown(page: Any) -> list[tuple[str, str, float]]:
    """(key, group heading, seed) of every run row on the page, in page order."""
    found: list[tuple[str, str, float]] = page.evaluate(
        """() => Array.from(document.querySelectorAll('#runs tbody.group tr.run')).map(tr => [
             tr.dataset.key,
             tr.closest('tbody').querySelector('tr.group-head th').firstChild.textContent.trim(),
             Number(tr.querySelector('td.seed').dataset.value)])"""
    )
    return [tuple(x) for x in found]  # type: ignore[misc]


def every_page(page: Any) -> list[tuple[str, str, float]]:
    """The rows of this page and of each next one (following the "next page" link)."""
    rows = shown(page)
    while page.locator("#pager a.next").count():
        with page.expect_navigation():
            page.click("#pager a.next")
        rows += shown(page)
    return rows


def test_pages_hold_every_run_once(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder, page_size=PER)) as url:
        page.goto(url)
        expect(page.locator("#runs tbody tr.run")).to_have_count(PER)
        pager = page.locator("#pager .range")
        expect(pager).to_contain_text(f"runs 1-{PER} of {RUNS}, page 1 of 3")
        expect(page.locator("#pager a.previous")).to_have_count(0)
        screenshot(page, "viewer-paging-first")
        rows = every_page(page)
        expect(page.locator("#pager .range")).to_contain_text(f"runs 7-{RUNS} of {RUNS}, page 3")
        expect(page.locator("#runs tbody tr.run")).to_have_count(RUNS - 2 * PER)
        expect(page.locator("#pager a.next")).to_have_count(0)
        keys = [k for k, _, _ in rows]
        assert len(keys) == RUNS and len(set(keys)) == RUNS
        with page.expect_navigation():
            page.click("#pager-bottom a.previous")
        expect(page.locator("#pager .range")).to_contain_text("page 2 of 3")
        # the page's poll keeps the page (and its intervals arrive from /api/groups)
        interval = page.locator("#runs tr.aggregate td[data-measure=escalation_index] .ci")
        expect(interval.first).to_contain_text("[", timeout=20_000)
        expect(page.locator("#live")).to_contain_text("Live: checked", timeout=20_000)
        assert [k for k, _, _ in shown(page)] == keys[PER : 2 * PER]
        screenshot(page, "viewer-paging-second")


def test_sorting_and_filtering_span_pages(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder, page_size=PER)) as url:
        page.goto(url + "/?page=2")
        with page.expect_navigation():
            page.click("th[data-sort=seed] button")
        expect(page.locator("th[data-sort=seed]")).to_have_attribute("aria-sort", "ascending")
        expect(page.locator("#pager .range")).to_contain_text("page 1 of 3")  # from the start
        rows = every_page(page)
        assert len(rows) == RUNS
        order: list[str] = []
        for _, group, _ in rows:  # each group's runs together, even across a page break
            if not order or order[-1] != group:
                assert group not in order
                order.append(group)
        assert len(order) == 4
        for group in order:
            seeds = [s for _, g, s in rows if g == group]
            assert seeds == sorted(seeds)
        firsts = [next(s for _, g, s in rows if g == group) for group in order]
        assert firsts == sorted(firsts)  # groups follow their first run
        screenshot(page, "viewer-paging-sorted")

        page.goto(url + "/?sort=-seed&page=3")
        with page.expect_navigation():
            page.select_option('select[name="c.model"]', "scripted:hawk")
        assert "sort=-seed" in page.url and "page=" not in page.url
        expect(page.locator("th[data-sort=seed]")).to_have_attribute("aria-sort", "descending")
        expect(page.locator("#pager .range")).to_contain_text("runs 1-3 of 4, page 1 of 2")
        rows = every_page(page)
        assert len(rows) == 4 and all("model = scripted:hawk" in g for _, g, _ in rows)
        for group in {g for _, g, _ in rows}:
            seeds = [s for _, g, s in rows if g == group]
            assert seeds == sorted(seeds, reverse=True)
        screenshot(page, "viewer-paging-filtered")
