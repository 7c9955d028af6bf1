"""`StrEnum` with a fast `.value`, the base of every enumeration that records and prompts hold.

On Python 3.11, `Enum.value` is a descriptor written in Python; pydantic reads it for every
enumeration it writes to JSON, a few dozen times per model call. Here `.value` reads the
member's `_value_` through C-level callables only: same value, a fraction of the time.
"""

from __future__ import annotations

from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING


class FastStrEnum(StrEnum):
    """A `StrEnum` whose `.value` is read without Python-level calls."""

    if not TYPE_CHECKING:  # type checkers keep StrEnum's own `value: str`
        value = property(attrgetter("_value_"))
