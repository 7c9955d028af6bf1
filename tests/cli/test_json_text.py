"""`indented_json` writes exactly what `json.dumps(value, indent=2)` writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dilemma.cli.json_text import indented_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(values)
def test_json_values_are_written_as_json_dumps_writes_them(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, {"a": {None: 1}}, [math.pi, {"x": 1j}], {"n": 2**70, "f": -0.0}],
)
def test_other_values_are_left_to_json_dumps(value: Any) -> None:
    try:
        expected = json.dumps(value, indent=2)
    except TypeError:
        with pytest.raises(TypeError):
            indented_json(value)
    else:
        assert indented_json(value) == expected
