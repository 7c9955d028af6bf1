"""Spend limits (`--max-cost USD`, `--max-calls N`): no model call starts that could exceed them.

One `SpendBudget` is shared by every run of a command (one event loop, so no locks; under Ray,
one actor holds it). Every model call that goes out (not one answered from the response cache)
first reserves its place: when the call could exceed a limit, `reserve` raises
`SpendLimitReached` and the budget is spent for good (no later call or run starts, whatever it
would cost). The run whose call was refused lets its calls in flight finish, then closes its
record with outcome `stopped`.

Calls: the call that would be number N + 1 under `--max-calls N` is refused, so exactly N calls
go out.

Cost: a call reserves its worst case before it goes out, and settles at its real cost when the
reply comes back (from the reply's token counts and the price table, `dilemma.models.pricing`).
The worst case is the prompt's input tokens bounded from above (one token per UTF-8 byte of the
messages and of the reply schema a model gets as a tool, which no byte-level tokenizer exceeds,
plus `FORMAT_TOKENS` for the chat format) at the input price, plus the call's output ceiling
(the model's `max_tokens`, or `DEFAULT_OUTPUT_CEILING` when it sets none) at the output price.
A call is refused when the cost settled so far, plus the worst cases of the calls in flight,
plus its own worst case would exceed `--max-cost`.

The guarantee: the cost of the calls of a command, as their replies' token counts price them,
never exceeds `--max-cost`, at any concurrency and on either executor. The price of it is that a
command stops while the room left is smaller than one call's worst case, which is usually well
below what a call really costs. Two cases end the promise, and so stop the command at once
rather than spend blind: a reply without token counts from a priced model (its cost is unknown),
and a reply that cost more than its worst case (a server that ignores `max_tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dilemma.models.pricing import price_of
from dilemma.models.spec import ModelSpec

CHARS_PER_TOKEN = 4
"""Characters per token assumed by estimates (`dilemma sweep --dry-run`); never by the limit."""
FORMAT_TOKENS = 256
"""Tokens a call's chat format may add to its text (role markers, the tool's wrapping): an
allowance far above what providers add (a few tokens a message and a tool preamble)."""
DEFAULT_OUTPUT_CEILING = 128_000
"""Output tokens assumed possible for a call whose model sets no `max_tokens` (the largest
output limit of the models in the built-in price table)."""


def prompt_token_bound(texts: Iterable[str]) -> int:
    """Input tokens a prompt made of `texts` cannot exceed: one a UTF-8 byte, plus the format's.

    A byte-level tokenizer (every OpenAI model's, most others') never makes more tokens than
    bytes; the chat format adds a few tokens a message, far fewer than FORMAT_TOKENS.
    """
    return FORMAT_TOKENS + sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)


def output_ceiling(params: Mapping[str, Any]) -> int | None:
    """The most output tokens a call of a model with these parameters asks for (None: no cap)."""
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


class SpendLimitReached(Exception):
    """The next model call could exceed a spend limit; `reason` says which and by how much."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SpendLimit:
    """At most `max_cost_usd` USD and `max_calls` model calls (None: no limit)."""

    max_cost_usd: float | None = None
    max_calls: int | None = None

    def __post_init__(self) -> None:
        cost = self.max_cost_usd
        if cost is not None and not (math.isfinite(cost) and cost > 0):
            raise ValueError(f"max_cost_usd must be a positive number of USD, not {cost}")
        if self.max_calls is not None and self.max_calls < 1:
            raise ValueError(f"max_calls must be 1 or more, not {self.max_calls}")

    def __str__(self) -> str:
        parts = []
        if self.max_cost_usd is not None:
            parts.append(f"--max-cost {self.max_cost_usd:g}")
        if self.max_calls is not None:
            parts.append(f"--max-calls {self.max_calls}")
        return " and ".join(parts) or "no limit"


