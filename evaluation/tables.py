"""Score records: build every grain from the loaded tables in one vectorised pass.

    scores = score(Path("runs/"))          # a record, a folder of records, or a list of paths
    scores.runs, scores.rounds, scores.dyad_rounds          # the three main grains
    scores.states, scores.state_rounds, scores.dyads, scores.pair_rounds

Every frame has the typed, documented columns listed in `dilemma.evaluation.columns`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dilemma.evaluation import arms, columns
from dilemma.evaluation.accidents import add_run_accidents
from dilemma.evaluation.cache_slot import Cache as Cache
from dilemma.evaluation.cache_slot import active_cache as active_cache
from dilemma.evaluation.cache_slot import use_cache as use_cache
from dilemma.evaluation.commitments import said_did, treaty_compliance
from dilemma.evaluation.compliance import add_violations
from dilemma.evaluation.endgame import endgame_escalation
from dilemma.evaluation.forecasts import add_forecast_error
from dilemma.evaluation.index import add_index
from dilemma.evaluation.intent import (
    add_dyad_intent,
    add_judgements,
    add_run_intent,
    add_state_intent,
)
from dilemma.evaluation.ladder import add_ladder, ladder_by
from dilemma.evaluation.load import Tables, load_tables
from dilemma.evaluation.outcome import run_outcomes
from dilemma.evaluation.pairs import pair_rounds
from dilemma.evaluation.quality import rates, state_quality
from dilemma.evaluation.richardson import FIT_COLUMNS, directed_fits, dynamics, reaction_rows
from dilemma.evaluation.signals import (
    add_dyad_signals,
    add_run_signals,
    add_state_signals,
    signal_rows,
)
from dilemma.evaluation.spirals import add_dyad_flags, add_reactions, spiral_flags
from dilemma.evaluation.stats import group_slope, streaks
from dilemma.evaluation.survival import add_run_survival

from dilemma.records.reader import NoRecordsError, find_records

RUN = ["run_id"]


@dataclass(frozen=True)
class Scores:
    """Every grain of the evaluation of a set of records (see dilemma.evaluation.columns)."""

    runs: pd.DataFrame
    rounds: pd.DataFrame
    dyad_rounds: pd.DataFrame
    dyads: pd.DataFrame
    states: pd.DataFrame
    state_rounds: pd.DataFrame
    pair_rounds: pd.DataFrame
    skipped: list[tuple[Path, str]]
    reaction_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The data of every directed Richardson equation, one row per run, round and ordered pair
    (`dilemma.evaluation.richardson.reaction_rows`): input of the pooled reaction fits."""


