"""`prompt_setup.substitute` renders exactly as `string.Template.substitute`, errors included."""

from __future__ import annotations

from string import Template

from dilemma.agents.prompt_setup import substitute
from hypothesis import given, settings
from hypothesis import strategies as st

NAMES = ["round", "observation", "format_note", "x_1"]
pieces = st.one_of(
    st.sampled_from(["$", "$$", "${", "}", "{", " ", "\n", "é", "$round", "${observation}"]),
    st.sampled_from(NAMES).map(lambda n: f"${n}"),
    st.sampled_from(NAMES).map(lambda n: f"${{{n}}}"),
    st.text(alphabet="ab_1 $", max_size=6),
)
templates = st.lists(pieces, max_size=12).map("".join)
values = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(st.integers(), st.text(max_size=8)), max_size=len(NAMES)
)


def outcome(render: object, template: str, mapping: dict[str, object]) -> tuple[str, str]:
    try:
        return ("ok", render(template, mapping))  # type: ignore[operator]
    except (KeyError, ValueError) as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=500, deadline=None)
@given(templates, values)
def test_substitute_matches_string_template(template: str, mapping: dict[str, object]) -> None:
    expected = outcome(lambda t, m: Template(t).substitute(m), template, mapping)
    assert outcome(substitute, template, mapping) == expected


def test_a_rendered_prompt_repeats_with_new_values() -> None:
    template = "Round $round of ${total}: $$5 <observation>$observation</observation>"
    first = substitute(template, {"round": 1, "total": 3, "observation": "{}"})
    second = substitute(template, {"round": 2, "total": 3, "observation": '{"a":1}'})
    assert first == "Round 1 of 3: $5 <observation>{}</observation>"
    assert second == 'Round 2 of 3: $5 <observation>{"a":1}</observation>'
