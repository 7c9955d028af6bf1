"""The report's sections as HTML: provenance, runs, curves, heatmaps, spirals, transcripts.

Each function takes the gathered `ReportData` and returns one section; the comparison of
conditions is in dilemma.report.comparison.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from dilemma.records.reader import read_record
from dilemma.records.schema import RecordError
from dilemma.report import plots
from dilemma.report.calls import call_history
from dilemma.report.data import ALL_RUNS, GROUP, ReportData
from dilemma.report.html import (
    counted,
    esc,
    fmt,
    img,
    lines_html,
    or_unknown,
    seed_ranges,
    table,
)
from dilemma.report.transcript import transcript_lines

MAX_CELLS = 10
"""Curves and heatmaps draw one line / panel per condition cell up to this many cells;
beyond it they are drawn per factor instead."""


def provenance_section(d: ReportData, source: Path) -> str:
    hs = list(d.headers.values())
    exps = [h.experiment for h in hs if h.experiment]
    rows: list[tuple[str, str]] = []
    if exps:
        rows.append(("experiment", counted(or_unknown(e.name) for e in exps)))
        rows.append(("experiment file", counted(or_unknown(e.source) for e in exps)))
        declared = counted(or_unknown(e.runs) for e in exps)
        rows.append(("runs declared / records found", f"{declared} / {len(d.runs)}"))
        if d.factors:
            levels = "; ".join(f"{f}: {', '.join(sorted(d.runs[f].unique()))}" for f in d.factors)
            rows.append(("conditions", levels))
    else:
        rows.append(("experiment", "none (records without an experiment header)"))
        rows.append(("records", str(len(d.runs))))
    rows.append(("source", str(source)))
    rows.append(("scenarios", counted(f"{h.scenario.name} ({h.scenario_source})" for h in hs)))
    models = []
    for h in hs:
        for sid, m in h.models.items():
            params = {k: v for k, v in m.params.items() if k != "seed"}
            models.append(
                f"{sid}: {m.spec} [{m.provider}/{m.model}, {m.structured_output}"
                + (f", {json.dumps(params, sort_keys=True)}" if params else "")
                + "]"
            )
    rows.append(("models (per state)", counted(models, limit=12)))
    rows.append(
        (
            "prompt setup",
            counted(
                f"{h.prompt.name} v{h.prompt.version}: "
                + ", ".join(f"{k}={v}" for k, v in h.prompt.template_hashes.items())
                for h in hs
            ),
        )
    )
    versions = [", ".join(f"{k} {v}" for k, v in sorted(h.package_versions.items())) for h in hs]
    rows.append(("package versions", counted(versions, 4)))
    rows.append(
        (
            "git revision",
            counted(
                f"{h.git_revision or 'unknown'}"
                + {True: " (dirty: uncommitted changes)", False: " (clean)", None: ""}[h.git_dirty]
                for h in hs
            ),
        )
    )
    rows.append(("seeds", seed_ranges(h.seed for h in hs)))
    rows.append(
        (
            "max retries / response cache",
            counted(f"{h.max_retries} / {h.response_cache}" for h in hs),
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
    rows.append(("command", counted([" ".join(h.argv) for h in hs], 3)))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (
        '<h2 id="provenance">Experiment and provenance</h2>'
        f'<div class="scroll"><table class="kv">{body}</table></div>'
    )


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
    "rule_violations",
)


def runs_section(d: ReportData, shown: set[str]) -> str:
    r = d.runs.sort_values([GROUP, "seed", "run_id"])
    out = ['<h2 id="runs">Runs</h2>']
    outcomes = Counter(str(o) for o in r["outcome"])
    out.append("<p>" + esc(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))) + "</p>")
    broken = r[r["rule_violations"].fillna(0) > 0]
    if not broken.empty:
        out.append(
            f"<p class=note><span class=t-flag>RULES</span> {len(broken)} run(s) break their own"
            " scenario rules (column rule_violations; `dilemma score` lists which): "
            + esc(", ".join(str(x) for x in broken["run_id"]))
            + "</p>"
        )
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
    out.append(table(header, rows))
    if len(shown) < len(r):
        out.append(f"<p class=note>{len(shown)} of {len(r)} runs have a transcript below.</p>")
    return "".join(out)


def condition_groups(
    d: ReportData,
) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
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


def curves_section(d: ReportData) -> str:
    out = [
        '<h2 id="curves">Escalation curves</h2>',
        "<p class=note>Mean over runs at each round with a t-based 95% band (no band with"
        " fewer than two runs). Runs that end early (war, failure) drop out of later rounds,"
        " so later points can rest on fewer runs. Growth and ladder score count answered"
        " decisions only (fallbacks are excluded).</p>",
    ]
    for col, title, runs, rounds, _ in condition_groups(d):
        if rounds.empty:
            out.append("<p>No resolved rounds.</p>")
            continue
        out.append(f"<h3>By {esc(title)}</h3>")
        label = title if title == ALL_RUNS else f"by {title}"
        out.append(
            img(plots.escalation_curves(rounds, col, label), f"escalation curves by {title}")
        )
        if runs["escalation_index"].notna().any():
            out.append(img(plots.index_by_group(runs, col), f"escalation index by {title}"))
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
            ci = "" if math.isnan(x["low"]) else f"[{fmt(x['low'])}, {fmt(x['high'])}]"
            rows.append([label, g, int(x["round"]), float(x["mean"]), ci, int(x["n"])])
    return (
        "<details><summary>Last-round values</summary>"
        + table(["measure", "condition", "round", "mean", "95% CI", "runs"], rows)
        + "</details>"
    )


def heatmaps_section(d: ReportData) -> str:
    out = [
        '<h2 id="heatmaps">Threat and misperception</h2>',
        "<p class=note>Row state i, column state j: mean over rounds and runs of i's"
        " perceived threat from j (0-10; top) and of i's misperception of j (perceived"
        " threat minus the threat warranted by j's arms as i saw them and j's actual hostility"
        " toward i; bottom, &gt; 0 is overestimation).</p>",
    ]
    pairs_all = d.pairs
    if pairs_all.empty:
        return "".join([*out, "<p>No state decisions to show.</p>"])
    order: dict[str, list[str]] = {}
    for _, row in d.scores.states.sort_values("pos").iterrows():
        order.setdefault(str(row["run_id"]), []).append(str(row["state"]))
    scen = d.runs.set_index("run_id")["scenario"]
    grouping = condition_groups(d)
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
            width = plots.heatmap_width_px(sub[col].nunique(), len(states))
            out.append(img(plots.heatmaps(sub, states, col, label), label, int(0.8 * width)))
    return "".join(out)


def spirals_section(d: ReportData) -> str:
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
        table(
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
        "<p class=note>A spiral round: in some dyad, both states raised arms and raised (not"
        " held) their threat, each after the other's rise was observable. Runs without"
        " observation events have no spiral data and are not counted.</p>"
    )
    return "".join(out)


def pick_transcripts(runs: pd.DataFrame, cap: int) -> list[str]:
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


def transcripts_section(d: ReportData, picked: list[str], cap: int, max_call_runs: int) -> str:
    """Transcripts of the picked runs; each with its call history when the report has at
    most `max_call_runs` runs (otherwise a note says how to see one)."""
    out = ['<h2 id="transcripts">Transcripts and model calls</h2>']
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
    with_calls = total <= max_call_runs
    if with_calls:
        out.append(
            "<p class=note>Under each transcript, <b>Model calls</b> lists every call: the"
            " messages sent, the raw reply, the parsed result, refused replies with their"
            " validation error and the re-ask that followed, tokens, latency, cost, and"
            " whether the step ended in a fallback.</p>"
        )
    else:
        example = next(iter(d.paths.values()), Path("RECORD.jsonl"))
        out.append(
            f"<p class=note>Call histories (messages sent, raw replies, re-asks, tokens,"
            f" latency, cost) are included when a report has at most {max_call_runs} runs;"
            f" this one has {total}. For one run: <code>dilemma report"
            f" {esc(example)} -o run.html</code> (any record), or raise the limit with"
            f" <code>--calls {total}</code>.</p>"
        )
    info = d.runs.set_index("run_id")
    for rid in picked:
        row = info.loc[rid]
        idx = row["escalation_index"]
        summary = (
            f"{rid} | {row[GROUP]} | seed {row['seed']} | {row['outcome']}"
            f" | {row['rounds']} rounds" + ("" if pd.isna(idx) else f" | index {float(idx):.1f}")
        )
        calls = ""
        try:
            record = read_record(d.paths[rid])
            body = lines_html(transcript_lines(record))
            if with_calls:
                calls = (
                    f'<details class="calls" id="calls-{esc(rid)}"><summary>Model calls of'
                    f" {esc(rid)}</summary>{call_history(record)}</details>"
                )
        except (OSError, RecordError) as exc:
            body = f"<div class=t-flag>{esc(exc)}</div>"
        opened = " open" if total == 1 else ""
        out.append(
            f'<details id="run-{esc(rid)}"{opened}><summary>{esc(summary)}</summary>'
            f'<div class="tr">{body}</div>{calls}</details>'
        )
    return "".join(out)
