"""Nothing a model puts in a reply fails a run: it is re-asked, then flagged, and recorded.

Replies travel the real `openai:MODEL` path (openai SDK -> ReplyChatOpenAI -> state agent) on an
in-process transport, both as tool-call arguments (function calling) and as JSON text. State A
gives the reply under test on every attempt; state B answers validly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents.reply_parsing import TOO_DEEP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dilemma.core.observation import Phase
from dilemma.models.openai_chat import NOT_AN_OBJECT
from dilemma.models.types import StructuredMode
from dilemma.records.reader import Record, read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.fake_openai_server import Reply, policy_responder
from tests.helpers.inprocess_openai import inprocess_model
from tests.helpers.replies import only_record, two_states, valid_decision

MAX_RETRIES = 2
ATTEMPTS = MAX_RETRIES + 1
MODES = [StructuredMode.FUNCTION_CALLING, StructuredMode.JSON_TEXT]
MODE_IDS = ["tool-call", "json-text"]


def _answering(text: str, mode: StructuredMode) -> Any:
    """A's server: `text` for every call (one round, no negotiation: decisions only)."""

    def answer(body: dict[str, Any]) -> Reply:
        if mode is StructuredMode.FUNCTION_CALLING:
            return Reply(tool_args=text)
        return Reply(content=text)

    return answer


async def _play(out: Path, text: str, mode: StructuredMode) -> tuple[Record, int]:
    """Play one round; return the record and how many requests A's server received."""
    bodies: list[dict[str, Any]] = []
    a = inprocess_model(_answering(text, mode), mode, name="gpt-a", bodies=bodies)
    b = inprocess_model(policy_responder("dove"), mode, name="gpt-b")  # type: ignore[arg-type]
    await play_scenario(
        two_states(),
        {"A": a, "B": b},
        RunConfig(seed=3, out_dir=out, max_retries=MAX_RETRIES, argv=["test"]),
    )
    path = only_record(out)
    for line in path.read_bytes().split(b"\n")[:-1]:
        json.loads(line.decode("utf-8"))  # strict UTF-8, valid JSON, line by line
    record = read_record(path)
    assert not record.truncated
    return record, len(bodies)


def _a_calls(record: Record) -> list[LlmCallEvent]:
    return [c for c in record.of_kind(LlmCallEvent) if c.state == "A" and c.phase is Phase.DECISION]


def _a_decision(record: Record) -> DecisionEvent:
    (decision,) = [d for d in record.of_kind(DecisionEvent) if d.state == "A"]
    assert isinstance(decision, DecisionEvent)
    return decision


def _check_flagged(record: Record, requests: int) -> list[LlmCallEvent]:
    """The run completed; A was asked ATTEMPTS times, each recorded with its error; flagged."""
    end = record.run_end
    assert end is not None and end.outcome in ("completed", "war"), end
    calls = _a_calls(record)
    assert [c.attempt for c in calls] == list(range(1, ATTEMPTS + 1))
    assert requests == ATTEMPTS  # every call that went out is in the record
    assert all(c.error and c.parsed is None for c in calls)
    for previous, later in itertools.pairwise(calls):
        assert previous.error is not None
        assert previous.error[:200] in later.messages[-1].content  # re-asked with the error
    decision = _a_decision(record)
    assert decision.flagged and decision.decision is None and decision.attempts == ATTEMPTS
    return calls


def _check_accepted(record: Record, requests: int) -> None:
    end = record.run_end
    assert end is not None and end.outcome in ("completed", "war"), end
    calls = _a_calls(record)
    assert requests == len(calls) == 1
    assert calls[0].error is None and calls[0].parsed is not None
    assert not _a_decision(record).flagged


# --- defects found by the adversarial test -----------------------------------------------------


@pytest.mark.parametrize(
    "args", ["5", '"status_quo"', "[1, 2]", "null", "0", "[]", "false", "true", '""', ""]
)
async def test_tool_arguments_that_are_not_an_object_are_reasked_then_flagged(
    tmp_path: Path, args: str
) -> None:
    record, requests = await _play(tmp_path, args, StructuredMode.FUNCTION_CALLING)
    calls = _check_flagged(record, requests)
    for call in calls:
        assert call.raw == args  # what the model sent, not a `{}` read into it
        assert call.error is not None and call.error.startswith(NOT_AN_OBJECT)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("depth", [40, 600, 50_000])
