"""The response cache keeps repeats independent, replays them exactly and refuses old files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from dilemma.models.response_cache import (
    CacheFormatError,
    CacheMiss,
    CallIdentity,
    ResponseCache,
    cache_key,
    cache_params,
)
from tests.helpers.cache_runs import REPEATS, noisy_model, resolver_for, runs_of, silent_model
from tests.helpers.cli import invoke
from tests.helpers.sweeps import sweep_locally


def events(path: Path) -> list[dict[str, Any]]:
    """A record's events without wall-clock times, latencies, argv and the cache mode."""
    out = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for key in ("started_at", "ended_at", "latency_s", "argv", "response_cache"):
            event.pop(key, None)
        out.append(event)
    return out


def trajectory(path: Path) -> list[Any]:
    """Every decision of a run, in order."""
    return [e["decision"] for e in events(path) if e["kind"] == "decision"]


async def test_cached_repeats_stay_distinct_and_replay_exactly(tmp_path: Path) -> None:
    runs = runs_of(tmp_path)
    assert sorted(r.seed for r in runs) == [0, 1, 2, 3]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    stats = await sweep_locally(
        runs,
        tmp_path / "cached",
        concurrency=1,
        shared_cache=cache,
        resolver=resolver_for(noisy_model()),
    )
    assert stats.failed == 0 and cache.hits == 0
    records = sorted((tmp_path / "cached").glob("*.jsonl"))
    assert len(records) == 4
    trajectories = [json.dumps(trajectory(p)) for p in records]
    assert all(None not in trajectory(p) for p in records), "the fake model's replies failed"
    assert len(set(trajectories)) == 4, "repeats shared cached replies"
    cache.close()

    replay = ResponseCache(tmp_path / "cache.sqlite", replay=True)
    stats = await sweep_locally(
        runs,
        tmp_path / "replayed",
        concurrency=4,
        shared_cache=replay,
        resolver=resolver_for(silent_model()),
    )
    assert stats.failed == 0 and replay.misses == 0 and replay.hits > 0
    for first in records:
        assert events(first) == events(tmp_path / "replayed" / first.name)
    replay.close()


async def test_cache_without_replay_reproduces_and_adds_nothing(tmp_path: Path) -> None:
    runs = runs_of(tmp_path)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    await sweep_locally(
        runs,
        tmp_path / "a",
        concurrency=2,
        shared_cache=cache,
        resolver=resolver_for(noisy_model()),
    )
    calls = cache.misses
    await sweep_locally(
        runs,
        tmp_path / "b",
        concurrency=2,
        shared_cache=cache,
        resolver=resolver_for(silent_model()),
    )
    assert (cache.hits, cache.misses) == (calls, calls)
    for first in (tmp_path / "a").glob("*.jsonl"):
        assert events(first) == events(tmp_path / "b" / first.name)
    cache.close()


def call(**changes: Any) -> CallIdentity:
    base: dict[str, Any] = {
        "run_id": "r1",
        "seed": 0,
        "state": "A",
        "round": 1,
        "phase": "decision",
        "subturn": 0,
        "attempt": 1,
    }
    return CallIdentity(**{**base, **changes})


@pytest.mark.parametrize(
    "change",
    [
        {"run_id": "r2"},
        {"seed": 1},
        {"state": "B"},
        {"round": 2},
        {"phase": "negotiation"},
        {"subturn": 1},
        {"attempt": 2},
    ],
)
def test_every_part_of_the_call_identity_changes_the_key(change: dict[str, Any]) -> None:
    messages = [HumanMessage("same prompt")]
    model = {"spec": "fake", "params": {"temperature": 1.0}}
    same = cache_key(call(), model, messages, {})
    assert cache_key(call(), model, messages, {}) == same
    assert cache_key(call(**change), model, messages, {}) != same


def test_the_thread_count_does_not_change_the_key_but_sampling_does() -> None:
    messages = [HumanMessage("same prompt")]

    def key(**params: Any) -> str:
        base = {"sampling": "forced", "n_threads": 1}
        model = {"spec": "local", "params": cache_params({**base, **params})}
        return cache_key(call(), model, messages, {})

    assert key(n_threads=2) == key()
    assert key(sampling="prefilter") != key()


def test_a_miss_in_replay_names_the_call(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "c.sqlite").close()
    replay = ResponseCache(tmp_path / "c.sqlite", replay=True)
    with pytest.raises(CacheMiss, match=r"run r1 \(seed 0\), state A, round 1"):
        replay.get("0" * 64, call())
    replay.close()


def old_cache(path: Path) -> Path:
    """A cache file in format 1 (keyed by model and messages only)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT, reply TEXT)")
    db.execute("INSERT INTO responses VALUES ('k', 'fake', '{}')")
    db.commit()
    db.close()
    return path


@pytest.mark.parametrize("replay", [False, True])
def test_an_old_cache_file_is_refused(tmp_path: Path, replay: bool) -> None:
    path = old_cache(tmp_path / "old.sqlite")
    with pytest.raises(CacheFormatError, match="format 1") as info:
        ResponseCache(path, replay=replay)
    assert str(path) in str(info.value)
    db = sqlite3.connect(path)  # the file is left as it was
    assert db.execute("SELECT count(*) FROM responses").fetchone() == (1,)
    db.close()


def test_a_file_that_is_not_a_cache_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database at all, just text that is long enough to look like one" * 20)
    with pytest.raises(CacheFormatError, match="not a response cache"):
        ResponseCache(path)


def test_another_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    with pytest.raises(CacheFormatError, match=r"not a response cache .*\['notes'\]"):
        ResponseCache(path)
    db = sqlite3.connect(path)
    tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    db.close()
    assert tables == [("notes",)]


def test_a_new_cache_is_stamped_and_reopens(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "c.sqlite").close()
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("SELECT value FROM cache_meta WHERE name = 'format'").fetchone() == ("2",)
    db.close()
    ResponseCache(tmp_path / "c.sqlite", replay=True).close()


def test_sweep_with_an_old_cache_exits_2(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(REPEATS.replace("model: fake:noisy", "model: scripted:reactive"))
    path = old_cache(tmp_path / "old.sqlite")
    out = tmp_path / "out"
    result = invoke("sweep", str(exp), "--out", str(out), "--cache", str(path), "--replay")
    assert result.code == 2 and result.exception is None, result.stderr
    message = result.unwrapped_stderr  # the message wraps at 80 columns, the path with it
    assert "format 1" in message and "old.sqlite" in message
    assert not list(out.glob("*.jsonl"))
