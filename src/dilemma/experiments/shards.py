"""Shards of an experiment: `--shard I/N` runs a deterministic 1/N of its runs (job arrays).

A run belongs to shard I of N (I from 1 to N) when a SHA-256 hash of its run id, read as a
number, is I - 1 modulo N. The run id is itself a hash of the resolved run (scenario, models,
prompt templates, retries, seed), so a run's shard depends on nothing but the run: not on the
order of the expansion, the other runs or the machine. The N shards are disjoint and together
hold every run; adding runs to an experiment (more repeats, another level) leaves every existing
run in the shard it was in. Shard sizes follow a binomial distribution around runs / N (a small
experiment can leave a shard empty); every shard of a sweep can write into the same folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dilemma.experiments.spec import RunSpec

MAX_SHARDS = 100_000
"""Most shards an experiment may be split into (as many as it may have runs)."""
_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A `--shard` value that is not I/N with 1 <= I <= N."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` (from 1) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ShardError(f"N must be between 1 and {MAX_SHARDS:,}, not {self.count}")
        if not 1 <= self.index <= self.count:
            raise ShardError(f"I must be between 1 and N = {self.count}, not {self.index}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N`, e.g. `2/8`; ShardError with the reason otherwise."""
        match = _FORM.match(text)
        if match is None:
            raise ShardError(
                f"expected I/N with whole numbers 1 <= I <= N (e.g. 2/8), not {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    def holds(self, run_id: str) -> bool:
        """Whether the run with this id belongs to the shard."""
        digest = hashlib.sha256(run_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def select(self, runs: list[RunSpec]) -> list[RunSpec]:
        """The runs of this shard, in their order."""
        return [run for run in runs if self.holds(run.run_id)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
