"""A replay that misses its cache names the package versions that differ from the cache's writers.

pydantic's version shapes the reply schema written into prompts, so a cache written under one
version misses every call under another; the error must say so rather than only "differ"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from dilemma.core.versions import package_versions, version_differences
from dilemma.experiments.executor import SweepError
from dilemma.models import response_cache
from dilemma.models.response_cache import CacheMiss, CallIdentity, ResponseCache
from tests.helpers.cache_runs import noisy_model, resolver_for, runs_of, silent_model
from tests.helpers.sweeps import sweep_locally

OLD = {"security-dilemma-sandbox": "0.2.0", "pydantic": "2.9.2", "openai": "3.63.0"}
NEW = {"security-dilemma-sandbox": "0.2.0", "pydantic": "2.14.4", "openai": "3.63.0"}


def call() -> CallIdentity:
    return CallIdentity("r1", 0, "A", 1, "decision", 0, 1)


def reply() -> AIMessage:
    return AIMessage(content="{}")


def under(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
    monkeypatch.setattr(response_cache, "package_versions", lambda: dict(versions))


def test_a_miss_names_the_versions_that_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    under(monkeypatch, OLD)
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k" * 64, call(), "fake", reply())
    cache.close()
    under(monkeypatch, NEW)
    replay = ResponseCache(tmp_path / "c.sqlite", replay=True)
    with pytest.raises(CacheMiss) as info:
        replay.get("0" * 64, call())
    replay.close()
    message = str(info.value)
    assert "pydantic 2.9.2 -> 2.14.4" in message
    assert "openai" not in message and "security-dilemma-sandbox" not in message


def test_a_miss_under_the_writers_versions_says_they_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    under(monkeypatch, OLD)
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k" * 64, call(), "fake", reply())
    with pytest.raises(CacheMiss, match="package versions are those that wrote the cache"):
        ResponseCache(tmp_path / "c.sqlite", replay=True).get("0" * 64, call())
    cache.close()


def test_every_writers_versions_are_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, versions in enumerate((OLD, {**OLD, "numpy": "2.1.0"})):
        under(monkeypatch, versions)
        cache = ResponseCache(tmp_path / "c.sqlite")
        cache.put(f"{n}" * 64, call(), "fake", reply())
        cache.close()
    under(monkeypatch, NEW)
    with pytest.raises(CacheMiss) as info:
        ResponseCache(tmp_path / "c.sqlite", replay=True).get("x" * 64, call())
    assert "pydantic 2.9.2 -> 2.14.4" in str(info.value)
    assert "numpy 2.1.0 -> absent" in str(info.value)


def test_a_cache_without_writer_versions_says_so(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "c.sqlite").close()  # opened, never written
    with pytest.raises(CacheMiss, match="does not record the package versions"):
        ResponseCache(tmp_path / "c.sqlite", replay=True).get("0" * 64, call())


async def test_a_replayed_sweep_under_other_versions_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = runs_of(tmp_path)
    under(monkeypatch, OLD)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    stats = await sweep_locally(
        runs,
        tmp_path / "a",
        concurrency=2,
        shared_cache=cache,
        resolver=resolver_for(noisy_model()),
    )
    assert stats.failed == 0
    cache.close()
    # Another pydantic writes another reply schema into every prompt: no key matches any more.
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    db.execute("UPDATE replies SET key = 'old-schema-' || key")
    db.commit()
    db.close()
    under(monkeypatch, NEW)
    replay = ResponseCache(tmp_path / "cache.sqlite", replay=True)
    with pytest.raises(SweepError, match=r"pydantic 2\.9\.2 -> 2\.14\.4"):
        await sweep_locally(
            runs,
            tmp_path / "b",
            concurrency=1,
            shared_cache=replay,
            resolver=resolver_for(silent_model()),
        )
    replay.close()


def test_version_differences_lists_changed_added_and_removed_packages() -> None:
    before = {"a": "1", "b": "2", "c": "3"}
    now = {"a": "1", "b": "2.1", "d": "4"}
    assert version_differences(before, now) == ["b 2 -> 2.1", "c 3 -> absent", "d absent -> 4"]
    assert version_differences(now, now) == []


def test_the_sandbox_version_recorded_is_the_running_code() -> None:
    import dilemma

    assert package_versions()["security-dilemma-sandbox"] == dilemma.__version__