def record_paths(source: Path | str | Iterable[Path | str]) -> list[Path]:
    """Record files named by a path (file or folder) or by several paths."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    return [p for item in items for p in find_records(Path(item))]


def score(
    source: Path | str | Iterable[Path | str],
    *,
    index_weights: Mapping[str, float] | None = None,
    grains: Sequence[str] | None = None,
) -> Scores:
    """Score a record, a folder of records or several paths; raises NoRecordsError if none.

    `index_weights` declares the escalation index's weights by part name (ladder, arms, threat,
    spiral, war); the default is dilemma.evaluation.index.DEFAULT_WEIGHTS.

    With a score cache in use (`dilemma.evaluation.score_cache.use`, as the command line does),
    records scored before and unchanged since are read from it (default weights only); then
    only `grains` (names of the frames, e.g. ("runs", "dyads"); None: all) are sure to be
    filled, the others may come back empty.
    """
    paths = record_paths(source)
    cache = active_cache() if index_weights is None else None
    if cache is not None:
        scores: Scores = cache.score(paths) if grains is None else cache.score(paths, grains=grains)
        if scores.runs.empty:
            reasons = "; ".join(f"{p}: {why}" for p, why in scores.skipped) or "no *.jsonl files"
            raise NoRecordsError(f"no readable record ({reasons})")
        return scores
    tables = load_tables(paths)
    if tables.runs.empty:
        reasons = "; ".join(f"{p}: {why}" for p, why in tables.skipped) or "no *.jsonl files"
        raise NoRecordsError(f"no readable record ({reasons})")
    return score_tables(tables, index_weights=index_weights)


def score_runs(source: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """The runs grain only."""
    return score(source).runs


def score_rounds(source: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """The rounds grain only."""
    return score(source).rounds


def score_dyad_rounds(source: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """The dyad-rounds grain only."""
    return score(source).dyad_rounds


def score_tables(t: Tables, *, index_weights: Mapping[str, float] | None = None) -> Scores:
    """Compute every measure from loaded tables."""
    sr = add_violations(t, add_ladder(arms.state_rounds(t)))
    p = pair_rounds(t, sr)
    p = add_reactions(p, sr)
    p = add_forecast_error(p, sr)
    p = add_judgements(p)
    seen = p["run_id"].isin(t.views["run_id"].unique())
    p["spiral"] = spiral_flags(p).astype("boolean").mask(~seen)
    dr = add_dyad_flags(_dyad_rounds(p))
    slopes = group_slope(p, ["run_id", "i", "j"], "round", "threat")["slope"]
    dyads = add_dyad_intent(_dyads(p, dr, slopes, t.wars), p)
    states = add_state_intent(_states(t, sr, p), p)
    rounds = _rounds(sr, p, dr, t)
    runs = add_run_intent(add_index(_runs(t, sr, p, dr, states, slopes), index_weights), p)
    runs, states, dyads = _signals_accidents_survival(t, runs, states, dyads)
    return Scores(
        runs=columns.conform(runs, columns.RUNS),
        rounds=columns.conform(rounds, columns.ROUNDS),
        dyad_rounds=columns.conform(dr, columns.DYAD_ROUNDS),
        dyads=columns.conform(dyads, columns.DYADS),
        states=columns.conform(states, columns.STATES),
        state_rounds=columns.conform(sr, columns.STATE_ROUNDS),
        pair_rounds=columns.conform(p, columns.PAIR_ROUNDS),
        skipped=t.skipped,
        reaction_rows=columns.conform(reaction_rows(p, t.wars), columns.REACTION_ROWS),
    )


def _signals_accidents_survival(
    t: Tables, runs: pd.DataFrame, states: pd.DataFrame, dyads: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Add the signal, accident and survival measures (version 4) to runs, states and dyads."""
    s = signal_rows(t.decisions, t.outcomes, t.signals)
    runs = add_run_signals(runs, s, t.directed)
    runs = add_run_accidents(runs, t.accidents, t.decisions, t.outcomes)
    runs = add_run_survival(runs, t.outcomes, t.directed)
    return runs, add_state_signals(states, s), add_dyad_signals(dyads, s)


def _dyad_rounds(p: pd.DataFrame) -> pd.DataFrame:
    """Unordered dyads (a before b in scenario order), both directions side by side."""
    ab = p[p["pos_i"] < p["pos_j"]]
    ba = p[p["pos_i"] > p["pos_j"]]
    one = [
        "threat",
        "hostility",
        "misperception",
        "misperception_seen",
        "reacts",
        "threat_falls",
        "saturated",
    ]
    left = ab[
        [
            "run_id",
            "round",
            "i",
            "j",
            "pos_i",
            "pos_j",
            "arms_after_i",
            "arms_after_j",
            "growth_pct_i",
            "growth_pct_j",
            "spiral",
            *one,
        ]
    ]
    left = left.rename(
        columns={
            "i": "a",
            "j": "b",
            "pos_i": "pos_a",
            "pos_j": "pos_b",
            "arms_after_i": "arms_a",
            "arms_after_j": "arms_b",
            "growth_pct_i": "growth_a",
            "growth_pct_j": "growth_b",
            **{c: f"{c}_ab" for c in one},
        }
    )
    right = ba[["run_id", "round", "i", "j", *one]].rename(
        columns={"i": "b", "j": "a", **{c: f"{c}_ba" for c in one}}
    )
    dr = left.merge(right, on=["run_id", "round", "a", "b"], how="left")
    dr["arms_ratio"] = arms.arms_ratio(dr["arms_a"], dr["arms_b"])
    return dr.sort_values(["run_id", "round", "pos_a", "pos_b"]).reset_index(drop=True)


