"""The live web viewer of a folder of records (`dilemma view DIR`): a small Starlette app.

    app = create_app(Path("runs/2x2"))      # serve with uvicorn (dilemma.cli.viewer)

Routes:
    /                  the runs (server-rendered), filterable by outcome and condition
    /api/runs          the same as JSON; `?v=VERSION` answers {"unchanged": true} when nothing
                       changed (the page polls it every 2 s)
    /run?path=KEY      one run: timeline, curves, measures
    /api/run?path=KEY  one run's row as JSON (a running run's page reloads when it changes)
    /api/calls?path=KEY[&round=N]   the run's model calls by turn (the run page's drill-down)
    /search?q=TEXT     statements, messages and rationales containing TEXT, with their runs
    /api/search?q=TEXT[&limit=N]    the same as JSON
    /static/viewer.*   the page's script and style sheet

Every page is rendered by Jinja2 with autoescaping, and no model or human text is ever marked
safe; the script inserts JSON values with textContent only. `dilemma.web.guard` refuses Host
headers that do not name this server (DNS rebinding) and sets a Content-Security-Policy that
allows scripts from this server's own files only, so even an escaping mistake could not run a
script. Only records inside the folder are served (a symlink leading outside is not), and
reasons shown for unreadable files name paths relative to the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dilemma.evaluation.run_json import display_value
from dilemma.records.schema import RecordError
from dilemma.web.guard import Guard
from dilemma.web.viewer.calls import call_totals, run_calls
from dilemma.web.viewer.data import NONE_LEVEL, Filters, Listing, RunIndex
from dilemma.web.viewer.groups import commands, condition_groups, measure_info
from dilemma.web.viewer.run import clean, run_view
from dilemma.web.viewer.search import LIMIT, TextIndex

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
POLL_MS = 2000


def _pct(value: float | int | None) -> str:
    if value is None:
        return "none"
    return f"{value:+d}%" if isinstance(value, int) else f"{value:+.1f}%"


def environment() -> Environment:
    """The Jinja2 environment: autoescaping on for everything, strict about missing names."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clean"] = clean
    env.filters["fmt"] = display_value
    env.filters["pct"] = _pct
    return env


def _page(env: Environment, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(f"viewer/{name}").render(**context)
    return HTMLResponse(html, status_code=status)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def listing_json(listing: Listing, filters: Filters, root: str) -> dict[str, Any]:
    """The JSON the list page polls: filtered rows, their condition groups with aggregates,
    choices for the filters, counts, and the commands that report on the folder."""
    rows = [r for r in listing.rows if filters.keep(r)]
    primary = listing.primary()
    factors = listing.factors()
    return {
        "version": listing.version,
        "total": len(listing.rows),
        "shown": len(rows),
        "primary": primary,
        "measures": measure_info(primary),
        "runs": [r.to_json() for r in rows],
        "groups": [g.to_json() for g in condition_groups(rows, primary)],
        "factors": factors,
        "outcomes": listing.outcomes(),
        "commands": commands(root, factors),
        "unreadable": [{"key": u.key, "reason": clean(u.reason)} for u in listing.unreadable],
    }


def _int(text: str | None, default: int | None) -> int | None:
    """A query parameter as an integer (`default` when absent; ValueError when not a number)."""
    return default if text is None or text == "" else int(text)


def create_app(root: Path, *, host: str = "127.0.0.1", port: int | None = None) -> Starlette:
    """The viewer of the records in `root` (a folder, searched recursively, or one record),
    served at `host`:`port` (Host headers naming another address are refused; port None: any
    port)."""
    index = RunIndex(root)
    texts = TextIndex()
    env = environment()

    def home(request: Request) -> Response:
        filters = Filters.from_query(request.query_params.multi_items())
        listing = index.scan()
        data = listing_json(listing, filters, str(root))
        return _page(
            env,
            "index.html",
            root=str(root),
            data=data,
            runs={r["key"]: r for r in data["runs"]},
            sort=request.query_params.get("sort", ""),
            filters=filters,
            none_level=NONE_LEVEL,
            poll_ms=POLL_MS,
        )

    def api_runs(request: Request) -> Response:
        filters = Filters.from_query(request.query_params.multi_items())
        listing = index.scan()
        if request.query_params.get("v") == listing.version:
            return _json({"version": listing.version, "unchanged": True})
        return _json(listing_json(listing, filters, str(root)))

    def _path(request: Request) -> Path | None:
        key = request.query_params.get("path", "")
        path = index.path_of(key)
        if path is None:  # not seen yet (a link opened before the list): rescan once
            index.scan()
            path = index.path_of(key)
        return path

    def run(request: Request) -> Response:
        path = _path(request)
        if path is None:
            return _page(env, "missing.html", 404, root=str(root))
        try:
            view = run_view(path)
        except (RecordError, OSError) as exc:
            reason = index.shown(str(exc), path)
            return _page(env, "missing.html", 404, root=str(root), reason=reason)
        key = request.query_params["path"]
        row = next((r for r in index.scan().rows if r.key == key), None)
        return _page(env, "run.html", view=view, row=row, key=key, poll_ms=POLL_MS)

    def api_run(request: Request) -> Response:
        path = _path(request)
        if path is None:
            return _json({"error": "no such run"}, 404)
        key = request.query_params["path"]
        row = next((r for r in index.scan().rows if r.key == key), None)
        if row is None:
            return _json({"error": "no such run"}, 404)
        return _json(row.to_json())

    def api_calls(request: Request) -> Response:
        path = _path(request)
        if path is None:
            return _json({"error": "no such run"}, 404)
        try:
            round_ = _int(request.query_params.get("round"), None)
        except ValueError:
            return _json({"error": "round must be a whole number"}, 400)
        try:
            turns = run_calls(path, round_)
        except (RecordError, OSError) as exc:
            return _json({"error": clean(index.shown(str(exc), path))}, 404)
        return _json(
            {
                "key": request.query_params["path"],
                "round": round_,
                "totals": call_totals(turns),
                "turns": turns,
            }
        )

    def _search(request: Request) -> tuple[str, int]:
        query = request.query_params.get("q", "")
        return query, _int(request.query_params.get("limit"), LIMIT) or LIMIT

    def search(request: Request) -> Response:
        try:
            query, limit = _search(request)
        except ValueError:
            return _json({"error": "limit must be a whole number"}, 400)
        index.scan()
        found = texts.search(index.records(), query, limit)
        return _page(env, "search.html", root=str(root), found=found, query=query)

    def api_search(request: Request) -> Response:
        try:
            query, limit = _search(request)
        except ValueError:
            return _json({"error": "limit must be a whole number"}, 400)
        index.scan()
        return _json(texts.search(index.records(), query, limit).to_json())

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("viewer.js", "viewer.css"):
            return Response("not found", 404)
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    return Starlette(
        routes=[
            Route("/", home),
            Route("/api/runs", api_runs),
            Route("/run", run),
            Route("/api/run", api_run),
            Route("/api/calls", api_calls),
            Route("/search", search),
            Route("/api/search", api_search),
            Route("/static/{name}", static),
        ],
        middleware=[Middleware(Guard, host=host, port=port)],
    )
