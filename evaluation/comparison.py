"""Across runs: does a factor change behaviour? Three verdicts, each one earned by a test.

For each pair of levels of the factor, every measure gets a contrast (level a - level b) from
`dilemma.evaluation.inference`: paired by seed when every run has a partner at the other level with
the
same seed and the same other conditions (sweeps share seeds across levels: common random
numbers), two-sample when nothing else varies, stratified by the other conditions otherwise
(never pooled over them).

Measures come in three families (`dilemma.evaluation.measure_sets`): primary measures decide the
verdict, with Holm's correction over primary measures x level pairs (statsmodels
`multipletests`); secondary measures are reported with their own Holm correction; data-quality
measures are reported uncorrected and raise a warning when they differ between levels.

- `changes`: some primary contrast is significant after correction.
- `equivalent`: every primary contrast is shown to lie within its margin by two one-sided tests
  at alpha (an intersection-union test: no correction needed for the family).
- `inconclusive`: neither. The summary gives the minimum detectable effect at the current number
  of seeds and the seeds per cell needed for 80% power at the margins. A non-significant test
  alone never says "no change".

`compare(..., interaction=G)` also tests the by x G interaction (difference of differences).
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from dilemma.evaluation import inference
from dilemma.evaluation.columns import RUNS
from dilemma.evaluation.inference import ALPHA, N_BOOT, N_PERMUTATIONS, Contrast
from dilemma.evaluation.measure_sets import (
    DEFAULT_MARGINS,
    DEFAULT_PRIMARY,
    DEFAULT_SECONDARY,
    QUALITY,
    check_margins,
    check_primary,
)
from statsmodels.stats.multitest import multipletests

from dilemma.records.reader import read_header

Verdict = Literal["changes", "equivalent", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("changes", "equivalent", "inconclusive")

DEFAULT_MEASURES: tuple[str, ...] = (*DEFAULT_PRIMARY, *DEFAULT_SECONDARY, *QUALITY)
"""Every measure `compare` reports by default, primary first."""

QUALITY_DIFF = 0.05
"""A data-quality rate differing by this much between levels is flagged even if p >= alpha."""

_RUN_COLUMNS = {c.name for c in RUNS}


class CompareError(ValueError):
    """A comparison that cannot be made as asked (unknown factor or measure, bad margins)."""


@dataclass(frozen=True)
class Interaction:
    """The by x within interaction: differences of differences per measure, and a verdict."""

    by: str
    within: str
    contrasts: pd.DataFrame
    verdict: Verdict
    summary: str


@dataclass(frozen=True)
class Comparison:
    """Per-level summaries, pairwise contrasts and the verdict for one factor."""

    by: str
    levels: pd.DataFrame
    pairs: pd.DataFrame
    verdict: Verdict
    summary: str
    primary: tuple[str, ...]
    margins: dict[str, float]
    alpha: float = ALPHA
    warnings: tuple[str, ...] = ()
    interaction: Interaction | None = None
    designs: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes_behaviour(self) -> bool:
        """True when the verdict is `changes`."""
        return self.verdict == "changes"


# ---------------------------------------------------------------- conditions from the records


def _experiment_info(header: Any) -> dict[str, Any]:
    """The header's experiment information as a plain dict (empty if the run had none)."""
    info = header.experiment
    if info is None:
        return {}
    if isinstance(info, Mapping):
        return dict(info)
    dumped: dict[str, Any] = info.model_dump()
    return dumped


def conditions(paths: list[Path]) -> pd.DataFrame:
    """path and one column per experiment condition, read from each record's header line."""
    rows = []
    for path in paths:
        header = read_header(path)
        conds = _experiment_info(header).get("conditions") or {}
        rows.append(
            {
                "path": str(path),
                "prompt_setup": header.prompt.name,
                "model": "+".join(sorted({m.spec for m in header.models.values()})),
                **{k: str(v) for k, v in conds.items()},
            }
        )
    return pd.DataFrame(rows)


