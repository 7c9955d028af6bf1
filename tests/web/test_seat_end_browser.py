"""The web seat's countdown, untouched required fields, offers and end page, in a real browser
(headless Debian chromium through Playwright)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from dilemma.records.reader import read_record
from dilemma.records.schema import ResolutionEvent
from dilemma.web.seat.app import create_app
from tests.helpers.browser import fill_decision, screenshot, serve_asgi
from tests.helpers.seats import seat_run

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
RED = "rgb(204, 0, 0)"


async def never(_: float) -> None:
    """A deadline timer that never fires: the turn stays open whatever the countdown shows."""
    await asyncio.Event().wait()


def _open(page: Any, url: str, heading: str) -> None:
    page.goto(url)
    page.wait_for_selector(f"form#turn h2:has-text('{heading}')", timeout=TIMEOUT_MS)


def test_the_countdown_shows_the_time_left(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1, deadline_s=300, timer=never)
    with serve_asgi(create_app(run)) as base:
        _open(page, f"{base}/seat/Aria?token={run.tokens['Aria']}", "Negotiation")
        left = int(page.get_attribute("#countdown", "data-remaining"))
        assert 0 < left <= 300
        text = page.inner_text("#countdown")
        assert re.fullmatch(r"Time left: [0-5]:[0-5]\d", text), text
        screenshot(page, "seat_countdown")


def test_the_countdown_says_when_time_is_up(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1, deadline_s=0, timer=never)
    with serve_asgi(create_app(run)) as base:
        _open(page, f"{base}/seat/Aria?token={run.tokens['Aria']}", "Negotiation")
        page.wait_for_selector("#countdown.late", timeout=TIMEOUT_MS)
        assert "Time is up" in page.inner_text("#countdown")


def test_required_fields_are_marked_only_after_interaction(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    with serve_asgi(create_app(run)) as base:
        url = f"{base}/seat/Aria?token={run.tokens['Aria']}"
        _open(page, url, "Negotiation")
        page.click("#submit")
        _open(page, url, "Your decision")
        border = "e => getComputedStyle(e).borderTopColor"
        assert page.eval_on_selector("input[name=threat_Borea]", border) != RED
        assert page.eval_on_selector("select[name=action]", border) != RED
        screenshot(page, "seat_decision_untouched")
        page.fill("input[name=threat_Borea]", "99")  # out of range, then leave the field
        page.focus("input[name=reason_Borea]")
        assert page.eval_on_selector("input[name=threat_Borea]", border) == RED
        assert page.eval_on_selector("select[name=action]", border) != RED  # still untouched


def test_the_end_page_gives_the_outcome_and_a_debrief(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=2)
    with serve_asgi(create_app(run)) as base:
        url = f"{base}/seat/Aria?token={run.tokens['Aria']}"
        for _ in range(2):
            _open(page, url, "Negotiation")
            page.click("#submit")
            _open(page, url, "Your decision")
            fill_decision(page, arms=2, action="propose_talks", signal="de_escalation")
            page.click("#submit")
        page.goto(url)
        page.wait_for_selector("#debrief", timeout=TIMEOUT_MS)
        screenshot(page, "seat_debrief")
        outcome = page.inner_text("#outcome")
        rows = page.eval_on_selector_all(
            "#debrief tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))"
        )
    assert run.record is not None
    record = read_record(run.record)
    end = record.run_end
    assert end is not None and f"{end.outcome} after {end.rounds_played} rounds" in outcome
    assert rows[0] == ["Round", "Aria (you)", "Borea"]
    resolutions = record.of_kind(ResolutionEvent)
    assert len(rows) == 1 + len(resolutions) == 3
    for row, event in zip(rows[1:], resolutions, strict=True):
        assert isinstance(event, ResolutionEvent)
        by_state = {o.state: o for o in event.outcomes}
        assert row[1].startswith("propose_talks toward Borea; arms +2.0%")
        borea = by_state["Borea"]
        assert row[2].startswith(f"{borea.action.value} toward Aria")
        assert f"to {borea.arms_after:.1f}" in row[2]
