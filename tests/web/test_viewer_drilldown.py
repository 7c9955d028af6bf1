"""The viewer's call drill-down, text search and list aggregates, without a browser:
`/api/calls`, `/search` and `/api/search`, and the groups, seeds and commands of `/api/runs`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.helpers.viewer_runs import BAD_ACTION, play_injected, play_reasking, write_run

pytest.importorskip("starlette")

from starlette.testclient import TestClient

from dilemma.web.viewer.app import create_app
from dilemma.web.viewer.groups import aggregate, commands
from dilemma.web.viewer.search import MAX_LIMIT, TextIndex, find_folded


def client(root: Path) -> Any:
    return TestClient(create_app(root), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def reasking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one run with a re-ask and a fallback (see play_reasking)."""
    root = tmp_path_factory.mktemp("calls")
    play_reasking(root)
    return root


def _key(root: Path) -> str:
    (path,) = root.glob("*.jsonl")
    return path.name


def test_calls_show_each_attempt_with_its_validation_error(reasking: Path) -> None:
    c = client(reasking)
    data = c.get("/api/calls", params={"path": _key(reasking), "round": "1"}).json()
    assert data["round"] == 1
    turns = {(t["phase"], t["state"], t["subturn"]): t for t in data["turns"]}
    assert set(turns) == {
        ("negotiation", "A", 1),
        ("negotiation", "B", 1),
        ("decision", "A", 0),
        ("decision", "B", 0),
    }
    a = turns[("decision", "A", 0)]
    assert [call["attempt"] for call in a["calls"]] == [1, 2]
    assert a["reasks"] == 1 and a["fallback"] is False
    first, second = a["calls"]
    assert first["error"] is not None and first["error"].startswith("action: Input should be")
    assert BAD_ACTION in first["raw"] and first["parsed"] is None
    assert second["error"] is None and '"action"' in second["parsed"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    # the re-ask sends the bad reply back with the error
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert BAD_ACTION in second["messages"][2]["content"]
    assert first["model"] == "fake-a" and first["latency_s"] >= 0
    assert first["input_tokens"] is None and first["cost_usd"] is None
    assert data["totals"]["calls"] == 5 and data["totals"]["reasks"] == 1


def test_a_turn_without_a_valid_reply_is_a_fallback(reasking: Path) -> None:
    c = client(reasking)
    data = c.get("/api/calls", params={"path": _key(reasking)}).json()
    assert data["round"] is None
    assert {t["round"] for t in data["turns"]} == {1, 2}
    (b,) = [
        t for t in data["turns"] if (t["round"], t["phase"], t["state"]) == (2, "decision", "B")
    ]
    assert b["fallback"] is True and len(b["calls"]) == 2
    assert all(call["error"] for call in b["calls"])
    assert data["totals"]["fallbacks"] == 1 and data["totals"]["reasks"] == 2


def test_calls_refuse_unknown_runs_and_bad_rounds(reasking: Path) -> None:
    c = client(reasking)
    for path in ("../x.jsonl", "nope.jsonl", str(reasking / _key(reasking))):
        assert c.get("/api/calls", params={"path": path}).status_code == 404
    response = c.get("/api/calls", params={"path": _key(reasking), "round": "x"})
    assert response.status_code == 400 and "round" in response.json()["error"]
    empty = c.get("/api/calls", params={"path": _key(reasking), "round": "9"}).json()
    assert empty["turns"] == []


def test_the_run_page_offers_the_calls_and_sums_them(reasking: Path) -> None:
    page = client(reasking).get("/run", params={"path": _key(reasking)}).text
    assert 'class="calls" data-round="1" data-phase="decision" data-state="A"' in page
    assert 'data-round="2" data-phase="negotiation"' in page
    assert "10 call(s), 2 re-ask(s)" in page  # over the run: A in round 1, B in round 2
    assert "cost n/a;" in page  # fake models report no cost
    assert BAD_ACTION not in page  # raw replies are fetched on demand, not in the page


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root / "r1.jsonl", "r1", {"regime": "democracy"})
    write_run(root / "r2.jsonl", "r2", {"regime": "democracy"}, war=True)
    write_run(root / "r3.jsonl", "r3", {"regime": "autocracy"})
    write_run(root / "r4.jsonl", "r4", {"regime": "democracy"}, run_end=False)
    return root


