"""`indented_json` writes exactly what `json.dumps(value, indent=2)` writes (for finite floats)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dilemma.cli.json_text import indented_json

floats = st.floats(allow_nan=False, allow_infinity=False)
small_floats = st.floats(min_value=1e-11, max_value=1e-3) | st.floats(
    min_value=-1e-3, max_value=-1e-11
)
scalars = st.none() | st.booleans() | st.integers() | floats | small_floats | st.text()
texts_like_numbers = st.sampled_from(["1e-6", "x 1e-6", "0.00001", " 2e-7,", "é 3e-8"])
values = st.recursive(
    scalars | texts_like_numbers,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6) | texts_like_numbers, inner, max_size=4)
    ),
    max_leaves=30,
)


@given(values)
@example([1e-05, -1e-06, 1.5e-09, 10.00001, 1e-10, 1e16, 5e-324, "1e-6", {"a 1e-6": 2e-7}])
@example({"k": ["é☃\u2028\x7f\U0001f600", "\x1f\b\n"], "é": 1})
def test_json_values_are_written_as_json_dumps_writes_them(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {"a": {None: 1}},
        [math.pi, {"x": 1j}],
        {"n": 2**70, "f": -0.0},
        ["\ud800"],
        1e-06,
        "é",
    ],
)
def test_other_values_are_left_to_json_dumps(value: Any) -> None:
    try:
        expected = json.dumps(value, indent=2)
    except TypeError:
        with pytest.raises(TypeError):
            indented_json(value)
    else:
        assert indented_json(value) == expected


def test_non_finite_floats_become_null() -> None:
    """What `dilemma.evaluation.run_json.plain` gives never holds them; orjson writes null."""
    assert json.loads(indented_json([math.nan, math.inf])) == [None, None]