def _dyads(
    p: pd.DataFrame, dr: pd.DataFrame, slopes: pd.Series, wars: pd.DataFrame
) -> pd.DataFrame:
    """Per run and dyad: arms ratio, threat means and trends, misperception, spirals, Richardson."""
    keys = ["run_id", "a", "b"]
    g = dr.sort_values("round").groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "pos_a": g["pos_a"].first(),
            "pos_b": g["pos_b"].first(),
            "rounds": g.size(),
            "mean_arms_ratio": g["arms_ratio"].mean(),
            "final_arms_ratio": g["arms_ratio"].last(),
            "mean_threat_ab": g["threat_ab"].mean(),
            "mean_threat_ba": g["threat_ba"].mean(),
            "mean_misperception_ab": g["misperception_ab"].mean(),
            "mean_misperception_ba": g["misperception_ba"].mean(),
            "mean_misperception_seen_ab": g["misperception_seen_ab"].mean(),
            "mean_misperception_seen_ba": g["misperception_seen_ba"].mean(),
        }
    )
    out["threat_trend_ab"] = _lookup(slopes, out, "a", "b")
    out["threat_trend_ba"] = _lookup(slopes, out, "b", "a")
    spirals = streaks(dr, keys, "round", "spiral")
    known = g["spiral"].count() > 0
    out["spiral_rounds"] = spirals["count"].where(known).astype("Int64")
    out["spiral_onset"] = spirals["onset"].where(known).astype("Int64")
    out["spiral_longest"] = spirals["longest"].where(known).astype("Int64")
    out["mutual_arming_rounds"] = g["mutual_arming"].sum()
    out["saturated_rounds"] = g["saturated"].sum()
    fits = directed_fits(p, wars).set_index(["run_id", "i", "j"])
    names = {
        "reaction": ("rich_a", "rich_b"),
        "se_reaction": ("rich_se_a", "rich_se_b"),
        "p_react": ("rich_p_a", "rich_p_b"),
        "react": ("rich_react_a", "rich_react_b"),
        "se_react": ("rich_se_react_a", "rich_se_react_b"),
        "react_mde": ("rich_mde_a", "rich_mde_b"),
        "cond": ("rich_cond_x", "rich_cond_y"),
        "fatigue": ("rich_m", "rich_n"),
        "se_fatigue": ("rich_se_m", "rich_se_n"),
        "grievance": ("rich_g", "rich_h"),
        "se_grievance": ("rich_se_g", "rich_se_h"),
        "r2": ("rich_r2_x", "rich_r2_y"),
        "n_obs": ("rich_nobs_x", "rich_nobs_y"),
    }
    eq_x = _lookup_rows(fits[list(FIT_COLUMNS)], out, "a", "b")
    eq_y = _lookup_rows(fits[list(FIT_COLUMNS)], out, "b", "a")
    for eq in (eq_x, eq_y):
        eq["ok"] = eq["ok"].eq(True)
        eq["react_ok"] = eq["react_ok"].eq(True)
        eq["cond"] = eq["cond"].fillna(float("inf"))
        eq["n_obs"] = eq["n_obs"].fillna(0)
        eq["dof"] = eq["dof"].fillna(0).astype("int64")
    for src, (col_x, col_y) in names.items():
        keep_x = eq_x["react_ok"] if src in _REACTION_FIELDS else eq_x["ok"]
        keep_y = eq_y["react_ok"] if src in _REACTION_FIELDS else eq_y["ok"]
        out[col_x] = eq_x[src].where(keep_x | (src in ("n_obs", "cond")))
        out[col_y] = eq_y[src].where(keep_y | (src in ("n_obs", "cond")))
    dyn = dynamics(eq_x, eq_y)
    out["rich_rho"] = dyn["rho"]
    out["rich_rho_lo"] = dyn["rho_lo"]
    out["rich_rho_hi"] = dyn["rho_hi"]
    out["rich_verdict"] = dyn["verdict"]
    out["rich_runaway_source"] = dyn["runaway_source"]
    return out.reset_index().sort_values(["run_id", "pos_a", "pos_b"]).reset_index(drop=True)


_REACTION_FIELDS = ("p_react", "react", "se_react", "react_mde")


