"""The only reader of records: header, whole record, streamed events, and the tail status.

Every reader returns today's models: a record written in an older version is migrated in memory
(`dilemma.records.migrations`), and one newer than this code is refused with both versions named.

Lines are split on newline bytes only: JSON escapes every newline inside strings, while
`str.splitlines` would also split at raw U+2028 or U+0085 in a model's text. An unparseable last
line (a crash mid-write, possibly inside a multi-byte character) is dropped and the record is
flagged truncated; an unparseable line elsewhere is an error naming the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from dilemma.records.compact import Expander, observation_key
from dilemma.records.files import RECORD_GLOB as RECORD_GLOB
from dilemma.records.files import SET_ASIDE as SET_ASIDE
from dilemma.records.files import record_files
from dilemma.records.migrations import RawLine, Upgrade, upgrade_for
from dilemma.records.schema import (
    EVENT_ADAPTER,
    Header,
    RecordError,
    RunEndEvent,
)

_TAIL_BYTES = 65536


class NoRecordsError(RecordError):
    """A path that holds no readable record."""


_Event = TypeVar("_Event", bound=BaseModel)


@dataclass
class Record:
    """A loaded record (today's models; `header.schema_version` is the version written)."""

    path: Path
    header: Header
    events: list[BaseModel] = field(default_factory=list)
    truncated: bool = False

    @property
    def run_end(self) -> RunEndEvent | None:
        """The closing event, if the run finished writing its record."""
        last = self.events[-1] if self.events else None
        return last if isinstance(last, RunEndEvent) else None

    def of_kind(self, kind: type[_Event]) -> list[_Event]:
        """Events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]


def _raw_header(line: str | bytes, path: Path) -> RawLine:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise RecordError(f"{path}: line 1 is not a valid header: not JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("kind") != "header":
        raise RecordError(f"{path}: line 1 is not a valid header: no `kind: header` object")
    return raw


def _open(line: str | bytes, path: Path) -> tuple[Header, Upgrade | None]:
    """The validated header and, for an older record, the upgrade of its events."""
    raw = _raw_header(line, path)
    upgrade = upgrade_for(raw, path)
    try:
        header = Header.model_validate(upgrade.header if upgrade else raw)
    except ValidationError as exc:
        raise RecordError(f"{path}: line 1 is not a valid header: {exc}") from exc
    return header, upgrade


def parse_header(line: str | bytes, path: Path) -> Header:
    """Validate a record's first line (migrating an older version); refuse newer versions."""
    return _open(line, path)[0]


_TEXT_PREFIX = b'{"kind":"text"'
_CALL_PREFIX = b'{"kind":"llm_call"'
_OBSERVATION_PREFIX = b'{"kind":"observation"'


def _event(line: bytes, upgrade: Upgrade | None, expander: Expander | None = None) -> BaseModel:
    """One event line as today's model (raises ValidationError or ValueError if unreadable);
    an `llm_call` stored as parts is joined by `expander`, and an observation delta is the one
    `expander` rebuilt when the line was noted (`_note`)."""
    if expander is not None and expander.rebuilt is not None:
        return EVENT_ADAPTER.validate_python(expander.rebuilt)
    if upgrade is None or upgrade.events_unchanged:
        if expander is not None and _stored(line):
            return EVENT_ADAPTER.validate_python(expander.llm_call(json.loads(line)))
        return EVENT_ADAPTER.validate_json(line)
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError("an event line must be a JSON object")
    raw = upgrade.event(raw)
    if expander is not None and raw.get("kind") == "llm_call":
        raw = expander.llm_call(raw)
    return EVENT_ADAPTER.validate_python(raw)


def _lines(path: Path) -> list[bytes]:
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise RecordError(f"{path}: empty record")
    return lines


def _first_line(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            first = fh.readline()
    except OSError as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from exc
    if not first.strip():
        raise RecordError(f"{path}: empty record")
    return first


def read_header(path: Path) -> Header:
    """The header of one record (only its first line is read)."""
    return parse_header(_first_line(path), path)


def read_record(path: Path) -> Record:
    """Load a record; a truncated (unparseable) last line is dropped and flagged."""
    lines = _lines(path)
    header, upgrade = _open(lines[0], path)
    record = Record(path=path, header=header)
    expander = Expander(path)
    for n, line in enumerate(lines[1:], start=2):
        try:
            if _note(line, expander):
                continue
            record.events.append(_event(line, upgrade, expander))
        except (ValidationError, ValueError) as exc:
            if n == len(lines):
                record.truncated = True
                break
            raise RecordError(f"{path}: line {n}: {exc}") from exc
    return record


def _upgraded(line: bytes, upgrade: Upgrade) -> bytes:
    """An older event line rewritten in today's shape (an unparseable line is left as it is)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return line
    if not isinstance(raw, dict):
        return line
    return json.dumps(upgrade.event(raw), ensure_ascii=False, separators=(",", ":")).encode()


def raw_lines(path: Path) -> tuple[Header, Iterator[tuple[int, bytes, bool]]]:
    """The header, and (line number, raw line, is last) for every event line.

    For fast readers that validate only the lines they need; they must apply the truncation rule
    of `read_record` (an unparseable last line is dropped, any other is an error). Lines of an
    older record come already migrated (compact JSON, keys in written order, `kind` first).
    """
    lines = _lines(path)
    header, upgrade = _open(lines[0], path)
    last = len(lines)
    numbered = ((n, line, n == last) for n, line in enumerate(lines[1:], start=2))
    if upgrade is None or upgrade.events_unchanged:
        return header, numbered
    return header, ((n, _upgraded(line, upgrade), is_last) for n, line, is_last in numbered)


LineModel = type[BaseModel] | TypeAdapter[Any]
"""What a fast reader validates a line with: an event model, a lighter projection of one (a
model with some of its fields), or `EVENT_ADAPTER` for any event."""


@dataclass(frozen=True)
class Scan:
    """What `scan` kept of one record."""

    header: Header
    events: list[Any]
    truncated: bool


def scan(path: Path, choose: Callable[[bytes], LineModel | None]) -> Scan:
    """The header, and the event lines `choose` picks, each validated with the model it returns.

    For fast readers that need a few kinds only: `choose` sees each event line as written (compact
    JSON, `kind` first; older versions already migrated) and returns the model to validate it
    with, or None to skip it unvalidated. The truncation rule of `read_record` holds for picked
    and skipped lines alike; an unreadable picked line elsewhere raises RecordError.
    """
    header, lines = raw_lines(path)
    events: list[Any] = []
    expander = Expander(path)
    for n, line, last in lines:
        try:
            if _note(line, expander):
                continue
        except (ValidationError, ValueError) as exc:
            if last:
                return Scan(header, events, truncated=True)
            raise RecordError(f"{path}: line {n}: {exc}") from exc
        model = choose(line)
        if model is None:
            if last and not is_json_line(line):
                return Scan(header, events, truncated=True)
            continue
        try:
            data = expander.rebuilt  # an observation delta, rebuilt
            if data is None and _stored(line):
                data = expander.llm_call(json.loads(line))
            if data is not None:
                if isinstance(model, TypeAdapter):
                    events.append(model.validate_python(data))
                else:
                    events.append(model.model_validate(data))
            elif isinstance(model, TypeAdapter):
                events.append(model.validate_json(line))
            else:
                events.append(model.model_validate_json(line))
        except (ValidationError, ValueError) as exc:
            if last:
                return Scan(header, events, truncated=True)
            raise RecordError(f"{path}: line {n}: {exc}") from exc
    return Scan(header, events, truncated=False)


def iter_events(path: Path, kinds: Collection[str] | None = None) -> Iterator[BaseModel]:
    """The events of a record in order, validated; only those whose `kind` is in `kinds`.

    A truncated last line ends the iteration; a bad line elsewhere raises RecordError.
    """
    _, lines = raw_lines(path)
    expander = Expander(path)
    for n, line, last in lines:
        try:
            if _note(line, expander):
                continue
            if kinds is not None and _kind(line) not in kinds:
                if last and not is_json_line(line):
                    return
                continue
            yield _event(line, None, expander)
        except (ValidationError, ValueError) as exc:
            if last:
                return
            raise RecordError(f"{path}: line {n}: {exc}") from exc


_PARSED_AS_RAW = re.compile(rb'"parsed"\s*:\s*"raw"')


def _is_kind(line: bytes, prefix: bytes, kind: str) -> bool:
    """Whether a line is of `kind`: from the writer's compact prefix, else parsed (a line
    rewritten by another tool)."""
    if line.startswith(prefix):
        return True
    return not line.startswith(b'{"kind":"') and _kind(line) == kind


def _stored(line: bytes) -> bool:
    """Whether an event line is an `llm_call` in stored form (message parts, parsed as "raw")."""
    if not (b'"parts"' in line or _PARSED_AS_RAW.search(line)):
        return False
    return line.startswith(_CALL_PREFIX) or _kind(line) == "llm_call"


def _note(line: bytes, expander: Expander) -> bool:
    """Keep what later lines may refer to: a `text` line's text (True: the line is not an
    event) or an observation line (False: it is one, for the caller to pick or skip; a delta
    is rebuilt now, into `expander.rebuilt`)."""
    expander.rebuilt = None
    if _is_kind(line, _TEXT_PREFIX, "text"):
        expander.text(line)
        return True
    if _is_kind(line, _OBSERVATION_PREFIX, "observation"):
        found = observation_key(line)
        if found is not None:
            state, key, delta = found
            expander.observed(state, key, line, delta)
    return False


def _kind(line: bytes) -> str | None:
    """An event line's kind, from the prefix the writer emits (`kind` first), else parsed."""
    if line.startswith(b'{"kind":"'):
        end = line.find(b'"', 9)
        if end > 0:
            return line[9:end].decode("ascii", errors="replace")
    try:
        data = json.loads(line)
    except ValueError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def read_run_end(path: Path) -> RunEndEvent | None:
    """The run_end event of a record, read from its tail; None if the run did not close it.

    The first line is read too, for the record's version: a record newer than this code raises
    RecordError; one whose header was never written whole counts as not closed.
    """
    try:
        with path.open("rb") as fh:
            first = fh.readline()
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = [line for line in fh.read().split(b"\n") if line.strip()]
    except OSError as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from exc
    try:
        raw = _raw_header(first, path)
    except RecordError:
        return None
    upgrade = upgrade_for(raw, path)
    if not tail or b'"run_end"' not in tail[-1][:40]:
        return None
    try:
        event = _event(tail[-1], upgrade)
    except (ValidationError, ValueError):
        return None
    return event if isinstance(event, RunEndEvent) else None


def record_status(path: Path) -> str:
    """`missing`, `incomplete`, or the outcome in the record's run_end line."""
    if not path.exists():
        return "missing"
    end = read_run_end(path)
    return "incomplete" if end is None else end.outcome


def find_records(path: Path) -> list[Path]:
    """The record at `path`, or every `*.jsonl` below a folder, sorted.

    Folders named `failed` hold unfinished attempts that a resumed sweep set aside; they are
    not part of the results and are skipped.
    """
    if path.is_dir() or path.is_file():
        return record_files(path)
    raise NoRecordsError(f"{path}: no such file or folder")


def is_json_line(line: bytes) -> bool:
    """Whether a raw line is complete JSON (used for lines a fast reader skips unvalidated)."""
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
