"""The web seat in a real browser (headless Debian chromium through Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dilemma.cli.score_format import score_json
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent
from dilemma.web.seat.app import SeatRun, create_app
from tests.helpers.browser import fill_decision, screenshot, serve_asgi
from tests.helpers.engine import fake, policy_model
from tests.helpers.seats import SCRIPT, injecting, seat_run

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000


def open_turn(page: Any, url: str, kind: str, previous: str | None) -> str:
    """Go to the seat page and wait for a new turn of `kind`; its id."""
    page.goto(url)
    selector = "form#turn" + (f":not([data-turn='{previous}'])" if previous else "")
    page.wait_for_selector(selector, timeout=TIMEOUT_MS)
    heading = "Your decision" if kind == "decision" else "Negotiation"
    page.wait_for_selector(f"form#turn h2:has-text('{heading}')", timeout=TIMEOUT_MS)
    return str(page.get_attribute("form#turn", "data-turn"))


def decide(page: Any, arms: int, statement: str) -> None:
    fill_decision(
        page,
        arms=arms,
        action="public_warning",
        signal="posturing",
        statement=statement,
        reason="they arm",
    )


def finish(run: SeatRun, page: Any, url: str) -> Path:
    page.goto(url)
    page.wait_for_selector("#finished", timeout=TIMEOUT_MS)
    assert run.record is not None, run.error
    return run.record


def test_a_person_plays_three_rounds_through_the_form(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=3)
    with serve_asgi(create_app(run)) as base:
        url = f"{base}/seat/Aria?token={run.tokens['Aria']}"
        turn: str | None = None
        for r in range(1, 4):
            turn = open_turn(page, url, "negotiation", turn)
            page.fill("textarea[name=message_0]", f"round {r}: let us talk")
            page.check("input[name=to_0][value=Borea]")
            if r == 1:
                screenshot(page, "seat_negotiation")
            page.click("#submit")
            turn = open_turn(page, url, "decision", turn)
            decide(page, arms=r, statement=f"statement {r}")
            if r == 2:
                screenshot(page, "seat_decision_round2")
            page.click("#submit")
        record_path = finish(run, page, url)
        screenshot(page, "seat_finished")
    record = read_record(record_path)
    mine = [d for d in record.of_kind(DecisionEvent) if d.state == "Aria"]
    assert [d.decision.arms_change for d in mine if d.decision] == [1, 2, 3]
    assert [d.decision.public_statement for d in mine if d.decision] == [
        "statement 1",
        "statement 2",
        "statement 3",
    ]
    calls = [c for c in record.of_kind(LlmCallEvent) if c.state == "Aria"]
    assert len(calls) == 6 and {c.model for c in calls} == {"human"}
    (scores,) = score_json(record_path)
    assert scores["decisions"] == 6 and scores["fallbacks"] == 0
    assert scores["escalation_index"] is not None


def test_the_form_refuses_an_arms_change_above_the_cap(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    with serve_asgi(create_app(run)) as base:
        url = f"{base}/seat/Aria?token={run.tokens['Aria']}"
        turn = open_turn(page, url, "negotiation", None)
        page.click("#submit")  # no message: allowed
        open_turn(page, url, "decision", turn)
        posts.clear()
        decide(page, arms=11, statement="too much")
        page.click("#submit")
        message = page.eval_on_selector("#arms_change", "e => e.validationMessage")
        valid = page.eval_on_selector("#arms_change", "e => e.checkValidity()")
        screenshot(page, "seat_arms_above_cap_refused")
        assert not valid and message
        assert "10" in message  # e.g. "Value must be less than or equal to 10."
        assert posts == []
        assert run.queue.pending("Aria") is not None  # the turn is still open
    record = read_record(run.record) if run.record else None
    assert record is None or all(
        d.decision is None or d.decision.arms_change <= 10 for d in record.of_kind(DecisionEvent)
    )


def test_a_token_opens_only_its_own_seat(tmp_path: Path, page: Any) -> None:
    run = seat_run(tmp_path, ["Aria", "Borea"], rounds=1)
    with serve_asgi(create_app(run, start=False)) as base:
        own = page.goto(f"{base}/seat/Aria?token={run.tokens['Aria']}")
        assert own is not None and own.status == 200
        other = page.goto(f"{base}/seat/Borea?token={run.tokens['Aria']}")
        assert other is not None and other.status == 403
        screenshot(page, "seat_wrong_token_403")
        none = page.goto(f"{base}/seat/Borea")
        assert none is not None and none.status == 403


def test_a_script_in_a_model_statement_does_not_run(tmp_path: Path, page: Any) -> None:
    borea = fake(policy_model("hawk", edit=injecting))
    run = seat_run(tmp_path, ["Aria"], rounds=2, models={"Borea": borea})
    with serve_asgi(create_app(run)) as base:
        url = f"{base}/seat/Aria?token={run.tokens['Aria']}"
        turn = open_turn(page, url, "negotiation", None)
        page.click("#submit")
        turn = open_turn(page, url, "decision", turn)
        decide(page, arms=0, statement="calm")
        page.click("#submit")
        open_turn(page, url, "negotiation", turn)
        screenshot(page, "seat_injected_script_escaped")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        said = page.inner_text("#said")
        assert SCRIPT in said  # shown as text
        assert page.locator("#said script").count() == 0
