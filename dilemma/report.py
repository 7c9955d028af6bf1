"""One self-contained HTML report of an experiment (a sweep folder) or of a single record.

    write_report(Path("runs/2x2"), Path("report.html"))          # -> the written path
    write_report(folder, out, by=["transparency"])                # compare named factors only

Sections: provenance, runs, escalation curves with 95% bands, threat and misperception
heatmaps, spirals and wars per condition, comparison of every varying experiment factor
(evaluation.comparison), and run transcripts. Plots are PNG data URIs; the file has no scripts
and loads nothing. Every string taken from records (model text included) is HTML-escaped.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma import plots
from dilemma.transcript import Line, transcript_lines
from evaluation.columns import RUNS
from evaluation.comparison import DEFAULT_MEASURES, Comparison, compare, with_conditions
from evaluation.tables import Scores, record_paths, score
from records.reader import SET_ASIDE, NoRecordsError, read_header, read_record, read_run_end
from records.schema import Header, RecordError, RunEndEvent

MAX_TRANSCRIPTS = 50
MAX_CELLS = 10
"""Curves and heatmaps draw one line / panel per condition cell up to this many cells;
beyond it they are drawn per factor instead."""
GROUP = "_group"
ALL_RUNS = "all runs"
NONE_LEVEL = "(none)"
MEASURE_DOCS = {c.name: c.doc for c in RUNS}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.sig td{background:#fff3cd}
.verdict{font-weight:600;padding:.5em .7em;border-left:4px solid #888;background:#f7f7f7}
.verdict.yes{border-color:#c0392b}.verdict.no{border-color:#27ae60}
.note{color:#555;font-size:.9em}
img{max-width:100%;height:auto;border:1px solid #eee}
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
.tr{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82em;white-space:pre-wrap;
word-break:break-word}
.tr div{margin:0}.t-title{font-weight:700}.t-meta{color:#555}
.t-round{font-weight:700;margin-top:.7em!important;border-top:1px solid #eee}
.t-section{color:#2c3e50;font-style:italic}.t-state{font-weight:600}
.t-statement{color:#1a5276}.t-private{color:#7d3c98}
.t-flag{color:#b9770e;font-weight:700}.t-war{color:#c0392b;font-weight:700}
.t-treaty{color:#117a65}.t-end{color:#444}.t-outcome{font-weight:600}.t-note{color:#888}
nav ul{columns:2}code{font-size:.9em}
"""


class ReportError(ValueError):
    """A report that cannot be made (no records, unknown factor)."""


def esc(value: object) -> str:
    """HTML-escaped text of any value (quotes too)."""
    return escape("" if value is None else str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    """A short display form: integers as is, floats to `digits` significant figures."""
    if value is None or value is pd.NA:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        if abs(value) < 1e-2 or abs(value) >= 1e5:
            return f"{value:.{digits}g}"
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f}"
    return str(value)


