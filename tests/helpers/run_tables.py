"""Synthetic run tables with a known truth, for the comparison statistics (tests and benchmark).

A table has one row per run: the compared factor `f` (levels a, b), a second factor `g` (cells),
`seed`, and run-level measures named like the evaluator's. Each measure is
mean + sd * (shared + noise + shift): `shared` is drawn once per (cell, seed) and is common to
both levels when seeds are matched (common random numbers), `shift` is the effect in sd units.
`war` is 1 when its latent value exceeds a threshold, so a shift moves the war rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name: (mean, sd)
PRIMARY = {
    "escalation_index": (40.0, 8.0),
    "mean_threat": (4.0, 1.0),
    "mean_growth_pct": (3.0, 2.0),
}
SECONDARY = {
    "ladder_score_total": (120.0, 30.0),
    "ladder_mean": (12.0, 4.0),
    "cum_arms_change_pct": (20.0, 8.0),
    "mean_misperception": (1.0, 0.8),
    "spiral_share": (0.3, 0.1),
    "threat_trend": (0.1, 0.2),
}
QUALITY = ("fallback_rate", "parse_failure_rate")
WAR_THRESHOLD = 0.5


def synthetic_runs(
    rng: np.random.Generator,
    seeds: int,
    *,
    effect: float = 0.0,
    secondary_effect: float = 0.0,
    interaction: float = 0.0,
    cells: tuple[str, ...] = ("g1", "g2"),
    matched: bool = True,
    shared_sd: float = 0.7,
    quality_gap: float = 0.0,
) -> pd.DataFrame:
    """`seeds` runs per level and cell. Level `a` is shifted by `effect` sd on the primary
    measures (plus `interaction` in the first cell only) and `secondary_effect` on the
    secondary ones; `quality_gap` raises level a's fallback rate. Unmatched tables give level b
    other seeds and draw the shared part separately for each run."""
    rows = []
    for ci, cell in enumerate(cells):
        for seed in range(seeds):
            shared = rng.normal(0.0, shared_sd, len(PRIMARY) + 1 + len(SECONDARY))
            for level in ("a", "b"):
                common = shared if matched else rng.normal(0.0, shared_sd, len(shared))
                noise = rng.normal(0.0, 1.0, len(shared))
                shift = (effect + (interaction if ci == 0 else 0.0)) if level == "a" else 0.0
                z = common + noise
                row: dict[str, object] = {
                    "f": level,
                    "g": cell,
                    "seed": seed if matched or level == "a" else 1000 + seed,
                }
                for k, (name, (mean, sd)) in enumerate(PRIMARY.items()):
                    row[name] = mean + sd * (z[k] + shift)
                row["war"] = bool(z[len(PRIMARY)] + shift > WAR_THRESHOLD)
                for k, (name, (mean, sd)) in enumerate(SECONDARY.items()):
                    lift = secondary_effect if level == "a" else 0.0
                    row[name] = mean + sd * (z[len(PRIMARY) + 1 + k] + lift)
                gap = quality_gap if level == "a" else 0.0
                row["fallback_rate"] = float(np.clip(rng.uniform(0, 0.02) + gap, 0, 1))
                row["parse_failure_rate"] = float(rng.uniform(0, 0.02))
                rows.append(row)
    return pd.DataFrame(rows)
