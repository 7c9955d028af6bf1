"""A persistent SQLite response cache keyed by run identity, model, parameters and messages.

The key of a reply is the run it belongs to (run id and seed), the call within the run (state,
round, phase, sub-turn, attempt), the model identity and parameters, the exact messages and the
reply schema. Two repeats of a condition are different runs, so they never share a reply even
when their prompts are identical (round 1 of a transparent world): a non-deterministic model keeps
its variance across repeats with the cache on. The cache reproduces runs; it does not save calls
across repeats.

With `replay=True` the cache is the only source of replies: a miss raises `CacheMiss`, so a
replayed sweep either reproduces its records or stops at the first call it cannot answer.
LangChain's own caches cannot tell a hit from a miss to the caller, which replay needs.

A cache notes the package versions of each writer (`cache_meta` rows `written_by:...`): the
reply schema written into prompts depends on pydantic's version, so a replay under other
versions misses, and its error names the versions that differ.

Cache files carry a format number (`CACHE_FORMAT`). A file of another format (format 1 keyed
replies by model and messages only, so repeats shared replies) is refused with `CacheFormatError`
rather than read: its replies cannot reproduce runs keyed by run identity.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from dilemma.core.versions import package_versions, version_differences

CACHE_FORMAT = 2
"""Format of cache files written and read by this version."""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cache_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS replies"
    " (key TEXT PRIMARY KEY, run_id TEXT NOT NULL, model TEXT NOT NULL, reply TEXT NOT NULL)",
)


class CacheMiss(RuntimeError):
    """Replay asked for a reply the cache does not hold."""


class CacheFormatError(ValueError):
    """A cache file this version cannot use (another format, or not a cache at all)."""


@dataclass(frozen=True)
class CallIdentity:
    """Where one model call sits: which run, which state, which moment, which attempt."""

    run_id: str
    seed: int
    state: str
    round: int
    phase: str
    subturn: int
    attempt: int

    def describe(self) -> str:
        """A readable location for error messages."""
        return (
            f"run {self.run_id} (seed {self.seed}), state {self.state}, round {self.round},"
            f" {self.phase} sub-turn {self.subturn}, attempt {self.attempt}"
        )


SPEED_ONLY_PARAMS = ("n_threads",)
"""Model parameters that change how fast a reply comes, not the reply: left out of cache keys
(the embedded model's thread count follows the machine's load)."""


def cache_params(params: dict[str, Any]) -> dict[str, Any]:
    """The model parameters that identify its replies (without SPEED_ONLY_PARAMS)."""
    return {k: v for k, v in params.items() if k not in SPEED_ONLY_PARAMS}


def cache_key(
    call: CallIdentity,
    model: dict[str, Any],
    messages: Sequence[BaseMessage],
    schema: dict[str, Any],
) -> str:
    """sha256 of the call's identity, the model identity, the messages and the reply schema."""
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "call": asdict(call),
            "model": model,
            "messages": [(m.type, m.text) for m in messages],
            "schema": schema,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _dump(message: AIMessage) -> str:
    return json.dumps(
        {
            "content": message.content,
            "tool_calls": message.tool_calls,
            "invalid_tool_calls": message.invalid_tool_calls,
            "usage_metadata": message.usage_metadata,
        }
    )


def _load(text: str) -> AIMessage:
    data = json.loads(text)
    return AIMessage(
        content=data["content"],
        tool_calls=data["tool_calls"],
        invalid_tool_calls=data["invalid_tool_calls"],
        usage_metadata=data["usage_metadata"],
    )


def _check_format(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file of another format; stamp a new, empty file with this one.

    One write transaction covers the check and the stamp, so processes opening the same new
    file at once cannot see it half made.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        _check_format_locked(db, path)
    except BaseException:
        db.rollback()
        raise
    db.commit()


def _check_format_locked(db: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    advice = "Move the file aside or pass a new --cache path."
    if "cache_meta" not in tables:
        if "responses" in tables:
            raise CacheFormatError(
                f"{path}: response cache format 1 (keyed without run identity, so repeats shared"
                f" replies); this version reads format {CACHE_FORMAT} only and cannot reproduce"
                f" runs from it. {advice}"
            )
        if tables:
            raise CacheFormatError(
                f"{path}: not a response cache (an SQLite file with tables"
                f" {sorted(tables)}). {advice}"
            )
        for statement in SCHEMA:
            db.execute(statement)
        db.execute(
            "INSERT INTO cache_meta (name, value) VALUES ('format', ?)", (str(CACHE_FORMAT),)
        )
        return
    row = db.execute("SELECT value FROM cache_meta WHERE name = 'format'").fetchone()
    found = row[0] if row else "unknown"
    if found != str(CACHE_FORMAT):
        raise CacheFormatError(
            f"{path}: response cache format {found}; this version reads format {CACHE_FORMAT}"
            f" only. {advice}"
        )


class ResponseCache:
    """Replies stored by key in one SQLite file; safe to share across concurrent runs."""

    def __init__(self, path: Path, *, replay: bool = False) -> None:
        self.path = path
        self.replay = replay
        if replay and not path.exists():
            raise CacheMiss(f"{path}: no response cache to replay from")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        try:
            _check_format(self._db, path)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CacheFormatError(f"{path}: not a response cache ({exc})") from exc
        except CacheFormatError:
            self._db.close()
            raise
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._writer_noted = False

    def get(self, key: str, call: CallIdentity | None = None) -> AIMessage | None:
        """The stored reply, or None (in replay mode a miss raises CacheMiss)."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            if self.replay:
                where = f" ({call.describe()})" if call is not None else ""
                raise CacheMiss(
                    f"replay: no cached reply for this call{where} (key {key[:12]}) in"
                    f" {self.path}; the experiment, prompts or models differ from the cached sweep"
                    f"{self._versions_note()}"
                )
            return None
        self.hits += 1
        return _load(row[0])

    def put(self, key: str, call: CallIdentity, model: str, reply: AIMessage) -> None:
        """Store a reply (the first stored reply for a key wins)."""
        with self._lock:
            if not self._writer_noted:
                versions = json.dumps(package_versions(), sort_keys=True)
                name = "written_by:" + hashlib.sha256(versions.encode()).hexdigest()[:16]
                self._db.execute(
                    "INSERT OR IGNORE INTO cache_meta (name, value) VALUES (?, ?)", (name, versions)
                )
                self._writer_noted = True
            self._db.execute(
                "INSERT OR IGNORE INTO replies (key, run_id, model, reply) VALUES (?, ?, ?, ?)",
                (key, call.run_id, model, _dump(reply)),
            )
            self._db.commit()

    def _versions_note(self) -> str:
        """How the running package versions differ from those that wrote the cache."""
        with self._lock:
            rows = self._db.execute(
                "SELECT value FROM cache_meta WHERE name LIKE 'written_by:%' ORDER BY name"
            ).fetchall()
        if not rows:
            return "; the cache does not record the package versions that wrote it"
        now = package_versions()
        differ: list[str] = []
        for (value,) in rows:
            for change in version_differences(json.loads(value), now):
                if change not in differ:
                    differ.append(change)
        if not differ:
            return "; the package versions are those that wrote the cache"
        return (
            f"; package versions differ from those that wrote the cache: {', '.join(differ)}"
            " (pydantic's version changes the reply schema written into prompts; replay under"
            " the versions that wrote the cache)"
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()
