"""A model spec is parsed once into a typed value; malformed specs fail with one message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dilemma.models.budget import unpriced
from dilemma.models.registry import check_spec, resolve_model
from dilemma.models.spec import HUMAN_SPEC, LOCAL_SPEC, ModelSpec, ModelSpecError


def _message(text: str) -> str:
    return (
        f"model spec {text!r} must look like PROVIDER:MODEL (e.g. openai:gpt-4o-mini),"
        " scripted:POLICY, local or human"
    )


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("local", "local", ""),
        ("human", "human", ""),
        ("scripted:hawk", "scripted", "hawk"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("ollama:llama3:8b", "ollama", "llama3:8b"),
    ],
)
def test_well_formed_specs(text, provider, model):
    spec = ModelSpec.parse(text)
    assert (spec.text, spec.provider, spec.model) == (text, provider, model)
    assert str(spec) == text
    assert spec.is_human is (text == HUMAN_SPEC)
    assert spec.is_local is (text == LOCAL_SPEC)
    assert spec.is_scripted is text.startswith("scripted:")


@pytest.mark.parametrize(
    "text", ["", "gpt-4o", "openai:", ":gpt-4o", "local:gemma", "human:me", "Local", " local"]
)
def test_malformed_specs_name_the_expected_forms(text):
    with pytest.raises(ModelSpecError) as info:
        ModelSpec.parse(text)
    assert str(info.value) == _message(text)


@given(st.text(alphabet=st.sampled_from("ab:lochumanl "), max_size=12))
def test_a_spec_is_its_provider_and_model(text):
    """Whatever parses is rebuilt exactly from its parts; whatever does not gets the message."""
    try:
        spec = ModelSpec.parse(text)
    except ModelSpecError as exc:
        assert str(exc) == _message(text)
        provider, sep, model = text.partition(":")
        assert not sep or not provider or not model or provider in ("local", "human")
        assert text not in ("local", "human")
        return
    rebuilt = spec.provider if not spec.model else f"{spec.provider}:{spec.model}"
    assert rebuilt == spec.text == text
    assert spec.provider and (spec.model or spec.provider in ("local", "human"))


def test_check_spec_returns_the_parsed_spec_and_checks_the_policy():
    assert check_spec("scripted:dove") == ModelSpec("scripted:dove", "scripted", "dove")
    with pytest.raises(ModelSpecError, match="unknown scripted policy 'owl'"):
        check_spec("scripted:owl")
    with pytest.raises(ModelSpecError, match="must look like"):
        check_spec("owl")


def test_a_resolved_model_records_the_spec_text():
    parsed = ModelSpec.parse("scripted:hawk")
    for spec in ("scripted:hawk", parsed):
        model = resolve_model(spec, seed=3)
        assert (model.spec, model.provider, model.model) == ("scripted:hawk", "scripted", "hawk")
        assert model.params == {"seed": 3}
        assert not model.is_human
    assert resolve_model(HUMAN_SPEC).is_human


def test_unpriced_parses_each_spec():
    assert unpriced(["openai:gpt-4o-mini", "scripted:hawk", "openai:no-such-model"]) == [
        "openai:no-such-model"
    ]
    with pytest.raises(ModelSpecError, match="must look like"):
        unpriced(["gpt-4o-mini"])
