"""The web seat in plain words: offers described by kind, parties and value; a form bypassed
with bad values gets errors a person can read (no pydantic field paths)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from dilemma.models.registry import resolve_model
from dilemma.web.seat.app import create_app
from tests.helpers.seat_pages import turn_of, wait_for_turn
from tests.helpers.seats import seat_run

FORM = {
    "threat_Borea": "6",
    "reason_Borea": "arming",
    "perceived_Borea": "coercive",
    "intent_Borea": "defensive",
    "forecast_Borea": "5",
    "arms_change": "1",
    "action": "status_quo",
    "target": "Borea",
    "signal_Borea": "status_quo",
}


def _answer_round(client: TestClient, token: str, form: dict[str, str]) -> str:
    url = f"/seat/Aria?token={token}"
    html = wait_for_turn(client, url, "negotiation")
    client.post(f"/seat/Aria/submit?token={token}", data={"turn": turn_of(html)})
    html = wait_for_turn(client, url, "decision")
    return html


def test_offers_are_described_by_kind_parties_and_value(tmp_path: Path) -> None:
    dove = resolve_model("scripted:dove", seed=0)
    run = seat_run(tmp_path, ["Aria"], rounds=2, models={"Borea": dove})
    token = run.tokens["Aria"]
    with TestClient(create_app(run), base_url="http://127.0.0.1") as client:
        html = _answer_round(client, token, FORM)
        sent = client.post(
            f"/seat/Aria/submit?token={token}",
            data={**FORM, "turn": turn_of(html), **_accepts(html, "no")},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        html = _answer_round(client, token, FORM)
    assert 'class="offer"' in html
    assert "proposed by Borea to Aria, Borea, value" in html or (
        "proposed by Borea to Borea, Aria, value" in html
    )
    assert ">Offer P" not in html  # never the bare id alone


def _accepts(html: str, answer: str) -> dict[str, str]:
    import re

    return {f"accept_{o}": answer for o in re.findall(r'name="accept_([^"]+)"', html)}


def test_a_bypassed_form_gets_plain_words(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    token = run.tokens["Aria"]
    with TestClient(create_app(run), base_url="http://127.0.0.1") as client:
        html = _answer_round(client, token, FORM)
        bad = {**FORM, "turn": turn_of(html), "intent_Borea": "friendly", "threat_Borea": "x"}
        refused = client.post(f"/seat/Aria/submit?token={token}", data=bad)
    assert refused.status_code == 422
    errors = refused.text.split('id="errors"')[1].split("</section>")[0]
    assert "Input should be" not in errors and "private_intent.0" not in errors
    assert "whole number" in errors
    assert "your intent toward Borea: choose one of" in errors
