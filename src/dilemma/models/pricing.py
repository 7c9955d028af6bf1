"""Token prices: the cost of one model call in USD, from a table a user can extend.

Prices are USD per 1M tokens, keyed `provider:model`. The built-in table covers a few OpenAI
models (list prices, check them before relying on them); `scripted`, `local` and `human`
cost nothing.
A YAML or JSON file named by the environment variable DILEMMA_PRICES adds or overrides entries:

```yaml
"openai:gpt-4o-mini": {input: 0.15, output: 0.60}
"openai:my-vllm-model": {input: 0, output: 0}
"ollama:*": {input: 0, output: 0}      # every model of a provider
```

A dated snapshot (`gpt-4o-mini-2024-07-18`) takes the price of its base name when it has no entry
of its own. An unknown price or unknown token counts give None, never 0.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from dilemma.models.spec import HUMAN, LOCAL, SCRIPTED

PRICES_ENV = "DILEMMA_PRICES"
FREE_PROVIDERS = frozenset({SCRIPTED, LOCAL, HUMAN})
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PricingError(ValueError):
    """A price file that cannot be read."""


@dataclass(frozen=True)
class Price:
    """USD per 1M input and output tokens."""

    input: float
    output: float


BUILTIN_PRICES: dict[str, Price] = {
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "openai:o4-mini": Price(1.10, 4.40),
    "openai:gpt-5": Price(1.25, 10.00),
    "openai:gpt-5-mini": Price(0.25, 2.00),
    "openai:gpt-5-nano": Price(0.05, 0.40),
}


def _parse_price(key: str, value: object, source: str) -> Price:
    if not isinstance(value, dict) or set(value) != {"input", "output"}:
        raise PricingError(f"{source}: {key!r} must be a mapping with keys input and output")
    try:
        price = Price(float(value["input"]), float(value["output"]))
    except (TypeError, ValueError) as exc:
        raise PricingError(f"{source}: {key!r}: prices must be numbers ({exc})") from exc
    if not (math.isfinite(price.input) and math.isfinite(price.output)):
        raise PricingError(f"{source}: {key!r}: prices must be finite numbers")
    if price.input < 0 or price.output < 0:
        raise PricingError(f"{source}: {key!r}: prices must not be negative")
    return price


@lru_cache(maxsize=8)
def _read_price_file(path: str, mtime_ns: int) -> dict[str, Price]:
    source = path
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PricingError(f"{PRICES_ENV}={source}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PricingError(f"{source}: must map 'provider:model' to {{input, output}}")
    prices: dict[str, Price] = {}
    for key, value in data.items():
        if not isinstance(key, str) or ":" not in key:
            raise PricingError(f"{source}: key {key!r} must look like provider:model")
        prices[key] = _parse_price(key, value, source)
    return prices


def load_prices() -> dict[str, Price]:
    """The built-in table updated with the file named by DILEMMA_PRICES, if set."""
    prices = dict(BUILTIN_PRICES)
    path = os.environ.get(PRICES_ENV)
    if path:
        try:
            mtime = Path(path).stat().st_mtime_ns
        except OSError as exc:
            raise PricingError(f"{PRICES_ENV}={path}: {exc}") from exc
        prices.update(_read_price_file(path, mtime))
    return prices


def price_of(provider: str, model: str) -> Price | None:
    """The price of a model, or None when it is not in the table."""
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0)
    prices = load_prices()
    for name in (model, _DATE_SUFFIX.sub("", model)):
        price = prices.get(f"{provider}:{name}")
        if price is not None:
            return price
    return prices.get(f"{provider}:*")


def call_cost(
    provider: str, model: str, input_tokens: int | None, output_tokens: int | None
) -> float | None:
    """USD cost of one call; None when the price or a token count is unknown.

    Free providers (scripted, local) cost 0.0 even without token counts.
    """
    return cost_at(price_of(provider, model), input_tokens, output_tokens)


def cost_at(
    price: Price | None, input_tokens: int | None, output_tokens: int | None
) -> float | None:
    """USD cost of one call at `price` (from `price_of`); None as in `call_cost`."""
    if price is None:
        return None
    if price.input == 0 and price.output == 0:
        return 0.0
    if input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
