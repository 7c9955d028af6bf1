"""A persistent SQLite response cache keyed by model, parameters and the exact messages.

With `replay=True` the cache is the only source of replies: a miss raises `CacheMiss`, so a
replayed sweep either reproduces its records or stops at the first call it cannot answer.
LangChain's own caches cannot tell a hit from a miss to the caller, which replay needs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL
)
"""


class CacheMiss(RuntimeError):
    """Replay asked for a reply the cache does not hold."""


def cache_key(model: dict[str, Any], messages: list[BaseMessage], schema: dict[str, Any]) -> str:
    """sha256 of the model identity, the messages (role and text) and the reply schema."""
    blob = json.dumps(
        {
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


class ResponseCache:
    """Replies stored by key in one SQLite file; safe to share across concurrent runs."""

    def __init__(self, path: Path, *, replay: bool = False) -> None:
        self.path = path
        self.replay = replay
        if replay and not path.exists():
            raise CacheMiss(f"{path}: no response cache to replay from")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute(SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> AIMessage | None:
        """The stored reply, or None (in replay mode a miss raises CacheMiss)."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            if self.replay:
                raise CacheMiss(
                    f"replay: no cached reply for this call (key {key[:12]}) in {self.path};"
                    " the experiment, prompts or models differ from the cached sweep"
                )
            return None
        self.hits += 1
        return _load(row[0])

    def put(self, key: str, model: str, reply: AIMessage) -> None:
        """Store a reply (the first stored reply for a key wins)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO responses (key, model, reply) VALUES (?, ?, ?)",
                (key, model, _dump(reply)),
            )
            self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()
