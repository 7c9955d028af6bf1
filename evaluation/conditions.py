"""Each run's experiment conditions, read from its record's header line.

`with_conditions` joins the factor columns (one per experiment factor, plus `model` and
`prompt_setup`) to run-level scores; `declared` reads the primary measures and margins the
experiment declared for `compare`; `condition_columns` names the columns that describe a run's
conditions rather than a score.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dilemma.evaluation.columns import RUNS
from dilemma.evaluation.measure_sets import check_margins, check_primary

from dilemma.records.reader import read_header
from dilemma.records.schema import RecordError, SequentialPlan

if TYPE_CHECKING:
    import pandas as pd

_RUN_COLUMNS = {c.name for c in RUNS}


class CompareError(ValueError):
    """A comparison that cannot be made as asked (unknown factor or measure, bad margins)."""


def experiment_info(header: Any) -> dict[str, Any]:
    """The header's experiment information as a plain dict (empty if the run had none)."""
    info = header.experiment
    if info is None:
        return {}
    if isinstance(info, Mapping):
        return dict(info)
    dumped: dict[str, Any] = info.model_dump()
    return dumped


@dataclass(frozen=True)
class HeaderFacts:
    """What the analysis reads from a record's header line (a small part of it)."""

    experiment: dict[str, Any]
    """`experiment_info` of the header."""
    prompt_setup: str
    model: str
    """The model specs of the run, sorted and joined by "+"."""
    seed: int


def header_facts(path: Path) -> HeaderFacts:
    """The header facts of one record, parsed once per file version: `compare` and `report`
    consult the headers several times (conditions, declared measures, plans, pilots, seeds).
    Raises what `read_header` raises."""
    stat = path.stat()
    return _facts(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=65_536)
def _facts(path: str, mtime_ns: int, size: int) -> HeaderFacts:
    """Keyed by the file's modification time and size, so a rewritten record is read again."""
    header = read_header(Path(path))
    return HeaderFacts(
        experiment=experiment_info(header),
        prompt_setup=header.prompt.name,
        model="+".join(sorted({m.spec for m in header.models.values()})),
        seed=header.seed,
    )


def conditions(paths: list[Path]) -> pd.DataFrame:
    """path and one column per experiment condition, read from each record's header line."""
    import pandas as pd  # here: `header_facts` serves `dilemma score` without pandas

    rows = []
    for path in paths:
        facts = header_facts(path)
        conds = facts.experiment.get("conditions") or {}
        rows.append(
            {
                "path": str(path),
                "prompt_setup": facts.prompt_setup,
                "model": facts.model,
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
        info = header_facts(path).experiment
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


def declared_plan(paths: Iterable[Path]) -> tuple[SequentialPlan | None, str | None]:
    """The sequential plan the experiment declared for these records, and its file (None when
    none was declared or the sweep was started from code). Raises CompareError when records
    declare different plans, or when some declare one and others none."""
    plans: dict[str, tuple[SequentialPlan | None, str | None, Path]] = {}
    for path in paths:
        info = header_facts(path).experiment
        raw = info.get("sequential")
        try:
            plan = None if raw is None else SequentialPlan.model_validate(raw)
        except ValueError as exc:
            raise CompareError(f"{path}: header experiment.sequential: {exc}") from exc
        key = "none" if plan is None else plan.model_dump_json()
        plans.setdefault(key, (plan, info.get("source"), path))
        if len(plans) > 1:
            (_, _, first), (_, _, second) = list(plans.values())[:2]
            raise CompareError(
                f"{first} and {second} declare different sequential plans (experiment"
                " `sequential:`); compare their experiments separately"
            )
    if not plans:
        return None, None
    plan, source, _ = next(iter(plans.values()))
    return plan, source


def pilot_note(paths: Iterable[Path]) -> str | None:
    """A warning when some of these runs belong to a pilot (`dilemma sweep --repeats/--rounds`):
    a pilot is not the declared design, and a folder mixing both compares unlike runs. None
    when no run is a pilot's."""
    pilots: dict[str, int] = {}
    full = 0
    for path in paths:
        try:
            info = header_facts(path).experiment
        except RecordError:
            continue  # not a record: scoring skips it and says so
        overrides = info.get("overrides") or {}
        if overrides:
            key = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
            pilots[key] = pilots.get(key, 0) + 1
        else:
            full += 1
    if not pilots:
        return None
    kinds = "; ".join(f"{n} with {key}" for key, n in pilots.items())
    if full:
        return (
            f"warning: this folder mixes {sum(pilots.values())} pilot runs ({kinds}) with"
            f" {full} runs of the full design; compare them separately"
        )
    return f"warning: these are pilot runs ({kinds}), not the experiment's full design"


def condition_columns(runs: pd.DataFrame, measures: Iterable[str] = ()) -> list[str]:
    """Columns that describe a run's conditions (not a score): experiment factors, scenario."""
    skip = {"path", *measures}
    return [
        str(c) for c in runs.columns if (c not in _RUN_COLUMNS or c == "scenario") and c not in skip
    ]


def factors_of(runs: pd.DataFrame) -> list[str]:
    """The condition columns with at least one level in `runs` (experiment factors, `model`,
    `prompt_setup`, `scenario`): what `--by`, `--where` and `--interaction` may name."""
    return [c for c in condition_columns(runs) if c != "run_id" and runs[c].notna().any()]


def unknown_factor(runs: pd.DataFrame, name: str, option: str) -> CompareError:
    """The error for a factor name that is not a condition of `runs`: the factors it could be,
    and the closest one."""
    factors = factors_of(runs)
    close = difflib.get_close_matches(name, factors, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    listed = ", ".join(factors) if factors else "none (these runs have no experiment conditions)"
    return CompareError(f"{option} {name!r}: not a factor of these runs{hint}; factors: {listed}")


def unknown_level(runs: pd.DataFrame, factor: str, level: str, option: str) -> CompareError:
    """The error for a level no run has: the levels of `factor` that the runs do have."""
    levels = sorted({str(v) for v in runs[factor].dropna()})
    close = difflib.get_close_matches(level, levels, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return CompareError(
        f"{option} {factor}={level}: no run has {factor} = {level}{hint}; levels of {factor}:"
        f" {', '.join(levels) or 'none'}"
    )
