"""How runs are judged: measures computed from run records alone (docs/design.md §5).

from dilemma.evaluation import score
scores = score("runs/")        # a record, a folder of records, or several paths
scores.runs / scores.rounds / scores.dyad_rounds  (and dyads, states, state_rounds,
pair_rounds); columns are documented in dilemma.evaluation.columns.
threat_matrix(scores.pair_rounds, run_id)   the i -> j threat levels over rounds
by_model(scores.states)                     parse failures and fallbacks per model

The names are imported on first use, so that a module of this package (e.g. the score cache)
can be imported without pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dilemma.evaluation.quality import by_model
    from dilemma.evaluation.tables import (
        Scores,
        score,
        score_dyad_rounds,
        score_rounds,
        score_runs,
    )
    from dilemma.evaluation.threat import threat_matrix

_HOMES = {
    "by_model": "quality",
    "Scores": "tables",
    "score": "tables",
    "score_dyad_rounds": "tables",
    "score_rounds": "tables",
    "score_runs": "tables",
    "threat_matrix": "threat",
}

__all__ = [
    "Scores",
    "by_model",
    "score",
    "score_dyad_rounds",
    "score_rounds",
    "score_runs",
    "threat_matrix",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
