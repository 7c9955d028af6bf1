"""Spend limits (`--max-cost USD`, `--max-calls N`): no model call starts that would exceed them.

One `SpendBudget` is shared by every run of a command (one event loop, so no locks). Every model
call that goes out (not one answered from the response cache) first reserves its place: when
the call would exceed a limit, `reserve` raises `SpendLimitReached` and the budget is spent for
good (no later call or run starts, whatever it would cost). The run whose call was refused lets
its calls in flight finish, then closes its record with outcome `stopped`.

Calls: the call that would be number N + 1 under `--max-calls N` is refused, so exactly N calls
go out. Cost is known only when a reply comes back (from its token counts and the price table,
`dilemma.models.pricing`), so a call reserves an estimate: the largest cost of a call of the same
model
so far in this budget or, before the model's first reply, its prompt's input tokens (about 4
characters a token) at the input price. A call is refused when the cost settled so far, plus the
estimates of the calls in flight, plus its own estimate would exceed `--max-cost`. The spend
can therefore exceed the limit only by what the calls in flight cost beyond their estimates.
A reply without token counts from a priced model makes the limit unenforceable: the budget is
spent at once, so the command stops rather than spending blind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from dilemma.models.pricing import price_of
from dilemma.models.spec import ModelSpec

CHARS_PER_TOKEN = 4
"""Characters per token assumed for estimates made before a model's first reply."""


class SpendLimitReached(Exception):
    """The next model call would exceed a spend limit; `reason` says which and by how much."""

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
        self._largest: dict[tuple[str, str], float] = {}
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
        """A reason when a limit is reached exactly (the next call would exceed it)."""
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

    def reserve(self, provider: str, model: str, prompt_chars: int) -> float:
        """Reserve one call of `provider:model`; return its cost estimate (for `settle`).

        Raises SpendLimitReached when the call would exceed a limit, or the budget is spent.
        """
        if self.spent:
            raise self._refuse(self.stop_reason or "")
        limit = self.limit
        estimate = 0.0
        if limit.max_cost_usd is not None:
            price = price_of(provider, model)
            if price is None:
                raise self._refuse(
                    f"--max-cost cannot be enforced: no price for {provider}:{model} (add it"
                    " to a DILEMMA_PRICES file)"
                )
            estimate = self._largest.get(
                (provider, model), prompt_chars / CHARS_PER_TOKEN * price.input / 1_000_000
            )
            if self.cost_usd + self._in_flight_usd + estimate > limit.max_cost_usd:
                raise self._refuse(
                    f"--max-cost {limit.max_cost_usd:g} USD reached: ${self.cost_usd:.4f} spent"
                    f" on {self.calls} model calls, the next would cost about ${estimate:.4f}"
                )
        self.calls += 1
        self._in_flight_usd += estimate
        return estimate

    def settle(self, provider: str, model: str, estimate: float, cost: float | None) -> None:
        """A reserved call came back (or failed) and cost `cost` (None: unknown)."""
        self._in_flight_usd = max(0.0, self._in_flight_usd - estimate)
        if cost is None:
            if self.limit.max_cost_usd is not None and self._stop is None:
                self._stop = (
                    f"--max-cost cannot be enforced: {provider}:{model} replied without token"
                    " counts, so the cost of its calls is unknown"
                )
            return
        self.cost_usd += cost
        key = (provider, model)
        if cost > 0:  # a failed call costs 0 and says nothing about the next one
            self._largest[key] = max(cost, self._largest.get(key, 0.0))
