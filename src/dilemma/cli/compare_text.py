"""`dilemma compare` for people: the verdict first, one sentence per primary measure, the next
command when the verdict is inconclusive, then compact tables, all within WIDTH columns.

Only presentation: every number comes from the `Comparison` unchanged (`--json` has them all,
`--wide` adds the full tables of `dilemma.cli.compare.comparison_text`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma.evaluation.comparison import Comparison, Interaction
from dilemma.evaluation.conditions import header_facts
from dilemma.evaluation.mixed import MixedComparison

WIDTH = 100
"""Columns the default output fits in."""


def num(x: Any) -> str:
    """A number in three significant digits (nan as n/a)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}"


def wrap(text: str, indent: str = "", first: str = "") -> list[str]:
    """`text` wrapped to WIDTH, `first` before the first line and `indent` before the others;
    words are never broken (a command or a path longer than a line stays whole)."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def _n_text(row: pd.Series) -> str:
    if row["design"] == "paired":
        return f"{int(row['n_pairs'])} paired seeds"
    return f"{int(row['n_a'])} and {int(row['n_b'])} runs"


def _standing(row: pd.Series) -> str:
    if bool(row["significant"]):
        return "differs"
    margin = num(row["margin"])
    if bool(row["equivalent"]):
        return f"equivalent (within ±{margin})"
    if math.isnan(float(row["margin"])):
        return "not shown to differ"
    return f"neither shown to differ nor within ±{margin}"


def effect_sentence(row: pd.Series, a: str, b: str) -> str:
    """One plain sentence: measure, the difference a - b with its interval, p, Holm p and n."""
    diff = float(row["diff"])
    if math.isnan(diff) or math.isnan(float(row["p_value"])):
        return f"{row['measure']}: cannot be tested (too few runs for the design)"
    if diff > 0:
        what = f"{a} is {num(diff)} higher than {b}"
    elif diff < 0:
        what = f"{a} is {num(-diff)} lower than {b}"
    else:
        what = f"{a} and {b} do not differ"
    ci = f"95% CI {num(row['ci_low'])} to {num(row['ci_high'])}"
    p = f"p = {num(row['p_value'])}, Holm p = {num(row['p_holm'])}"
    return f"{row['measure']}: {what} ({ci}, {p}, {_n_text(row)}): {_standing(row)}"


def sentences(pairs: pd.DataFrame) -> list[str]:
    """The sentence lines of the primary measures, grouped by pair of levels."""
    prim = pairs[pairs["family"] == "primary"]
    lines: list[str] = []
    groups = list(prim.groupby(["level_a", "level_b"], sort=False))
    for (a, b), rows in groups:
        if len(groups) > 1:
            lines += wrap(f"{a} vs {b}:", "  ")
        for _, row in rows.iterrows():
            lines += wrap(effect_sentence(row, str(a), str(b)), "    ", "  ")
    return lines


@dataclass(frozen=True)
class Folder:
    """What the next-command advice needs about the compared folder."""

    path: Path
    """The folder given to `compare` (a record's folder if a record was given)."""
    sources: tuple[str, ...]
    """Experiment files named by the records' headers."""
    seeds: int
    """Seeds per cell so far (distinct seeds in the records: a sweep gives every cell the same
    `repeats` seeds)."""


def folder_of(path: Path, records: Sequence[Path]) -> Folder:
    """The experiment files and seeds of the records in `path`."""
    sources: dict[str, None] = {}
    seeds: set[int] = set()
    for record in records:
        try:
            facts = header_facts(record)
        except (OSError, ValueError):
            continue
        source = facts.experiment.get("source")
        if source:
            sources[str(source)] = None
        seeds.add(int(facts.seed))
    return Folder(path if path.is_dir() else path.parent, tuple(sources), len(seeds))


def _packaged(source: str) -> bool:
    parts = Path(source).parts
    return len(parts) >= 3 and parts[-3:-1] == ("experiments", "examples") and "dilemma" in parts


def seeds_to_plan(result: Comparison) -> int | None:
    """Seeds per cell for 80% power at the margins on every primary measure (None: unknown)."""
    prim = result.pairs[result.pairs["family"] == "primary"] if not result.pairs.empty else None
    if prim is None:
        return None
    needed = [float(v) for v in prim["seeds_needed"] if math.isfinite(float(v))]
    return int(max(needed)) if needed else None


def next_step(result: Comparison, folder: Folder) -> list[str]:
    """The exact commands that add the seeds an inconclusive verdict needs (empty otherwise)."""
    if result.verdict != "inconclusive" or result.pairs.empty:
        return []
    needed = seeds_to_plan(result)
    if needed is None:
        return wrap(
            "Next: no number of seeds reaches 80% power at these margins; widen a margin"
            " (--margin MEASURE=VALUE) or reduce the spread",
            "  ",
        )
    if needed <= folder.seeds:
        return wrap(
            f"Next: {folder.seeds} seeds per cell should already give 80% power at the"
            " margins; the result lies near the threshold, and adding seeds after looking"
            " raises the false-positive rate",
            "  ",
        )
    out = folder.path
    if len(folder.sources) == 1:
        source = folder.sources[0]
        if _packaged(source):
            name = Path(source).name
            steps = [
                f"Next: copy the packaged example {source} to {name}, set repeats: {needed}"
                f" in {name}, then run:",
                f"  dilemma sweep {name} --out {out} --resume",
            ]
        else:
            steps = [
                f"Next: set repeats: {needed} in {source}, then run:",
                f"  dilemma sweep {source} --out {out} --resume",
            ]
    else:
        steps = [
            f"Next: set repeats: {needed} in the experiment file, then run:",
            f"  dilemma sweep EXPERIMENT_FILE --out {out} --resume",
        ]
    return [*wrap(steps[0], "  "), *command_lines(steps[1])]


def command_lines(command: str) -> list[str]:
    """A shell command on one line, or continued with backslashes where it is wider than
    WIDTH (only a single word wider than a line stays too wide)."""
    if len(command) <= WIDTH:
        return [command]
    indent, words = "  ", command.split()
    lines, line = [], indent + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) + 2 > WIDTH:
            lines.append(line + " \\")
            line = indent * 2 + word
        else:
            line += " " + word
    return [*lines, line]


