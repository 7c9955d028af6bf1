"""`Observation.json_text` (one serializer without the views' Python functions, told what to
leave out) writes exactly what pydantic's own `model_dump_json` writes, for any observation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dilemma.core.ladder import Rung
from dilemma.core.observation import (
    FAST_FLOAT_MAX,
    FAST_FLOAT_MIN,
    Observation,
    OrderNotice,
    OtherView,
    Plan,
    RulesView,
    SelfView,
    observation_floats,
)

_NAME = st.text(max_size=4)
_NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 3).map(float)
_MAYBE_INT = st.none() | st.integers(-5, 5)

_SELF = st.builds(
    SelfView,
    id=_NAME,
    name=_NAME,
    doctrine=st.text(max_size=10),
    arms=_NUMBER,
    economy=_NUMBER,
    last_arms_change=st.none() | _NUMBER,
    my_announced_arms_change=_MAYBE_INT,
    last_order=st.none() | st.builds(OrderNotice, target=st.none() | _NAME),
)
_OTHER = st.builds(
    OtherView,
    id=_NAME,
    name=_NAME,
    arms=_NUMBER,
    last_arms_change=st.none() | _NUMBER,
    announced_next_arms_change=_MAYBE_INT,
    last_target=st.none() | _NAME,
    last_signals=st.none() | st.dictionaries(_NAME, st.sampled_from(Rung), max_size=3),
)
_RULES = st.builds(
    RulesView,
    forewarning_threshold_pct=_MAYBE_INT,
    offense_defense=_NUMBER,
    continuation=st.none() | _NUMBER,
    min_rounds=_MAYBE_INT,
    accident_rate=st.none() | _NUMBER,
)


_OBSERVATION = st.builds(
    Observation,
    rounds_total=_MAYBE_INT,
    you=_SELF,
    others=st.lists(_OTHER, max_size=3),
    rules=_RULES,
    disclosed_plans=st.lists(
        st.builds(Plan, state=_NAME, announced_arms_change=_MAYBE_INT), max_size=2
    ),
)


@settings(max_examples=300, deadline=None)
@given(obs=_OBSERVATION)
def test_json_text_is_pydantics_json(obs: Observation) -> None:
    assert obs.json_text() == obs.model_dump_json()


@settings(max_examples=300, deadline=None)
@given(obs=_OBSERVATION)
def test_plain_floats_is_whether_every_float_is_plain(obs: Observation) -> None:
    expected = all(
        v is None or v == 0 or FAST_FLOAT_MIN <= abs(v) < FAST_FLOAT_MAX
        for v in observation_floats(obs)
    )
    assert obs.plain_floats() is expected