def with_conditions(runs: pd.DataFrame) -> pd.DataFrame:
    """Run-level scores joined, by record path, with each run's experiment conditions."""
    conds = conditions([Path(p) for p in runs["path"]])
    extra = [c for c in conds.columns if c not in runs.columns or c == "path"]
    return runs.astype({"path": "string"}).merge(
        conds[extra].astype({"path": "string"}), on="path", how="left"
    )


def declared(paths: Iterable[Path]) -> tuple[list[str] | None, dict[str, float]]:
    """Primary measures and margins declared by the experiment that wrote these records.

    Raises CompareError naming the file when a header's declaration is invalid, or two records
    declare different ones.
    """
    seen: dict[tuple[Any, ...], Path] = {}
    primary: list[str] | None = None
    margins: dict[str, float] = {}
    for path in paths:
        info = _experiment_info(read_header(path))
        raw_primary, raw_margins = info.get("primary"), info.get("margins") or {}
        try:
            primary = check_primary(raw_primary) if raw_primary else None
        except ValueError as exc:
            raise CompareError(f"{path}: header experiment.primary: {exc}") from exc
        try:
            margins = check_margins({str(k): float(v) for k, v in raw_margins.items()})
        except (ValueError, TypeError) as exc:
            raise CompareError(f"{path}: header experiment.margins: {exc}") from exc
        key = (tuple(primary or ()), tuple(sorted(margins.items())))
        seen.setdefault(key, path)
        if len(seen) > 1:
            first, second = list(seen.values())[:2]
            raise CompareError(
                f"{first} and {second} declare different primary measures or margins;"
                " compare their experiments separately or pass --primary and --margin"
            )
    return primary, margins


def condition_columns(runs: pd.DataFrame, measures: Iterable[str] = ()) -> list[str]:
    """Columns that describe a run's conditions (not a score): experiment factors, scenario."""
    skip = {"path", *measures}
    return [
        str(c) for c in runs.columns if (c not in _RUN_COLUMNS or c == "scenario") and c not in skip
    ]


# ---------------------------------------------------------------- helpers


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (a - b) with the small-sample correction; NaN if undefined."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled == 0:
        return 0.0 if a.mean() == b.mean() else float("inf") * np.sign(a.mean() - b.mean())
    correction = 1 - 3 / (4 * (na + nb) - 9)
    return float((a.mean() - b.mean()) / np.sqrt(pooled) * correction)


def _values(frame: pd.DataFrame, measures: Sequence[str]) -> np.ndarray:
    """Measures x runs, as float64 with NaN for missing values."""
    if not measures:
        return np.empty((0, len(frame)))
    cols = []
    for m in measures:
        col = frame[m]
        if col.dtype == bool or str(col.dtype) == "boolean":
            col = col.astype("Float64")
        col = pd.to_numeric(col, errors="coerce").astype("Float64")
        cols.append(col.to_numpy(dtype="float64", na_value=np.nan))
    return np.vstack(cols)


@dataclass(frozen=True)
class _Runs:
    """The runs as arrays: measure values, labels of every condition column, seeds."""

    values: np.ndarray
    labels: dict[str, np.ndarray]
    seeds: np.ndarray | None

    @classmethod
    def of(cls, runs: pd.DataFrame, measures: Sequence[str], cols: Sequence[str]) -> _Runs:
        seeds = None
        if "seed" in runs.columns and not runs["seed"].isna().any():
            seeds = runs["seed"].astype("int64").to_numpy()
        labels = {c: runs[c].astype(str).to_numpy(dtype=object) for c in dict.fromkeys(cols)}
        return cls(_values(runs, measures), labels, seeds)

    def varying(self, idx: np.ndarray, cols: Sequence[str]) -> list[str]:
        return [c for c in cols if len(set(self.labels[c][idx])) > 1]

    def keys(self, idx: np.ndarray, cols: Sequence[str], seed: bool) -> list[tuple[Any, ...]]:
        parts = [self.labels[c][idx] for c in cols]
        if seed and self.seeds is not None:
            parts.append(self.seeds[idx])
        return list(zip(*parts, strict=True)) if parts else [()] * len(idx)