def test_runs_carry_seed_measures_and_condition_groups(folder: Path) -> None:
    data = client(folder).get("/api/runs").json()
    assert data["primary"] == ["escalation_index", "mean_threat", "mean_growth_pct", "war"]
    assert data["measures"]["war"]["boolean"] is True
    runs = {r["key"]: r for r in data["runs"]}
    assert all(isinstance(r["seed"], int) for r in runs.values())
    assert runs["r2.jsonl"]["measures"]["war"] == 1.0
    assert runs["r1.jsonl"]["measures"]["war"] == 0.0
    groups = {g["label"]: g for g in data["groups"]}
    assert set(groups) == {"synthetic · regime = autocracy", "synthetic · regime = democracy"}
    demo = groups["synthetic · regime = democracy"]
    assert sorted(demo["runs"]) == ["r1.jsonl", "r2.jsonl", "r4.jsonl"]
    assert demo["finished"] == 2 and demo["size"] == 3  # r4 has no run_end: not aggregated
    values = [runs[k]["measures"]["escalation_index"] for k in ("r1.jsonl", "r2.jsonl")]
    listed = demo["aggregates"]["escalation_index"]  # the list's means come without intervals
    assert listed["mean"] == pytest.approx(sum(values) / 2) and listed["low"] is None
    assert listed["method"] == "mean"
    # the intervals, asked for separately
    full = {g["label"]: g for g in client(folder).get("/api/groups").json()["groups"]}
    assert {g["key"] for g in full.values()} == {g["key"] for g in groups.values()}
    demo = full["synthetic · regime = democracy"]
    war = demo["aggregates"]["war"]
    assert war["mean"] == 0.5 and war["n"] == 2 and war["method"] == "clopper-pearson"
    index = demo["aggregates"]["escalation_index"]
    assert index["mean"] == pytest.approx(sum(values) / 2)
    assert index["low"] < index["mean"] < index["high"]
    alone = full["synthetic · regime = autocracy"]["aggregates"]["mean_threat"]
    assert alone["n"] == 1 and alone["low"] is None and alone["method"] == "none"
    assert [c["command"] for c in data["commands"]] == [
        f"dilemma report {folder}",
        f"dilemma compare {folder} --by regime",
    ]


def test_groups_follow_the_filters(folder: Path) -> None:
    data = client(folder).get("/api/runs", params={"outcome": "war"}).json()
    (group,) = data["groups"]
    assert group["runs"] == ["r2.jsonl"] and group["aggregates"]["war"]["mean"] == 1.0
    (group,) = client(folder).get("/api/groups", params={"outcome": "war"}).json()["groups"]
    assert group["runs"] == ["r2.jsonl"] and group["aggregates"]["war"]["n"] == 1


def test_the_list_page_shows_each_condition_once(folder: Path) -> None:
    page = client(folder).get("/").text
    assert page.count("regime = democracy") == 1
    assert page.count('class="group-head"') == 2
    assert "Filter</button>" not in page
    assert "dilemma compare" in page


def test_aggregate_known_answers() -> None:
    a = aggregate([1.0, 2.0, 3.0])
    half = 4.302652729749462 * (1 / math.sqrt(3))  # t(0.975, 2) * standard error
    assert (a.mean, a.n, a.method) == (2.0, 3, "t")
    assert a.low == pytest.approx(2 - half) and a.high == pytest.approx(2 + half)
    share = aggregate([1.0, 0.0, 0.0, 0.0])
    assert share.method == "clopper-pearson" and share.mean == 0.25
    assert share.low == pytest.approx(0.0063094632) and share.high == pytest.approx(0.8058795503)
    assert aggregate([]).mean is None and aggregate([4.0]).low is None
    flat = aggregate([2.5, 2.5])
    assert (flat.low, flat.high) == (2.5, 2.5)


