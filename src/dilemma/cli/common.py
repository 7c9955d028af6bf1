"""What the command modules share: consoles, exit codes, error output, common options and
their checks, and the round table and summary of a finished run.

Light to import (typer and rich only): every command imports what it runs inside its body, so
`dilemma --help` and `dilemma validate` load no model provider.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from dilemma.core.safe_text import safe_console

if TYPE_CHECKING:
    from langchain_core.rate_limiters import InMemoryRateLimiter

    from dilemma.models.budget import SpendLimit
    from dilemma.simulation.engine import RoundReport

console = Console()
"""Progress, notes and tables: silenced by `--quiet`."""
out = Console()
"""Results that `--quiet` keeps (where a record was written, a sweep's summary)."""
err = Console(stderr=True)


def _log_to_stderr(verbose: bool) -> None:
    """`--verbose`: log INFO and above to stderr; otherwise undo an earlier command's setting
    (commands invoked in one process, as tests and notebooks do, must not inherit it)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(handler)
        root.setLevel(handler.previous_level)
    if verbose:
        handler = _CurrentStderr(root.level)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler writing to whatever `sys.stderr` is when a record is emitted."""

    def __init__(self, previous_level: int) -> None:
        super().__init__()
        self.previous_level = previous_level
        """The root logger's level before `--verbose` raised it."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """The stream is always the current stderr (StreamHandler sets it on creation)."""


class Verbosity:
    """How much the commands print: `--quiet` (-1), normal (0) or `--verbose` (1)."""

    level = 0

    @classmethod
    def set(cls, quiet: bool, verbose: bool) -> None:
        """Apply the global options (refusing both at once) for this command."""
        if quiet and verbose:
            raise typer.BadParameter("--quiet and --verbose exclude each other")
        cls.level = -1 if quiet else 1 if verbose else 0
        console.quiet = quiet
        _log_to_stderr(verbose)

    @classmethod
    def verbose(cls) -> bool:
        """Whether `--verbose` was given (print every model call)."""
        return cls.level > 0


RUN_FAILED = 1
BAD_INPUT = 2
SPEND_LIMIT = 3
"""Exit code when --max-cost or --max-calls stopped the command (rerun a sweep with --resume)."""
INTERRUPTED = 130

LOCAL_NOTE = (
    "Note: the embedded model `local` is Gemma 3 270M, a small *base* (pretrained) model; only its"
    " schema-constrained output is usable and its judgement is poor. Use it to try the sandbox;"
    " use a real model (e.g. --model openai:gpt-4o-mini) for real studies."
)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print `message` as an error on stderr; the Exit to raise with `code`."""
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


def positive_usd(value: float | None) -> float | None:
    """Option check: a positive, finite number of USD."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter("must be a positive number of USD")
    return value


def finite(value: float | None) -> float | None:
    """Option check: a finite number."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("must be a finite number")
    return value


def positive_seconds(value: float | None) -> float | None:
    """Option check: a positive, finite number of seconds."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter("must be a positive number of seconds")
    return value


TimeoutOption = Annotated[
    float | None, typer.Option(help=TIMEOUT_HELP, callback=positive_seconds, metavar="SECONDS")
]
DeadlineOption = Annotated[
    float | None, typer.Option(help=DEADLINE_HELP, callback=positive_seconds, metavar="SECONDS")
]
MaxCostOption = Annotated[
    float | None, typer.Option(help=MAX_COST_HELP, callback=positive_usd, metavar="USD")
]
MaxCallsOption = Annotated[int | None, typer.Option(min=1, help=MAX_CALLS_HELP, metavar="N")]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="score every record afresh: neither read nor fill the score cache"
        " (also DILEMMA_NO_CACHE=1)",
    ),
]


def use_score_cache(no_cache: bool) -> None:
    """Score through the per-record score cache (docs/records.md) unless `--no-cache` or
    DILEMMA_NO_CACHE says not to."""
    from dilemma.evaluation import score_cache

    if no_cache or not score_cache.enabled_by_environment():
        score_cache.use(None)
    else:
        score_cache.use(score_cache.ScoreCache(score_cache.default_file()))


"""Options that `run` and `sweep` share."""


def spend_limit(
    max_cost: float | None, max_calls: int | None, specs: Iterable[str]
) -> SpendLimit | None:
    """The limits asked for; refuses --max-cost when a model has no price (it could not
    limit anything)."""
    if max_cost is None and max_calls is None:
        return None
    from dilemma.models.budget import SpendLimit, unpriced
    from dilemma.models.pricing import PRICES_ENV
    from dilemma.models.registry import ModelSpecError

    if max_cost is not None:
        try:
            missing = unpriced(specs)
        except ModelSpecError as exc:
            raise fail(str(exc)) from exc
        if missing:
            raise fail(
                f"--max-cost: no price for {', '.join(missing)}, so its spend cannot be limited;"
                f" add a price (USD per 1M input and output tokens) to a YAML file named by"
                f' {PRICES_ENV}, e.g. "{missing[0]}": {{input: 0.15, output: 0.60}}, or use'
                " --max-calls"
            )
    return SpendLimit(max_cost_usd=max_cost, max_calls=max_calls)


def limiter(rps: float | None) -> InMemoryRateLimiter | None:
    """LangChain's rate limiter for `--rps` (None without it)."""
    if rps is None:
        return None
    if not (math.isfinite(rps) and rps > 0):
        raise fail("--rps must be a positive number")
    from langchain_core.rate_limiters import InMemoryRateLimiter

    return InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=0.05)


