"""The web seat without a browser: tokens, 403, the form's server-side validation."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent
from dilemma.web.seat.app import create_app
from tests.helpers.seat_pages import turn_of, wait_for_turn
from tests.helpers.seats import seat_run


def test_tokens_guard_every_seat(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria", "Borea"], rounds=1)
    with TestClient(create_app(run, start=False), base_url="http://127.0.0.1") as client:
        aria, borea = run.tokens["Aria"], run.tokens["Borea"]
        assert len(aria) >= 40 and aria != borea
        assert client.get(f"/seat/Aria?token={aria}").status_code == 200
        assert client.get("/seat/Aria").status_code == 403
        assert client.get("/seat/Aria?token=").status_code == 403
        assert client.get(f"/seat/Aria?token={aria}x").status_code == 403
        assert client.get(f"/seat/Borea?token={aria}").status_code == 403
        assert client.get(f"/seat/Nobody?token={aria}").status_code == 403
        assert client.get(f"/seat/Borea/status?token={aria}").status_code == 403
        posted = client.post(f"/seat/Borea/submit?token={aria}", data={"turn": "1"})
        assert posted.status_code == 403


def test_server_side_validation_refuses_and_keeps_the_answer(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    token = run.tokens["Aria"]
    url = f"/seat/Aria?token={token}"
    with TestClient(create_app(run), base_url="http://127.0.0.1") as client:
        html = wait_for_turn(client, url, "negotiation")
        assert "Borea" in html and "intelligence estimate" in html
        sent = client.post(
            f"/seat/Aria/submit?token={token}",
            data={"turn": turn_of(html), "message_0": "Let us talk", "to_0": "Borea"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        html = wait_for_turn(client, url, "decision")
        form = {
            "turn": turn_of(html),
            "threat_Borea": "6",
            "reason_Borea": "arming",
            "perceived_Borea": "coercive",
            "intent_Borea": "defensive",
            "forecast_Borea": "5",
            "signal_Borea": "status_quo",
            "arms_change": "11",  # above the cap of 10
            "action": "status_quo",
            "target": "Borea",
            "public_statement": "Calm <b>now</b>",
        }
        refused = client.post(f"/seat/Aria/submit?token={token}", data=form)
        assert refused.status_code == 422
        assert "arms_change" in refused.text and "not accepted" in refused.text
        assert "Calm &lt;b&gt;now&lt;/b&gt;" in refused.text  # kept, escaped
        not_number = client.post(
            f"/seat/Aria/submit?token={token}", data={**form, "arms_change": "ten"}
        )
        assert not_number.status_code == 422 and "whole number" in not_number.text
        accepted = client.post(
            f"/seat/Aria/submit?token={token}",
            data={**form, "arms_change": "4"},
            follow_redirects=False,
        )
        assert accepted.status_code == 303
        for _ in range(2000):
            if client.get(f"/seat/Aria/status?token={token}").json()["finished"]:
                break
        assert run.record is not None
    record = read_record(run.record)
    (aria,) = [d for d in record.of_kind(DecisionEvent) if d.state == "Aria"]
    assert aria.decision is not None and aria.decision.arms_change == 4
    assert aria.decision.public_statement == "Calm <b>now</b>"
