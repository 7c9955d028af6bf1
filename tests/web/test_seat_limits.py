"""The web seat under abuse: a huge form is not read past its limit, one turn takes one
answer, and the web form parses what a person types exactly as the terminal does."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from dilemma.agents.human_seat import SeatRequest
from dilemma.scenarios.library import load_scenario
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dilemma.cli.play import Prompter, TerminalDesk
from dilemma.core.decision import decision_reply_model
from dilemma.core.observation import Phase
from dilemma.records.reader import read_record
from dilemma.records.schema import LlmCallEvent
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world
from dilemma.web.seat.app import MAX_FORM_BYTES, create_app
from dilemma.web.seat.form import form_reply
from tests.helpers.seats import seat_run

LOCAL = "http://127.0.0.1"
CHUNK = 1024


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL)


class Body:
    """A request body of `total` bytes, made lazily in CHUNK pieces; counts the pieces pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.total:
            self.pulled += 1
            sent += CHUNK
            yield b"x" * CHUNK


async def test_a_huge_form_is_not_read_past_the_limit(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    url = f"/seat/Aria/submit?token={run.tokens['Aria']}"
    body = Body(200 * 1024 * 1024)  # 200 MB, never made: the app stops pulling at the limit
    async with client(create_app(run, start=False)) as c:
        response = await c.post(url, content=body)
    assert body.pulled <= MAX_FORM_BYTES // CHUNK + 2, body.pulled
    assert response.status_code == 413
    assert "larger than 64,000 bytes" in response.text


async def test_a_declared_huge_form_is_refused_unread(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    url = f"/seat/Aria/submit?token={run.tokens['Aria']}"
    body = Body(MAX_FORM_BYTES + 1)
    async with client(create_app(run, start=False)) as c:
        headers = {"Content-Length": str(MAX_FORM_BYTES + 1)}
        response = await c.post(url, content=body, headers=headers)
    assert response.status_code == 413
    assert body.pulled <= 1


async def open_turn(c: httpx.AsyncClient, url: str) -> str:
    """The page once a turn is open (the run plays in the same loop: give it turns)."""
    for _ in range(5000):
        html = (await c.get(url)).text
        if 'name="turn"' in html:
            return html
        await asyncio.sleep(0)
    raise AssertionError("no turn opened")


async def test_only_the_first_of_concurrent_answers_to_a_turn_is_accepted(
    tmp_path: Path,
) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    token = run.tokens["Aria"]
    app = create_app(run)
    async with app.router.lifespan_context(app), client(app) as c:
        html = await open_turn(c, f"/seat/Aria?token={token}")
        turn = re.search(r'name="turn" value="(\d+)"', html)
        assert turn is not None
        posts = [
            c.post(
                f"/seat/Aria/submit?token={token}",
                data={"turn": turn.group(1), "message_0": f"Message {n}", "to_0": "Borea"},
            )
            for n in range(20)
        ]
        responses = await asyncio.gather(*posts)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [303] + [409] * 19, statuses
        (accepted,) = [r for r in responses if r.status_code == 303]
        assert accepted.headers["location"] == f"/seat/Aria?token={token}"  # relative
        await open_turn(c, f"/seat/Aria?token={token}")  # the decision: the answer is recorded
    assert run.record is None  # the run was stopped with the app; its record is kept as is
    (record,) = tmp_path.glob("*.jsonl")
    answers = [c for c in read_record(record).of_kind(LlmCallEvent) if c.state == "Aria" and c.raw]
    assert len(answers) == 1 and "Message" in answers[0].raw


# --- one parser for both seats ----------------------------------------------------------------


def _request() -> SeatRequest:
    scenario, _ = load_scenario("two-rivals")
    world = new_world(scenario, 0)
    world.round = 1
    obs = observe(world, "Aria", Phase.DECISION, 0)
    schema = decision_reply_model(["Borea"], 10, [])
    return SeatRequest(state="Aria", observation=obs, schema=schema, briefing="", instructions="")


def terminal_takes(arms: str, statement: str) -> tuple[int | None, str | None]:
    """What the terminal seat records for these typed lines: each hostile line is followed by a
    line the same field takes when the hostile one is refused, and that the next field refuses
    when it is taken (so the answers stay in step either way)."""
    lines = iter(
        [
            "6", "arming", "coercive", "defensive", "5",  # about Borea
            arms, "0",  # "0" is not an action: refused there if `arms` was taken
            "status_quo", "", "status_quo", "n",
            statement, "x",  # "x" is not a number: refused there if `statement` was taken
            "", "reasons",
        ]
    )  # fmt: skip
    out = io.StringIO()
    answer = TerminalDesk(Prompter(read=lambda: next(lines), out=out)).turn(_request())
    reply, shown = answer.reply.model_dump(), out.getvalue()

    def refused(question: str, next_question: str) -> bool:
        asked = shown.split(question, 1)[1].split(next_question, 1)[0]
        return "  ! " in asked

    arms_refused = refused("Your arms change this round", "Escalation ladder")
    statement_refused = refused("Public statement", "Arms change you announce")
    return (
        None if arms_refused else reply["arms_change"],
        None if statement_refused else reply["public_statement"],
    )


def web_takes(arms: str, statement: str) -> tuple[int | None, str | None]:
    """What the web seat's form parses from the same text (None for a refused field)."""
    form = {
        "threat_Borea": ["6"], "reason_Borea": ["arming"], "perceived_Borea": ["coercive"],
        "intent_Borea": ["defensive"], "forecast_Borea": ["5"], "arms_change": [arms],
        "signal_Borea": ["status_quo"],
        "action": ["status_quo"], "target": ["Borea"], "public_statement": [statement],
        "private_rationale": ["reasons"],
    }  # fmt: skip
    reply, errors = form_reply(_request(), form)
    refused_arms = any(e.startswith("arms change:") for e in errors)
    refused_statement = any(e.startswith("public statement:") for e in errors)
    return (
        None if refused_arms else reply["arms_change"],
        None if refused_statement else reply["public_statement"],
    )


NUMBERISH = st.text(alphabet="0123456789+-_ ٥５۳.e\u00a0", max_size=5)
ONE_LINE = st.text(max_size=40).filter(lambda t: "\n" not in t)


@settings(max_examples=150, deadline=None)
@given(arms=st.one_of(NUMBERISH, st.integers(-12, 12).map(str)), statement=ONE_LINE)
@example(arms="٥", statement="peace\x00")
@example(arms="５", statement="\x1b]52;c;aGk=\x07")
@example(arms="1_0", statement="\x1b[2J")
@example(arms=" +7 ", statement="\tplain  ")
def test_both_seats_accept_and_refuse_the_same_text(arms: str, statement: str) -> None:
    took = terminal_takes(arms, statement)
    assert took == web_takes(arms, statement)
    if any(c in statement for c in "\x00\x1b\x07"):
        assert took[1] is None  # NUL, ESC and BEL are never recorded
    if arms in ("٥", "５", "1_0"):
        assert took[0] is None


def test_a_refusal_says_what_to_type_in_plain_words() -> None:
    _, errors = form_reply(_request(), {"arms_change": ["٥"], "public_statement": ["a\x1bb"]})
    assert "arms change: type a whole number from -10 to 10" in errors
    assert any(e.startswith("public statement: the text holds") for e in errors)
    assert not any("Input should" in e or "literal" in e for e in errors)
