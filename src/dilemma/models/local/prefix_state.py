"""The shared start of the prompts, evaluated once per machine instead of once per server.

Every prompt of a run starts with the same long text (the `base-model` setup's worked examples:
about 3,100 tokens). A fresh server has to evaluate it before its first answer, which took 17-37
seconds of CPU at the start of every run. The server now saves the model's state after that
shared start to a file and a fresh server loads it, so only the first run on a machine pays.

What is saved: the prefix two consecutive prompts share (at least `MIN_PREFIX` tokens), once,
as the llama.cpp context state after those tokens. A file is used only for a prompt that starts
with exactly its tokens (checked by hash) and only by the same model file, llama-cpp-python
version and context size (its name carries them). Files are written to a temporary name and
renamed, so a crash never leaves half a state; at most `KEEP` are kept per model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_ENV = "DILEMMA_LOCAL_STATE_DIR"
"""Folder of the saved states (default: ~/.cache/dilemma/local-states; `off`: none)."""
MIN_PREFIX = 512
"""Shortest shared start worth saving (tokens)."""
KEEP = 4
"""Saved states kept per key (the newest)."""
SUFFIX = ".state"


def state_dir(env: dict[str, str] | os._Environ[str]) -> Path | None:
    """The folder named by `STATE_DIR_ENV` (None: `off`)."""
    value = env.get(STATE_DIR_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dilemma" / "local-states"


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokens_hash(tokens: Sequence[int]) -> str:
    """A short hash of a token sequence."""
    data = b"".join(int(t).to_bytes(4, "little", signed=True) for t in tokens)
    return hashlib.sha256(data).hexdigest()[:20]


@dataclass(frozen=True)
class PrefixStore:
    """Saved states of prompt prefixes in `folder`, for one `key` (model, version, context)."""

    folder: Path
    key: str

    def _files(self) -> list[tuple[int, str, Path]]:
        out = []
        for path in self.folder.glob(f"{self.key}.*{SUFFIX}"):
            parts = path.name[: -len(SUFFIX)].split(".")
            if len(parts) == 3 and parts[1].isdigit():
                out.append((int(parts[1]), parts[2], path))
        return out

    def best(self, tokens: Sequence[int]) -> tuple[int, Path] | None:
        """The longest saved prefix of `tokens` (shorter than `tokens`): its length and file."""
        found = [
            (n, path)
            for n, digest, path in self._files()
            if n < len(tokens) and tokens_hash(tokens[:n]) == digest
        ]
        return max(found, default=None)

    def has(self, tokens: Sequence[int]) -> bool:
        """Whether the state after exactly `tokens` is saved."""
        digest = tokens_hash(tokens)
        return any(n == len(tokens) and d == digest for n, d, _ in self._files())

    def save(self, tokens: Sequence[int], state: bytes) -> Path:
        """Write the state after `tokens` (atomically); drop all but the newest `KEEP`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.key}.{len(tokens)}.{tokens_hash(tokens)}{SUFFIX}"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(state)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        dated = []
        for _, _, other in self._files():
            try:
                dated.append((other.stat().st_mtime, other))
            except FileNotFoundError:  # removed by another server meanwhile
                continue
        for _, old in sorted(dated, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
        return path


def store_key(model_path: str, size: int, version: str, n_ctx: int) -> str:
    """The key of states valid for one model file, llama-cpp-python version and context size."""
    raw = f"{Path(model_path).stem}-{size}-{version}-{n_ctx}"
    return re.sub(r"[^A-Za-z0-9-]", "-", raw)


SLOTS_ENV = "DILEMMA_LOCAL_SLOTS"
"""How many recent prompts a server keeps the state of in memory (default `DEFAULT_SLOTS`;
0: none)."""
DEFAULT_SLOTS = 4
"""Recent prompts kept: a scenario's states take turns, so one slot per state (about 60-75 MB
each at 3,300-4,100 tokens) lets a state's next call start after its own persona."""
SLOT_MIN_GAIN = 32
"""Tokens a slot must save over the context in place to be worth loading."""


def slot_count(env: dict[str, str] | os._Environ[str]) -> int:
    """The number of slots named by `SLOTS_ENV` (default `DEFAULT_SLOTS`)."""
    value = env.get(SLOTS_ENV, "").strip()
    if not value:
        return DEFAULT_SLOTS
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{SLOTS_ENV}={value!r}: expected a whole number >= 0") from None
    if count < 0:
        raise ValueError(f"{SLOTS_ENV}={value!r}: expected a whole number >= 0")
    return count


@dataclass
class Slot:
    """The model state after exactly `tokens` (`state`: its bytes, opaque here)."""

    tokens: list[int]
    state: object


@dataclass
class SlotStore:
    """The states of the last `limit` prompts, so that a state's next call, whose prompt starts
    like its previous one (worked examples, then its own persona), resumes after that start
    even when other states' calls came between."""

    limit: int
    slots: list[Slot]

    def has(self, tokens: Sequence[int]) -> bool:
        """Whether the state after exactly `tokens` is kept."""
        return any(len(s.tokens) == len(tokens) and s.tokens == list(tokens) for s in self.slots)

    def add(self, tokens: Sequence[int], state: object) -> None:
        """Keep the state after `tokens`, dropping the least recently used beyond `limit`."""
        if self.limit <= 0:
            return
        self.slots.append(Slot(list(tokens), state))
        del self.slots[: max(0, len(self.slots) - self.limit)]

    def best(self, tokens: Sequence[int], here: int) -> Slot | None:
        """The slot sharing the longest start with `tokens`, if it shares at least
        SLOT_MIN_GAIN more tokens than the `here` the context in place already shares; it
        becomes the most recently used."""
        found = max(self.slots, key=lambda s: common_prefix(s.tokens, tokens), default=None)
        if found is None or common_prefix(found.tokens, tokens) < here + SLOT_MIN_GAIN:
            return None
        self.slots.remove(found)
        self.slots.append(found)
        return found
