"""The price table: built-in prices, the DILEMMA_PRICES file, unknown means None."""

from __future__ import annotations

from pathlib import Path

import pytest

from dilemma.models.pricing import PRICES_ENV, PricingError, call_cost, price_of


@pytest.fixture(autouse=True)
def _no_price_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRICES_ENV, raising=False)


def test_builtin_price_per_million_tokens() -> None:
    assert call_cost("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert call_cost("openai", "gpt-4o", 2000, 500) == pytest.approx(
        (2000 * 2.50 + 500 * 10.00) / 1e6
    )


def test_dated_snapshot_takes_its_base_price_but_other_variants_do_not() -> None:
    assert price_of("openai", "gpt-4o-mini-2024-07-18") == price_of("openai", "gpt-4o-mini")
    assert price_of("openai", "gpt-4o-audio-preview") is None


def test_unknown_is_none_never_zero() -> None:
    assert call_cost("openai", "my-vllm-model", 100, 10) is None
    assert call_cost("anthropic", "claude-x", 100, 10) is None
    assert call_cost("openai", "gpt-4o-mini", None, 10) is None
    assert call_cost("openai", "gpt-4o-mini", 100, None) is None


def test_scripted_and_local_cost_nothing() -> None:
    assert call_cost("scripted", "hawk", None, None) == 0.0
    assert call_cost("local", "gemma-3-270m-q4_k_m", 700, 150) == 0.0


def test_price_file_adds_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        '"openai:gpt-4o-mini": {input: 1, output: 2}\n'
        '"openai:my-vllm-model": {input: 0, output: 0}\n'
        '"ollama:*": {input: 0.5, output: 0.5}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(PRICES_ENV, str(prices))
    assert call_cost("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert call_cost("openai", "my-vllm-model", None, None) == 0.0
    assert call_cost("ollama", "llama3", 2_000_000, 0) == pytest.approx(1.0)
    assert call_cost("openai", "gpt-4o", 1_000_000, 0) == pytest.approx(2.5)  # built-in kept


def test_json_price_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"vllm:qwen": {"input": 0.1, "output": 0.2}}', encoding="utf-8")
    monkeypatch.setenv(PRICES_ENV, str(prices))
    assert call_cost("vllm", "qwen", 1_000_000, 1_000_000) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "text",
    [
        '"gpt-4o": {input: 1, output: 2}\n',  # no provider
        '"openai:x": {input: 1}\n',  # missing output
        '"openai:x": {input: -1, output: 2}\n',
        '"openai:x": {input: cheap, output: 2}\n',
        "- a list\n",
    ],
)
def test_bad_price_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(text, encoding="utf-8")
    monkeypatch.setenv(PRICES_ENV, str(prices))
    with pytest.raises(PricingError, match=str(prices)):
        call_cost("openai", "gpt-4o", 1, 1)


def test_missing_price_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRICES_ENV, "/nonexistent/prices.yaml")
    with pytest.raises(PricingError, match="DILEMMA_PRICES"):
        call_cost("openai", "gpt-4o", 1, 1)
