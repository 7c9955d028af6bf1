"""The typed, documented columns of every frame the evaluator returns.

dtypes: "string" text (missing = <NA>), "Int64" nullable integer, "int64" integer, "float64"
(NaN = cannot be computed: too little data, or only fallback decisions), "bool", "boolean"
(nullable). Percent values are percentage points of arms; threat-scale values run 0-10.
`conform` selects, orders and casts a frame to its spec, so a missing column is an error here
and not a surprise downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

INDEX_COMPONENTS = ("idx_ladder", "idx_arms", "idx_threat", "idx_spiral", "idx_war")
"""The escalation index's parts (dilemma.evaluation.index), each a run column."""
INTENT_MEASURES = (
    "intent_n",
    "intent_accuracy",
    "intent_overestimation",
    "intent_underestimation",
    "intent_error",
    "intent_kappa",
)
"""Intent summary columns (dilemma.evaluation.intent), in order, for a dyad direction
(suffixed _ab / _ba) or a run."""


@dataclass(frozen=True)
class Column:
    """One column: name, pandas dtype and meaning."""

    name: str
    dtype: str
    doc: str


def _cols(*rows: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


_RUN = ("run_id", "string", "run id from the record header")
_ROUND = ("round", "int64", "round number, from 1")

RUNS = _cols(
    _RUN,
    ("path", "string", "record file"),
    ("scenario", "string", "scenario name"),
    ("n_states", "int64", "number of states"),
    ("rounds_planned", "int64", "rounds the scenario asked for"),
    ("rounds", "int64", "rounds resolved in the record"),
    (
        "outcome",
        "string",
        "completed / war / failed / interrupted / stopped, or incomplete (no run_end)",
    ),
    ("complete", "bool", "the record has its run_end line"),
    ("horizon", "string", "rules.horizon: known / hidden / geometric"),
    ("communication", "string", "rules.communication: full / public / private / none"),
    (
        "ended_by",
        "string",
        "why a finished run ended: last_round / continuation / war (NA: unfinished)",
    ),
    ("truncated", "bool", "the last line was cut short and dropped"),
    ("arms_cap_pct", "int64", "the scenario's cap on arms change per round, %"),
    ("escalation_index", "float64", "weighted composite 0-100 (evaluation.index); NaN: part NaN"),
    ("index_weights", "string", "weights of the parts in the index, normalised: name=w,..."),
    ("idx_ladder", "float64", "index part: mean ladder weight per answered state-round / 60"),
    ("idx_arms", "float64", "index part: mean answered arms growth / 10%, clipped to [0, 1]"),
    ("idx_threat", "float64", "index part: mean implied hostility / 10 (threat beyond capability)"),
    ("idx_spiral", "float64", "index part: share of dyad-rounds that are spiral rounds"),
    ("idx_war", "float64", "index part: 1 if a war started"),
    ("ladder_score_total", "float64", "sum of ladder weights over answered state-rounds"),
    ("ladder_mean", "float64", "mean ladder weight per answered state-round"),
    (
        "endgame_escalation",
        "float64",
        "mean ladder weight per answered state-round in the last 2 resolved rounds minus in the"
        " earlier ones (evaluation.endgame; NaN under 3 rounds)",
    ),
    ("max_rung", "string", "highest rung reached by an answered decision"),
    ("mean_growth_pct", "float64", "mean arms growth per answered state-round, %"),
    ("cum_arms_change_pct", "float64", "mean over states of arms change start to end, %"),
    ("mean_threat", "float64", "mean perceived threat i->j over answered decisions"),
    ("threat_trend", "float64", "mean over ordered pairs of the OLS slope of threat per round"),
    ("mean_misperception", "float64", "mean of threat i->j minus the threat j warrants"),
    (
        "mean_misperception_seen",
        "float64",
        "mean of threat i->j minus the threat j's behaviour as i could see it warrants",
    ),
    ("mean_abs_misperception", "float64", "mean absolute misperception"),
    ("mean_implied_hostility", "float64", "mean hostility implied by threat beyond capability"),
    ("intent_n", "Int64", "judgements of others' intent scored (NA: decisions did not ask, v1)"),
    ("intent_accuracy", "float64", "share of perceived intents equal to the other's actual intent"),
    ("intent_overestimation", "float64", "share of perceived intents more hostile than actual"),
    ("intent_underestimation", "float64", "share of perceived intents less hostile than actual"),
    ("intent_error", "float64", "mean perceived - actual intent, levels (evaluation.intent)"),
    (
        "intent_kappa",
        "float64",
        "Cohen's kappa of perceived vs actual intent; 0: chance, 1: perfect",
    ),
    ("spiral_rounds", "Int64", "rounds in which at least one dyad spirals (NA: no observations)"),
    ("spiral_onset", "Int64", "first such round (NA if none)"),
    ("spiral_longest", "Int64", "longest run of consecutive such rounds"),
    ("spiral_share", "float64", "spiral dyad-rounds / dyad-rounds"),
    ("mutual_arming_rounds", "int64", "rounds in which at least one dyad is in sustained arming"),
    ("saturated_rounds", "int64", "rounds in which at least one dyad is saturated"),
    ("war", "bool", "a war started"),
    ("war_round", "Int64", "round of the first war"),
    ("war_initiator", "string", "state that started the first war"),
    ("war_target", "string", "its target"),
    ("treaties_formed", "int64", "treaties formed during the run"),
    ("breaches", "int64", "state-rounds with a treaty breach"),
    ("forecast_mae", "float64", "mean absolute error of forecasts of others' next arms change"),
    ("said_did_mae", "float64", "mean |applied - announced| arms change, percentage points"),
    ("decisions", "int64", "decision events"),
    ("fallbacks", "int64", "fallback decisions (excluded from behavioural measures)"),
    ("attempts", "int64", "decision model calls"),
    ("parse_failures", "int64", "decision calls that did not validate"),
    ("fallback_rate", "float64", "fallbacks / decisions"),
    ("parse_failure_rate", "float64", "parse_failures / attempts"),
    ("rule_violations", "int64", "checks of the record against its own rules that fail (0: ok)"),
    ("accident_rate", "float64", "the rules' chance that an eligible order misfires (0: off)"),
    ("accidents", "Int64", "orders carried out one rung higher (NA: record before v4)"),
    (
        "accident_eligible",
        "Int64",
        "answered orders that could misfire: non-violent or violent escalation (NA: before v4)",
    ),
    ("accident_share", "float64", "accidents / accident_eligible (NaN: none eligible)"),
    (
        "retaliation",
        "float64",
        "mean over accidents of the victim's rung toward the actor the next round minus in the"
        " accident round, rungs 0-5 (evaluation.accidents)",
    ),
    ("signal_n", "Int64", "public signals scored (NA: record without signals, before v4)"),
    (
        "signal_divergence",
        "float64",
        "mean |intended action rung toward j - signal toward j|, rungs 0-5 (evaluation.signals)",
    ),
    ("signal_above_share", "float64", "share of signals the intended action exceeded"),
    ("signal_divergence_seen", "float64", "mean |executed action rung - signal|"),
    (
        "perceived_shift_after_breach",
        "float64",
        "mean change of j's perceived intent of i (0-3) the round after i acted above its signal"
        " toward j",
    ),
    (
        "perceived_shift_after_kept",
        "float64",
        "the same after i acted exactly at its signal toward j",
    ),
    (
        "time_to_force",
        "float64",
        "first round with a use of force (violent rung or war); censored: rounds played",
    ),
    ("force", "bool", "force was used (time_to_force is an event, not a censoring)"),
    ("time_to_war", "float64", "round of the first war; censored: rounds played"),
    (
        "mean_threat_at_peace",
        "float64",
        "mean perceived threat over decisions up to the first use of force (all if none)",
    ),
    ("seed", "int64", "run seed"),
)

ROUNDS = _cols(
    _RUN,
    _ROUND,
    ("n_states", "int64", "states in the round"),
    ("n_answered", "int64", "states with an answered (non-fallback) decision"),
    ("n_fallback", "int64", "states with a fallback decision"),
    ("ladder_sum", "float64", "sum of ladder weights over answered states"),
    ("ladder_mean", "float64", "mean ladder weight per answered state"),
    ("max_rung", "string", "highest rung this round"),
    ("mean_growth_pct", "float64", "mean answered arms growth, %"),
    ("total_arms", "float64", "sum of all states' arms after the round"),
    ("mean_threat", "float64", "mean perceived threat over ordered pairs"),
    ("max_threat", "float64", "highest perceived threat"),
    ("mean_misperception", "float64", "mean misperception over ordered pairs"),
    ("spiral_dyads", "Int64", "dyads in a spiral this round (NA: no observations)"),
    ("mutual_arming_dyads", "int64", "dyads in sustained mutual arming this round"),
    ("saturated_dyads", "int64", "dyads with a side pinned at threat 10 and arms at the cap"),
    ("rule_violations", "int64", "rule violations of the state-rounds"),
    ("breaches", "int64", "states that breached a treaty"),
    ("war", "bool", "a war started this round"),
)

DYAD_ROUNDS = _cols(
    _RUN,
    _ROUND,
    ("a", "string", "first state of the dyad (scenario order)"),
    ("b", "string", "second state"),
    ("arms_a", "float64", "a's arms after the round"),
    ("arms_b", "float64", "b's arms after the round"),
    ("arms_ratio", "float64", "arms_a / arms_b"),
    ("growth_a", "float64", "a's arms growth, % (NaN on fallback)"),
    ("growth_b", "float64", "b's arms growth, %"),
    ("threat_ab", "float64", "a's perceived threat from b, 0-10"),
    ("threat_ba", "float64", "b's perceived threat from a"),
    ("hostility_ab", "float64", "actual hostility of a toward b, 0-10 (evaluation.misperception)"),
    ("hostility_ba", "float64", "actual hostility of b toward a"),
    ("misperception_ab", "float64", "threat_ab - threat warranted by b; > 0: a overestimates"),
    ("misperception_ba", "float64", "threat_ba - threat warranted by a"),
    ("reacts_ab", "boolean", "a raised arms and (strictly) threat after b's observable rise"),
    ("reacts_ba", "boolean", "b raised arms and (strictly) threat after a's observable rise"),
    ("spiral", "boolean", "spiral round: both react (NA: no observations in the record)"),
    ("mutual_arming", "bool", "in a run of >= 3 rounds of both arming, neither threat falling"),
    ("saturated", "bool", "a side has threat 10 toward the other and arms change at the cap"),
)

DYADS = _cols(
    _RUN,
    ("a", "string", "first state"),
    ("b", "string", "second state"),
    ("rounds", "int64", "resolved rounds"),
    ("mean_arms_ratio", "float64", "mean arms_a / arms_b"),
    ("final_arms_ratio", "float64", "arms_a / arms_b after the last round"),
    ("mean_threat_ab", "float64", "mean threat a->b"),
    ("mean_threat_ba", "float64", "mean threat b->a"),
    ("threat_trend_ab", "float64", "OLS slope of threat a->b per round (NaN under 2 rounds)"),
    ("threat_trend_ba", "float64", "OLS slope of threat b->a per round"),
    ("mean_misperception_ab", "float64", "mean misperception of a toward b"),
    ("mean_misperception_ba", "float64", "mean misperception of b toward a"),
    ("mean_misperception_seen_ab", "float64", "mean misperception_seen of a toward b"),
    ("mean_misperception_seen_ba", "float64", "mean misperception_seen of b toward a"),
    ("intent_n_ab", "Int64", "a's judgements of b's intent scored (NA: not asked)"),
    ("intent_accuracy_ab", "float64", "share of a's judgements of b's intent that are right"),
    ("intent_overestimation_ab", "float64", "share of a's judgements more hostile than b was"),
    ("intent_underestimation_ab", "float64", "share of a's judgements less hostile than b was"),
    ("intent_error_ab", "float64", "mean perceived - actual intent of b toward a, levels"),
    ("intent_kappa_ab", "float64", "Cohen's kappa of a's judgements of b's intent"),
    ("intent_n_ba", "Int64", "b's judgements of a's intent scored (NA: not asked)"),
    ("intent_accuracy_ba", "float64", "share of b's judgements of a's intent that are right"),
    ("intent_overestimation_ba", "float64", "share of b's judgements more hostile than a was"),
    ("intent_underestimation_ba", "float64", "share of b's judgements less hostile than a was"),
    ("intent_error_ba", "float64", "mean perceived - actual intent of a toward b, levels"),
    ("intent_kappa_ba", "float64", "Cohen's kappa of b's judgements of a's intent"),
    ("signal_divergence_ab", "float64", "mean |a's intended rung toward b - a's signal to b|"),
    ("signal_above_share_ab", "float64", "share of a's signals to b its action exceeded"),
    ("signal_divergence_ba", "float64", "mean |b's intended rung toward a - b's signal to a|"),
    ("signal_above_share_ba", "float64", "share of b's signals to a its action exceeded"),
    ("spiral_rounds", "Int64", "spiral rounds (NA: no observations)"),
    ("spiral_onset", "Int64", "first spiral round (NA if none)"),
    ("spiral_longest", "Int64", "longest run of consecutive spiral rounds"),
    ("mutual_arming_rounds", "int64", "sustained mutual-arming rounds (evaluation.spirals)"),
    ("saturated_rounds", "int64", "rounds with a side at threat 10 and arms at the cap"),
    ("rich_a", "float64", "Richardson: reaction of a to b's arms (dx = a*y - m*x + g)"),
    ("rich_se_a", "float64", "standard error of rich_a"),
    (
        "rich_react_a",
        "float64",
        "reaction test: beta of a's % change on b's previous % change (evaluation.reaction)",
    ),
    ("rich_se_react_a", "float64", "standard error of rich_react_a"),
    ("rich_p_a", "float64", "two-sided t-test p-value of rich_react_a = 0 (the reaction test)"),
    ("rich_mde_a", "float64", "smallest |rich_react_a| detected with 80% power at 5%"),
    ("rich_cond_x", "float64", "condition number of a's level regressors (inf: collinear)"),
    ("rich_m", "float64", "Richardson: fatigue of a"),
    ("rich_se_m", "float64", "standard error of rich_m"),
    ("rich_g", "float64", "Richardson: grievance of a"),
    ("rich_se_g", "float64", "standard error of rich_g"),
    ("rich_r2_x", "float64", "R^2 of a's equation"),
    ("rich_nobs_x", "int64", "rounds in a's fit"),
    ("rich_b", "float64", "Richardson: reaction of b to a's arms (dy = b*x - n*y + h)"),
    ("rich_se_b", "float64", "standard error of rich_b"),
    ("rich_react_b", "float64", "reaction test: beta of b's % change on a's previous % change"),
    ("rich_se_react_b", "float64", "standard error of rich_react_b"),
    ("rich_p_b", "float64", "two-sided t-test p-value of rich_react_b = 0 (the reaction test)"),
    ("rich_mde_b", "float64", "smallest |rich_react_b| detected with 80% power at 5%"),
    ("rich_cond_y", "float64", "condition number of b's level regressors (inf: collinear)"),
    ("rich_n", "float64", "Richardson: fatigue of b"),
    ("rich_se_n", "float64", "standard error of rich_n"),
    ("rich_h", "float64", "Richardson: grievance of b"),
    ("rich_se_h", "float64", "standard error of rich_h"),
    ("rich_r2_y", "float64", "R^2 of b's equation"),
    ("rich_nobs_y", "int64", "rounds in b's fit"),
    ("rich_rho", "float64", "spectral radius of the fitted [[1-m, a], [b, 1-n]]"),
    ("rich_rho_lo", "float64", "lower end of its 95% parametric-bootstrap interval"),
    ("rich_rho_hi", "float64", "upper end of that interval"),
    (
        "rich_verdict",
        "string",
        "insufficient_data (a fit or the reaction test not identified, or level regressors"
        " with condition number > 30), reaction_not_detected (neither reaction test at 5%),"
        " stable / runaway (interval of rho below / above 1) or indeterminate (contains 1)",
    ),
    (
        "rich_runaway_source",
        "string",
        "for runaway: self_growth (a side's own |1 - m| > 1), mutual_reaction (both reaction"
        " tests reject) or one_sided_reaction",
    ),
)

STATES = _cols(
    _RUN,
    ("state", "string", "state id"),
    ("pos", "int64", "position in the scenario"),
    ("regime", "string", "democracy / autocracy"),
    ("transparency", "string", "transparent / secretive"),
    ("disposition", "string", "security_seeker / revisionist"),
    ("model", "string", "model spec"),
    ("initial_arms", "float64", "arms at the start"),
    ("final_arms", "float64", "arms after the last resolved round"),
    ("cum_arms_change_pct", "float64", "arms change start to end, %"),
    ("mean_growth_pct", "float64", "mean answered arms growth, %"),
    ("ladder_total", "float64", "sum of ladder weights of answered rounds"),
    ("ladder_mean", "float64", "mean ladder weight of answered rounds"),
    ("max_rung", "string", "highest rung reached"),
    ("mean_threat_out", "float64", "mean threat this state perceived from others"),
    ("mean_threat_in", "float64", "mean threat others perceived from this state"),
    ("mean_misperception", "float64", "mean misperception of this state toward others"),
    ("mean_hostility", "float64", "mean actual hostility of this state toward others"),
    ("intent_n", "Int64", "this state's judgements of others' intent scored (NA: not asked)"),
    ("intent_accuracy", "float64", "share of this state's judgements of others' intent right"),
    ("intent_kappa", "float64", "Cohen's kappa of this state's judgements of others' intent"),
    ("forecast_n", "int64", "forecasts scored"),
    ("forecast_mae", "float64", "mean absolute forecast error, percentage points"),
    ("said_did_n", "int64", "rounds with an announcement to compare"),
    ("said_did_mae", "float64", "mean |applied - announced|"),
    ("said_did_bias", "float64", "mean applied - announced (> 0: armed more than announced)"),
    ("said_did_exceeded", "int64", "rounds it armed more than announced"),
    ("signal_n", "Int64", "public signals of this state scored (NA: none, before v4)"),
    ("signal_divergence", "float64", "mean |intended action rung toward j - signal toward j|"),
    ("signal_above_share", "float64", "share of its signals its intended action exceeded"),
    ("treaty_rounds", "int64", "rounds bound by a treaty"),
    ("breach_rounds", "int64", "rounds with a breach"),
    ("compliance_rate", "float64", "1 - breach_rounds / treaty_rounds (NaN if never bound)"),
    ("decisions", "int64", "decision events"),
    ("fallbacks", "int64", "fallback decisions"),
    ("attempts", "int64", "decision model calls"),
    ("parse_failures", "int64", "calls that did not validate"),
    ("negotiation_fallbacks", "int64", "negotiation sub-turns without a valid reply"),
    ("rule_violations", "int64", "rule violations of this state's rounds"),
    ("fallback_rate", "float64", "fallbacks / decisions"),
    ("parse_failure_rate", "float64", "parse_failures / attempts"),
)

STATE_ROUNDS = _cols(
    _RUN,
    _ROUND,
    ("state", "string", "state id"),
    ("pos", "int64", "position in the scenario"),
    ("fallback", "bool", "the decision was a fallback (behaviour below is NaN)"),
    ("attempts", "int64", "decision model calls"),
    ("requested", "Int64", "arms change asked for, %"),
    ("applied_change", "float64", "arms change applied by the rules, %"),
    ("growth_pct", "float64", "applied change of an answered decision, % (NaN on fallback)"),
    ("arms_before", "float64", "arms before the round"),
    ("arms_after", "float64", "arms after the round"),
    ("cum_change_pct", "float64", "arms change from the start of the run to after this round, %"),
    ("action", "string", "action applied (NA on fallback)"),
    ("target", "string", "its target"),
    ("rung", "string", "its rung"),
    ("ladder_weight", "float64", "its ladder weight (NaN on fallback)"),
    ("announced_prev", "float64", "arms change announced for this round the round before"),
    ("rule_violations", "int64", "rules of the record's scenario this state-round breaks"),
    ("violations", "string", "which, with figures, e.g. 'cap: +37 > 10' (NA: none)"),
)

PAIR_ROUNDS = _cols(
    _RUN,
    _ROUND,
    ("i", "string", "observer / actor"),
    ("j", "string", "the other state"),
    ("threat", "float64", "i's perceived threat from j, 0-10 (NaN on i's fallback)"),
    ("intent", "float64", "i's private intent toward j on 0-10 (defensive 0 .. aggressive 10)"),
    ("action_toward", "float64", "i's action scored toward j, 0-10"),
    ("arming", "float64", "i's arming, 10 * clip(change / 10%, 0, 1): 10 = arming 10% or more"),
    ("hostility", "float64", "actual hostility of i toward j, 0-10"),
    ("capability", "float64", "C: j's arms as i saw them, 6 * seen / (seen + own); parity 3"),
    ("warranted_threat", "float64", "W = C + (10 - C) * hostility of j toward i / 10"),
    ("misperception", "float64", "threat of i from j minus W (> 0: overestimation)"),
    (
        "warranted_threat_seen",
        "float64",
        "C + (10 - C) * (j's action toward i in t-1 + j's arming as last seen) / 20",
    ),
    ("misperception_seen", "float64", "threat of i from j minus warranted_threat_seen"),
    ("implied_hostility", "float64", "10 * clip((threat - C) / (10 - C), 0, 1)"),
    ("forecast", "float64", "i's forecast of j's arms change next round, %"),
    ("forecast_error", "float64", "forecast minus j's applied change next round"),
    ("perceived_intent", "float64", "what i believes j intends toward it, 0-3 (defensive 0)"),
    ("actual_intent", "float64", "j's private intent toward i, 0-3 (deterrent 1, coercive 2)"),
    ("intent_error", "float64", "perceived_intent - actual_intent, levels (> 0: overestimated)"),
    ("seen_arms", "float64", "j's arms as i saw them when deciding"),
    ("source", "string", "how i knew them (exact, intelligence_estimate, ...)"),
    ("as_of", "Int64", "round as of which i saw j's arms"),
    ("arms_up", "bool", "i raised its arms"),
    ("threat_up", "bool", "i raised its threat toward j above its previous answered level"),
    ("threat_falls", "bool", "i lowered its threat toward j below its previous answered level"),
    ("observed_rise", "bool", "j's arms rose in the round i could observe"),
    ("reacts", "bool", "arms_up and threat_up and observed_rise"),
    ("spiral", "boolean", "i reacts to j and j to i (NA: no observations)"),
    ("saturated", "bool", "i's threat toward j is 10 and its arms change at the cap"),
)

REACTION_ROWS = _cols(
    _RUN,
    _ROUND,
    ("i", "string", "the state whose equation this is"),
    ("j", "string", "its rival"),
    ("d_own", "float64", "i's arms change this round (in a war round the decided change)"),
    ("own", "float64", "i's arms before the round"),
    ("rival", "float64", "j's arms before the round"),
    ("growth_own", "float64", "i's applied arms change, % (NaN on fallback)"),
    ("growth_rival", "float64", "j's applied arms change, % (NaN on fallback)"),
)

FRAMES: dict[str, tuple[Column, ...]] = {
    "runs": RUNS,
    "rounds": ROUNDS,
    "dyad_rounds": DYAD_ROUNDS,
    "dyads": DYADS,
    "states": STATES,
    "state_rounds": STATE_ROUNDS,
    "pair_rounds": PAIR_ROUNDS,
    "reaction_rows": REACTION_ROWS,
}


TEXTS = _cols(
    _RUN,
    _ROUND,
    ("phase", "string", "negotiation (a message) or decision (statement, rationale, reason)"),
    ("subturn", "Int64", "negotiation sub-turn, from 1 (NA: decision texts)"),
    ("state", "string", "state that wrote the text"),
    (
        "kind",
        "string",
        "message / public_statement / private_rationale / threat_reason (why this threat level)",
    ),
    (
        "recipients",
        "string",
        "a message's addressees as delivered, comma-separated ('all': every other state);"
        " 'public' for a public statement (NA: private text)",
    ),
    ("target", "string", "the state a threat reason is about (NA: other kinds)"),
    ("private", "bool", "never shown to another state (rationales and threat reasons)"),
    ("text", "string", "the text as the model wrote it (secrets redacted on export)"),
)
"""Model-written text of records, one row per text (dilemma.evaluation.texts)."""

CALLS = _cols(
    _RUN,
    _ROUND,
    ("state", "string", "state the call decided for"),
    ("phase", "string", "negotiation or decision"),
    ("subturn", "int64", "negotiation sub-turn of the call, from 1 (decision calls: 0)"),
    ("attempt", "int64", "attempt number within the step, from 1; 2 and up are re-asks"),
    ("model", "string", "model spec that answered"),
    ("input_tokens", "Int64", "prompt tokens (NA: the provider did not report them)"),
    ("output_tokens", "Int64", "completion tokens (NA: the provider did not report them)"),
    ("latency_s", "float64", "seconds from request to reply"),
    ("cost_usd", "float64", "cost of the call in USD (NaN: no price known)"),
    ("reask", "bool", "a re-ask: attempt > 1, sent after an invalid reply"),
    ("valid", "bool", "the reply parsed and validated"),
    ("error", "string", "why the reply was refused (validation or parse error; NA: valid)"),
    (
        "fallback",
        "bool",
        "the step ended without a valid reply, so a fallback was used (true on all its calls)",
    ),
    ("started_at", "string", "when the call started, ISO 8601 UTC"),
)
"""One row per model call of records' `llm_call` lines (dilemma.evaluation.calls)."""

RECORD_FRAMES: dict[str, tuple[Column, ...]] = {"texts": TEXTS, "calls": CALLS}
"""Frames read from records apart from scoring (model text and calls)."""

CONDITION_DOCS: dict[str, str] = {
    "model": "model spec(s) of the run's states, distinct, joined by '+'",
    "prompt_setup": "name of the prompt setup the run used",
}
"""Condition columns `with_conditions` joins to runs; any other is an experiment factor."""


def condition_doc(name: str) -> str:
    """The meaning of a condition column joined to runs (an experiment factor by default)."""
    return CONDITION_DOCS.get(name, f"experiment factor {name}: the run's level (record header)")


def conform(df: pd.DataFrame, spec: tuple[Column, ...]) -> pd.DataFrame:
    """The columns of `spec`, in order, cast to their dtypes; a missing column raises KeyError."""
    from pandas.api.types import pandas_dtype  # here: the column lists are read without pandas

    out = df[[c.name for c in spec]].copy()
    for c in spec:
        dtype = pandas_dtype(c.dtype)
        if c.dtype == "bool":
            out[c.name] = out[c.name].fillna(False).astype(bool)
        elif c.dtype in ("int64", "Int64") and out[c.name].dtype == "float64":
            out[c.name] = out[c.name].round().astype(dtype)
        else:
            out[c.name] = out[c.name].astype(dtype)
    return out.reset_index(drop=True)


def describe(frame: str) -> str:
    """A plain-text list of a frame's columns with dtype and meaning."""
    return "\n".join(f"{c.name:<24} {c.dtype:<8} {c.doc}" for c in FRAMES[frame])
