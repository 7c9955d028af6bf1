"""Messages of `llm_call` lines stored without repeating what the record already holds.

Most of what a model is sent repeats: the system prompt is the same in every call of a state,
the turn's instructions and reply schema in every call of a phase, and the observation is
already in its own `observation` line. Since version 4 a message is stored as `parts`: short
literal text, a reference to a `text` line (each long text written once per record, before
its first use) or a reference to the call's observation. The writer (`Compactor`) splits, the
readers (`Expander`) join, so every reader returns the messages exactly as they were sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from dilemma.records.schema import LlmCallEvent, ObservationEvent, RecordError, TextEvent

TEXT_MIN = 160
"""Literal parts at least this long go to a `text` line (shorter ones stay in the message)."""

_OBSERVATION_PART = {"observation": True}

Key = tuple[int, str, str, int]
"""(round, state, phase, sub-turn) of an observation and of the calls made from it."""


def text_hash(text: str) -> str:
    """The id of a stored text: 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _key(event: ObservationEvent | LlmCallEvent) -> Key:
    return (event.round, event.state, event.phase.value, event.subturn)


class Compactor:
    """The writer's side: which texts a record holds, and each state's last observation."""

    def __init__(self) -> None:
        self._stored: set[str] = set()
        self._observations: dict[str, tuple[Key, str]] = {}

    def observed(self, event: ObservationEvent) -> None:
        """Remember the observation that the state's next calls were made from."""
        self._observations[event.state] = (_key(event), event.observation.json_text())

    def _part(self, text: str, new: list[TextEvent]) -> str | dict[str, str]:
        if len(text) < TEXT_MIN:
            return text
        digest = text_hash(text)
        if digest not in self._stored:
            self._stored.add(digest)
            new.append(TextEvent(hash=digest, text=text))
        return {"text": digest}

    def messages(self, call: LlmCallEvent) -> tuple[list[TextEvent], list[dict[str, Any]]]:
        """The `text` lines to write first (texts not yet in the record) and the call's
        messages as stored parts."""
        seen = self._observations.get(call.state)
        observation = seen[1] if seen is not None and seen[0] == _key(call) else None
        new: list[TextEvent] = []
        stored: list[dict[str, Any]] = []
        for message in call.messages:
            content = message.content
            parts: list[Any] = []
            at = content.find(observation) if observation else -1
            if observation and at >= 0:
                if at:
                    parts.append(self._part(content[:at], new))
                parts.append(_OBSERVATION_PART)
                rest = content[at + len(observation) :]
                if rest:
                    parts.append(self._part(rest, new))
            elif content:
                parts.append(self._part(content, new))
            stored.append({"role": message.role, "parts": parts})
        return new, stored


class Expander:
    """The readers' side: the record's texts and each state's last observation line."""

    def __init__(self, path: object) -> None:
        self._path = path
        self._texts: dict[str, str] = {}
        self._observations: dict[str, tuple[Key, bytes | ObservationEvent]] = {}

    def text(self, line: bytes) -> None:
        """Keep a `text` line's text."""
        event = TextEvent.model_validate_json(line)
        self._texts[event.hash] = event.text

    def observed(self, state: str, key: Key, line: bytes | ObservationEvent) -> None:
        """Keep a state's observation line (parsed later, only if a call refers to it)."""
        self._observations[state] = (key, line)

    def _observation(self, raw: dict[str, Any]) -> str:
        key: Key = (raw.get("round"), raw.get("state"), raw.get("phase"), raw.get("subturn"))  # type: ignore[assignment]
        seen = self._observations.get(str(raw.get("state")))
        if seen is None or seen[0] != key:
            raise RecordError(
                f"{self._path}: an llm_call of {key} refers to an observation not written before it"
            )
        event = seen[1]
        if not isinstance(event, ObservationEvent):
            event = ObservationEvent.model_validate_json(event)
            self._observations[key[1]] = (key, event)
        return event.observation.json_text()

    def _join(self, raw: dict[str, Any], parts: list[Any]) -> str:
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and "text" in part:
                text = self._texts.get(part["text"])
                if text is None:
                    raise RecordError(
                        f"{self._path}: an llm_call refers to text {part['text']!r},"
                        " which no earlier line holds"
                    )
                out.append(text)
            elif isinstance(part, dict) and part.get("observation") is True:
                out.append(self._observation(raw))
            else:
                raise RecordError(f"{self._path}: an llm_call message part is not readable")
        return "".join(out)

    def llm_call(self, raw: dict[str, Any]) -> dict[str, Any]:
        """An `llm_call` line's data with every stored message joined back to its content, and
        a parsed reply stored as "raw" read back from the raw reply."""
        if raw.get("parsed") == "raw" and isinstance(raw.get("raw"), str):
            raw["parsed"] = json.loads(raw["raw"])
        messages = raw.get("messages")
        if isinstance(messages, list):
            raw["messages"] = [
                {"role": m.get("role"), "content": self._join(raw, m["parts"])}
                if isinstance(m, dict) and isinstance(m.get("parts"), list)
                else m
                for m in messages
            ]
        return raw


def observation_key(line: bytes) -> tuple[str, Key] | None:
    """(state, key) of an observation line, from its leading fields (the observation itself is
    written last and not parsed here)."""
    cut = line.find(b',"observation":')
    try:
        head = json.loads(line[:cut] + b"}" if cut >= 0 else line)
    except ValueError:
        return None
    if not isinstance(head, dict):
        return None
    state = head.get("state")
    key = cast(Key, (head.get("round"), state, head.get("phase"), head.get("subturn")))
    return str(state), key
