"""Messages of `llm_call` lines stored without repeating what the record already holds.

Most of what a model is sent repeats: the system prompt is the same in every call of a state,
the turn's instructions and reply schema in every call of a phase, and the observation is
already in its own `observation` line. Since version 4 a message is stored as `parts`: short
literal text, a reference to a `text` line (each long text written once per record, before
its first use) or a reference to the call's observation. The writer (`Compactor`) splits, the
readers (`Expander`) join, so every reader returns the messages exactly as they were sent.

Since version 5 an observation line after a state's first holds only its changes from the
state's previous observation line (`delta`, see `dilemma.records.delta`): the `Compactor`
writes them, the `Expander` rebuilds each observation as its line is read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from pydantic_core import PydanticSerializationError, from_json, to_json

from dilemma.core.observation import Observation
from dilemma.records.delta import Op, diff, patch
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


_OBSERVATION_ONLY = {"observation"}


def delta_json(changes: dict[str, Any], plain_floats: bool) -> str:
    """A delta's JSON, `json.dumps(changes, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False)`; `plain_floats`: every float in it is one that pydantic writes alike
    (`Observation.plain_floats`), so pydantic's faster writer makes the same text."""
    if plain_floats:
        try:
            return to_json(changes).decode()
        except (PydanticSerializationError, UnicodeDecodeError):
            pass  # (a lone surrogate, which json.dumps writes and the writer then scrubs)
    return json.dumps(changes, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_STANDING = ("you", "others", "rules", "open_proposals", "treaties", "disclosed_plans", "history")
"""The fields of an observation that `observe` builds once per state and round (shared)."""
_SAID = ("statements", "messages")
_OPTIONAL = ("rounds_total", "statements", "messages")
"""The other fields that an observation's JSON leaves out when they are None."""


def _shared(a: Any, b: Any) -> bool:
    """Whether `a` and `b` are one object, or lists of the same objects (validation copies a
    list given to a model, not its items)."""
    if a is b:
        return True
    if type(a) is not list or type(b) is not list or len(a) != len(b):
        return False
    return all(x is y for x, y in zip(a, b, strict=True))


def same_round_diff(old: Observation, data: dict[str, Any], new: Observation) -> Op | None:
    """`diff(data, new's JSON data)` for a `new` observation of the round of `old` (whose JSON
    data is `data`), made from the fields without parsing `new`'s JSON: within a round the
    engine shares every field but the phase, sub-turn, statements and messages, and those
    only grow. None when that is not so (then `diff` on the parsed JSON makes the delta)."""
    if not all(_shared(getattr(old, k), getattr(new, k)) for k in _STANDING):
        return None
    changes: Op = {}
    for key in data:  # (an observation's keys in their JSON order)
        if key in _STANDING:
            continue
        was, value = getattr(old, key), getattr(new, key)
        if key in _SAID:
            if value is None or len(value) < len(was) or value[: len(was)] != was:
                return None  # (a channel that opened or closed; statements that changed)
            if len(value) > len(was):
                changes[key] = {"+": [s.model_dump(mode="json") for s in value[len(was) :]]}
        elif was != value:
            if key != "phase" and not isinstance(value, int):
                return None
            changes[key] = {"=": value.value if key == "phase" else value}
    if any((getattr(old, k) is None) != (getattr(new, k) is None) for k in _OPTIONAL):
        return None  # a key that one of them leaves out (a changed key order)
    return changes


class Compactor:
    """The writer's side: which texts a record holds, and each state's last observation."""

    def __init__(self) -> None:
        self._stored: dict[str, str] = {}
        """Each long text written (or about to be) and its hash: a text sent again (the system
        prompt, the turn's instructions) is looked up, not hashed again."""
        self._observations: dict[str, tuple[Key, str]] = {}
        self._previous: dict[str, tuple[Observation, dict[str, Any]]] = {}
        """Each state's last observation and its JSON data."""

    def observed(self, event: ObservationEvent) -> str | None:
        """Remember the observation that the state's next calls were made from; return its
        line as a delta against the state's previous observation (None: write it in full)."""
        obs = event.observation
        text = obs.json_text()
        self._observations[event.state] = (_key(event), text)
        previous = self._previous.get(event.state)
        changes = same_round_diff(*previous, obs) if previous is not None else None
        if changes is not None and previous is not None:
            new = patch(previous[1], changes)
        else:
            new = from_json(text, cache_strings="keys")  # (a third faster than json.loads here)
            changes = diff(previous[1], new) if previous is not None else None
        self._previous[event.state] = (obs, new)
        if changes is None:
            return None
        head = event.model_dump_json(exclude=_OBSERVATION_ONLY)
        return f'{head[:-1]},"delta":{delta_json(changes, event.observation.plain_floats())}}}'

    def _part(self, text: str, new: list[TextEvent]) -> str | dict[str, str]:
        if len(text) < TEXT_MIN:
            return text
        digest = self._stored.get(text)
        if digest is None:
            digest = self._stored[text] = text_hash(text)
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


class _Seen:
    """A state's last observation line: as written (a full line, parsed only if needed) or
    rebuilt from a delta (the event's data), and its JSON text once made."""

    __slots__ = ("data", "key", "line", "text")

    def __init__(self, key: Key, line: bytes | None, data: dict[str, Any] | None) -> None:
        self.key = key
        self.line = line
        self.data = data
        self.text: str | None = None

    def event_data(self) -> dict[str, Any]:
        """The observation event's data (a full line is parsed once)."""
        if self.data is None:
            raw = json.loads(self.line or b"")
            if not isinstance(raw, dict) or not isinstance(raw.get("observation"), dict):
                raise ValueError("an observation line holds no observation object")
            self.data = raw
        return self.data

    def json_text(self) -> str:
        """The observation's JSON as `Observation.json_text` makes it (as it was in prompts)."""
        if self.text is None:
            if self.data is None and self.line is not None:
                event = ObservationEvent.model_validate_json(self.line)
                self.text = event.observation.json_text()
            else:
                data = self.event_data()["observation"]
                self.text = Observation.model_validate(data).json_text()
        return self.text


class Expander:
    """The readers' side: the record's texts and each state's last observation line."""

    def __init__(self, path: object) -> None:
        self._path = path
        self._texts: dict[str, str] = {}
        self._observations: dict[str, _Seen] = {}
        self.rebuilt: dict[str, Any] | None = None
        """The event data of the last observation line noted, when it was a delta (readers
        validate this instead of the line); None after any other line."""

    def text(self, line: bytes) -> None:
        """Keep a `text` line's text."""
        event = TextEvent.model_validate_json(line)
        self._texts[event.hash] = event.text

    def observed(self, state: str, key: Key, line: bytes, delta: dict[str, Any] | None) -> None:
        """Keep a state's observation line: a whole one as it is (parsed later, only if a call
        or a delta refers to it); a delta line (`delta`: the line parsed) applied at once to the
        state's previous observation (raises ValueError if the delta does not fit)."""
        if delta is None:
            self._observations[state] = _Seen(key, line, None)
            self.rebuilt = None
            return
        raw = delta
        previous = self._observations.get(state)
        if previous is None:
            raise ValueError(f"an observation delta of {state!r} follows no observation of it")
        base = previous.event_data()["observation"]
        raw["observation"] = patch(base, raw.pop("delta", None))
        self._observations[state] = _Seen(key, None, raw)
        self.rebuilt = raw

    def _observation(self, raw: dict[str, Any]) -> str:
        key: Key = (raw.get("round"), raw.get("state"), raw.get("phase"), raw.get("subturn"))  # type: ignore[assignment]
        seen = self._observations.get(str(raw.get("state")))
        if seen is None or seen.key != key:
            raise RecordError(
                f"{self._path}: an llm_call of {key} refers to an observation not written before it"
            )
        return seen.json_text()

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


_SUBTURN = b',"subturn":'
_WHOLE = b',"observation":'
_DELTA = b',"delta":'


def observation_key(line: bytes) -> tuple[str, Key, dict[str, Any] | None] | None:
    """(state, key, the parsed line if it is a delta) of an observation line. A whole
    observation (written last, after `subturn`) is not parsed, only the fields before it; a
    delta line is parsed whole, as it must be read anyway, and so is a line in another key
    order. None if the fields cannot be read (a delta line that is not JSON raises ValueError)."""
    at = line.find(_SUBTURN)
    end = at + len(_SUBTURN)
    while at >= 0 and end < len(line) and line[end : end + 1].isdigit():
        end += 1
    if at >= 0 and line.startswith(_WHOLE, end):
        try:
            return _key_of(json.loads(line[:end] + b"}"), False)
        except ValueError:
            return None
    whole = json.loads(line) if at >= 0 and line.startswith(_DELTA, end) else None
    if whole is None:
        try:
            whole = json.loads(line)
        except ValueError:
            return None
    return _key_of(whole, isinstance(whole, dict) and "delta" in whole)


def _key_of(raw: Any, delta: bool) -> tuple[str, Key, dict[str, Any] | None] | None:
    if not isinstance(raw, dict):
        return None
    state = raw.get("state")
    key = cast(Key, (raw.get("round"), state, raw.get("phase"), raw.get("subturn")))
    return str(state), key, raw if delta else None
