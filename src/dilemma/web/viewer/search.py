"""Search across the texts of a folder's runs: public statements, negotiation messages, private
rationales and threat reasons (`/search`, `/api/search`).

    texts = TextIndex()
    found = texts.search(index.records(), "first strike", limit=100)
    found.hits[0].key, found.hits[0].round, found.hits[0].state, found.truncated

Matching is a case-insensitive substring (Unicode case folding). Each record's texts are read
once and kept until its (mtime, size) stamp changes. Hits come in key, round and record order;
at most `limit` are returned and `truncated` says whether more matched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dilemma.records.reader import iter_events, read_header
from dilemma.records.schema import DecisionEvent, NegotiationEvent, RecordError
from dilemma.web.viewer.data import Stamp
from dilemma.web.viewer.run import clean

KINDS = ("statement", "message", "rationale", "threat reason")
"""What a hit can be, in the order a decision lists them."""
LIMIT = 100
"""Hits returned when no limit is asked for."""
MAX_LIMIT = 1000
"""The largest limit honoured."""


@dataclass(frozen=True)
class Text:
    """One piece of text from a run."""

    round: int
    state: str
    kind: str
    text: str
    to: tuple[str, ...] = ()
    """A message's recipients; a threat reason's subject (the state it is about)."""


@dataclass(frozen=True)
class Hit:
    """A text that matches, with the run it comes from."""

    key: str
    run_id: str
    item: Text
    start: int
    """Where the first match starts in the text."""
    length: int

    def parts(self) -> list[tuple[str, bool]]:
        """The text cut around the first match: (text, whether it is the match)."""
        text, a, b = self.item.text, self.start, self.start + self.length
        return [(p, m) for p, m in ((text[:a], False), (text[a:b], True), (text[b:], False)) if p]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "key": self.key,
            "run_id": self.run_id,
            "round": self.item.round,
            "state": self.item.state,
            "kind": self.item.kind,
            "to": list(self.item.to),
            "text": self.item.text,
            "match": [self.start, self.start + self.length],
        }


@dataclass(frozen=True)
class Found:
    """The result of one search."""

    query: str
    hits: list[Hit]
    truncated: bool
    searched: int
    """Records searched."""
    unreadable: list[str]
    """Keys of records that could not be read."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "query": self.query,
            "hits": [h.to_json() for h in self.hits],
            "shown": len(self.hits),
            "truncated": self.truncated,
            "searched": self.searched,
            "unreadable": self.unreadable,
        }


def texts_of(path: Path) -> tuple[str, list[Text]]:
    """The run id and every statement, message, rationale and threat reason of a record."""
    run_id = read_header(path).run_id
    out: list[Text] = []
    for event in iter_events(path, ("negotiation", "decision")):
        if isinstance(event, NegotiationEvent):
            for m in event.delivered:
                out.append(Text(event.round, m.sender, "message", clean(m.text), tuple(m.to)))
        elif isinstance(event, DecisionEvent) and event.decision is not None:
            d = event.decision
            if d.public_statement:
                out.append(Text(event.round, event.state, "statement", clean(d.public_statement)))
            if d.private_rationale:
                out.append(Text(event.round, event.state, "rationale", clean(d.private_rationale)))
            for t in d.threat:
                if t.reason:
                    out.append(
                        Text(event.round, event.state, "threat reason", clean(t.reason), (t.state,))
                    )
    return run_id, out


def find_folded(text: str, needle: str) -> tuple[int, int] | None:
    """Start and length of the first case-insensitive occurrence of `needle` in `text`."""
    folded = text.casefold()
    at = folded.find(needle)
    if at < 0:
        return None
    if len(folded) == len(text):  # folding kept every position: cut the original text there
        return at, len(needle)
    for start in range(len(text)):  # folding changed lengths (ß -> ss): find it char by char
        for end in range(start + 1, len(text) + 1):
            if text[start:end].casefold() == needle:
                return start, end - start
            if len(text[start:end].casefold()) > len(needle):
                break
    return at, 0


class TextIndex:
    """The texts of every record searched so far, cached by the record's stamp."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[Stamp, str, list[Text]]] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """Records read since the index was made."""

    def _texts(self, path: Path, stamp: Stamp) -> tuple[str, list[Text]]:
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        run_id, texts = texts_of(path)
        with self._lock:
            self._cache[path] = (stamp, run_id, texts)
            self.reads += 1
        return run_id, texts

    def search(
        self, records: Iterable[tuple[str, Path, Stamp]], query: str, limit: int = LIMIT
    ) -> Found:
        """The texts of `records` (key, path, stamp) containing `query`, at most `limit`."""
        limit = max(1, min(limit, MAX_LIMIT))
        needle = query.strip().casefold()
        hits: list[Hit] = []
        truncated = False
        searched = 0
        unreadable = []
        listed = list(records)
        with self._lock:
            for gone in set(self._cache) - {p for _, p, _ in listed}:
                del self._cache[gone]
        if not needle:
            return Found(query, [], False, 0, [])
        for key, path, stamp in listed:
            try:
                run_id, texts = self._texts(path, stamp)
            except (RecordError, OSError):
                unreadable.append(key)
                continue
            searched += 1
            for item in texts:
                found = find_folded(item.text, needle)
                if found is None:
                    continue
                if len(hits) == limit:
                    truncated = True
                    break
                hits.append(Hit(key, run_id, item, *found))
            if truncated:
                break
        return Found(query, hits, truncated, searched, unreadable)
