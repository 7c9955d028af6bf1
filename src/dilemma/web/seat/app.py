"""`dilemma serve`'s web app: one private page per human seat, the run playing alongside.

Needs the `web` extra (Starlette, Jinja2); imported only by `dilemma serve` and tests. The run
is a task started with the app (its lifespan) in the server's event loop; its human seats answer
through a `SeatQueue`. Every page and endpoint takes the seat's token (`?token=`), compared in
constant time; a wrong or missing token gets 403. Templates autoescape everything, so text
written by models or people is shown, never interpreted. `dilemma.web.guard` refuses foreign
Host headers and cross-origin posts and sets the security headers; redirects are relative URLs,
so the Host header (and the token) never travel into a Location built from it. A form is read
up to MAX_FORM_BYTES and no further (413), and only the first valid answer of a turn is
accepted: a later submission of the same turn gets 409.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dilemma.agents.human_seat import TURN_CLOSED, SeatQueue
from dilemma.records.schema import RecordError
from dilemma.web.guard import Guard
from dilemma.web.seat.debrief import debrief
from dilemma.web.seat.form import form_reply, form_spec
from dilemma.web.seat.view import LADDER, arms_text, pct, phase_title

MAX_FORM_BYTES = 64_000
"""A decision form is a few kilobytes; larger bodies are refused."""
STATIC = Path(__file__).resolve().parent.parent / "static"


def new_tokens(seats: list[str]) -> dict[str, str]:
    """An unguessable token per seat (secrets.token_urlsafe, 32 bytes)."""
    return {seat: secrets.token_urlsafe(32) for seat in seats}


@dataclass
class SeatRun:
    """The state of the served run, for the pages."""

    queue: SeatQueue
    tokens: dict[str, str]
    play: Callable[[SeatQueue], Awaitable[Path]]
    """Plays the run with this queue as the desk of its human seats; returns the record."""
    record: Path | None = None
    error: str | None = None
    finished: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Play the run to its end; keep the record's path or the error."""
        try:
            self.record = await self.play(self.queue)
        except Exception as exc:  # shown on the pages; the record holds the cause
            self.error = str(exc)
        finally:
            self.finished = True
            self.done.set()


_env = Environment(loader=PackageLoader("dilemma.web", "templates"), autoescape=True)
_env.globals.update(arms_text=arms_text, pct=pct, phase_title=phase_title, ladder=LADDER)


def _seat(run: SeatRun, request: Request) -> str | None:
    """The seat a request is for, when its token is that seat's; None otherwise."""
    seat = request.path_params["seat"]
    token = request.query_params.get("token", "")
    expected = run.tokens.get(seat)
    if expected is None or not secrets.compare_digest(token.encode(), expected.encode()):
        return None
    return str(seat)


def _forbidden() -> Response:
    return HTMLResponse("<h1>403 Forbidden</h1><p>This link is not valid.</p>", status_code=403)


def _page(
    run: SeatRun,
    seat: str,
    errors: list[str] | None = None,
    values: dict[str, list[str]] | None = None,
    status: int = 200,
    close: bool = False,
) -> Response:
    pending = run.queue.pending(seat)
    remaining = None
    if pending is not None and pending.deadline_s is not None:
        opened = (datetime.now(UTC) - pending.posted_at).total_seconds()
        remaining = max(0, int(pending.deadline_s - opened))
    summary = None
    if run.finished and run.record is not None:
        try:
            summary = debrief(run.record)
        except RecordError:
            summary = None  # the page still says the run ended; the record speaks for itself
    html = _env.get_template("seat/page.html").render(
        seat=seat,
        token=run.tokens[seat],
        turn=pending,
        spec=form_spec(pending) if pending is not None else None,
        obs=pending.observation if pending is not None else None,
        errors=errors or [],
        values=values or {},
        run=run,
        remaining=remaining,
        offers={p.id: p for p in pending.observation.open_proposals or []} if pending else {},
        debrief=summary,
    )
    headers = {"Connection": "close"} if close else None  # the rest of a body is not read
    return HTMLResponse(html, status_code=status, headers=headers)


async def _read_form(request: Request) -> bytes | None:
    """The request's body, or None once it is larger than MAX_FORM_BYTES (the rest unread)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return bytes(body)


def _closed(run: SeatRun, seat: str) -> Response:
    return _page(run, seat, ["this turn is closed; here is the current one"], {}, 409)


def create_app(
    run: SeatRun, start: bool = True, *, host: str = "127.0.0.1", port: int | None = None
) -> Starlette:
    """The web app of a served run; with `start`, the run starts with the app. `host` and
    `port` are the address it is served at (Host headers naming another are refused; port
    None: any port)."""

    async def page(request: Request) -> Response:
        seat = _seat(run, request)
        return _forbidden() if seat is None else _page(run, seat)

    async def status(request: Request) -> Response:
        seat = _seat(run, request)
        if seat is None:
            return JSONResponse({"error": "forbidden"}, status_code=403)
        pending = run.queue.pending(seat)
        return JSONResponse(
            {
                "turn": pending.id if pending is not None else None,
                "finished": run.finished,
            }
        )

    async def submit(request: Request) -> Response:
        seat = _seat(run, request)
        if seat is None:
            return _forbidden()
        body = await _read_form(request)
        if body is None:
            too_large = f"the form is larger than {MAX_FORM_BYTES:,} bytes"
            return _page(run, seat, [too_large], {}, 413, close=True)
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        pending = run.queue.pending(seat)
        turn_id = (values.get("turn") or [""])[0]
        if pending is None or turn_id != str(pending.id):
            return _closed(run, seat)
        reply, errors = form_reply(pending, values)
        if not errors:
            errors = run.queue.submit(seat, pending.id, reply)
            if errors == [TURN_CLOSED]:
                return _closed(run, seat)
        if errors:
            return _page(run, seat, errors, values, 422)
        return RedirectResponse(f"/seat/{seat}?token={run.tokens[seat]}", status_code=303)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(run.run()) if start else None
        try:
            yield
        finally:
            if task is not None and not task.done():
                task.cancel()  # the record ends `interrupted`; `--resume` continues it
                await asyncio.gather(task, return_exceptions=True)

    return Starlette(
        routes=[
            Route("/seat/{seat}", page, name="page"),
            Route("/seat/{seat}/status", status),
            Route("/seat/{seat}/submit", submit, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(Guard, host=host, port=port)],
        lifespan=lifespan,
    )
