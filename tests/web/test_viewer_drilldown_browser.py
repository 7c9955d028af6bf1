"""The viewer's call drill-down, search, sorting and condition aggregates in a real browser, and
the pages at phone width (390 px) without sideways scrolling of the page. Screenshots go to
tests/output/screenshots/viewer-*."""

from __future__ import annotations

import math
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
    BAD_ACTION,
    SCRIPT,
    STATEMENT,
    make_sweep,
    play_injected,
    play_reasking,
)

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
"""Upper bound for the page's poll (every 2 s) to come back; never a sleep."""
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scripted runs (4 conditions x 2 seeds), a run with a re-ask and a fallback, and a run
    whose model writes markup."""
    root = tmp_path_factory.mktemp("drill") / "sweep"
    make_sweep(root, repeats=2)
    play_reasking(root / "calls")
    play_injected(root / "extra")
    return root


def _run_key(folder: Path, sub: str) -> str:
    (path,) = (folder / sub).glob("*.jsonl")
    return path.relative_to(folder).as_posix()


def _no_page_scroll(page: Any) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width} px wide in {inner} px"


def _open_calls(page: Any, selector: str) -> Any:
    details = page.locator(selector)
    details.locator("summary").click()
    return details


def test_drilldown_shows_each_attempt_its_error_and_the_text_as_text(
    page: Any, folder: Path
) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url + "/run?path=" + _run_key(folder, "calls"))
        expect(page.locator("#call-totals")).to_contain_text("10 call(s), 2 re-ask(s)")
        a = _open_calls(page, "#decision-1-A details.calls")
        expect(a.locator(".turn-head")).to_contain_text("2 call(s), 1 re-ask(s)")
        first, second = a.locator(".call[data-attempt='1']"), a.locator(".call[data-attempt='2']")
        expect(first.locator(".call-error")).to_contain_text(
            "validation error: action: Input should be"
        )
        expect(first.locator(".call-meta")).to_contain_text("invalid")
        expect(first.locator("pre.raw")).to_contain_text(BAD_ACTION)  # text, not markup
        expect(first.locator("details.parsed")).to_have_count(0)
        expect(second.locator(".call-meta")).to_contain_text("attempt 2 (re-ask)")
        expect(second.locator(".call-meta")).to_contain_text("tokens in n/a")
        expect(second.locator(".call-error")).to_have_count(0)
        expect(second.locator("details.msg")).to_have_count(4)  # system, user, reply, re-ask
        second.locator("details.msg-assistant summary").click()
        expect(second.locator("details.msg-assistant pre")).to_contain_text(BAD_ACTION)
        expect(second.locator("details.msg-system pre")).not_to_be_visible()  # collapsed
        second.locator("details.parsed summary").click()
        expect(second.locator("pre.parsed")).to_contain_text('"action"')
        b = _open_calls(page, "#decision-2-B details.calls")
        expect(b.locator(".fallback")).to_have_text("FALLBACK: no valid reply")
        expect(b.locator(".call .call-error")).to_have_count(2)
        talks = _open_calls(page, "#round-1 details.calls[data-phase=negotiation]")
        expect(talks.locator(".turn")).to_have_count(2)
        expect(talks).to_contain_text("A, sub-turn 1: 1 call(s)")
        assert page.locator("script").count() == 1
        assert page.evaluate("window.__pwned") is None
        screenshot(page, "viewer-drilldown")


def test_drilldown_of_an_injecting_model_stays_text(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url + "/run?path=" + _run_key(folder, "extra"))
        a = _open_calls(page, "#decision-1-A details.calls")
        expect(a.locator("pre.raw")).to_contain_text(STATEMENT)
        a.locator("details.parsed summary").click()
        expect(a.locator("pre.parsed")).to_contain_text(SCRIPT)
        assert page.locator("img").count() == 0 and page.locator("script").count() == 1
        assert page.evaluate("window.__pwned") is None


def test_search_lists_hits_with_run_round_and_state(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url)
        page.fill("form#search input[name=q]", "FREEZE on")
        with page.expect_navigation():
            page.click("form#search button")
        hits = page.locator("#hits tbody tr.hit")
        expect(hits.first).to_be_visible()
        for text in hits.all_inner_texts():
            assert "freeze on" in text.casefold()
        expect(hits.first.locator("mark")).to_have_text("freeze on", ignore_case=True)
        screenshot(page, "viewer-search")

        page.goto(url + "/search?q=%3Cscript%3E")
        expect(page.locator("#hits tr.hit[data-kind=statement]").first).to_be_visible()
        first = page.locator("#hits tr.hit[data-kind=rationale]").first
        expect(first).to_contain_text("Strike first")
        state, round_ = first.get_attribute("data-state"), first.get_attribute("data-round")
        assert page.evaluate("window.__pwned") is None
        with page.expect_navigation():
            first.locator("a").click()
        assert page.url.endswith(f"#decision-{round_}-{state}")
        expect(page.locator(f"#decision-{round_}-{state} dd.private.text")).to_contain_text(
            "Strike first"
        )
        page.goto(url + "/search?q=no+such+text+anywhere")
        expect(page.locator("#no-hits")).to_be_visible()


def _column(page: Any, measure: str) -> list[list[float]]:
    """Per group (in page order), the values of `measure` in its run rows."""
    found: list[list[float]] = page.evaluate(
        """m => Array.from(document.querySelectorAll('#runs tbody.group')).map(b =>
             Array.from(b.querySelectorAll('tr.run')).map(tr => {
               const c = tr.querySelector('td[data-measure="' + m + '"]') ||
                         tr.querySelector('td.seed');
               return Number(c.dataset.value);
             }))""",
        measure,
    )
    return found


def test_sorting_by_columns_within_and_across_groups(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url)
        expect(page.locator("#runs tbody.group")).to_have_count(5)  # 4 conditions, 2 loose runs
        with page.expect_navigation():  # the server sorts (the list comes in pages)
            page.click("th[data-sort=seed] button")
        expect(page.locator("th[data-sort=seed]")).to_have_attribute("aria-sort", "ascending")
        for seeds in _column(page, "seed"):
            assert seeds == sorted(seeds)
        with page.expect_navigation():
            page.click("th[data-sort=seed] button")
        expect(page.locator("th[data-sort=seed]")).to_have_attribute("aria-sort", "descending")
        for seeds in _column(page, "seed"):
            assert seeds == sorted(seeds, reverse=True)
        assert "sort=-seed" in page.url

        with page.expect_navigation():
            page.click("th[data-sort='m.escalation_index'] button")
        means = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 '#runs tbody.group tr.aggregate td[data-measure=escalation_index]'))
                 .map(td => Number(td.dataset.value))"""
        )
        assert means == sorted(means) and len(set(means)) > 1
        for values in _column(page, "escalation_index"):
            assert values == sorted(values)
        screenshot(page, "viewer-list-sorted")
        # the poll redraws the table: the order stays
        expect(page.locator("#live")).to_contain_text("Live: checked", timeout=WAIT_MS)
        expect(page.locator("th[data-sort='m.escalation_index']")).to_have_attribute(
            "aria-sort", "ascending"
        )
        again = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 '#runs tbody.group tr.aggregate td[data-measure=escalation_index]'))
                 .map(td => Number(td.dataset.value))"""
        )
        assert again == means
        # a filter keeps the sort
        with page.expect_navigation():
            page.select_option("select[name=outcome]", "completed")
        assert "sort=m.escalation_index" in page.url
        expect(page.locator("th[data-sort='m.escalation_index']")).to_have_attribute(
            "aria-sort", "ascending"
        )


def test_condition_groups_show_their_aggregates_once(page: Any, folder: Path) -> None:
    with serve_asgi(create_app(folder)) as url:
        page.goto(url + "/?c.model=scripted%3Ahawk&c.transparency=transparent%2Ftransparent")
        group = page.locator("#runs tbody.group")
        expect(group).to_have_count(1)
        expect(group.locator("tr.run")).to_have_count(2)
        head = group.locator("tr.group-head")
        expect(head).to_contain_text("transparency = transparent/transparent")
        for text in group.locator("tr.run").all_inner_texts():
            assert "transparency =" not in text  # the condition is in the group's heading only
        keys = [k for k in group.locator("tr.run").evaluate_all("rs => rs.map(r => r.dataset.key)")]
        runs = score([folder / k for k in keys]).runs
        values = list(runs["escalation_index"])
        mean = sum(values) / 2
        cell = group.locator("tr.aggregate td[data-measure=escalation_index]")
        expect(cell).to_contain_text(f"{mean:.1f}")
        if not math.isclose(values[0], values[1]):
            expect(cell.locator(".ci")).to_contain_text("[")
        war = group.locator("tr.aggregate td[data-measure=war]")
        expect(war).to_contain_text(f"{runs['war'].astype(float).mean():.2f}")
        expect(page.locator("#commands")).to_contain_text(f"dilemma report {folder}")
        expect(page.locator("#commands")).to_contain_text(f"dilemma compare {folder} --by model")
        assert page.locator("form#filters button").count() == 0  # no Filter button
        screenshot(page, "viewer-list-groups")


def test_pages_fit_a_phone_without_sideways_scroll(page: Any, folder: Path) -> None:
    page.set_viewport_size(PHONE)
    with serve_asgi(create_app(folder)) as url:
        page.goto(url)
        expect(page.locator("#runs tbody tr.run")).to_have_count(10)
        _no_page_scroll(page)
        box = page.locator(".scroll").first
        overflow = box.evaluate("b => [b.scrollWidth, b.clientWidth]")
        assert overflow[0] > overflow[1]  # the wide table scrolls inside its own box
        screenshot(page, "viewer-list-390")
        page.goto(url + "/run?path=" + _run_key(folder, "calls"))
        _open_calls(page, "#decision-1-A details.calls")
        expect(page.locator("#decision-1-A .call")).to_have_count(2)
        _no_page_scroll(page)
        screenshot(page, "viewer-run-390")
        page.goto(url + "/search?q=arms")
        _no_page_scroll(page)
        screenshot(page, "viewer-search-390")
