"""The `dilemma` command line: run, scenarios, validate (and the evaluator's score)."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from langchain_core.rate_limiters import InMemoryRateLimiter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dilemma._version import __version__
from dilemma.agents.prompt_setup import PromptSetupError, load_prompt_setup
from dilemma.core.safe_text import redact, safe_console
from dilemma.experiments.executors import Executor, RayOptions
from dilemma.models.budget import SpendBudget, SpendLimit, unpriced
from dilemma.models.pricing import PRICES_ENV, PricingError, load_prices
from dilemma.models.registry import ModelOptions, ModelSpecError
from dilemma.records.schema import RecordError
from dilemma.scenarios.library import (
    ScenarioError,
    builtin_names,
    load_builtin,
    load_scenario,
    parse_scenario,
)
from dilemma.scenarios.schema import Scenario
from dilemma.simulation.engine import RoundReport
from dilemma.simulation.runner import (
    RunConfig,
    RunFailed,
    RunSpecError,
    RunStopped,
    model_specs,
    run_scenario,
)

app = typer.Typer(
    help="Security-dilemma negotiation sandbox: LLM state personas negotiate, arm and escalate.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        print(f"dilemma {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Security-dilemma negotiation sandbox: LLM state personas negotiate, arm and escalate."""

BAD_INPUT = 2
RUN_FAILED = 1
SPEND_LIMIT = 3
"""Exit code when --max-cost or --max-calls stopped the command (rerun a sweep with --resume)."""

LOCAL_NOTE = (
    "Note: the embedded model `local` is Gemma 3 270M, a small *base* (pretrained) model; only its"
    " schema-constrained output is usable and its judgement is poor. Use it to try the sandbox;"
    " use a real model (e.g. --model openai:gpt-4o-mini) for real studies."
)