def _match(
    r: _Runs, ia: np.ndarray, ib: np.ndarray, others: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Runs of ia and ib aligned on (other conditions, seed), the number of distinct strata;
    None unless every run has exactly one partner."""
    if r.seeds is None or len(ia) == 0 or len(ia) != len(ib):
        return None
    ka, kb = r.keys(ia, others, True), r.keys(ib, others, True)
    pos_a = dict(zip(ka, ia, strict=True))
    pos_b = dict(zip(kb, ib, strict=True))
    if len(pos_a) != len(ia) or len(pos_b) != len(ib) or pos_a.keys() != pos_b.keys():
        return None
    order = sorted(pos_a, key=lambda k: tuple(map(str, k)))
    cells = len({k[:-1] for k in order})
    return (
        np.array([pos_a[k] for k in order]),
        np.array([pos_b[k] for k in order]),
        cells,
    )


@dataclass(frozen=True)
class _Design:
    """How one contrast was made: its description and the number of cells per level."""

    kind: str
    text: str
    cells: int


def _fixed_effects(r: _Runs, idx: np.ndarray, strata: Sequence[str]) -> tuple[np.ndarray, int]:
    """Dummy columns (one per stratum but the first) for the runs idx, and the stratum count."""
    if not strata:
        return np.empty((len(idx), 0)), 1
    keys = r.keys(idx, strata, False)
    ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    codes = np.array([ids[k] for k in keys])
    return np.eye(len(ids))[codes][:, 1:], len(ids)


def _two_levels(
    r: _Runs,
    level: np.ndarray,
    a: str,
    b: str,
    strata: Sequence[str],
    margins: np.ndarray,
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> tuple[list[Contrast], _Design]:
    """Contrasts a - b for every measure, with the design the runs allow."""
    ia, ib = np.flatnonzero(level == a), np.flatnonzero(level == b)
    others = r.varying(np.concatenate([ia, ib]), strata)
    matched = _match(r, ia, ib, others)
    if matched is not None:
        pa, pb, cells = matched
        d = r.values[:, pa] - r.values[:, pb]
        within = f" within {', '.join(others)}" if others else ""
        text = f"paired by seed{within}: sign-flip permutation on {len(pa)} differences"
        return (
            inference.paired(d, margins, rng, n_perm=n_perm, n_boot=n_boot),
            _Design("paired", text, cells),
        )
    if not others:
        text = "independent samples (seeds not matched): label-permutation test"
        return (
            inference.independent(
                r.values[:, ia], r.values[:, ib], margins, rng, n_perm=n_perm, n_boot=n_boot
            ),
            _Design("independent", text, 1),
        )
    # strata in which both levels occur; the others carry no within-stratum information
    ka, kb = set(r.keys(ia, others, False)), set(r.keys(ib, others, False))
    both = ka & kb
    idx = np.array(
        [i for i, k in zip(ia, r.keys(ia, others, False), strict=True) if k in both]
        + [i for i, k in zip(ib, r.keys(ib, others, False), strict=True) if k in both],
        dtype=int,
    )
    n_a = int(np.sum(level[idx] == a)) if len(idx) else 0
    effects, cells = _fixed_effects(r, idx, others)
    design = np.column_stack([np.ones(len(idx)), (level[idx] == a).astype(float), effects])
    text = (
        f"stratified by {', '.join(others)} (seeds not matched; {cells} strata with both"
        " levels): least squares with stratum fixed effects, t test"
    )
    return (
        inference.least_squares(r.values[:, idx], design, 1, margins, n_a, len(idx) - n_a),
        _Design("stratified", text, max(cells, 1)),
    )


def _holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels). multipletests runs gc.collect() for Holm, which
    costs a fraction of a second with a large heap; frozen objects make it cheap."""
    gc.freeze()
    try:
        adjusted: np.ndarray = multipletests(p, alpha=alpha, method="holm")[1]
    finally:
        gc.unfreeze()
    return adjusted


Row = dict[str, Any]


def _finish(rows: list[Row], contrasts: list[Contrast], cells: list[int], alpha: float) -> None:
    """Add to each row: Holm-adjusted p per family (quality: uncorrected), significance and
    equivalence flags, and power figures at the per-test level of the strictest Holm step."""
    p = np.array([row["p_value"] for row in rows], dtype="float64")
    family = np.array([row["family"] for row in rows])
    holm = np.full(len(rows), np.nan)
    sizes = {}
    for name in ("primary", "secondary"):
        tested = (family == name) & ~np.isnan(p)
        sizes[name] = int(tested.sum())
        if tested.any():
            holm[tested] = _holm(p[tested], alpha)
    quality = family == "quality"
    holm[quality] = p[quality]
    figures = inference.power_figures(
        contrasts,
        [float(row["margin"]) for row in rows],
        [alpha / max(sizes.get(row["family"], 1), 1) for row in rows],
    )
    for row, h, (mde, n), k in zip(rows, holm, figures, cells, strict=True):
        row["p_holm"] = float(h)
        row["significant"] = bool(h < alpha)
        row["equivalent"] = bool(row["p_equivalence"] < alpha)
        row["mde"] = mde
        row["seeds_needed"] = float(math.ceil(n / k)) if math.isfinite(n) else n


def _primary(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["family"] == "primary"]


def _verdict(primary: list[Row]) -> Verdict:
    tested = [r for r in primary if not math.isnan(r["p_value"])]
    if not tested:
        return "inconclusive"
    if any(r["significant"] for r in tested):
        return "changes"
    if len(tested) == len(primary) and all(r["equivalent"] for r in primary):
        return "equivalent"
    return "inconclusive"


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf" if x > 0 else str(x)
    return f"{x:.3g}"


def _inconclusive_detail(primary: list[Row]) -> str:
    """Minimum detectable effects and seeds needed, as a sentence."""
    parts = []
    for r in primary:
        if math.isinf(r["mde"]):
            parts.append(
                f"{r['measure']}: none detectable (smallest attainable p {_fmt(r['min_p'])}"
                f" with {r['n_pairs'] or r['n_a']} runs)"
            )
        elif math.isfinite(r["mde"]):
            parts.append(f"{r['measure']} {_fmt(r['mde'])} (margin {_fmt(r['margin'])})")
    needed = [r["seeds_needed"] for r in primary if math.isfinite(r["seeds_needed"])]
    seeds = (
        f"; about {int(max(needed))} seeds per cell would give 80% power at the margins"
        if needed
        else ""
    )
    if any(math.isinf(r["seeds_needed"]) for r in primary):
        seeds += " (some margins are too small against the spread to reach at any size)"
    return (
        "minimum detectable effect at 80% power with these seeds: "
        + ("; ".join(parts) or "unknown (too few runs)")
        + seeds
    )


def _summary(
    subject: str,
    verdict: Verdict,
    primary: list[Row],
    designs: Sequence[str],
    alpha: float,
    *,
    interaction: bool = False,
) -> str:
    how = "; ".join(dict.fromkeys(designs))
    if verdict == "changes":
        which = ", ".join(dict.fromkeys(r["measure"] for r in primary if r["significant"]))
        within = (
            " (all differences lie inside the equivalence margins)"
            if all(r["equivalent"] for r in primary)
            else ""
        )
        verb = "is present" if interaction else "changes behaviour"
        return (
            f"{subject} {verb}: {which} differ after Holm correction over"
            f" {len(primary)} primary tests at {alpha}{within} [{how}]"
        )
    if verdict == "equivalent":
        margins = ", ".join(
            f"{m} ±{_fmt(v)}" for m, v in {r["measure"]: r["margin"] for r in primary}.items()
        )
        verb = "is negligible" if interaction else "is equivalent"
        return (
            f"{subject} {verb} on every primary measure: each difference lies within"
            f" its margin ({margins}) by two one-sided tests at {alpha} [{how}]"
        )
    return (
        f"{subject} is inconclusive: no primary measure differs after Holm correction and"
        f" equivalence within the margins is not shown [{how}]; " + _inconclusive_detail(primary)
    )


def _rows(
    contrasts: list[Contrast],
    measures: Sequence[str],
    families: Mapping[str, str],
    margins: Mapping[str, float],
    extra: dict[str, Any],
) -> list[dict[str, Any]]:
    out = []
    for measure, c in zip(measures, contrasts, strict=True):
        row = c.row()
        row["diff"] = row.pop("estimate")
        out.append(
            {
                "measure": measure,
                "family": families[measure],
                **extra,
                **row,
                "margin": margins.get(measure, math.nan),
            }
        )
    return out


_COLUMNS = [
    "measure",
    "family",
    "level_a",
    "level_b",
    "design",
    "method",
    "n_a",
    "n_b",
    "n_pairs",
    "diff",
    "ci_low",
    "ci_high",
    "ci_method",
    "hedges_g",
    "p_value",
    "p_exact",
    "p_mc_se",
    "n_resamples",
    "min_p",
    "p_holm",
    "significant",
    "margin",
    "p_equivalence",
    "equivalent",
    "mde",
    "seeds_needed",
]


def _quality_warnings(rows: list[Row], alpha: float) -> list[str]:
    out = []
    for r in rows:
        if r["family"] != "quality" or math.isnan(r["diff"]):
            continue
        if r["p_value"] < alpha or abs(r["diff"]) >= QUALITY_DIFF:
            out.append(
                f"data quality differs: {r['measure']} is {_fmt(r['diff'])} higher in"
                f" {r['level_a']} than in {r['level_b']} (p = {_fmt(r['p_value'])});"
                " fallback decisions are left out of behavioural measures, so every"
                " comparison of these levels is biased"
            )
    return out


def _rule_warnings(runs: pd.DataFrame) -> list[str]:
    """A warning naming the compared runs whose records break their own scenario rules."""
    if "rule_violations" not in runs.columns:
        return []
    bad = runs[runs["rule_violations"].fillna(0) > 0]
    if bad.empty:
        return []
    ids = ", ".join(str(x) for x in bad["run_id"].head(5)) if "run_id" in bad else ""
    more = " ..." if len(bad) > 5 else ""
    return [
        f"{len(bad)} of {len(runs)} compared runs break their own scenario rules"
        f" (rule_violations > 0: {ids}{more}); see `dilemma score` for which rules"
    ]


def _mc_warnings(primary: list[Row], alpha: float) -> list[str]:
    out = []
    m = max(1, sum(not math.isnan(r["p_value"]) for r in primary))
    for r in primary:
        if r["p_exact"] or math.isnan(r["p_holm"]):
            continue
        if abs(r["p_holm"] - alpha) <= 3 * m * r["p_mc_se"]:
            out.append(
                f"{r['measure']}: Holm p {_fmt(r['p_holm'])} is within Monte Carlo error of"
                f" {alpha}; rerun with more permutations"
            )
    return out


def resolve_settings(
    primary: Sequence[str] | None, margins: Mapping[str, float] | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """Primary measures (default DEFAULT_PRIMARY) and margins (declared over defaults)."""
    prim = tuple(primary) if primary else DEFAULT_PRIMARY
    merged = {**DEFAULT_MARGINS, **(margins or {})}
    missing = [m for m in prim if m not in merged]
    if missing:
        raise CompareError(
            f"no equivalence margin for primary measure(s) {', '.join(missing)}: declare"
            " `margins:` in the experiment file or pass --margin MEASURE=VALUE"
        )
    return prim, merged


def _families(
    runs: pd.DataFrame, primary: Sequence[str], secondary: Sequence[str] | None
) -> tuple[list[str], dict[str, str]]:
    missing = [m for m in primary if m not in runs.columns]
    if missing:
        raise CompareError(f"no measure {', '.join(missing)} in these runs")
    second = [
        m
        for m in (DEFAULT_SECONDARY if secondary is None else secondary)
        if m in runs.columns and m not in primary
    ]
    quality = [m for m in QUALITY if m in runs.columns and m not in primary]
    families = (
        dict.fromkeys(primary, "primary")
        | dict.fromkeys(second, "secondary")
        | dict.fromkeys(quality, "quality")
    )
    return list(families), families


def compare(
    runs: pd.DataFrame,
    by: str,
    primary: Sequence[str] | None = None,
    *,
    secondary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    interaction: str | None = None,
    strata: Sequence[str] | None = None,
    alpha: float = ALPHA,
    n_boot: int = N_BOOT,
    n_perm: int = N_PERMUTATIONS,
    seed: int = 0,
) -> Comparison:
    """Compare run-level measures across the levels of column `by`.

    `primary` measures decide the verdict (default DEFAULT_PRIMARY); `secondary` are reported
    (default DEFAULT_SECONDARY); data-quality measures are always reported when present.
    `margins` override DEFAULT_MARGINS. `strata` are the other condition columns (default: every
    column that is not a score, see `condition_columns`). `seed` drives the Monte Carlo
    permutations and the bootstrap.
    """
    if by not in runs.columns:
        raise CompareError(f"no factor {by!r} in these runs; factors: {sorted(runs.columns)}")
    if interaction is not None and (interaction not in runs.columns or interaction == by):
        raise CompareError(
            f"--interaction {interaction!r}: not a factor of these runs other than {by!r}"
        )
    prim, merged = resolve_settings(primary, margins)
    measures, families = _families(runs, prim, secondary)
    runs = runs[runs[by].notna()]
    if interaction is not None:
        runs = runs[runs[interaction].notna()]
    rng = np.random.default_rng(seed)
    if strata is None:
        strata = condition_columns(runs, measures)
    strata = [s for s in strata if s not in (by, interaction)]
    r = _Runs.of(runs, measures, [by, *([interaction] if interaction else []), *strata])
    level = r.labels[by]
    levels = sorted(set(level))
    level_rows = []
    for lv in levels:
        means = inference.mean_intervals(r.values[:, level == lv], rng, n_boot)
        for measure, (mean, lo, hi, n, how) in zip(measures, means, strict=True):
            level_rows.append(
                {
                    "level": lv,
                    "measure": measure,
                    "family": families[measure],
                    "n": n,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": how,
                }
            )
    margin_arr = np.array([merged.get(m, math.nan) for m in measures], dtype="float64")
    rows: list[dict[str, Any]] = []
    contrasts: list[Contrast] = []
    cells: list[int] = []
    designs: list[str] = []
    for a, b in itertools.combinations(levels, 2):
        found, design = _two_levels(r, level, a, b, strata, margin_arr, rng, n_perm, n_boot)
        va, vb = r.values[:, level == a], r.values[:, level == b]
        g = [hedges_g(x[~np.isnan(x)], y[~np.isnan(y)]) for x, y in zip(va, vb, strict=True)]
        new = _rows(found, measures, families, merged, {"level_a": a, "level_b": b})
        for row, gi in zip(new, g, strict=True):
            row["hedges_g"] = gi
        rows += new
        contrasts += found
        cells += [design.cells] * len(found)
        designs.append(design.text)
    level_frame = pd.DataFrame(level_rows)
    nothing = f"{by}: fewer than two levels with data; nothing to compare"
    if not rows:
        return Comparison(
            by, level_frame, pd.DataFrame(columns=_COLUMNS), "inconclusive", nothing, prim,
            merged, alpha,
        )  # fmt: skip
    _finish(rows, contrasts, cells, alpha)
    primary_rows = _primary(rows)
    verdict = _verdict(primary_rows)
    if all(math.isnan(r["p_value"]) for r in primary_rows):
        summary = nothing
    else:
        summary = _summary(by, verdict, primary_rows, designs, alpha)
    notes = (
        _rule_warnings(runs) + _quality_warnings(rows, alpha) + _mc_warnings(primary_rows, alpha)
    )
    pairs = pd.DataFrame(rows)[_COLUMNS]
    inter = (
        _interaction(r, by, interaction, measures, families, merged, strata, alpha, rng,
                     n_perm, n_boot)
        if interaction is not None
        else None
    )  # fmt: skip
    return Comparison(
        by=by,
        levels=level_frame,
        pairs=pairs,
        verdict=verdict,
        summary=summary,
        primary=prim,
        margins={m: merged[m] for m in measures if m in merged},
        alpha=alpha,
        warnings=tuple(notes),
        interaction=inter,
        designs=tuple(dict.fromkeys(designs)),
    )


# ---------------------------------------------------------------- interaction


def _interaction_contrast(
    r: _Runs,
    by: str,
    a: tuple[str, str],
    within: str,
    w: tuple[str, str],
    strata: Sequence[str],
    margins: np.ndarray,
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> tuple[list[Contrast], _Design]:
    """(a0 - a1 at w0) - (a0 - a1 at w1) for every measure."""
    lv, lw = r.labels[by], r.labels[within]
    cell = {(x, y): np.flatnonzero((lv == x) & (lw == y)) for x in a for y in w}
    others = r.varying(np.concatenate(list(cell.values())), strata)
    m0 = _match(r, cell[a[0], w[0]], cell[a[1], w[0]], others)
    m1 = _match(r, cell[a[0], w[1]], cell[a[1], w[1]], others)
    if m0 is not None and m1 is not None:
        d0 = r.values[:, m0[0]] - r.values[:, m0[1]]
        d1 = r.values[:, m1[0]] - r.values[:, m1[1]]
        k0, k1 = r.keys(m0[0], others, True), r.keys(m1[0], others, True)
        if k0 == k1:  # both sorted by key: the same keys in the same order
            text = (
                f"paired by seed across {by} and {within}: sign-flip permutation on"
                f" {len(k0)} differences of differences"
            )
            return (
                inference.paired(d0 - d1, margins, rng, n_perm=n_perm, n_boot=n_boot),
                _Design("paired", text, m0[2]),
            )
        text = (
            f"{by} differences paired by seed within each {within} level; two-sample"
            " permutation test between them"
        )
        return (
            inference.independent(d0, d1, margins, rng, n_perm=n_perm, n_boot=n_boot),
            _Design("independent", text, max(m0[2], 1)),
        )
    idx = np.concatenate(list(cell.values()))
    effects, cells = _fixed_effects(r, idx, others)
    x_a = (lv[idx] == a[0]).astype(float)
    x_w = (lw[idx] == w[0]).astype(float)
    design = np.column_stack([np.ones(len(idx)), x_a, x_w, x_a * x_w, effects])
    text = "least squares with the interaction term and stratum fixed effects, t test"
    n_a = int((x_a * x_w).sum())
    return (
        inference.least_squares(r.values[:, idx], design, 3, margins, n_a, len(idx) - n_a),
        _Design("stratified", text, max(cells, 1)),
    )


def _interaction(
    r: _Runs,
    by: str,
    within: str,
    measures: Sequence[str],
    families: Mapping[str, str],
    margins: Mapping[str, float],
    strata: Sequence[str],
    alpha: float,
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> Interaction:
    by_levels = sorted(set(r.labels[by]))
    w_levels = sorted(set(r.labels[within]))
    margin_arr = np.array([margins.get(m, math.nan) for m in measures], dtype="float64")
    rows: list[dict[str, Any]] = []
    contrasts: list[Contrast] = []
    cells: list[int] = []
    designs: list[str] = []
    for a in itertools.combinations(by_levels, 2):
        for w in itertools.combinations(w_levels, 2):
            found, design = _interaction_contrast(
                r, by, a, within, w, strata, margin_arr, rng, n_perm, n_boot
            )
            extra = {"level_a": a[0], "level_b": a[1], "within_a": w[0], "within_b": w[1]}
            rows += _rows(found, measures, families, margins, extra)
            contrasts += found
            cells += [design.cells] * len(found)
            designs.append(design.text)
    subject = f"the {by} x {within} interaction"
    if not rows:
        return Interaction(
            by, within, pd.DataFrame(), "inconclusive",
            f"{subject}: needs two levels of each factor; nothing to compare",
        )  # fmt: skip
    columns = [*_COLUMNS[:4], "within_a", "within_b", *_COLUMNS[4:]]
    _finish(rows, contrasts, cells, alpha)
    table = pd.DataFrame(rows)[[c for c in columns if c != "hedges_g"]]
    verdict = _verdict(_primary(rows))
    summary = _summary(subject, verdict, _primary(rows), designs, alpha, interaction=True)
    return Interaction(by, within, table, verdict, summary)