def unpriced(specs: Iterable[str]) -> list[str]:
    """The model specs (sorted, each once) whose price the table does not know."""
    missing = set()
    for spec in specs:
        parsed = ModelSpec.parse(spec)
        if price_of(parsed.provider, parsed.model) is None:
            missing.add(spec)
    return sorted(missing)


class SpendBudget:
    """What a command may still spend, shared by its runs; see the module docstring."""

    def __init__(self, limit: SpendLimit) -> None:
        self.limit = limit
        self.calls = 0
        """Calls reserved (gone out or going out)."""
        self.cost_usd = 0.0
        """Cost of the calls that came back (0 for a call that failed or was cancelled)."""
        self._in_flight_usd = 0.0
        self._stop: str | None = None

    @property
    def stop_reason(self) -> str | None:
        """Why no more calls may start, once the budget is spent; None before."""
        if self._stop is None:
            self._stop = self._full()
        return self._stop

    @property
    def spent(self) -> bool:
        """Whether no more calls (and so no new runs) may start."""
        return self.stop_reason is not None

    def _full(self) -> str | None:
        """A reason when a limit is reached exactly (no call fits any more)."""
        limit = self.limit
        if limit.max_calls is not None and self.calls >= limit.max_calls:
            return f"--max-calls {limit.max_calls} reached ({self.calls} model calls)"
        if limit.max_cost_usd is not None and (
            self.cost_usd + self._in_flight_usd >= limit.max_cost_usd
        ):
            return (
                f"--max-cost {limit.max_cost_usd:g} USD reached (${self.cost_usd:.4f} spent on"
                f" {self.calls} model calls)"
            )
        return None

    def _refuse(self, reason: str) -> SpendLimitReached:
        if self._stop is None:
            self._stop = reason
        return SpendLimitReached(self._stop)

    def reserve(
        self,
        provider: str,
        model: str,
        prompt_tokens: int,
        max_output_tokens: int | None = None,
    ) -> float:
        """Reserve one call of `provider:model`; return its worst-case cost (for `settle`).

        `prompt_tokens` bounds the call's input tokens from above (`prompt_token_bound`);
        `max_output_tokens` is its output ceiling (None: DEFAULT_OUTPUT_CEILING). Raises
        SpendLimitReached when the call could exceed a limit, or the budget is spent.
        """
        if self.spent:
            raise self._refuse(self.stop_reason or "")
        limit = self.limit
        worst = 0.0
        if limit.max_cost_usd is not None:
            price = price_of(provider, model)
            if price is None:
                raise self._refuse(
                    f"--max-cost cannot be enforced: no price for {provider}:{model} (add it"
                    " to a DILEMMA_PRICES file)"
                )
            output = DEFAULT_OUTPUT_CEILING if max_output_tokens is None else max_output_tokens
            worst = (prompt_tokens * price.input + output * price.output) / 1_000_000
            if self.cost_usd + self._in_flight_usd + worst > limit.max_cost_usd:
                raise self._refuse(
                    f"--max-cost {limit.max_cost_usd:g} USD reached: ${self.cost_usd:.4f} spent"
                    f" on {self.calls} model calls, and the next could cost up to ${worst:.4f}"
                )
        self.calls += 1
        self._in_flight_usd += worst
        return worst

    def settle(self, provider: str, model: str, reserved: float, cost: float | None) -> None:
        """A reserved call came back (or failed) and cost `cost` (None: unknown)."""
        self._in_flight_usd = max(0.0, self._in_flight_usd - reserved)
        if cost is None:
            if self.limit.max_cost_usd is not None and self._stop is None:
                self._stop = (
                    f"--max-cost cannot be enforced: {provider}:{model} replied without token"
                    " counts, so the cost of its calls is unknown"
                )
            return
        self.cost_usd += cost
        over = cost > reserved * (1 + 1e-9) + 1e-12
        if self.limit.max_cost_usd is not None and over and self._stop is None:
            self._stop = (
                f"--max-cost cannot be enforced: a call of {provider}:{model} cost ${cost:.6f},"
                f" more than its worst case of ${reserved:.6f} (does the server ignore"
                " max_tokens?)"
            )
