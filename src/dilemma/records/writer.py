"""The only writer of records: append-only JSONL, one flushed line per event.

Every line is valid UTF-8 JSON with secrets redacted (`dilemma.core.safe_text`): a lone surrogate in
model or server text becomes U+FFFD rather than failing the write. The messages of `llm_call`
events are stored as parts (`dilemma.records.compact`): long texts once per record in `text`
lines, the observation by reference to its own line; an observation after a state's first is
stored as a delta against the state's previous one.
"""

from __future__ import annotations

import json
from io import FileIO
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from dilemma.core.safe_text import redact, scrub_tree
from dilemma.records.compact import Compactor
from dilemma.records.schema import Header, LlmCallEvent, ObservationEvent

# Characters that str.splitlines() treats as line breaks but JSON leaves raw inside strings.
_UNICODE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def one_line(text: str) -> str:
    """JSON text with the Unicode line breaks escaped, so one event is one line to any reader."""
    for char, escaped in _UNICODE_BREAKS.items():
        if char in text:  # a one-character search is far cheaper than a replace
            text = text.replace(char, escaped)
    return text


_LAST_FIELD = list(ObservationEvent.model_fields)[-1]
if _LAST_FIELD != "observation":  # `_observation_json` appends it after the other fields
    raise ImportError(f"ObservationEvent's last field is {_LAST_FIELD!r}, not 'observation'")
_OBSERVATION_ONLY = {"observation"}


def _observation_json(event: ObservationEvent) -> str:
    """`event.model_dump_json()`, reusing the observation's JSON that the prompt was made from."""
    head = event.model_dump_json(exclude=_OBSERVATION_ONLY)
    return f'{head[:-1]},"observation":{event.observation.json_text()}}}'


_MESSAGES_ONLY = {"messages"}
_MESSAGES_AND_PARSED = {"messages", "parsed"}


def _parsed_is_raw(event: LlmCallEvent) -> bool:
    """Whether the parsed reply is exactly the raw reply read as JSON (then stored as "raw")."""
    if event.parsed is None or not event.raw.startswith("{"):
        return False
    try:
        return bool(json.loads(event.raw) == event.parsed)
    except ValueError:
        return False


def _call_json(event: LlmCallEvent, messages: list[dict[str, object]]) -> str:
    """The call's JSON with `messages` (written last) in their stored form, and `parsed` as
    "raw" when it is the raw reply read as JSON."""
    same = _parsed_is_raw(event)
    exclude = _MESSAGES_AND_PARSED if same else _MESSAGES_ONLY
    try:
        head = event.model_dump_json(exclude=exclude)
    except PydanticSerializationError:  # a lone surrogate: as `_json` does for other events
        data = scrub_tree(event.model_dump(mode="json", exclude=exclude))
        head = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if same:
        head = f'{head[:-1]},"parsed":"raw"}}'
    text = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(scrub_tree(messages), ensure_ascii=False, separators=(",", ":"))
    return f'{head[:-1]},"messages":{text}}}'


def _json(model: BaseModel) -> str:
    """The model's JSON; text that cannot be UTF-8 (a lone surrogate) is scrubbed first."""
    try:
        if isinstance(model, ObservationEvent):
            return _observation_json(model)
        return model.model_dump_json()
    except PydanticSerializationError:
        data = scrub_tree(model.model_dump(mode="json"))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class RecordWriter:
    """Append-only JSONL writer; every line is in the file when `write` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: FileIO | None = None
        self._compactor = Compactor()

    def open(self, header: Header) -> None:
        """Create the file (it must not exist) and write the header."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("xb", buffering=0)  # each write goes straight to the file
        self._write(header)

    def write(self, event: BaseModel) -> None:
        """Append one event and flush it (an `llm_call` after the `text` lines it needs)."""
        if isinstance(event, LlmCallEvent):
            texts, messages = self._compactor.messages(event)
            for text in texts:
                self._write(text)
            self._write(event, _call_json(event, messages))
            return
        if isinstance(event, ObservationEvent):
            self._write(event, self._compactor.observed(event))
            return
        self._write(event)

    def _write(self, model: BaseModel, text: str | None = None) -> None:
        if self._fh is None:
            raise RuntimeError("record is not open")
        text = _json(model) if text is None else text
        line = memoryview((one_line(redact(text)) + "\n").encode())
        while line:  # an unbuffered write may take part of the line: write the rest
            line = line[self._fh.write(line) :]

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
