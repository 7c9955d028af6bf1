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
