"""The viewer's list in pages, sorted and filtered on the server; its rows kept in the score cache
across restarts; SciPy imported only for the groups' intervals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation import score_cache
from dilemma.evaluation.score_cache import ScoreCache

from dilemma.web.viewer.data import RunIndex
from tests.helpers.viewer_runs import write_run

pytest.importorskip("starlette")

from starlette.testclient import TestClient

from dilemma.web.viewer.app import create_app

N = 11
PER = 4


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """11 runs r1..r11 (r3, r6, r9 wars) in two conditions (r1-r6: democracy)."""
    root = tmp_path / "runs"
    for k in range(1, N + 1):
        regime = "democracy" if k <= 6 else "autocracy"
        write_run(root / f"r{k}.jsonl", f"r{k}", {"regime": regime}, war=k % 3 == 0)
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ScoreCache]:
    """A score cache in use (as `dilemma view` turns it on), turned off afterwards."""
    active = ScoreCache(tmp_path / "cache" / "scores.sqlite")
    score_cache.use(active)
    try:
        yield active
    finally:
        score_cache.use(None)


def client(root: Path) -> Any:
    return TestClient(create_app(root, page_size=PER), base_url="http://127.0.0.1")


def pages(c: Any, **query: str) -> list[dict[str, Any]]:
    """Every page of /api/runs for `query`, in order."""
    first = c.get("/api/runs", params=query).json()
    out = [first]
    for n in range(2, first["page"]["pages"] + 1):
        out.append(c.get("/api/runs", params={**query, "page": str(n)}).json())
    return out


def test_every_run_is_on_exactly_one_page(folder: Path) -> None:
    c = client(folder)
    found = pages(c)
    assert [p["page"]["number"] for p in found] == [1, 2, 3]
    assert [(p["page"]["first"], p["page"]["last"]) for p in found] == [(1, 4), (5, 8), (9, 11)]
    keys = [r["key"] for p in found for r in p["runs"]]
    assert sorted(keys) == sorted(f"r{k}.jsonl" for k in range(1, N + 1))
    for p in found:  # every run shown sits in one of the page's groups, which know their size
        assert [k for g in p["groups"] for k in g["runs"]] == [r["key"] for r in p["runs"]]
        assert all(g["size"] in (5, 6) for g in p["groups"])
    last = c.get("/api/runs", params={"page": "99"}).json()  # past the end: the last page
    assert last["page"]["number"] == 3 and len(last["runs"]) == 3
    page = c.get("/", params={"page": "2"}).text
    assert 'runs <span class="first">5</span>-<span class="last">8</span> of 11' in page
    assert 'href="/?page=1"' in page and 'href="/?page=3"' in page


def test_sorting_spans_pages(folder: Path) -> None:
    c = client(folder)
    found = pages(c, sort="run")
    order = [r["run_id"] for p in found for r in p["runs"]]
    # groups by their first run (autocracy starts with r7, democracy with r1), ids by number
    assert order == ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"]
    assert all(p["sort"] == "run" for p in found)
    down = [r["run_id"] for p in pages(c, sort="-run") for r in p["runs"]]
    assert down == ["r11", "r10", "r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1"]
    by_war = pages(c, sort="-m.war")
    groups = [g["label"] for p in by_war for g in p["groups"]]
    means = {g["label"]: g["aggregates"]["war"]["mean"] for p in by_war for g in p["groups"]}
    assert means == {"synthetic · regime = democracy": 2 / 6, "synthetic · regime = autocracy": 0.2}
    assert groups[0] == "synthetic · regime = democracy"  # the higher war share first
    wars = [r["measures"]["war"] for r in by_war[0]["runs"]]
    assert wars == [1.0, 1.0, 0.0, 0.0]
    assert c.get("/api/runs", params={"sort": "nonsense"}).json()["sort"] == ""


def test_filters_apply_before_paging(folder: Path) -> None:
    c = client(folder)
    found = pages(c, outcome="war")
    assert len(found) == 1 and found[0]["shown"] == 3 and found[0]["total"] == N
    assert {r["run_id"] for r in found[0]["runs"]} == {"r3", "r6", "r9"}
    autocracy = pages(c, **{"c.regime": "autocracy", "sort": "run"})
    assert [r["run_id"] for p in autocracy for r in p["runs"]] == ["r7", "r8", "r9", "r10", "r11"]
    assert len(autocracy) == 2


def test_list_rows_are_reused_across_restarts_until_a_record_changes(
    folder: Path, cache: ScoreCache
) -> None:
    first = RunIndex(folder)
    rows = first.scan().rows
    assert first.reads == N
    again = RunIndex(folder)  # a restarted viewer: nothing read, the same rows
    assert again.scan().rows == rows and again.reads == 0
    changed = folder / "r1.jsonl"
    changed.unlink()
    write_run(changed, "r1", {"regime": "democracy"}, war=True)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = RunIndex(folder)
    fresh = {r.key: r for r in third.scan().rows}
    assert third.reads == 1 and fresh["r1.jsonl"].outcome == "war"
    score_cache.use(ScoreCache(cache.file, evaluator="0.0.0+m0+other"))  # another evaluator
    other = RunIndex(folder)
    other.scan()
    assert other.reads == N


def test_the_list_page_imports_no_scipy_until_intervals_are_asked_for(folder: Path) -> None:
    script = """
import json, sys
from pathlib import Path
from starlette.testclient import TestClient
from dilemma.web.viewer.app import create_app
c = TestClient(create_app(Path(sys.argv[1])), base_url="http://127.0.0.1")
page = c.get("/")
before = "scipy.stats" in sys.modules or "statsmodels" in sys.modules
groups = c.get("/api/groups").json()["groups"]
after = "scipy.stats" in sys.modules and "statsmodels" in sys.modules
methods = sorted({a["method"] for g in groups for a in g["aggregates"].values()})
print(json.dumps({"status": page.status_code, "before": before, "after": after,
                  "methods": methods}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "DILEMMA_NO_CACHE": "1"},
    )
    found = json.loads(out.stdout)
    assert found == {
        "status": 200,
        "before": False,
        "after": True,
        "methods": ["clopper-pearson", "t"],
    }