def _lookup(values: pd.Series, out: pd.DataFrame, first: str, second: str) -> pd.Series:
    """values indexed by (run_id, i, j), read for (run_id, out[first], out[second])."""
    idx = pd.MultiIndex.from_arrays(
        [
            out.index.get_level_values("run_id"),
            out.index.get_level_values(first),
            out.index.get_level_values(second),
        ]
    )
    return pd.Series(values.reindex(idx).to_numpy(), index=out.index)


def _lookup_rows(values: pd.DataFrame, out: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Rows of `values` indexed by (run_id, i, j), read for (run_id, out[first], out[second])."""
    idx = pd.MultiIndex.from_arrays(
        [
            out.index.get_level_values("run_id"),
            out.index.get_level_values(first),
            out.index.get_level_values(second),
        ]
    )
    return values.reindex(idx).set_axis(out.index)


def _states(t: Tables, sr: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Per run and state: arms, ladder, threat, misperception, forecasts, said/did, quality."""
    keys = ["run_id", "state"]
    out = t.states.set_index(keys)
    out = out.join(arms.state_arms(sr).set_index(keys).drop(columns="initial_arms"))
    lad = ladder_by(sr, keys)
    out["ladder_total"] = lad["ladder_sum"]
    out["ladder_mean"] = lad["ladder_mean"]
    out["max_rung"] = lad["max_rung"]
    gi = p.assign(_abs=p["forecast_error"].abs()).groupby(["run_id", "i"], sort=False)
    gj = p.groupby(["run_id", "j"], sort=False)
    by_i = pd.DataFrame(
        {
            "mean_threat_out": gi["threat"].mean(),
            "mean_misperception": gi["misperception"].mean(),
            "mean_hostility": gi["hostility"].mean(),
            "forecast_n": gi["forecast_error"].count(),
            "forecast_mae": gi["_abs"].mean(),
        }
    )
    by_i.index = by_i.index.set_names(keys)
    out = out.join(by_i)
    threat_in = gj["threat"].mean()
    threat_in.index = threat_in.index.set_names(keys)
    out["mean_threat_in"] = threat_in
    out = out.join(said_did(sr).set_index(keys))
    out = out.join(treaty_compliance(t, sr).set_index(keys))
    out = out.join(state_quality(t).set_index(keys))
    out["rule_violations"] = sr.groupby(keys, sort=False)["rule_violations"].sum()
    for col in (
        "rule_violations",
        "said_did_n",
        "said_did_exceeded",
        "treaty_rounds",
        "breach_rounds",
        "decisions",
        "fallbacks",
        "attempts",
        "parse_failures",
        "negotiation_fallbacks",
        "forecast_n",
    ):
        out[col] = out[col].fillna(0)
    out["fallback_rate"], out["parse_failure_rate"] = rates(
        out["fallbacks"], out["decisions"], out["parse_failures"], out["attempts"]
    )
    return out.reset_index().sort_values(["run_id", "pos"]).reset_index(drop=True)


def _rounds(sr: pd.DataFrame, p: pd.DataFrame, dr: pd.DataFrame, t: Tables) -> pd.DataFrame:
    """Per run and round."""
    keys = ["run_id", "round"]
    g = sr.groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "n_states": g.size(),
            "n_fallback": g["fallback"].sum(),
            "mean_growth_pct": g["growth_pct"].mean(),
            "total_arms": g["arms_after"].sum(),
        }
    )
    out["n_answered"] = out["n_states"] - out["n_fallback"]
    out = out.join(ladder_by(sr, keys))
    gp = p.groupby(keys, sort=False)
    out["mean_threat"] = gp["threat"].mean()
    out["max_threat"] = gp["threat"].max()
    out["mean_misperception"] = gp["misperception"].mean()
    gd = dr.groupby(keys, sort=False)
    spiral_dyads = gd["spiral"].sum()
    out["spiral_dyads"] = spiral_dyads.where(gd["spiral"].count() > 0)
    out["mutual_arming_dyads"] = gd["mutual_arming"].sum()
    out["saturated_dyads"] = gd["saturated"].sum()
    out["rule_violations"] = g["rule_violations"].sum()
    breaches = t.breaches.drop_duplicates(["run_id", "round", "state"]).groupby(keys).size()
    out["breaches"] = breaches.reindex(out.index).fillna(0)
    wars = t.wars.groupby(keys).size()
    out["war"] = wars.reindex(out.index).fillna(0) > 0
    return out.reset_index().sort_values(keys).reset_index(drop=True)