def _fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    # The message quotes user input (YAML values, paths) and server text: never parse it as
    # markup, never wrap it, never print a key or a control character from it.
    err.print(f"[red]error:[/red] {escape(safe_console(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


TIMEOUT_HELP = (
    "seconds per HTTP attempt, first byte to last (default: 120 for remote APIs, 600 for local)"
)
DEADLINE_HELP = (
    "seconds per model call, every attempt and retry included (default: 300 for remote APIs,"
    " 1800 for local)"
)


MAX_COST_HELP = (
    "stop before the model call that would take this command's spend above USD (prices from the"
    " price table; every model must have one); exit 3"
)
MAX_CALLS_HELP = "make at most N model calls in this command, then stop cleanly; exit 3"


def _positive_usd(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter("must be a positive number of USD")
    return value


def _spend_limit(
    max_cost: float | None, max_calls: int | None, specs: Iterable[str]
) -> SpendLimit | None:
    """The limits asked for; refuses --max-cost when a model has no price (it could not
    limit anything)."""
    if max_cost is None and max_calls is None:
        return None
    if max_cost is not None:
        try:
            missing = unpriced(specs)
        except ModelSpecError as exc:
            raise _fail(str(exc)) from exc
        if missing:
            raise _fail(
                f"--max-cost: no price for {', '.join(missing)}, so its spend cannot be limited;"
                f" add a price (USD per 1M input and output tokens) to a YAML file named by"
                f' {PRICES_ENV}, e.g. "{missing[0]}": {{input: 0.15, output: 0.60}}, or use'
                " --max-calls"
            )
    return SpendLimit(max_cost_usd=max_cost, max_calls=max_calls)


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("must be a finite number")
    return value


def _positive_seconds(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter("must be a positive number of seconds")
    return value


TimeoutOption = Annotated[
    float | None, typer.Option(help=TIMEOUT_HELP, callback=_positive_seconds, metavar="SECONDS")
]
DeadlineOption = Annotated[
    float | None, typer.Option(help=DEADLINE_HELP, callback=_positive_seconds, metavar="SECONDS")
]
MaxCostOption = Annotated[
    float | None, typer.Option(help=MAX_COST_HELP, callback=_positive_usd, metavar="USD")
]
MaxCallsOption = Annotated[int | None, typer.Option(min=1, help=MAX_CALLS_HELP, metavar="N")]
"""Options that `run` and `sweep` share."""


def _with_overrides(scenario: Scenario, rounds: int | None, source: str) -> Scenario:
    if rounds is None:
        return scenario
    data = scenario.model_dump(mode="json", exclude_unset=True)  # what it leaves unset stays so
    data.setdefault("rules", {})["rounds"] = rounds
    return parse_scenario(data, f"{source} (with --rounds {rounds})")


def _check_prompt_setup(scenario: Scenario, source: str, override: str | None) -> None:
    """Load the setup a run will use; a bad one named by the scenario is a scenario error."""
    if override:
        load_prompt_setup(override)
        return
    try:
        load_prompt_setup(scenario.prompt_setup)
    except PromptSetupError as exc:
        raise ScenarioError(f"{source}: prompt_setup: {exc}") from exc


def _limiter(rps: float | None) -> InMemoryRateLimiter | None:
    if rps is None:
        return None
    if not (math.isfinite(rps) and rps > 0):
        raise _fail("--rps must be a positive number")
    return InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=0.05)


def _parse_state_models(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        state, sep, spec = item.partition("=")
        if not sep or not state or not spec:
            raise RunSpecError(
                f"--state-model {item!r}: expected ID=SPEC (e.g. Aria=scripted:dove)"
            )
        out[state] = spec
    return out


def _progress(report: RoundReport) -> None:
    table = Table(title=f"Round {report.round}", title_justify="left", show_edge=False)
    table.add_column("state")
    table.add_column("arms", justify="right")
    table.add_column("change", justify="right")
    table.add_column("action")
    table.add_column("threat view (0-10)")
    for outcome in report.resolution.outcomes:
        view = report.end.threat.get(outcome.state)
        threat = (
            ", ".join(f"{k} {v}" for k, v in view.items()) if view else "[yellow]flagged[/yellow]"
        )
        action = outcome.action.value + (f" -> {outcome.target}" if outcome.target else "")
        change = f"{outcome.applied_change:+.1f}%"
        if outcome.adjustments:
            change += "*"
        table.add_row(outcome.state, f"{outcome.arms_after:.1f}", change, action, threat)
    console.print(table)
    for w in report.resolution.wars:
        console.print(f"[bold red]WAR[/bold red]: {w.initiator} chose {w.action.value}")
    for t in report.resolution.treaties_formed:
        console.print(f"treaty formed: {t.kind} among {', '.join(t.parties)}")
    for b in report.resolution.breaches:
        console.print(f"[red]breach[/red]: {b.state} broke {b.treaty} ({b.limit})")


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="built-in scenario name or YAML file")],
    model: Annotated[
        str | None, typer.Option(help="model spec for every state (default: local)")
    ] = None,
    state_model: Annotated[
        list[str] | None, typer.Option("--state-model", help="ID=SPEC for one state; repeatable")
    ] = None,
    rounds: Annotated[int | None, typer.Option(help="override the number of rounds")] = None,
    seed: Annotated[int, typer.Option(help="seed of all randomness")] = 0,
    out: Annotated[Path, typer.Option(help="folder for the record")] = Path("runs"),
    prompt_setup: Annotated[str | None, typer.Option(help="prompt setup name or YAML file")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server (or DILEMMA_BASE_URL)")
    ] = None,
    max_retries: Annotated[
        int, typer.Option(min=0, help="re-asks after an invalid reply (0 or more)")
    ] = 2,
    concurrency: Annotated[
        int, typer.Option(min=1, help="model calls in flight at most (1 or more)")
    ] = 4,
    temperature: Annotated[
        float | None, typer.Option(help="sampling temperature", callback=_finite)
    ] = None,
    rps: Annotated[
        float | None, typer.Option(help="model requests per second at most (LangChain limiter)")
    ] = None,
    timeout: TimeoutOption = None,
    call_deadline: DeadlineOption = None,
    max_cost: MaxCostOption = None,
    max_calls: MaxCallsOption = None,
) -> None:
    """Run one negotiation and write its research record."""
    try:
        loaded, source = load_scenario(scenario)
        loaded = _with_overrides(loaded, rounds, source)
        overrides = _parse_state_models(state_model or [])
        specs = model_specs(loaded, overrides, model)
        if "human" in specs.values():
            raise RunSpecError(
                "a state with model `human` needs a person: use `dilemma play` (terminal) or"
                " `dilemma serve` (web)"
            )
        _check_prompt_setup(loaded, source, prompt_setup)
        load_prices()  # a bad DILEMMA_PRICES file is bad input, found before anything runs
    except (ScenarioError, RunSpecError, PromptSetupError, PricingError) as exc:
        raise _fail(str(exc)) from exc
    limit = _spend_limit(max_cost, max_calls, specs.values())
    if "local" in specs.values():
        console.print(LOCAL_NOTE, style="yellow")
    console.print(
        f"Running [bold]{loaded.name}[/bold] ({loaded.rules.rounds} rounds, seed {seed}); models: "
        + ", ".join(f"{k}={v}" for k, v in specs.items()),
        highlight=False,
    )
    options = ModelOptions(
        base_url=base_url,
        temperature=temperature,
        rate_limiter=_limiter(rps),
        timeout_s=timeout,
        deadline_s=call_deadline,
    )
    try:
        path = asyncio.run(
            run_scenario(
                loaded,
                RunConfig(
                    seed=seed,
                    out_dir=out,
                    prompt_setup=prompt_setup,
                    max_retries=max_retries,
                    max_in_flight=concurrency,
                    scenario_source=source,
                    on_round=_progress,
                    argv=sys.argv,
                    budget=SpendBudget(limit) if limit is not None else None,
                ),
                overrides=overrides,
                default_model=model,
                options=options,
            )
        )
    except ModelSpecError as exc:
        raise _fail(str(exc)) from exc
    except RunFailed as exc:
        raise _fail(str(exc), RUN_FAILED) from exc
    except RunStopped as exc:
        _summary(exc.path)
        err.print(
            f"stopped: {safe_console(exc.reason)}; the record ends with outcome `stopped`",
            highlight=False,
            markup=False,
            emoji=False,
        )
        raise typer.Exit(SPEND_LIMIT) from None
    except KeyboardInterrupt:
        err.print("interrupted; the record ends with an `interrupted` event")
        raise typer.Exit(130) from None
    _summary(path)


