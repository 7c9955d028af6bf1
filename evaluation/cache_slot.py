"""The score cache that `dilemma.evaluation.tables.score` reads and fills, if any.

Held apart from the scoring code so that the command line can set it, and `dilemma score` read
it, without importing pandas (see dilemma.evaluation.score_cache.use).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol


class Cache(Protocol):
    """What `score` reads scores through (dilemma.evaluation.score_cache.ScoreCache)."""

    def score(self, paths: Iterable[Path], *, grains: Sequence[str] = ...) -> Any:
        """The `dilemma.evaluation.tables.Scores` of `paths`, from the cache where it holds
        them (typed Any: this module imports nothing of the evaluator's)."""
        ...


_cache: Cache | None = None


def use_cache(cache: Cache | None) -> None:
    """Make `score` read and fill `cache` (None: score without one); see score_cache.use."""
    global _cache
    _cache = cache


def active_cache() -> Cache | None:
    """The cache `score` uses, if any."""
    return _cache
