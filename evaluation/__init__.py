"""How runs are judged: measures computed from run records alone (docs/design.md §5).

from dilemma.evaluation import score
scores = score("runs/")        # a record, a folder of records, or several paths
scores.runs / scores.rounds / scores.dyad_rounds  (and dyads, states, state_rounds,
pair_rounds); columns are documented in dilemma.evaluation.columns.
threat_matrix(scores.pair_rounds, run_id)   the i -> j threat levels over rounds
by_model(scores.states)                     parse failures and fallbacks per model
"""

from dilemma.evaluation.quality import by_model
from dilemma.evaluation.tables import Scores, score, score_dyad_rounds, score_rounds, score_runs
from dilemma.evaluation.threat import threat_matrix

__all__ = [
    "Scores",
    "by_model",
    "score",
    "score_dyad_rounds",
    "score_rounds",
    "score_runs",
    "threat_matrix",
]
