"""Scores cached per record file, kept across processes in one SQLite file.

    cache = ScoreCache(default_file())              # $DILEMMA_CACHE_DIR or ~/.cache/dilemma
    scores = cache.score(paths)                     # like tables.score(paths), reusing entries
    scores = cache.score(paths, grains=("runs",))   # the other grains come back empty

An entry holds every grain of one record's scores. It is used only when all of its key matches:
the record's resolved path, size, modification time (ns), a digest of its first and last 4 KiB,
and `evaluator_version()` (package version, measures revision, digest of the evaluator's code).
So a record that is rewritten, truncated or appended to, or scored by another evaluator, misses
and is scored again; a record being written changes size with every line. An entry whose
payload does not check out (digest, columns, one run) is a miss too, with a warning. A cache
file that cannot be opened or read (corrupt, unwritable) is ignored with a warning: the records
are scored as if there were no cache. Scores are never taken from anywhere else.

Records that cannot be read are not cached (their reason is read again), and neither are runs
whose run id another record of the same batch shares. Several processes may use one cache file
at once: SQLite locks it for each write (a write that waits more than BUSY_S is skipped with a
warning).

Beside the scores, a cache file holds *summaries*: small JSON texts that a reader derives from a
record and its scores (the viewer's list row, `kind` "viewer-row/N"), under the same key, so a
reader restarted on an unchanged folder reads neither the records nor their scores:

    found = cache.summaries(keys, "viewer-row/1")            # {resolved path: JSON text}
    cache.store_summaries([(key, text), ...], "viewer-row/1")

A hit returns exactly the values stored when the record was scored. Scoring a batch of records
is not bit-for-bit the same as scoring each alone (some means differ in the last bit, about
1e-16 relative), so a folder scored partly from the cache can differ from an uncached score of
the same folder by that much.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import warnings
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dilemma.evaluation import cache_slot, columns
from dilemma.evaluation.evaluator_version import evaluator_version

if TYPE_CHECKING:  # imported where used: a warm `dilemma score` reads the cache without them
    import pandas as pd
    from dilemma.evaluation.tables import Scores

GRAINS = tuple(columns.FRAMES)
"""Every frame of `Scores`, each stored as one column of a cache entry."""
FILE_NAME = "scores.sqlite"
CACHE_DIR_ENV = "DILEMMA_CACHE_DIR"
NO_CACHE_ENV = "DILEMMA_NO_CACHE"
BUSY_S = 30.0
"""How long a write waits for another process's lock before it is skipped."""
EDGE = 4096
"""Bytes at each end of a record that go into its key's digest."""
_CHUNK = 500
"""Paths per lookup query (SQLite limits the number of parameters)."""

Columns = dict[str, Any]
"""One grain of one or more runs: column name -> values (for the columns of BINARY dtypes a
numpy array, or an `array.array` as read from the cache; a list otherwise)."""
BINARY = {"float64": "<f8", "int64": "<i8", "bool": "|b1"}
"""Column dtypes stored as raw little-endian bytes (exact, and read without parsing); the
others (text, nullable) are stored as JSON lists."""
TYPECODES = {"float64": "d", "int64": "q", "bool": "B"}
"""The `array` type codes the BINARY columns are read back with (read without numpy)."""
Row = dict[str, Any]
"""One row of a grain as plain Python values (None where a value is missing)."""


class ScoreCacheWarning(UserWarning):
    """The score cache could not be used as it is (the records are scored anyway)."""


@dataclass(frozen=True)
class FileKey:
    """What identifies a record's bytes without reading them all."""

    path: str
    size: int
    mtime_ns: int
    edges: str


def file_key(path: Path) -> FileKey | None:
    """The key of a record file; None if it cannot be read."""
    try:
        real = path.resolve()
        with real.open("rb") as fh:
            st = os.fstat(fh.fileno())
            digest = hashlib.blake2b(fh.read(EDGE), digest_size=16)
            if st.st_size > EDGE:
                fh.seek(max(EDGE, st.st_size - EDGE))
                digest.update(fh.read(EDGE))
    except OSError:
        return None
    return FileKey(str(real), st.st_size, st.st_mtime_ns, digest.hexdigest())