def _fit(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A plain text table of the cells; the widest text column is cut (with ~) so that the
    table, indented by two spaces, fits WIDTH."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    while sum(widths) + 2 * (len(widths) - 1) > WIDTH - 2:
        text_cols = [i for i in range(len(widths)) if i not in right and widths[i] > 8]
        if not text_cols:
            break
        widest = max(text_cols, key=lambda i: widths[i])
        widths[widest] -= 1

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "~"
        return text.rjust(widths[i]) if i in right else text.ljust(widths[i])

    lines = ["  ".join(cell(h, i) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(cell(c, i) for i, c in enumerate(r)).rstrip() for r in rows]
    return lines


def _interval(lo: Any, hi: Any) -> str:
    return f"{num(lo)} to {num(hi)}"


def pair_table(pairs: pd.DataFrame, family: str) -> list[str]:
    """Compact table of one family's contrasts: per pair of levels, diff, interval, p values,
    margin, minimum detectable effect and seeds per cell for 80% power."""
    rows = pairs[pairs["family"] == family]
    if rows.empty:
        return ["  (none)"]
    headers = ["measure", "diff", "95% CI", "p", "Holm p", "equiv p", "margin", "mde", "seeds"]
    out: list[str] = []
    groups = list(rows.groupby(["level_a", "level_b"], sort=False))
    for (a, b), group in groups:
        if len(groups) > 1:
            out += wrap(f"{a} - {b}:", "  ")
        cells = [
            [
                str(r["measure"]),
                num(r["diff"]),
                _interval(r["ci_low"], r["ci_high"]),
                num(r["p_value"]),
                num(r["p_holm"]),
                num(r["p_equivalence"]),
                num(r["margin"]),
                num(r["mde"]),
                num(r["seeds_needed"]),
            ]
            for _, r in group.iterrows()
        ]
        out += ["  " + line for line in _fit(headers, cells, set(range(1, 9)))]
    return out


def quality_table(pairs: pd.DataFrame) -> list[str]:
    """Data-quality differences: measure, levels, diff, uncorrected p."""
    rows = pairs[pairs["family"] == "quality"]
    if rows.empty:
        return ["  (none)"]
    cells = [
        [str(r["measure"]), f"{r['level_a']} - {r['level_b']}", num(r["diff"]), num(r["p_value"])]
        for _, r in rows.iterrows()
    ]
    return ["  " + line for line in _fit(["measure", "levels", "diff", "p"], cells, {2, 3})]


def level_table(levels: pd.DataFrame) -> list[str]:
    """Means per level with 95% intervals: one column per level when that fits, else one row
    per measure and level."""
    if levels.empty:
        return ["  (none)"]
    names = list(dict.fromkeys(levels["level"].astype(str)))
    measures = list(dict.fromkeys(levels["measure"]))
    cell = {
        (str(r["measure"]), str(r["level"])): f"{num(r['mean'])} [{num(r['ci_low'])},"
        f" {num(r['ci_high'])}]"
        for _, r in levels.iterrows()
    }
    n = {str(r["level"]): int(r["n"]) for _, r in levels.iterrows()}
    headers = ["measure", *(f"{lv} (n={n[lv]})" for lv in names)]
    rows = [[m, *(cell.get((m, lv), "") for lv in names)] for m in measures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    if sum(widths) + 2 * len(widths) <= WIDTH - 2:
        return ["  " + line for line in _fit(headers, rows, set())]
    long_rows = [
        [m, lv, str(n[lv]), cell[(m, lv)]] for m in measures for lv in names if (m, lv) in cell
    ]
    return [
        "  " + line for line in _fit(["measure", "level", "n", "mean [95% CI]"], long_rows, {2})
    ]


def interaction_lines(i: Interaction) -> list[str]:
    """The interaction's verdict, then one sentence per primary contrast, then its table."""
    lines = wrap(f"Interaction {i.by} x {i.within}: {i.verdict} - {i.summary}", "  ")
    if i.left_out:
        lines += wrap("runs left out: " + "; ".join(x.detail for x in i.left_out), "    ", "  ")
    if i.contrasts.empty:
        return lines
    prim = i.contrasts[i.contrasts["family"] == "primary"]
    for _, row in prim.iterrows():
        a = f"({row['level_a']} - {row['level_b']}) at {row['within_a']}"
        b = f"at {row['within_b']}"
        lines += wrap(effect_sentence(row, a, b), "    ", "  ")
    return lines


def people_text(
    result: Comparison,
    source: str,
    folder: Folder | None,
    mixed: MixedComparison | None = None,
) -> list[str]:
    """The head of the output: verdict, effect sentences, the interaction and the mixed
    model's estimates (when asked for) and the next command."""
    lines = wrap(f"Verdict: {result.verdict} - {result.summary}", "  ")
    if not result.pairs.empty:
        lines += ["", "Primary measures (difference a - b; Holm over the primary tests):"]
        lines += sentences(result.pairs)
    if result.interaction is not None:
        lines += ["", *interaction_lines(result.interaction)]
    if mixed is not None:
        lines += ["", *mixed_lines(mixed)]
    if folder is not None:
        advice = next_step(result, folder)
        if advice:
            lines += ["", *advice]
    for w in result.warnings:
        lines += wrap(w, "    ", "warning: ")
    return lines


def body_text(result: Comparison, source: str) -> list[str]:
    """Design, runs, margins and the compact tables, within WIDTH."""
    margins = ", ".join(f"{m} ±{num(result.margins.get(m, math.nan))}" for m in result.primary)
    lines = [""]
    lines += wrap("Design: " + ("; ".join(result.designs) or "(nothing to compare)"), "  ")
    lines += wrap(f"Runs: {result.runs_note}", "  ")
    lines += wrap(f"Primary measures ({source}), equivalence margins: {margins}", "  ")
    lines += ["", "Means per level [95% interval]:", *level_table(result.levels)]
    if not result.pairs.empty:
        lines += [
            "",
            "Primary measures: p of the design's test, Holm p within the family, equivalence p,",
            "minimum detectable effect (mde) and seeds per cell for 80% power:",
            *pair_table(result.pairs, "primary"),
            "",
            "Secondary measures (not in the verdict; Holm within this family):",
            *pair_table(result.pairs, "secondary"),
            "",
            "Data quality (never in the verdict; p uncorrected):",
            *quality_table(result.pairs),
        ]
    lines += ["", "Methods of every test and all columns: --wide or --json"]
    return lines


def comparison_for_people(
    result: Comparison,
    source: str,
    folder: Folder | None = None,
    mixed: MixedComparison | None = None,
) -> str:
    """The default terminal form of a comparison: verdict first, fits WIDTH columns (a word
    longer than a line, such as a long path, is the only exception)."""
    head = people_text(result, source, folder, mixed)
    return "\n".join([*head, *survival_lines(result), *body_text(result, source)])


def survival_lines(result: Comparison) -> list[str]:
    """Time to first use of force and to war, one sentence per outcome and level pair (not
    part of the verdict); nothing when the runs lack the survival columns."""
    s = result.survival
    if s is None or s.tests.empty:
        return []
    lines = [
        "",
        *wrap(
            "Survival (time to first use of force, time to war; censored at the rounds played;"
            " not part of the verdict):",
            "",
        ),
    ]
    for _, r in s.tests.iterrows():
        text = (
            f"{r['outcome']}: {r['level_b']} vs {r['level_a']}: events {int(r['events_b'])} vs"
            f" {int(r['events_a'])}, restricted mean rounds {num(r['rmst_b'])} vs"
            f" {num(r['rmst_a'])}, log-rank p = {num(r['logrank_p'])} (Holm"
            f" {num(r['logrank_p_holm'])}), hazard ratio {num(r['hazard_ratio'])}"
            f" [{num(r['hr_ci_low'])}, {num(r['hr_ci_high'])}]: {r['verdict']}"
        )
        lines += wrap(text, "    ", "  ")
    return lines


def mixed_lines(m: MixedComparison) -> list[str]:
    """The mixed model's verdict, one sentence per measure (with the pooled estimate beside
    it) and its warnings."""
    lines = wrap(f"Across {m.across}: {m.verdict} - {m.summary}", "  ")
    for _, r in m.effects.iterrows():
        if math.isnan(float(r["estimate"])):
            lines += wrap(f"{r['measure']}: the mixed model cannot be fitted", "    ", "  ")
            continue
        diff = float(r["estimate"])
        a, b = r["level_a"], r["level_b"]
        what = (
            f"{a} is {num(abs(diff))} {'higher' if diff > 0 else 'lower'} than {b}"
            if diff != 0
            else f"{a} and {b} do not differ"
        )
        text = (
            f"{r['measure']}: {what} (95% CI {num(r['ci_low'])} to {num(r['ci_high'])},"
            f" p = {num(r['p_value'])}, Holm p = {num(r['p_holm'])}, {int(r['n'])} runs in"
            f" {m.groups} {m.across} groups; {m.across} variance {num(r['group_var'])},"
            f" residual {num(r['resid_var'])}; pooled over {m.across}: {num(r['pooled_estimate'])}"
            f" [{num(r['pooled_ci_low'])}, {num(r['pooled_ci_high'])}])"
        )
        lines += wrap(text, "    ", "  ")
    for w in m.warnings:
        lines += wrap(w, "    ", "warning: ")
    return lines