def _table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], row_class: Sequence[str] = ()
) -> str:
    """An HTML table; every cell is escaped, numbers right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for n, row in enumerate(rows):
        cells = []
        for v in row:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{esc(_fmt(v))}</td>")
        cls = f' class="{row_class[n]}"' if n < len(row_class) and row_class[n] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    return f'<p><img src="{uri}" alt="{esc(alt)}"></p>'


def _or_unknown(value: object) -> object:
    return "?" if value is None else value


def _counted(values: Iterable[Any], limit: int = 8) -> str:
    counts = Counter(str(v) for v in values)
    items = [f"{v} (x{n})" if len(counts) > 1 else v for v, n in counts.most_common(limit)]
    more = f"; and {len(counts) - limit} more" if len(counts) > limit else ""
    return "; ".join(items) + more


def _seed_ranges(seeds: Iterable[int]) -> str:
    """Sorted distinct seeds with runs compressed: `0-9, 12`."""
    parts: list[list[int]] = []
    for x in sorted(set(seeds)):
        if parts and x == parts[-1][1] + 1:
            parts[-1][1] = x
        else:
            parts.append([x, x])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def _read_header(path: Path) -> Header | None:
    try:
        return read_header(path)
    except RecordError:
        return None


def _run_end(path: Path) -> RunEndEvent | None:
    try:
        return read_run_end(path)
    except RecordError:
        return None


# --------------------------------------------------------------------------- data


def _score_robustly(paths: list[Path]) -> tuple[Scores, list[tuple[Path, str]]]:
    """Score the records; if scoring the set fails, leave out the records that fail alone."""
    try:
        return score(paths), []
    except NoRecordsError as exc:
        raise ReportError(str(exc)) from exc
    except Exception as exc:  # a scorer bug on some record: find it, report the others
        first = exc
    bad: list[tuple[Path, str]] = []
    for p in paths:
        try:
            score([p])
        except NoRecordsError:
            continue  # unreadable: the scorer lists it among the skipped records
        except Exception as exc:
            bad.append((p, f"{type(exc).__name__}: {exc}"))
    left = [p for p in paths if p not in {b for b, _ in bad}]
    try:
        return score(left), bad
    except Exception as exc:
        raise ReportError(f"cannot score these records: {type(first).__name__}: {first}") from exc


def _latest_attempts(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """One record per run id, and the records it supersedes.

    A resumed sweep keeps unfinished attempts under `failed/` with the same run id as the redo.
    Preferred: outside a `failed` folder, then finished (has run_end), then most recent.
    """
    by_id: dict[str, list[Path]] = {}
    unreadable: list[Path] = []
    for p in paths:
        header = _read_header(p)
        if header is None:
            unreadable.append(p)  # left to the scorer, which reports why it is skipped
        else:
            by_id.setdefault(header.run_id, []).append(p)
    keep: list[Path] = []
    dropped: list[Path] = []
    for group in by_id.values():
        ranked = sorted(
            group,
            key=lambda p: (
                SET_ASIDE not in p.parts[:-1],
                _run_end(p) is not None,
                p.stat().st_mtime,
            ),
        )
        keep.append(ranked[-1])
        dropped += ranked[:-1]
    return sorted(keep + unreadable), sorted(dropped)


class _Data:
    """Scores, headers and conditions of the records of one report."""

    def __init__(self, source: Path, by: list[str] | None) -> None:
        try:
            paths, self.superseded = _latest_attempts(record_paths(source))
        except NoRecordsError as exc:
            raise ReportError(str(exc)) from exc
        self.scores, self.unscored = _score_robustly(paths)
        runs = self.scores.runs
        self.paths = {str(r): Path(p) for r, p in zip(runs["run_id"], runs["path"], strict=True)}
        self.headers = {rid: h for rid, p in self.paths.items() if (h := _read_header(p))}
        self.ends = {rid: e for rid, p in self.paths.items() if (e := _run_end(p))}
        self.runs = with_conditions(runs)
        self.factors = list(
            dict.fromkeys(
                k
                for h in self.headers.values()
                for k in (h.experiment.conditions if h.experiment else {})
            )
        )
        for f in self.factors:
            self.runs[f] = self.runs[f].astype("object").fillna(NONE_LEVEL).astype(str)
        self.varying = [f for f in self.factors if self.runs[f].nunique() > 1]
        if by:
            unknown = [f for f in by if f not in self.runs.columns]
            if unknown:
                choices = sorted({*self.factors, "model", "prompt_setup", "scenario"})
                raise ReportError(f"unknown factor(s) {unknown}; factors: {choices}")
            for f in by:
                self.runs[f] = self.runs[f].astype("object").fillna(NONE_LEVEL).astype(str)
            self.compared = list(by)
        else:
            self.compared = self.varying
        cell_factors = self.compared
        if cell_factors:
            self.runs[GROUP] = self.runs[cell_factors].astype(str).agg(" | ".join, axis=1)
        else:
            self.runs[GROUP] = ALL_RUNS
        self.cell_factors = cell_factors
        group_of = self.runs.set_index("run_id")[GROUP]
        self.rounds = self.scores.rounds.assign(
            **{GROUP: self.scores.rounds["run_id"].map(group_of)}
        )
        self.pairs = self.scores.pair_rounds.assign(
            **{GROUP: self.scores.pair_rounds["run_id"].map(group_of)}
        )


# --------------------------------------------------------------------------- sections


def _provenance(d: _Data, source: Path) -> str:
    hs = list(d.headers.values())
    exps = [h.experiment for h in hs if h.experiment]
    rows: list[tuple[str, str]] = []
    if exps:
        rows.append(("experiment", _counted(_or_unknown(e.name) for e in exps)))
        rows.append(("experiment file", _counted(_or_unknown(e.source) for e in exps)))
        declared = _counted(_or_unknown(e.runs) for e in exps)
        rows.append(("runs declared / records found", f"{declared} / {len(d.runs)}"))
        if d.factors:
            levels = "; ".join(f"{f}: {', '.join(sorted(d.runs[f].unique()))}" for f in d.factors)
            rows.append(("conditions", levels))
    else:
        rows.append(("experiment", "none (records without an experiment header)"))
        rows.append(("records", str(len(d.runs))))
    rows.append(("source", str(source)))
    rows.append(("scenarios", _counted(f"{h.scenario.name} ({h.scenario_source})" for h in hs)))
    models = []
    for h in hs:
        for sid, m in h.models.items():
            params = {k: v for k, v in m.params.items() if k != "seed"}
            models.append(
                f"{sid}: {m.spec} [{m.provider}/{m.model}, {m.structured_output}"
                + (f", {json.dumps(params, sort_keys=True)}" if params else "")
                + "]"
            )
    rows.append(("models (per state)", _counted(models, limit=12)))
    rows.append(
        (
            "prompt setup",
            _counted(
                f"{h.prompt.name} v{h.prompt.version}: "
                + ", ".join(f"{k}={v}" for k, v in h.prompt.template_hashes.items())
                for h in hs
            ),
        )
    )
    versions = [", ".join(f"{k} {v}" for k, v in sorted(h.package_versions.items())) for h in hs]
    rows.append(("package versions", _counted(versions, 4)))
    rows.append(
        (
            "git revision",
            _counted(
                f"{h.git_revision or 'unknown'}"
                + {True: " (dirty: uncommitted changes)", False: " (clean)", None: ""}[h.git_dirty]
                for h in hs
            ),
        )
    )
    rows.append(("seeds", _seed_ranges(h.seed for h in hs)))
    rows.append(
        (
            "max retries / response cache",
            _counted(f"{h.max_retries} / {h.response_cache}" for h in hs),
        )
    )
    starts = sorted(h.started_at.isoformat() for h in hs)
    ends = sorted(e.ended_at.isoformat() for e in d.ends.values())
    rows.append(
        (
            "time range (UTC)",
            f"{starts[0] if starts else '?'} .. {ends[-1] if ends else 'not finished'}",
        )
    )
    totals = [e.totals for e in d.ends.values()]
    costs = [t.cost_usd for t in totals]
    cost = (
        "unknown (a price is missing)"
        if any(c is None for c in costs)
        else f"${sum(float(c) for c in costs if c is not None):.4f}"
    )
    rows.append(
        (
            "model calls / re-asks / fallbacks",
            " / ".join(
                str(sum(getattr(t, k) for t in totals))
                for k in ("llm_calls", "retries", "fallbacks")
            ),
        )
    )
    tokens_in = sum(t.input_tokens for t in totals)
    tokens_out = sum(t.output_tokens for t in totals)
    rows.append(("tokens in / out; cost", f"{tokens_in} / {tokens_out}; {cost}"))
    rows.append(("command", _counted([" ".join(h.argv) for h in hs], 3)))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<h2 id="provenance">Experiment and provenance</h2><table>{body}</table>'


RUN_COLUMNS = (
    "outcome",
    "rounds",
    "escalation_index",
    "ladder_score_total",
    "mean_threat",
    "mean_misperception",
    "spiral_rounds",
    "war_round",
    "war_initiator",
    "treaties_formed",
    "breaches",
    "fallbacks",
)


def _runs_section(d: _Data, shown: set[str]) -> str:
    r = d.runs.sort_values([GROUP, "seed", "run_id"])
    out = ['<h2 id="runs">Runs</h2>']
    outcomes = Counter(str(o) for o in r["outcome"])
    out.append("<p>" + esc(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))) + "</p>")
    if d.superseded:
        out.append(
            f"<p class=note>{len(d.superseded)} earlier attempt(s) of runs recorded again later"
            " are left out: "
            + esc(", ".join(str(p.name) for p in d.superseded[:20]))
            + (" ..." if len(d.superseded) > 20 else "")
            + "</p>"
        )
    if d.unscored:
        out.append(
            "<p class=note>Records left out because the evaluator failed on them:</p><ul>"
            + "".join(f"<li>{esc(p)}: {esc(why)}</li>" for p, why in d.unscored)
            + "</ul>"
        )
    if d.scores.skipped:
        out.append(
            "<p class=note>Records that could not be read:</p><ul>"
            + "".join(f"<li>{esc(p)}: {esc(why)}</li>" for p, why in d.scores.skipped)
            + "</ul>"
        )
    header = ["run", *d.cell_factors, "seed", *RUN_COLUMNS]
    rows = []
    for _, row in r.iterrows():
        rid = str(row["run_id"])
        rows.append(
            [rid, *[row[f] for f in d.cell_factors], row["seed"], *[row[c] for c in RUN_COLUMNS]]
        )
    out.append(_table(header, rows))
    if len(shown) < len(r):
        out.append(f"<p class=note>{len(shown)} of {len(r)} runs have a transcript below.</p>")
    return "".join(out)


def _grouping(d: _Data) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """(column, title, runs, rounds, pairs) to draw: the condition cells, or each factor."""
    cells = d.runs[GROUP].nunique()
    if cells <= MAX_CELLS or not d.cell_factors:
        title = " | ".join(d.cell_factors) if d.cell_factors else ALL_RUNS
        return [(GROUP, title, d.runs, d.rounds, d.pairs)]
    out = []
    for f in d.cell_factors:
        level = d.runs.set_index("run_id")[f]
        out.append(
            (
                f,
                f,
                d.runs,
                d.rounds.assign(**{f: d.rounds["run_id"].map(level)}),
                d.pairs.assign(**{f: d.pairs["run_id"].map(level)}),
            )
        )
    return out


def _curves(d: _Data) -> str:
    out = [
        '<h2 id="curves">Escalation curves</h2>',
        "<p class=note>Mean over runs at each round with a t-based 95% band (no band with"
        " fewer than two runs). Runs that end early (war, failure) drop out of later rounds,"
        " so later points can rest on fewer runs. Growth and ladder score count answered"
        " decisions only (fallbacks are excluded).</p>",
    ]
    for col, title, runs, rounds, _ in _grouping(d):
        if rounds.empty:
            out.append("<p>No resolved rounds.</p>")
            continue
        out.append(f"<h3>By {esc(title)}</h3>")
        label = title if title == ALL_RUNS else f"by {title}"
        out.append(
            _img(plots.escalation_curves(rounds, col, label), f"escalation curves by {title}")
        )
        if runs["escalation_index"].notna().any():
            out.append(_img(plots.index_by_group(runs, col), f"escalation index by {title}"))
        out.append(_curve_numbers(rounds, col))
    return "".join(out)


def _curve_numbers(rounds: pd.DataFrame, col: str) -> str:
    """The final-round value of each curve, with its interval, as a table."""
    rows = []
    for measure, label in plots.CURVES:
        t = plots.curve_table(rounds, col, measure)
        for g, sub in t.groupby(col, sort=True):
            last = sub.dropna(subset=["mean"]).tail(1)
            if last.empty:
                continue
            x = last.iloc[0]
            ci = "" if math.isnan(x["low"]) else f"[{_fmt(x['low'])}, {_fmt(x['high'])}]"
            rows.append([label, g, int(x["round"]), float(x["mean"]), ci, int(x["n"])])
    return (
        "<details><summary>Last-round values</summary>"
        + _table(["measure", "condition", "round", "mean", "95% CI", "runs"], rows)
        + "</details>"
    )


def _heatmaps(d: _Data) -> str:
    out = [
        '<h2 id="heatmaps">Threat and misperception</h2>',
        "<p class=note>Row state i, column state j: mean over rounds and runs of i's"
        " perceived threat from j (0-10; top) and of i's misperception of j (perceived"
        " threat minus j's actual hostility toward i; bottom, &gt; 0 is overestimation).</p>",
    ]
    pairs_all = d.pairs
    if pairs_all.empty:
        return "".join([*out, "<p>No state decisions to show.</p>"])
    order: dict[str, list[str]] = {}
    for _, row in d.scores.states.sort_values("pos").iterrows():
        order.setdefault(str(row["run_id"]), []).append(str(row["state"]))
    scen = d.runs.set_index("run_id")["scenario"]
    grouping = _grouping(d)
    for col, title, _, _, pairs in grouping:
        if col == "scenario" and len(grouping) > 1:
            continue  # the heatmaps are drawn per scenario anyway
        pairs = pairs.assign(_scenario=pairs["run_id"].map(scen))
        groups = pairs[col].nunique()
        for sname, sub in pairs.groupby("_scenario", sort=True):
            first = str(sub["run_id"].iloc[0])
            states = order.get(first) or sorted(set(sub["i"]) | set(sub["j"]))
            label = f"scenario {sname}, " + (title if title == ALL_RUNS else f"by {title}")
            if groups > 6:
                sub = sub.assign(**{col: ALL_RUNS})
                label = f"scenario {sname}, all runs ({groups} conditions pooled)"
            out.append(f"<h3>{esc(label)}</h3>")
            out.append(_img(plots.heatmaps(sub, states, col, label), label))
    return "".join(out)


def _spirals_wars(d: _Data) -> str:
    out = ['<h2 id="spirals">Spirals and wars</h2>']
    rows = []
    for g, sub in d.runs.groupby(GROUP, sort=True):
        spiral = sub["spiral_rounds"]
        known = spiral.notna()
        initiators = Counter(str(x) for x in sub["war_initiator"].dropna())
        rows.append(
            [
                g,
                len(sub),
                int(sub["war"].sum()),
                float(sub["war"].mean()),
                ", ".join(f"{k} x{v}" for k, v in initiators.most_common()),
                int((spiral[known] > 0).sum()),
                int(spiral[known].sum()),
                float(sub["spiral_share"].mean())
                if sub["spiral_share"].notna().any()
                else math.nan,
                float(sub["escalation_index"].mean())
                if sub["escalation_index"].notna().any()
                else math.nan,
                int((~sub["complete"]).sum()),
                int(sub["fallbacks"].sum()),
            ]
        )
    out.append(
        _table(
            [
                "condition",
                "runs",
                "wars",
                "war share",
                "war initiators",
                "runs with a spiral",
                "spiral rounds",
                "mean spiral share",
                "mean escalation index",
                "incomplete",
                "fallbacks",
            ],
            rows,
        )
    )
    out.append(
        "<p class=note>A spiral round: in some dyad, both states raised arms and threat,"
        " each after the other's rise was observable. Runs without observation events"
        " have no spiral data and are not counted.</p>"
    )
    return "".join(out)


def _comparison_html(c: Comparison) -> str:
    cls = "yes" if c.changes_behaviour else "no"
    out = [f"<h3>{esc(c.by)}</h3>", f'<p class="verdict {cls}">{esc(c.verdict)}</p>']
    if c.levels.empty:
        return "".join(out)
    levels = sorted(c.levels["level"].unique(), key=str)
    rows = []
    for measure, sub in c.levels.groupby("measure", sort=False):
        by_level = sub.set_index("level")
        row: list[Any] = [measure]
        for lv in levels:
            if lv not in by_level.index:
                row.append("")
                continue
            x = by_level.loc[lv]
            ci = "" if pd.isna(x["ci_low"]) else f" [{_fmt(x['ci_low'])}, {_fmt(x['ci_high'])}]"
            row.append(f"{_fmt(x['mean'])}{ci} (n={int(x['n'])})")
        rows.append(row)
    out.append("<p>Mean per level with a percentile-bootstrap 95% interval.</p>")
    out.append(_table(["measure", *levels], rows))
    if not c.pairs.empty:
        prow = []
        classes = []
        for _, p in c.pairs.iterrows():
            ci = "" if pd.isna(p["ci_low"]) else f"[{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}]"
            sig = (
                bool(p.get("significant", False))
                if not pd.isna(p.get("significant", False))
                else False
            )
            prow.append(
                [
                    p["measure"],
                    f"{p['level_a']} - {p['level_b']}",
                    p["diff"],
                    ci,
                    p["hedges_g"],
                    p["p_value"],
                    p.get("p_holm", math.nan),
                    "yes" if sig else "no",
                ]
            )
            classes.append("sig" if sig else "")
        out.append(
            "<p>Pairwise differences of means (a - b) with bootstrap 95% intervals,"
            " Hedges' g, two-sided permutation p and Holm-adjusted p over all pairs and"
            " measures (significant at 0.05 highlighted).</p>"
        )
        out.append(
            _table(
                ["measure", "a - b", "diff", "95% CI", "Hedges g", "p", "Holm p", "significant"],
                prow,
                classes,
            )
        )
    return "".join(out)


def _comparisons(d: _Data) -> str:
    out = ['<h2 id="comparison">Comparison of conditions</h2>']
    if not d.compared:
        why = (
            "these records carry no experiment conditions"
            if not d.factors
            else f"no experiment factor varies across these runs ({', '.join(d.factors)})"
        )
        out.append(f"<p>No comparison: {esc(why)}.</p>")
        return "".join(out)
    out.append(
        "<p class=note>Each factor is compared on its own, pooling over the other"
        " factors. Measures: "
        + esc(", ".join(f"{m} ({MEASURE_DOCS.get(m, '')})" for m in DEFAULT_MEASURES))
        + ".</p>"
    )
    for f in d.compared:
        out.append(_comparison_html(compare(d.runs, f)))
    return "".join(out)


def _pick_transcripts(runs: pd.DataFrame, cap: int) -> list[str]:
    """Up to `cap` run ids, taken in turn from each condition so every condition shows."""
    queues = [
        list(sub.sort_values(["seed", "run_id"])["run_id"].astype(str))
        for _, sub in runs.groupby(GROUP, sort=True)
    ]
    picked: list[str] = []
    while len(picked) < cap and any(queues):
        for q in queues:
            if q and len(picked) < cap:
                picked.append(q.pop(0))
    return picked


def _lines_html(lines: list[Line]) -> str:
    return "".join(
        f'<div class="t-{esc(line.style)}" style="padding-left:{1.5 * line.indent}em">'
        f"{esc(line.text)}</div>"
        for line in lines
    )


def _transcripts(d: _Data, picked: list[str], cap: int) -> str:
    out = ['<h2 id="transcripts">Transcripts</h2>']
    total = len(d.runs)
    if len(picked) < total:
        out.append(
            f"<p>Showing {len(picked)} of {total} runs (at most {cap}, taken in turn from"
            " each condition). Use <code>dilemma show RECORD</code> for any other run.</p>"
        )
    out.append(
        "<p class=note>Messages, public statements and decisions as recorded."
        " <span class=t-private>[private]</span> lines were never shown to other states;"
        " <span class=t-flag>FLAGGED</span> marks fallbacks after invalid replies.</p>"
    )
    info = d.runs.set_index("run_id")
    for rid in picked:
        row = info.loc[rid]
        idx = row["escalation_index"]
        summary = (
            f"{rid} | {row[GROUP]} | seed {row['seed']} | {row['outcome']}"
            f" | {row['rounds']} rounds" + ("" if pd.isna(idx) else f" | index {float(idx):.1f}")
        )
        try:
            body = _lines_html(transcript_lines(read_record(d.paths[rid])))
        except (OSError, RecordError) as exc:
            body = f"<div class=t-flag>{esc(exc)}</div>"
        out.append(
            f'<details id="run-{esc(rid)}"><summary>{esc(summary)}</summary>'
            f'<div class="tr">{body}</div></details>'
        )
    return "".join(out)


def render_report(
    source: Path, by: list[str] | None = None, max_transcripts: int = MAX_TRANSCRIPTS
) -> str:
    """The report of a record or a folder of records as an HTML string."""
    d = _Data(source, by)
    exps = [h.experiment for h in d.headers.values() if h.experiment]
    name = (exps[0].name if exps else None) or (
        f"run {d.runs['run_id'].iloc[0]}" if len(d.runs) == 1 else source.name
    )
    picked = _pick_transcripts(d.runs, max_transcripts)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = (
        "<nav><ul>"
        + "".join(
            f'<li><a href="#{a}">{t}</a></li>'
            for a, t in (
                ("provenance", "Experiment and provenance"),
                ("runs", "Runs"),
                ("curves", "Escalation curves"),
                ("heatmaps", "Threat and misperception"),
                ("spirals", "Spirals and wars"),
                ("comparison", "Comparison of conditions"),
                ("transcripts", "Transcripts"),
            )
        )
        + "</ul></nav>"
    )
    sections = [
        _provenance(d, source),
        _runs_section(d, set(picked)),
        _curves(d),
        _heatmaps(d),
        _spirals_wars(d),
        _comparisons(d),
        _transcripts(d, picked, max_transcripts),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(name)} - security dilemma report</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>Security dilemma report: {esc(name)}</h1>"
        f"<p class=note>{len(d.runs)} run(s) from {esc(source)}; generated {esc(now)}.</p>"
        + nav
        + "".join(sections)
        + "</body></html>\n"
    )


def write_report(
    folder: Path, out: Path, by: list[str] | None = None, max_transcripts: int = MAX_TRANSCRIPTS
) -> Path:
    """Write the HTML report of `folder` (a sweep folder or one record) to `out`; return `out`.

    `by` names the factors to compare and group by (default: every experiment factor that
    varies). Raises ReportError when there is no readable record or a factor is unknown.
    """
    html = render_report(folder, by, max_transcripts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
