"""The commands that put people in seats: `dilemma play` (terminal) and `dilemma serve` (web)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dilemma.cli.common import (
    INTERRUPTED,
    RUN_FAILED,
    console,
    fail,
    parse_state_models,
    progress,
    summary,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from dilemma.agents.human_seat import SeatQueue
    from dilemma.scenarios.schema import Scenario
    from dilemma.simulation.replay import Replay

    Play = Callable[[SeatQueue], Awaitable[Path]]

ModelOption = Annotated[
    str | None, typer.Option(help="model spec of every other state (default: local)")
]
StateModelOption = Annotated[
    list[str] | None,
    typer.Option("--state-model", help="ID=SPEC for one state (SPEC `human` seats a person)"),
]
RoundsOption = Annotated[int | None, typer.Option(help="override the number of rounds")]
SeedOption = Annotated[int, typer.Option(help="seed of all randomness")]
OutOption = Annotated[Path, typer.Option(help="folder for the record")]
SetupOption = Annotated[str | None, typer.Option(help="prompt setup name or YAML file")]
ResumeOption = Annotated[
    Path | None,
    typer.Option(
        help="continue the run of this record (same command otherwise): its answered turns are"
        " replayed, the rest is played live; the old file is kept as RECORD.before-resume",
        metavar="RECORD",
    ),
]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server (or DILEMMA_BASE_URL)")
]


def human_specs(
    scenario: str,
    seats: list[str],
    state_model: list[str] | None,
    model: str | None,
    rounds: int | None,
) -> tuple[Scenario, str, dict[str, str], dict[str, str]]:
    """(scenario, source, overrides, specs) with `seats` played by people; exits 2 on bad input."""
    from dilemma.agents.human_seat import HUMAN_SPEC
    from dilemma.api.scenario import with_rounds
    from dilemma.scenarios.library import ScenarioError, load_scenario
    from dilemma.simulation.runner import RunSpecError, model_specs

    try:
        loaded, source = load_scenario(scenario)
        loaded = with_rounds(loaded, rounds, source)
        overrides = parse_state_models(state_model or [])
        for seat in seats:
            if seat not in loaded.ids:
                raise RunSpecError(f"no state {seat!r} in {source}; states: {loaded.ids}")
            overrides[seat] = HUMAN_SPEC
        specs = model_specs(loaded, overrides, model)
    except (ScenarioError, RunSpecError) as exc:
        raise fail(str(exc)) from exc
    return loaded, source, overrides, specs


def resume_from(
    path: Path | None, scenario: Scenario, specs: dict[str, str], seed: int
) -> tuple[Replay | None, Path | None]:
    """(replay, record path) to continue the run recorded at `path`; exits 2 unless the record
    is of this scenario, these models and this seed."""
    if path is None:
        return None, None
    from dilemma.records.reader import read_record
    from dilemma.records.scenario_snapshot import ScenarioSnapshot
    from dilemma.records.schema import RecordError
    from dilemma.simulation.replay import Replay

    try:
        record = read_record(path)
    except (RecordError, OSError) as exc:
        raise fail(str(exc)) from exc
    header = record.header
    recorded = {sid: m.spec for sid, m in header.models.items()}
    if header.seed != seed or recorded != specs or header.scenario != ScenarioSnapshot.of(scenario):
        raise fail(
            f"{path} is not a run of this command: give the scenario, --rounds, --seed"
            f" ({header.seed}) and models ({recorded}) it was started with"
        )
    path.rename(path.with_name(path.name + ".before-resume"))
    return Replay.of(record), path


def play(
    scenario: Annotated[str, typer.Argument(help="built-in scenario name or YAML file")],
    as_state: Annotated[str, typer.Option("--as", help="the state you play (its id)")],
    model: ModelOption = None,
    state_model: StateModelOption = None,
    rounds: RoundsOption = None,
    seed: SeedOption = 0,
    out: OutOption = Path("runs"),
    prompt_setup: SetupOption = None,
    base_url: BaseUrlOption = None,
    resume: ResumeOption = None,
) -> None:
    """Play one state yourself at the terminal; the other states are models."""
    import asyncio

    from rich.markup import escape

    from dilemma.agents.human_seat import HUMAN_SPEC
    from dilemma.cli.play import TerminalDesk
    from dilemma.core.safe_text import safe_console
    from dilemma.models.registry import ModelOptions, ModelSpecError
    from dilemma.simulation.runner import RunConfig, RunFailed, RunSpecError, run_scenario

    loaded, source, overrides, specs = human_specs(scenario, [as_state], state_model, model, rounds)
    humans = [sid for sid, spec in specs.items() if spec == HUMAN_SPEC]
    if humans != [as_state]:
        raise fail(
            f"dilemma play seats one person; {humans} have model `human` (use dilemma serve)"
        )
    replay, record_path = resume_from(resume, loaded, specs, seed)
    console.print(
        f"Playing [bold]{escape(safe_console(loaded.name))}[/bold] as {as_state}"
        f" ({loaded.rules.rounds} rounds, seed {seed}); models: "
        + escape(safe_console(", ".join(f"{k}={v}" for k, v in specs.items()))),
        highlight=False,
    )
    try:
        path = asyncio.run(
            run_scenario(
                loaded,
                RunConfig(
                    seed=seed,
                    out_dir=out,
                    prompt_setup=prompt_setup,
                    scenario_source=source,
                    on_round=progress,
                    argv=sys.argv,
                    desk=TerminalDesk(),
                    replay=replay,
                    record_path=record_path,
                ),
                overrides=overrides,
                default_model=model,
                options=ModelOptions(base_url=base_url),
            )
        )
    except (ModelSpecError, RunSpecError) as exc:
        raise fail(str(exc)) from exc
    except RunFailed as exc:
        raise fail(str(exc), RUN_FAILED) from exc
    except KeyboardInterrupt:
        raise fail(
            "interrupted; the record ends with an `interrupted` event", INTERRUPTED
        ) from None
    summary(path)


WEB_EXTRA = "security-dilemma-sandbox[web]"
LINGER_S = 5.0
"""Seconds the server stays up after the run ends, so open pages can show the end."""


def _web_missing() -> str | None:
    """The missing web package's name, if the `web` extra is not installed."""
    import importlib.util

    for name in ("starlette", "uvicorn", "jinja2"):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def serve(
    scenario: Annotated[str, typer.Argument(help="built-in scenario name or YAML file")],
    seat: Annotated[
        list[str] | None, typer.Option("--seat", help="a state a person plays; repeatable")
    ] = None,
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8765,
    deadline: Annotated[
        float, typer.Option(min=1, help="seconds a seat has for each turn before its fallback")
    ] = 600.0,
    model: ModelOption = None,
    state_model: StateModelOption = None,
    rounds: RoundsOption = None,
    seed: SeedOption = 0,
    out: OutOption = Path("runs"),
    prompt_setup: SetupOption = None,
    base_url: BaseUrlOption = None,
    resume: ResumeOption = None,
) -> None:
    """Serve a run in which people play states through private web pages (one link a seat)."""
    missing = _web_missing()
    if missing is not None:
        raise fail(
            f"dilemma serve needs the `web` extra ({missing} is missing): pip install '{WEB_EXTRA}'"
        )
    from dilemma.agents.human_seat import HUMAN_SPEC
    from dilemma.models.registry import ModelOptions
    from dilemma.simulation.runner import RunConfig, run_scenario

    loaded, source, overrides, specs = human_specs(scenario, seat or [], state_model, model, rounds)
    humans = [sid for sid, spec in specs.items() if spec == HUMAN_SPEC]
    if not humans:
        raise fail("no human seat: name one with --seat STATE (or --state-model STATE=human)")
    replay, record_path = resume_from(resume, loaded, specs, seed)

    async def play(queue: SeatQueue) -> Path:
        return await run_scenario(
            loaded,
            RunConfig(
                seed=seed,
                out_dir=out,
                prompt_setup=prompt_setup,
                scenario_source=source,
                argv=sys.argv,
                desk=queue,
                replay=replay,
                record_path=record_path,
            ),
            overrides=overrides,
            default_model=model,
            options=ModelOptions(base_url=base_url),
        )

    _serve(play, humans, host, port, deadline, specs)


