"""The commands that read records: score, compare, export, report and show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dilemma.cli.common import NoCacheOption, console, err, fail, use_score_cache
from dilemma.cli.common import out as results
from dilemma.core.safe_text import redact, safe_console


def score(
    path: Annotated[Path, typer.Argument(help="a record or a folder of records")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per run")] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="every column and estimate (default: fit the terminal, e.g. 80 columns)"
        ),
    ] = False,
    no_cache: NoCacheOption = False,
) -> None:
    """Score records: escalation, spirals, misperception, Richardson fits, data quality."""
    use_score_cache(no_cache)
    import shutil

    from dilemma.cli.score_format import score_json_text, score_text
    from dilemma.records.schema import RecordError

    try:
        if as_json:
            print(redact(score_json_text(path)))
        else:
            width = None if wide else shutil.get_terminal_size((80, 24)).columns
            print(safe_console(score_text(path, width)))
    except (RecordError, OSError) as exc:
        raise fail(str(exc)) from exc


def compare(
    path: Annotated[Path, typer.Argument(help="a folder of records (e.g. a sweep's)")],
    by: Annotated[str, typer.Option(help="factor to compare (an experiment condition)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="add the full tables (wider than 100 columns)")
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap and permutations")] = 0,
    where: Annotated[
        list[str] | None,
        typer.Option(help="FACTOR=LEVEL: compare only within these runs; repeatable"),
    ] = None,
    primary: Annotated[
        list[str] | None,
        typer.Option(
            help="primary measure(s) deciding the verdict; repeatable or comma-separated"
            " (default: the experiment file's, else escalation_index, mean_threat,"
            " mean_growth_pct, war)"
        ),
    ] = None,
    margin: Annotated[
        list[str] | None,
        typer.Option(help="MEASURE=VALUE equivalence margin; repeatable"),
    ] = None,
    interaction: Annotated[
        str | None,
        typer.Option(help="a second factor: report the BY x INTERACTION interaction"),
    ] = None,
    across: Annotated[
        str | None,
        typer.Option(
            help="a grouping such as model or prompt_setup: also estimate BY's effect with a"
            " mixed model, random intercepts by ACROSS (MixedLM)"
        ),
    ] = None,
    reaction: Annotated[
        bool,
        typer.Option(
            "--reaction",
            help="also test the pooled Richardson reaction coefficient k between the levels",
        ),
    ] = False,
    permutations: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="most random relabellings of a Monte Carlo p-value (default 2,000,000;"
            " fewer are drawn once the verdict cannot move)",
        ),
    ] = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Does a factor change behaviour? Verdict changes / equivalent / inconclusive, with tests."""
    use_score_cache(no_cache)
    from dilemma.cli.compare import CompareRequest, compare_output
    from dilemma.evaluation.comparison import CompareError
    from dilemma.evaluation.conditions import pilot_note
    from dilemma.evaluation.tables import record_paths
    from dilemma.records.schema import RecordError

    request = CompareRequest(
        by=by,
        where=where or [],
        primary=primary or [],
        margins=margin or [],
        interaction=interaction,
        seed=seed,
        across=across,
        reaction=reaction,
        permutations=permutations,
    )
    try:
        note = pilot_note(record_paths(path))
        if note is not None:
            err.print(note, style="yellow", highlight=False, markup=False, soft_wrap=True)
        print(compare_output(path, request, as_json=as_json, wide=wide))
    except (RecordError, CompareError, OSError) as exc:
        raise fail(str(exc)) from exc


def export(
    path: Annotated[Path, typer.Argument(help="a record or a folder of records")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for the tables")],
    no_cache: NoCacheOption = False,
) -> None:
    """Export runs, rounds, dyads, states, pairs, texts and calls (CSV, Parquet, dictionary)."""
    use_score_cache(no_cache)
    from dilemma.cli.export import export_tables
    from dilemma.records.schema import RecordError

    try:
        written = export_tables(path, out)
    except (RecordError, OSError) as exc:
        raise fail(str(exc)) from exc
    for file in written:
        console.print(str(file), highlight=False)


def report(
    path: Annotated[Path, typer.Argument(help="a folder of records (e.g. a sweep's) or a record")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")] = Path(
        "report.html"
    ),
    by: Annotated[
        list[str] | None, typer.Option(help="factor to compare; repeatable (default: all)")
    ] = None,
    calls: Annotated[
        int,
        typer.Option(
            "--calls",
            min=0,
            help="include each run's model calls when the report has at most this many runs",
        ),
    ] = 10,
    no_cache: NoCacheOption = False,
) -> None:
    """Write one self-contained HTML report: verdicts, stats, plots, transcripts, model calls."""
    use_score_cache(no_cache)
    from dilemma.records.schema import RecordError
    from dilemma.report.build import ReportError, write_report

    try:
        written = write_report(path, output, by=by or None, max_call_runs=calls)
    except (ReportError, RecordError, OSError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"report: {written}", highlight=False)


def show(
    record: Annotated[
        Path, typer.Argument(help="a record (.jsonl), or a folder: lists its records")
    ],
) -> None:
    """Print a readable transcript of one run (a folder: list its records, or show its only one)."""
    from dilemma.records.schema import RecordError
    from dilemma.report.transcript import transcript

    try:
        if record.is_dir():
            from dilemma.cli.record_list import folder_listing

            text, only = folder_listing(record)
            if only is None:
                results.print(safe_console(text), markup=False, highlight=False, soft_wrap=True)
                return
            record = only
        text = transcript(record)
    except (RecordError, OSError) as exc:
        raise fail(str(exc)) from exc
    results.print(safe_console(text), markup=False, highlight=False)