def default_file() -> Path:
    """$DILEMMA_CACHE_DIR/scores.sqlite, else $XDG_CACHE_HOME/dilemma/, else ~/.cache/dilemma/."""
    folder = os.environ.get(CACHE_DIR_ENV)
    if folder:
        return Path(folder) / FILE_NAME
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dilemma" / FILE_NAME


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
    " edges TEXT, evaluator TEXT, checksum TEXT, " + ", ".join(f"{g} BLOB" for g in GRAINS) + ")"
)


_SUMMARY_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS summaries (path TEXT, kind TEXT, size INTEGER, mtime_ns INTEGER,"
    " edges TEXT, evaluator TEXT, payload TEXT, PRIMARY KEY (path, kind))"
)


def _na(value: Any) -> None:
    pandas = sys.modules.get("pandas")
    if pandas is not None and value is pandas.NA:
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")


def _pack(grain: Columns, spec: tuple[columns.Column, ...]) -> bytes:
    """A JSON header (row count, the JSON-stored columns) and the binary columns after it."""
    import numpy as np

    binary = [c for c in spec if c.dtype in BINARY]
    data = b"".join(
        np.ascontiguousarray(grain[c.name], dtype=BINARY[c.dtype]).tobytes() for c in binary
    )
    rows = len(next(iter(grain.values()))) if grain else 0
    texts = {c.name: list(grain[c.name]) for c in spec if c.dtype not in BINARY}
    head = json.dumps({"rows": rows, "json": texts}, default=_na, separators=(",", ":")).encode()
    return zlib.compress(len(head).to_bytes(8, "little") + head + data, 1)


def _unpack(blob: bytes, spec: tuple[columns.Column, ...]) -> Columns:
    """The columns `_pack` stored (the binary ones as `array.array`, read without numpy);
    ValueError if the blob does not fit `spec`."""
    raw = zlib.decompress(blob)
    size = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8 : 8 + size])
    if not isinstance(head, dict) or not isinstance(head.get("json"), dict):
        raise ValueError("no header")
    rows = head["rows"]
    out: Columns = dict(head["json"])
    offset = 8 + size
    for c in spec:
        if c.dtype in BINARY:
            values = array(TYPECODES[c.dtype])
            width = values.itemsize
            chunk = raw[offset : offset + rows * width]
            if len(chunk) != rows * width:
                raise ValueError(f"column {c.name} cut short")
            values.frombytes(chunk)
            if sys.byteorder != "little" and width > 1:
                values.byteswap()
            out[c.name] = values
            offset += rows * width
    if offset != len(raw):
        raise ValueError("trailing bytes")
    return out


