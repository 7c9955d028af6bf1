"""Where a sweep's runs are played: `--executor local` (one asyncio process) or `ray`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Executor(StrEnum):
    """The executors of `dilemma sweep`."""

    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class RayOptions:
    """`--workers` and `--address` of the Ray executor (None: its defaults)."""

    workers: int | None = None
    address: str | None = None