def parse_state_models(items: list[str]) -> dict[str, str]:
    """`--state-model ID=SPEC` values by state id; RunSpecError for a malformed one."""
    from dilemma.simulation.runner import RunSpecError

    out: dict[str, str] = {}
    for item in items:
        state, sep, spec = item.partition("=")
        if not sep or not state or not spec:
            raise RunSpecError(
                f"--state-model {item!r}: expected ID=SPEC (e.g. Aria=scripted:dove)"
            )
        out[state] = spec
    return out


ADJUSTMENT_REASONS = {
    "forewarning": "democratic forewarning: a democracy may raise its arms above the scenario's"
    " threshold only by what it announced the round before (announced_next_arms_change)",
    "cap": "the scenario's cap on one round's change",
    "economy": "the economy cannot pay for more arms",
    "fallback": "no valid decision",
}
"""Plain words for each kind of adjustment the world makes to a requested arms change."""


def explain_adjustment(text: str) -> str:
    """An adjustment (`forewarning: 5% limited to 3% (announced last round: None)`) in plain
    words, with its detail."""
    kind, _, detail = text.partition(": ")
    reason = ADJUSTMENT_REASONS.get(kind)
    detail = detail.replace("(announced last round: None)", "(nothing announced last round)")
    return f"{reason}: {detail}" if reason else text


def progress(report: RoundReport) -> None:
    """Print one resolved round as a table (`on_round` of a run at the terminal)."""
    from rich.table import Table

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
    for outcome in report.resolution.outcomes:
        for text in outcome.adjustments:
            console.print(
                f"  * {outcome.state}: {explain_adjustment(text)}", highlight=False, markup=False
            )
    for w in report.resolution.wars:
        console.print(f"[bold red]WAR[/bold red]: {w.initiator} chose {w.action.value}")
    for t in report.resolution.treaties_formed:
        console.print(f"treaty formed: {t.kind} among {', '.join(t.parties)}")
    for b in report.resolution.breaches:
        console.print(f"[red]breach[/red]: {b.state} broke {b.treaty} ({b.limit})")


def summary(path: Path) -> None:
    """Print how a recorded run ended, its model calls and tokens, and where its record is."""
    from dilemma.records.reader import read_record
    from dilemma.records.schema import DecisionEvent

    record = read_record(path)
    end = record.run_end
    if end is None:
        out.print(f"record: {path} (incomplete)", highlight=False)
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
    out.print(f"record: {path}", highlight=False, soft_wrap=True)