async def test_deeply_nested_json_is_reasked_then_flagged(
    tmp_path: Path, mode: StructuredMode, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    text = json.dumps(valid_decision(["B"]))[:-1] + f', "extra": {nested}}}'
    record, requests = await _play(tmp_path, text, mode)
    calls = _check_flagged(record, requests)
    assert all(TOO_DEEP in (c.error or "") or "deep" in (c.error or "") for c in calls)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
async def test_lone_surrogate_in_a_valid_reply_is_recorded(
    tmp_path: Path, mode: StructuredMode
) -> None:
    text = json.dumps(
        valid_decision(["B"], public_statement="peace \ud800 now \udfff"), ensure_ascii=False
    )
    record, requests = await _play(tmp_path, text, mode)
    _check_accepted(record, requests)
    decision = _a_decision(record).decision
    assert decision is not None and decision.public_statement == "peace \ufffd now \ufffd"
    assert "\ufffd" in _a_calls(record)[0].raw


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
async def test_an_escaped_lone_surrogate_in_a_valid_reply_is_accepted(
    tmp_path: Path, mode: StructuredMode
) -> None:
    """`"\\ud800"` in the JSON text decodes to a lone surrogate, which no record can hold."""
    text = json.dumps(valid_decision(["B"], public_statement="peace \ud800 now"))
    assert "\\ud800" in text
    record, requests = await _play(tmp_path, text, mode)
    _check_accepted(record, requests)
    decision = _a_decision(record).decision
    assert decision is not None and decision.public_statement == "peace \ufffd now"


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
async def test_lone_surrogate_in_a_bad_reply_is_recorded(
    tmp_path: Path, mode: StructuredMode
) -> None:
    record, requests = await _play(tmp_path, "we arm \ud800\udc00\udbff", mode)
    for call in _check_flagged(record, requests):
        assert "\ud800" not in call.raw and "\ufffd" in call.raw


def _bool_cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("arms_change", {"arms_change": True}),
        ("arms_change", {"arms_change": False}),
        ("threat", {"threat": [{"state": "B", "level": True, "reason": "r"}]}),
        ("forecast", {"forecast": [{"state": "B", "arms_change": True}]}),
        ("announced_next_arms_change", {"announced_next_arms_change": False}),
        ("proposals", {"proposals": [{"kind": "arms_cap", "parties": ["B"], "value": True}]}),
        ("arms_change", {"arms_change": 2.0}),
    ]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize(("field", "overrides"), _bool_cases(), ids=lambda v: str(v)[:40])
async def test_booleans_and_floats_are_not_numbers(
    tmp_path: Path, mode: StructuredMode, field: str, overrides: dict[str, Any]
) -> None:
    record, requests = await _play(tmp_path, json.dumps(valid_decision(["B"], **overrides)), mode)
    for call in _check_flagged(record, requests):
        assert call.error is not None and field in call.error


# --- properties: generated replies ----------------------------------------------------------

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_ANY_CHAR = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    st.characters(categories=["Cs"]),  # lone surrogates: never drawn unless asked for by name
    st.sampled_from(["\x00", "\x1b", "\r", "\n", "\u2028", "\u2029", "\x85", "\u202e"]),
)
"""Every code point: control characters, U+2028, lone surrogates, private use."""
_ONE_MB = "x" * 1_000_000
_REQUIRED = ["threat", "arms_change", "action", "target", "private_intent", "forecast"]


@st.composite
def _bad_reply(draw: st.DrawFn) -> str:
    """A reply that must not validate (and must not fail the run)."""
    base = valid_decision(["B"])
    kind = draw(st.sampled_from(["drop", "int-field", "extra", "container", "text", "big", "deep"]))
    if kind == "drop":
        del base[draw(st.sampled_from(_REQUIRED))]
    elif kind == "int-field":
        base["arms_change"] = draw(
            _JSON_VALUES.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))
        )
    elif kind == "extra":
        key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in base))
        base[key] = draw(_JSON_VALUES)
    elif kind == "container":
        field = draw(st.sampled_from(["threat", "forecast", "private_intent"]))
        base[field] = draw(_JSON_VALUES.filter(lambda v: not isinstance(v, list)))
    elif kind == "text":
        return draw(st.text(alphabet=_ANY_CHAR, max_size=200))
    elif kind == "big":
        where = draw(st.sampled_from(["whole", "statement", "reason"]))
        if where == "whole":
            return _ONE_MB
        if where == "statement":
            base["public_statement"] = _ONE_MB
        else:
            base["threat"][0]["reason"] = _ONE_MB
    else:
        depth = draw(st.integers(33, 3000))
        nested = "[" * depth + "]" * depth
        return json.dumps(base)[:-1] + f', "proposals": {nested}}}'
    return json.dumps(base, ensure_ascii=draw(st.booleans()))


@st.composite
def _odd_but_valid_reply(draw: st.DrawFn) -> str:
    """A valid reply whose free text holds any code point (surrogates and controls included)."""
    text = draw(st.text(alphabet=_ANY_CHAR, max_size=100))
    return json.dumps(
        valid_decision(["B"], public_statement=text, private_rationale=text[::-1]),
        ensure_ascii=draw(st.booleans()),
    )


_PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _play_sync(text: str, mode: StructuredMode) -> tuple[Record, int]:
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_play(Path(folder), text, mode))


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@_PROPERTY
@given(reply=_bad_reply())
def test_property_bad_replies_are_reasked_flagged_and_recorded(
    mode: StructuredMode, reply: str
) -> None:
    record, requests = _play_sync(reply, mode)
    _check_flagged(record, requests)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@_PROPERTY
@given(reply=_odd_but_valid_reply())
def test_property_any_text_in_a_valid_reply_is_accepted_and_recorded(
    mode: StructuredMode, reply: str
) -> None:
    record, requests = _play_sync(reply, mode)
    _check_accepted(record, requests)
