"""How long a run lasts under its horizon rule (docs/scenarios.md, "Horizon").

Under `known` and `hidden` horizons a run lasts `rules.rounds` rounds. Under `geometric`, after
each round r from `min_rounds` on (and below the cap `rounds`), the crisis goes on with
probability `continuation`. The draws come from a generator of their own, derived from the run's
seed, so the realized length is fixed before the first round: the same for the same seed, and
independent of the models' replies and of every other random draw of the world.
"""

from __future__ import annotations

import numpy as np

from dilemma.scenarios.schema import Horizon, Rules

HORIZON_STREAM = 0x484F52
"""Second word of the seed of the continuation draws ("HOR"): a stream apart from the world's."""


def continuation_draws(seed: int, count: int) -> list[float]:
    """The first `count` uniform [0, 1) draws of the horizon's stream for `seed`."""
    rng = np.random.default_rng([seed, HORIZON_STREAM])
    return [float(u) for u in rng.random(count)]


def realized_rounds(rules: Rules, seed: int) -> int:
    """The last round a run with these rules and this seed can reach (a war may end it before).

    Geometric: the k-th draw u_k decides whether the crisis goes on after round
    min_rounds + k - 1; it ends there when u_k >= continuation. `rounds` is the hard cap.
    """
    if rules.horizon is not Horizon.GEOMETRIC:
        return rules.rounds
    delta = rules.continuation
    if delta is None:  # the scenario schema refuses this; kept for the type checker
        raise ValueError("a geometric horizon needs rules.continuation")
    first = rules.min_rounds
    for k, u in enumerate(continuation_draws(seed, max(0, rules.rounds - first))):
        if u >= delta:
            return first + k
    return rules.rounds