def test_commands_quote_the_folder() -> None:
    found = commands("my runs/x", {"noise": ["0.1", "0.3"], "only": ["a"]})
    assert [c["command"] for c in found] == [
        "dilemma report 'my runs/x'",
        "dilemma compare 'my runs/x' --by noise",
    ]


def test_search_finds_texts_case_insensitively_with_their_run(reasking: Path) -> None:
    c = client(reasking)
    data = c.get("/api/search", params={"q": "FREEZE ON ARMS"}).json()
    assert data["shown"] == 2 and not data["truncated"] and data["searched"] == 1
    for hit in data["hits"]:
        assert hit["kind"] == "message" and hit["state"] == "B" and hit["to"] == ["all"]
        assert hit["key"] == _key(reasking)
        a, b = hit["match"]
        assert hit["text"][a:b].casefold() == "freeze on arms"
    assert {h["round"] for h in data["hits"]} == {1, 2}
    kinds = {h["kind"] for h in c.get("/api/search", params={"q": "threat"}).json()["hits"]}
    assert "threat reason" in kinds
    assert c.get("/api/search", params={"q": "  "}).json()["hits"] == []


def test_search_is_bounded(reasking: Path) -> None:
    c = client(reasking)
    every = c.get("/api/search", params={"q": "e", "limit": str(MAX_LIMIT)}).json()
    assert every["shown"] > 3 and not every["truncated"]
    few = c.get("/api/search", params={"q": "e", "limit": "3"}).json()
    assert few["shown"] == 3 and few["truncated"]
    assert few["hits"] == every["hits"][:3]
    assert c.get("/api/search", params={"q": "e", "limit": "x"}).status_code == 400


def test_search_page_escapes_text_and_links_to_the_turn(tmp_path: Path) -> None:
    play_injected(tmp_path)
    c = client(tmp_path)
    page = c.get("/search", params={"q": "<script>"}).text
    assert "<script>window" not in page
    assert "<mark>&lt;script&gt;</mark>window.__pwned=1&lt;/script&gt;" in page
    assert "#decision-1-A" in page and "<mark>" in page
    assert 'data-kind="rationale"' in page and 'data-kind="statement"' in page


def test_text_index_reads_a_record_once_until_it_changes(reasking: Path) -> None:
    texts = TextIndex()
    (path,) = reasking.glob("*.jsonl")
    st_ = path.stat()
    records = [(path.name, path, (st_.st_mtime_ns, st_.st_size))]
    texts.search(records, "arms")
    texts.search(records, "peace")
    assert texts.reads == 1
    texts.search([(path.name, path, (st_.st_mtime_ns + 1, st_.st_size))], "arms")
    assert texts.reads == 2


@given(st.text(max_size=40), st.integers(0, 40), st.integers(1, 10))
def test_a_match_is_cut_where_it_is(text: str, at: int, size: int) -> None:
    needle = text[at : at + size]
    assume(needle.casefold() != "")
    found = find_folded(text, needle.casefold())
    assert found is not None
    start, length = found
    assert text[start : start + length].casefold() == needle.casefold()


def _declare(path: Path, primary: list[str]) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    header["experiment"]["primary"] = primary
    lines[0] = json.dumps(header, separators=(",", ":"))
    path.write_text("\n".join(lines), encoding="utf-8")


def test_primary_measures_follow_the_experiment(folder: Path) -> None:
    for path in folder.glob("*.jsonl"):
        _declare(path, ["mean_threat", "ladder_score_total"])
    data = client(folder).get("/api/runs").json()
    assert data["primary"] == ["mean_threat", "ladder_score_total"]
    assert data["measures"]["ladder_score_total"]["boolean"] is False
    r1 = next(r for r in data["runs"] if r["key"] == "r1.jsonl")
    assert r1["measures"]["ladder_score_total"] is not None
    _declare(folder / "r1.jsonl", ["war"])  # runs disagree: the defaults
    data = client(folder).get("/api/runs").json()
    assert data["primary"] == ["escalation_index", "mean_threat", "mean_growth_pct", "war"]