def _serve(
    play: Play, humans: list[str], host: str, port: int, deadline: float, specs: dict[str, str]
) -> None:
    """Bind, print one private link per seat, serve until the run ends (then LINGER_S more)."""
    import asyncio
    import socket

    import uvicorn

    from dilemma.agents.human_seat import SeatQueue
    from dilemma.core.safe_text import safe_console
    from dilemma.web.guard import non_loopback_warning
    from dilemma.web.seat.app import SeatRun, create_app, new_tokens

    run = SeatRun(queue=SeatQueue(deadline_s=deadline), tokens=new_tokens(humans), play=play)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise fail(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(64)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    models = ", ".join(f"{k}={v}" for k, v in specs.items())
    console.print("Models: " + safe_console(models), highlight=False, markup=False)
    console.print(
        "Private links (one per seat; whoever has a link plays that seat):", highlight=False
    )
    for state, token in run.tokens.items():
        print(f"  {state}: http://{shown_host}:{bound}/seat/{state}?token={token}", flush=True)
    warning = non_loopback_warning(host, "a seat's page with its link (the link is the only key)")
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    app = create_app(run, host=host, port=bound)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    async def main() -> None:
        async def stop_after_run() -> None:
            await run.done.wait()
            await asyncio.sleep(LINGER_S)
            server.should_exit = True

        watcher = asyncio.create_task(stop_after_run())
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()

    try:
        asyncio.run(main())
    finally:
        sock.close()
    if run.record is not None:
        summary(run.record)
    elif run.error is not None:
        raise fail(run.error, RUN_FAILED)
    else:
        raise fail("interrupted; the record ends with an `interrupted` event", INTERRUPTED)