def _checksum(blobs: Sequence[bytes]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for blob in blobs:
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()


class ScoreCache:
    """Scores per record file in the SQLite file `file` (created on first write)."""

    def __init__(self, file: Path, *, evaluator: str | None = None) -> None:
        self.file = file
        self.evaluator = evaluator or evaluator_version()
        self.hits = 0
        self.misses = 0
        self._broken = False

    def score(self, paths: Iterable[Path], *, grains: Sequence[str] = GRAINS) -> Scores:
        """Scores of the records in `paths` (hits read, misses scored and stored), with only
        `grains` filled in (and `runs`). Raises nothing for a cache problem (a warning, and the
        records are scored). Records that share a run id are all scored afresh, together."""
        paths = list(paths)
        unknown = [g for g in grains if g not in GRAINS]
        if unknown:
            raise ValueError(f"unknown grains {unknown}; known: {', '.join(GRAINS)}")
        keys = {p: file_key(p) for p in paths}
        stored = self._lookup([k for k in keys.values() if k is not None], grains)
        missing = [p for p in paths if (k := keys[p]) is None or k.path not in stored]
        fresh: dict[Path, dict[str, Columns]] = {}
        skipped: list[tuple[Path, str]] = []
        if missing:
            fresh, skipped = self._score_missing(missing, keys)
        ids = [str(piece["runs"]["run_id"][0]) for piece in [*stored.values(), *fresh.values()]]
        if len(set(ids)) < len(ids) or len(fresh) + len(skipped) < len(missing):
            from dilemma.evaluation.load import load_tables
            from dilemma.evaluation.tables import score_tables

            self.misses += len(paths)  # a run id twice: scored together, as without a cache
            return score_tables(load_tables(paths))
        self.hits += len(paths) - len(missing)
        self.misses += len(missing)
        pieces: list[dict[str, Columns]] = []
        for p in paths:
            key = keys[p]
            if p in fresh:
                pieces.append(fresh[p])
            elif key is not None and key.path in stored:
                piece = stored[key.path]
                piece["runs"]["path"] = [str(p)]
                pieces.append(piece)
        return _assemble(pieces, grains, skipped)

    def rows(self, paths: Iterable[Path], *, grains: Sequence[str]) -> dict[str, list[Row]] | None:
        """The rows of `grains` (and `runs`) of `paths`, as plain Python values, when every
        record is a hit: read without pandas or numpy, and in the order `score` gives them
        (runs in record order, every other grain by run id). None when any record misses or two
        share a run id (nothing is counted then): score those with `score`."""
        paths = list(paths)
        keys = [file_key(p) for p in paths]
        known = [k for k in keys if k is not None]
        if not paths or len(known) < len(paths):
            return None
        stored = self._lookup(known, grains)
        if any(k.path not in stored for k in known):
            return None
        pieces = [stored[k.path] for k in known]
        if len({str(piece["runs"]["run_id"][0]) for piece in pieces}) < len(pieces):
            return None
        for p, piece in zip(paths, pieces, strict=True):
            piece["runs"]["path"] = [str(p)]
        self.hits += len(paths)
        out: dict[str, list[Row]] = {}
        for grain in dict.fromkeys(["runs", *grains]):
            rows = [row for piece in pieces for row in _plain_rows(piece[grain])]
            if grain != "runs":
                rows.sort(key=lambda row: str(row["run_id"]))
            out[grain] = rows
        return out

    def _score_missing(
        self, paths: list[Path], keys: dict[Path, FileKey | None]
    ) -> tuple[dict[Path, dict[str, Columns]], list[tuple[Path, str]]]:
        """Score `paths` in one batch; store each run whose record did not change meanwhile."""
        from dilemma.evaluation.load import load_tables
        from dilemma.evaluation.tables import score_tables

        tables = load_tables(paths)
        if tables.runs.empty:
            return {}, tables.skipped
        pieces = _split(score_tables(tables))
        by_path = {p: pieces[str(p)] for p in paths if str(p) in pieces}
        rows = []
        for p, piece in by_path.items():
            before, after = keys[p], file_key(p)
            if before is None or before != after:
                continue  # changed while it was read: what was scored matches neither stamp
            blobs = [_pack(piece[g], columns.FRAMES[g]) for g in GRAINS]
            rows.append(
                (
                    before.path,
                    before.size,
                    before.mtime_ns,
                    before.edges,
                    self.evaluator,
                    _checksum(blobs),
                    *blobs,
                )
            )
        self._store(rows)
        return by_path, tables.skipped

    def _connect(self, *, write: bool) -> sqlite3.Connection | None:
        """A connection to the cache file; None (after one warning) if it cannot be used."""
        if self._broken:
            return None
        try:
            if write:
                self.file.parent.mkdir(parents=True, exist_ok=True)
            elif not self.file.exists():
                return None
            con = sqlite3.connect(self.file, timeout=BUSY_S)
            if write:
                con.execute(_SCHEMA)
                con.execute(_SUMMARY_SCHEMA)
            return con
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return None

    def _fail(self, exc: BaseException) -> None:
        self._broken = True
        warnings.warn(
            f"score cache {self.file} not used ({type(exc).__name__}: {exc}); records are"
            " scored without it (delete the file, or pass --no-cache)",
            ScoreCacheWarning,
            stacklevel=3,
        )

    def _select(
        self, names: Sequence[str], query: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]] | None:
        """The rows of `query` (whose last condition is `path IN ({marks})`) for `names`, read in
        chunks; None if the cache could not be read (a warning), [] if it has no table yet."""
        con = self._connect(write=False)
        if con is None:
            return None
        rows: list[tuple[Any, ...]] = []
        try:
            with con:
                for start in range(0, len(names), _CHUNK):
                    chunk = names[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows += con.execute(query.format(marks=marks), [*params, *chunk]).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                self._fail(exc)
            return None
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        finally:
            con.close()
        return rows

    def _lookup(self, keys: list[FileKey], grains: Sequence[str]) -> dict[str, dict[str, Columns]]:
        """The valid stored entries for `keys`, by resolved path."""
        wanted = {k.path: k for k in keys}
        rows = self._select(
            list(wanted),
            "SELECT path, size, mtime_ns, edges, evaluator, checksum, "
            f"{', '.join(GRAINS)} FROM entries WHERE path IN ({{marks}})",
        )
        found: dict[str, dict[str, Columns]] = {}
        for row in rows or ():
            entry = self._entry(row, wanted, grains)
            if entry is not None:
                found[row[0]] = entry
        return found

    def _entry(
        self, row: tuple[Any, ...], wanted: dict[str, FileKey], grains: Sequence[str]
    ) -> dict[str, Columns] | None:
        """The grains of one stored row if it matches its key and checks out, else None."""
        path, size, mtime_ns, edges, evaluator, checksum, *blobs = row
        key = wanted.get(path)
        if key is None or (size, mtime_ns, edges, evaluator) != (
            key.size,
            key.mtime_ns,
            key.edges,
            self.evaluator,
        ):
            return None
        try:
            if not all(isinstance(b, bytes) for b in blobs) or _checksum(blobs) != checksum:
                raise ValueError("checksum mismatch")
            entry = {
                g: _unpack(blob, columns.FRAMES[g])
                for g, blob in zip(GRAINS, blobs, strict=True)
                if g in grains or g == "runs"
            }
            _check(entry)
        except (ValueError, TypeError, zlib.error) as exc:
            warnings.warn(
                f"score cache {self.file}: the entry of {path} is damaged ({exc}); scored again",
                ScoreCacheWarning,
                stacklevel=4,
            )
            return None
        return entry

    def summaries(self, keys: Sequence[FileKey], kind: str) -> dict[str, str]:
        """The stored summaries of `kind` whose whole key (path, size, mtime, edges, evaluator)
        matches one of `keys`, by resolved path (a cache problem: a warning and none)."""
        wanted = {k.path: k for k in keys}
        rows = self._select(
            list(wanted),
            "SELECT path, size, mtime_ns, edges, evaluator, payload FROM summaries"
            " WHERE kind = ? AND path IN ({marks})",
            [kind],
        )
        found: dict[str, str] = {}
        for path, size, mtime_ns, edges, evaluator, payload in rows or ():
            key = wanted.get(path)
            if key is None or not isinstance(payload, str):
                continue
            if (size, mtime_ns, edges, evaluator) == (
                key.size,
                key.mtime_ns,
                key.edges,
                self.evaluator,
            ):
                found[path] = payload
        return found

    def store_summaries(self, items: Sequence[tuple[FileKey, str]], kind: str) -> None:
        """Store each (key, JSON text) as the summary of `kind` of its record (replacing an
        older one); a cache problem: a warning, nothing stored."""
        if not items:
            return
        con = self._connect(write=True)
        if con is None:
            return
        rows = [
            (k.path, kind, k.size, k.mtime_ns, k.edges, self.evaluator, text) for k, text in items
        ]
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO summaries VALUES (?,?,?,?,?,?,?)", rows)
        except sqlite3.Error as exc:
            self._fail(exc)
        finally:
            con.close()

    def _store(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        con = self._connect(write=True)
        if con is None:
            return
        marks = ",".join("?" * len(rows[0]))
        try:
            with con:
                con.executemany(f"INSERT OR REPLACE INTO entries VALUES ({marks})", rows)
        except sqlite3.Error as exc:
            self._fail(exc)
        finally:
            con.close()


def _check(entry: dict[str, Columns]) -> None:
    """Raise ValueError unless every grain has its spec's columns, of equal lengths, and the
    entry holds exactly one run."""
    for grain, cols in entry.items():
        if not isinstance(cols, dict) or set(cols) != {c.name for c in columns.FRAMES[grain]}:
            raise ValueError(f"{grain}: columns differ from the evaluator's")
        lengths = {len(v) if isinstance(v, (list, array)) else -1 for v in cols.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise ValueError(f"{grain}: columns of different lengths")
    runs = entry["runs"]["run_id"]
    if len(runs) != 1 or any(set(c["run_id"]) - set(runs) for c in entry.values()):
        raise ValueError("not the rows of one run")


def _plain_rows(grain: Columns) -> list[Row]:
    """The rows of one stored grain: Python floats, ints and bools, None where missing."""
    plain = {
        name: [bool(v) for v in values] if getattr(values, "typecode", "") == "B" else list(values)
        for name, values in grain.items()
    }
    names = list(plain)
    return [dict(zip(names, row, strict=True)) for row in zip(*plain.values(), strict=True)]


def _split(scores: Scores) -> dict[str, dict[str, Columns]]:
    """Every grain of every run of `scores`, by the run's record path (runs whose id another
    run of the batch shares are left out)."""
    import numpy as np

    runs = scores.runs
    counts = runs["run_id"].value_counts()
    single = {
        str(rid): str(path)
        for rid, path in zip(runs["run_id"], runs["path"], strict=True)
        if counts[rid] == 1
    }
    out: dict[str, dict[str, Columns]] = {path: {} for path in single.values()}
    for grain in GRAINS:
        frame: pd.DataFrame = getattr(scores, grain)
        names = [c.name for c in columns.FRAMES[grain]]
        spec = {c.name: c.dtype for c in columns.FRAMES[grain]}
        values = {
            name: frame[name].to_numpy(dtype=BINARY[spec[name]])
            if spec[name] in BINARY
            else frame[name].tolist()
            for name in names
        }
        positions = frame.groupby("run_id", sort=False).indices if len(frame) else {}
        for rid, path in single.items():
            rows = np.asarray(positions.get(rid, []), dtype="int64")
            out[path][grain] = {
                name: col[rows] if isinstance(col, np.ndarray) else [col[i] for i in rows]
                for name, col in values.items()
            }
    return out


def _assemble(
    pieces: list[dict[str, Columns]], grains: Sequence[str], skipped: list[tuple[Path, str]]
) -> Scores:
    """One Scores from per-record grains, in the order `tables.score` gives them: runs in
    record order, every other grain by run id (record order within equal ids)."""
    import numpy as np
    import pandas as pd
    from dilemma.evaluation.tables import Scores

    frames: dict[str, pd.DataFrame] = {}
    for grain in GRAINS:
        spec = columns.FRAMES[grain]
        merged: Columns = {}
        chosen = pieces if grain in grains or grain == "runs" else []
        for c in spec:
            parts = [piece[grain][c.name] for piece in chosen]
            if c.dtype in BINARY:
                merged[c.name] = np.concatenate(
                    [np.asarray(part, dtype=BINARY[c.dtype]) for part in parts]
                    or [np.empty(0, dtype=BINARY[c.dtype])]
                )
            else:
                merged[c.name] = [v for part in parts for v in part]
        frame = columns.conform(pd.DataFrame(merged), spec)
        if grain != "runs" and len(frame):
            frame = frame.sort_values("run_id", kind="stable").reset_index(drop=True)
        frames[grain] = frame
    return Scores(**frames, skipped=skipped)


def use(cache: ScoreCache | None) -> None:
    """Make `cache` the one `dilemma.evaluation.tables.score` reads and fills (None: none).

    The command line turns it on (`--no-cache` and DILEMMA_NO_CACHE=1 keep it off); the
    Python API scores without a cache unless this is called."""
    cache_slot.use_cache(cache)


def active() -> ScoreCache | None:
    """The cache `score` uses, if any."""
    cache = cache_slot.active_cache()
    return cache if isinstance(cache, ScoreCache) else None


def enabled_by_environment() -> bool:
    """False when DILEMMA_NO_CACHE is set to anything but an empty string or 0."""
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")