def _summary(path: Path) -> None:
    from dilemma.records.reader import read_record
    from dilemma.records.schema import DecisionEvent

    record = read_record(path)
    end = record.run_end
    if end is None:
        console.print(f"record: {path} (incomplete)")
        return
    flagged = sum(1 for d in record.of_kind(DecisionEvent) if d.flagged)
    decisions = len(record.of_kind(DecisionEvent))
    console.print(
        f"\n[bold]{end.outcome}[/bold] after {end.rounds_played} rounds"
        + (
            f"; war started by {end.war_initiator} in round {end.war_round}"
            if end.war_round
            else ""
        )
        + f". Model calls: {end.totals.llm_calls} (re-asks {end.totals.retries});"
        f" flagged decisions: {flagged}/{decisions}; tokens in/out:"
        f" {end.totals.input_tokens}/{end.totals.output_tokens}.",
        highlight=False,
    )
    console.print(f"record: {path}", highlight=False)


from dilemma.cli import seat as seat_cli  # noqa: E402  (the seat commands use the helpers above)

app.command()(seat_cli.play)
app.command()(seat_cli.serve)


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    for name in builtin_names():
        sc = load_builtin(name)
        kinds = ", ".join(f"{s.id} ({s.regime.value}/{s.transparency.value})" for s in sc.states)
        first = sc.description.split(". ")[0].rstrip(".")
        console.print(f"[bold]{name}[/bold]: {kinds}. {first}.", highlight=False)


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check a scenario file; exit 2 with the field path when it is invalid."""
    try:
        sc, source = load_scenario(str(path))
        _check_prompt_setup(sc, source, None)
    except (ScenarioError, PromptSetupError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{path}: valid ({len(sc.states)} states, {sc.rules.rounds} rounds)")


@app.command()
def sweep(
    experiment: Annotated[
        Path, typer.Argument(help="experiment YAML file or the name of a packaged example")
    ],
    concurrency: Annotated[
        int, typer.Option(min=1, help="model calls in flight across all runs (1 or more)")
    ] = 8,
    resume: Annotated[
        bool, typer.Option(help="skip complete runs; redo failed, interrupted and stopped ones")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="folder for records (default runs/NAME)")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite response cache")] = None,
    replay: Annotated[bool, typer.Option(help="answer only from --cache; stop at a miss")] = False,
    model: Annotated[
        str | None, typer.Option(help="override the model of every state in every run")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    rps: Annotated[
        float | None, typer.Option(help="model requests per second at most (LangChain limiter)")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="sampling temperature of every model (recorded)", callback=_finite),
    ] = None,
    timeout: TimeoutOption = None,
    call_deadline: DeadlineOption = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="run only shard I of N (1 <= I <= N), chosen by a hash of each run id; the N"
            " shards are disjoint and cover the experiment",
            metavar="I/N",
        ),
    ] = None,
    max_cost: MaxCostOption = None,
    max_calls: MaxCallsOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="print the runs and their estimated model calls, tokens and cost; run nothing"
        ),
    ] = False,
    executor: Annotated[
        Executor,
        typer.Option(help="local: one asyncio process; ray: runs as Ray tasks (the `ray` extra)"),
    ] = Executor.LOCAL,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray worker processes (default: the CPUs of the local instance or cluster)",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to use (auto, ray://HOST:PORT); default: start a local instance"
        ),
    ] = None,
) -> None:
    """Run every run of an experiment concurrently; records go to one folder."""
    from dilemma.cli.sweep import dry_run as print_estimate
    from dilemma.cli.sweep import run_sweep
    from dilemma.experiments.shards import Shard, ShardError
    from dilemma.experiments.spec import (
        ExperimentError,
        expand,
        find_experiment,
        load_experiment,
    )

    try:
        part = Shard.parse(shard) if shard is not None else None
    except ShardError as exc:
        raise _fail(f"--shard: {exc}") from exc
    try:
        load_prices()
        experiment = find_experiment(experiment)
        exp = load_experiment(experiment)
        runs = expand(exp, experiment)
        if model is not None:
            data = exp.model_dump()
            data["model"] = model
            data["factors"] = {
                k: v for k, v in exp.factors.items() if k != "model" and not k.startswith("model.")
            }
            runs = expand(type(exp).model_validate(data), experiment)
    except (ExperimentError, PricingError) as exc:
        raise _fail(str(exc)) from exc
    seated = sorted({sid for r in runs for sid, spec in r.models.items() if spec == "human"})
    if seated:
        raise _fail(
            f"{experiment}: state(s) {seated} have model `human`, and a sweep has no one to ask;"
            " play such runs one at a time with `dilemma play` (terminal) or `dilemma serve` (web)"
        )
    if replay and cache is None:
        raise _fail("--replay needs --cache PATH (the cache of the sweep to replay)")
    if executor is Executor.LOCAL and (workers is not None or address is not None):
        raise _fail("--workers and --address need --executor ray")
    experiment_runs = len(runs)
    if part is not None:
        runs = part.select(runs)
    limit = _spend_limit(max_cost, max_calls, (m for r in runs for m in r.models.values()))
    if dry_run:
        code = print_estimate(
            exp.name,
            runs,
            out or Path("runs") / exp.name,
            resume=resume,
            experiment_runs=experiment_runs,
            shard=part,
            console=console,
        )
        raise typer.Exit(code)
    code = run_sweep(
        exp.name,
        runs,
        out or Path("runs") / exp.name,
        concurrency=concurrency,
        resume=resume,
        cache_path=cache,
        replay=replay,
        options=ModelOptions(
            base_url=base_url,
            temperature=temperature,
            rate_limiter=_limiter(rps),
            timeout_s=timeout,
            deadline_s=call_deadline,
        ),
        source=str(experiment),
        console=console,
        err=err,
        compare_settings=exp.compare_settings(),
        experiment_runs=experiment_runs,
        shard=part,
        limit=limit,
        ray=RayOptions(workers=workers, address=address) if executor is Executor.RAY else None,
    )
    raise typer.Exit(code)


@app.command()
def score(
    path: Annotated[Path, typer.Argument(help="a record or a folder of records")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per run")] = False,
) -> None:
    """Score records: escalation, spirals, misperception, Richardson fits, data quality."""
    import json

    from dilemma.cli.score_format import score_json, score_text

    try:
        if as_json:
            print(redact(json.dumps(score_json(path), indent=2)))
        else:
            print(safe_console(score_text(path)))
    except (RecordError, OSError) as exc:
        raise _fail(str(exc)) from exc


@app.command()
def compare(
    path: Annotated[Path, typer.Argument(help="a folder of records (e.g. a sweep's)")],
    by: Annotated[str, typer.Option(help="factor to compare (an experiment condition)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
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
) -> None:
    """Does a factor change behaviour? Verdict changes / equivalent / inconclusive, with tests."""
    from dilemma.cli.compare import CompareRequest, compare_output
    from dilemma.evaluation.comparison import CompareError

    request = CompareRequest(
        by=by,
        where=where or [],
        primary=primary or [],
        margins=margin or [],
        interaction=interaction,
        seed=seed,
    )
    try:
        print(compare_output(path, request, as_json=as_json))
    except (RecordError, CompareError, OSError) as exc:
        raise _fail(str(exc)) from exc


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="a record or a folder of records")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for the tables")],
) -> None:
    """Export the run, round and dyad-round tables to CSV and Parquet."""
    from dilemma.cli.compare import export_tables

    try:
        written = export_tables(path, out)
    except (RecordError, OSError) as exc:
        raise _fail(str(exc)) from exc
    for file in written:
        console.print(str(file), highlight=False)


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="a folder of records (e.g. a sweep's) or a record")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")] = Path(
        "report.html"
    ),
    by: Annotated[
        list[str] | None, typer.Option(help="factor to compare; repeatable (default: all)")
    ] = None,
) -> None:
    """Write one self-contained HTML report: provenance, curves, heatmaps, stats, transcripts."""
    from dilemma.report.build import ReportError, write_report

    try:
        written = write_report(path, output, by=by or None)
    except (ReportError, RecordError, OSError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"report: {written}", highlight=False)


@app.command()
def show(record: Annotated[Path, typer.Argument(help="a record (.jsonl)")]) -> None:
    """Print a readable transcript of one run."""
    from dilemma.report.transcript import transcript

    try:
        text = transcript(record)
    except (RecordError, OSError) as exc:
        raise _fail(str(exc)) from exc
    console.print(safe_console(text), markup=False, highlight=False)


@app.command()
def view(
    folder: Annotated[Path, typer.Argument(help="a folder of records (searched recursively)")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback only)")] = (
        "127.0.0.1"
    ),
) -> None:
    """Serve a live web page of a folder's runs, updated while a sweep writes (`web` extra)."""
    from dilemma.cli.viewer import ViewerError, serve

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    try:
        serve(folder, host, port, say=say)
    except ViewerError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


if __name__ == "__main__":
    app()
