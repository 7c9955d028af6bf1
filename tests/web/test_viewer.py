"""The live viewer's server without a browser: JSON endpoints, running and truncated records,
the per-file cache, escaping of model text, and `dilemma view` refusing bad input (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation.tables import Scores, score
from typer.testing import CliRunner

from dilemma.cli import viewer as viewer_cli
from dilemma.cli.main import app as cli
from dilemma.web.viewer.data import INCOMPLETE, RUNNING, STALE_S, RunIndex
from tests.helpers.hostile import INJECTED, STATEMENT
from tests.helpers.viewer_runs import write_run

pytest.importorskip("starlette")

from starlette.testclient import TestClient

from dilemma.web.viewer.app import create_app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root / "r1.jsonl", "r1", {"regime": "democracy", "noise": "0.1"})
    write_run(root / "r2.jsonl", "r2", {"regime": "autocracy", "noise": "0.1"}, war=True)
    write_run(
        root / "sub" / "r3.jsonl", "r3", {"regime": "autocracy", "noise": "0.3"}, fallback=True
    )
    write_run(root / "failed" / "r4.jsonl", "r4", {"regime": "democracy", "noise": "0.3"})
    return root


def client(root: Path) -> Any:
    """A test client of the viewer of `root` (skips without the `web` extra)."""
    pytest.importorskip("starlette")

    return TestClient(create_app(root), base_url="http://127.0.0.1")


def test_runs_json_lists_every_record_with_its_columns(folder: Path) -> None:
    data = client(folder).get("/api/runs").json()
    runs = {r["key"]: r for r in data["runs"]}
    assert set(runs) == {"r1.jsonl", "r2.jsonl", "sub/r3.jsonl"}  # failed/ is set aside
    assert data["total"] == data["shown"] == 3
    r2 = runs["r2.jsonl"]
    assert r2["outcome"] == "war" and r2["run_id"] == "r2"
    assert r2["conditions"] == {"regime": "autocracy", "noise": "0.1"}
    assert r2["models"] == {"A": "m:a", "B": "m:b"}
    assert r2["scenario"] == "synthetic" and r2["rounds_planned"] == 3
    expected = score([folder / "r2.jsonl"]).runs["escalation_index"].iloc[0]
    assert r2["escalation_index"] == pytest.approx(expected)
    assert runs["sub/r3.jsonl"]["flags"] == ["1 fallback", "1 parse failure"]
    assert runs["r1.jsonl"]["flags"] == [] and runs["r1.jsonl"]["outcome"] == "completed"
    assert data["factors"] == {"regime": ["autocracy", "democracy"], "noise": ["0.1", "0.3"]}
    assert data["outcomes"] == ["completed", "war"]


def test_filters_by_outcome_and_conditions(folder: Path) -> None:
    c = client(folder)

    def keys(query: dict[str, str]) -> set[str]:
        return {r["key"] for r in c.get("/api/runs", params=query).json()["runs"]}

    assert keys({"outcome": "war"}) == {"r2.jsonl"}
    assert keys({"c.regime": "autocracy"}) == {"r2.jsonl", "sub/r3.jsonl"}
    assert keys({"c.regime": "autocracy", "c.noise": "0.3"}) == {"sub/r3.jsonl"}
    assert keys({"c.regime": "autocracy", "outcome": "completed"}) == {"sub/r3.jsonl"}
    assert keys({"c.regime": ""}) == {"r1.jsonl", "r2.jsonl", "sub/r3.jsonl"}
    page = c.get("/", params={"outcome": "war"}).text
    assert 'data-key="r2.jsonl"' in page and 'data-key="r1.jsonl"' not in page


def test_the_poller_is_told_when_nothing_changed(folder: Path) -> None:
    c = client(folder)
    version = c.get("/api/runs").json()["version"]
    assert c.get("/api/runs", params={"v": version}).json() == {
        "version": version,
        "unchanged": True,
    }
    write_run(folder / "r5.jsonl", "r5")
    fresh = c.get("/api/runs", params={"v": version}).json()
    assert fresh["version"] != version and fresh["total"] == 4


def test_a_record_being_written_is_running_and_its_cut_line_dropped(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "live.jsonl", "live", run_end=False, truncate=True)
    (root / "empty.jsonl").write_bytes(b"")  # just created, nothing written yet
    c = client(root)
    data = c.get("/api/runs").json()
    (run,) = data["runs"]
    assert run["outcome"] == RUNNING and "truncated last line" in run["flags"]
    assert run["rounds"] == 3  # round 3 was resolved; only its round_end line was cut
    assert [u["key"] for u in data["unreadable"]] == ["empty.jsonl"]
    assert "running" in data["outcomes"]
    page = c.get("/run", params={"path": "live.jsonl"})
    assert page.status_code == 200 and "still being written" in page.text
    assert c.get("/api/run", params={"path": "live.jsonl"}).json()["outcome"] == RUNNING


def test_a_record_left_unfinished_for_long_is_incomplete(tmp_path: Path) -> None:
    path = write_run(tmp_path / "old.jsonl", "old", run_end=False)
    later = path.stat().st_mtime + STALE_S + 1
    (row,) = RunIndex(tmp_path, clock=lambda: later).scan().rows
    assert row.outcome == INCOMPLETE


def test_only_new_or_changed_records_are_read_again(folder: Path) -> None:
    batches: list[list[Path]] = []

    def counting(paths: list[Path]) -> Scores:
        batches.append(sorted(paths))
        return score(paths)

    index = RunIndex(folder, scorer=counting)
    first = index.scan()
    assert len(batches) == 1 and len(batches[0]) == 3  # one batch for the first scan
    assert index.scan().version == first.version and len(batches) == 1  # nothing changed
    changed = folder / "r1.jsonl"
    changed.unlink()
    write_run(changed, "r1", {"regime": "democracy", "noise": "0.1"}, war=True)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    again = index.scan()
    assert batches[1:] == [[changed]]
    assert {r.key: r.outcome for r in again.rows}["r1.jsonl"] == "war"
    assert again.version != first.version
    (folder / "r2.jsonl").unlink()
    assert {r.key for r in index.scan().rows} == {"r1.jsonl", "sub/r3.jsonl"}
    assert len(batches) == 2


def test_a_record_the_evaluator_fails_on_is_listed_and_flagged(folder: Path) -> None:
    bad = folder / "bad.jsonl"
    lines = (folder / "r1.jsonl").read_text(encoding="utf-8").split("\n")
    lines[3] = "{not json"  # a broken line in the middle: an error, not a truncation
    bad.write_text("\n".join(lines), encoding="utf-8")
    runs = {r["key"]: r for r in client(folder).get("/api/runs").json()["runs"]}
    assert len(runs) == 4
    assert runs["bad.jsonl"]["escalation_index"] is None
    assert runs["bad.jsonl"]["flags"][0].startswith("not scored")
    assert runs["r2.jsonl"]["escalation_index"] is not None


def test_run_page_escapes_model_text_and_refuses_unlisted_paths(hostile_record: Path) -> None:
    root = hostile_record.parent
    c = client(root)
    page = c.get("/run", params={"path": hostile_record.name})
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<b>mean it</b>" not in page.text
    from markupsafe import escape

    assert str(escape(INJECTED)) in page.text  # a message, as text
    assert str(escape(STATEMENT)) in page.text  # a public statement
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for path in ("../x.jsonl", "/etc/passwd", str(hostile_record), "nope.jsonl"):
        assert c.get("/run", params={"path": path}).status_code == 404
        assert c.get("/api/run", params={"path": path}).status_code == 404
    assert c.get("/static/viewer.py").status_code == 404
    assert c.get("/static/viewer.js").status_code == 200


def test_view_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["view", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no such folder" in result.output


def test_view_without_the_web_extra_names_it(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(viewer_cli, "missing_web_modules", lambda: ["starlette"])
    result = CliRunner().invoke(cli, ["view", str(tmp_path)])
    assert result.exit_code == 2
    assert "extra `web`" in result.output and "[web]" in result.output


def test_view_refuses_a_port_in_use(tmp_path: Path) -> None:
    taken = viewer_cli.bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["view", str(tmp_path), "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 2 and "cannot listen" in result.output


def test_loopback_hosts() -> None:
    assert viewer_cli.is_loopback("127.0.0.1") and viewer_cli.is_loopback("::1")
    assert viewer_cli.is_loopback("localhost")
    assert not viewer_cli.is_loopback("0.0.0.0") and not viewer_cli.is_loopback("192.168.1.4")
