"""`compare` leaves the garbage collector's frozen heap as it found it.

Holm's correction (statsmodels) runs gc.collect(); `compare` freezes the heap around it to make
that cheap, but must not thaw objects that the calling program froze itself.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest
from dilemma.evaluation.comparison import Resampling, compare

from tests.helpers.run_tables import synthetic_runs


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_heap_frozen_by_the_caller_stays_frozen() -> None:
    table = synthetic_runs(np.random.default_rng(1), 3)
    keep = [object() for _ in range(1000)]  # alive throughout, so the count cannot drop below
    gc.freeze()
    frozen = gc.get_freeze_count()
    compare(table, "f", resampling=Resampling(n_boot=99))
    assert frozen >= len(keep) and gc.get_freeze_count() >= len(keep)


def test_nothing_stays_frozen_when_nothing_was() -> None:
    table = synthetic_runs(np.random.default_rng(2), 3)
    compare(table, "f", resampling=Resampling(n_boot=99))
    assert gc.get_freeze_count() == 0
