"""One helper shows table values for `score`, `compare`, `export` and the viewer: missing values
become null / n/a, infinities stay visible, and the JSON is strict."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from dilemma.evaluation.run_json import display_value, plain
from hypothesis import given
from hypothesis import strategies as st

from dilemma.cli import score_format


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.booleans() | st.none())
def test_every_value_makes_strict_json(value: float | int | bool | None) -> None:
    for form in (value, np.float64(value) if isinstance(value, float) else value):
        text = json.dumps(plain(form), allow_nan=False)  # JSON has no NaN nor Infinity
        back = json.loads(text)
        if isinstance(value, float) and math.isfinite(value):
            assert back == value
        assert isinstance(display_value(form), str)


def test_missing_values_are_null_and_n_a() -> None:
    for missing in (None, float("nan"), np.float32("nan"), pd.NA):
        assert plain(missing) is None
        assert display_value(missing) == "n/a"
    assert plain(float("inf")) == "inf" and plain(-np.inf) == "-inf"
    assert display_value(np.bool_(True)) == "yes" and display_value(np.int64(3)) == "3"
    assert display_value(1.23456, 3) == "1.235"


def test_the_viewer_keeps_its_import() -> None:
    assert score_format.display_value is display_value