def _runs(
    t: Tables,
    sr: pd.DataFrame,
    p: pd.DataFrame,
    dr: pd.DataFrame,
    states: pd.DataFrame,
    slopes: pd.Series,
) -> pd.DataFrame:
    """Per run: the headline figures, the index and its parts."""
    out = t.runs.set_index("run_id")
    g = sr.groupby("run_id", sort=False)
    out["rounds"] = g["round"].nunique()
    out["rounds"] = out["rounds"].fillna(0)
    lad = ladder_by(sr, RUN)
    out["ladder_score_total"] = lad["ladder_sum"]
    out["ladder_mean"] = lad["ladder_mean"]
    out["endgame_escalation"] = endgame_escalation(sr)
    out["ended_by"] = out["end_ended_by"]
    out["max_rung"] = lad["max_rung"]
    out["mean_growth_pct"] = g["growth_pct"].mean()
    gs = states.groupby("run_id", sort=False)
    out["cum_arms_change_pct"] = gs["cum_arms_change_pct"].mean()
    gp = p.groupby("run_id", sort=False)
    out["mean_threat"] = gp["threat"].mean()
    out["mean_misperception"] = gp["misperception"].mean()
    out["mean_misperception_seen"] = gp["misperception_seen"].mean()
    out["mean_abs_misperception"] = (
        p.assign(_a=p["misperception"].abs()).groupby("run_id")["_a"].mean()
    )
    out["threat_trend"] = slopes.groupby(level="run_id").mean()
    # a run's spiral round: any dyad spirals in it
    per_round = dr.groupby(["run_id", "round"], sort=False)["spiral"].agg(["any", "count"])
    per_round = per_round.reset_index()
    known_runs = per_round.loc[per_round["count"] > 0, "run_id"].unique()
    spirals = streaks(per_round.rename(columns={"any": "spiral"}), RUN, "round", "spiral")
    spirals = spirals.reindex(out.index)  # runs with no resolved round have no streak row
    known = out.index.isin(known_runs)
    out["spiral_rounds"] = spirals["count"].where(known)
    out["spiral_onset"] = spirals["onset"].where(known)
    out["spiral_longest"] = spirals["longest"].where(known)
    gd = dr.groupby("run_id", sort=False)["spiral"]
    out["spiral_share"] = (gd.sum() / gd.count().where(gd.count() > 0)).astype("float64")
    for flag, col in (("mutual_arming", "mutual_arming_rounds"), ("saturated", "saturated_rounds")):
        any_dyad = dr.groupby(["run_id", "round"], sort=False)[flag].any()
        out[col] = any_dyad.groupby(level="run_id").sum().reindex(out.index).fillna(0)
    out["mean_implied_hostility"] = gp["implied_hostility"].mean()
    out["rule_violations"] = g["rule_violations"].sum()
    out["rule_violations"] = out["rule_violations"].fillna(0)
    out = out.join(run_outcomes(t).set_index("run_id"))
    during = (t.treaties["event"] == "formed") & (t.treaties["round"] > 0)
    formed = t.treaties[during].groupby("run_id").size()
    out["treaties_formed"] = formed.reindex(out.index).fillna(0)
    out["breaches"] = gs["breach_rounds"].sum()
    err = p.assign(_abs=p["forecast_error"].abs())
    out["forecast_mae"] = err.groupby("run_id")["_abs"].mean()
    said = states.assign(_w=states["said_did_mae"] * states["said_did_n"])
    gsd = said.groupby("run_id")
    out["said_did_mae"] = gsd["_w"].sum(min_count=1) / gsd["said_did_n"].sum().where(
        gsd["said_did_n"].sum() > 0
    )
    for col in ("decisions", "fallbacks", "attempts", "parse_failures"):
        out[col] = gs[col].sum()
    out["fallback_rate"], out["parse_failure_rate"] = rates(
        out["fallbacks"], out["decisions"], out["parse_failures"], out["attempts"]
    )
    return out.reset_index()
