"""The live web viewer of a folder of records (`dilemma view DIR`): a small Starlette app.

    app = create_app(Path("runs/2x2"))      # serve with uvicorn (dilemma.cli.viewer)

Routes:
    /                  one page of the runs (server-rendered), filterable by outcome and condition,
                       sorted by `?sort=COLUMN` (`-COLUMN`: descending), page `?page=N`
    /api/runs          the same as JSON; `?v=VERSION` answers {"unchanged": true} when nothing
                       changed (the page polls it every 2 s)
    /api/groups        every condition group passing the filters, with the 95% intervals of its
                       means (the list page fetches them after it is shown)
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

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
from dilemma.web.viewer.paging import PAGE_SIZE, Sort, arrange, paginate
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


@dataclass(frozen=True)
class View:
    """How the list is shown: filters, sort and page (from the query)."""

    filters: Filters
    sort: Sort | None
    page: int

    @classmethod
    def from_request(cls, request: Request) -> View:
        """From the query parameters (a page that is not a whole number: the first)."""
        query = request.query_params
        try:
            page = int(query.get("page", "1") or "1")
        except ValueError:
            page = 1
        return cls(Filters.from_query(query.multi_items()), Sort.parse(query.get("sort")), page)


def listing_json(listing: Listing, view: View, root: str, per: int = PAGE_SIZE) -> dict[str, Any]:
    """The JSON the list page polls: one page of the filtered and sorted rows with their
    condition groups and means (no intervals: `/api/groups`), choices for the filters,
    counts, and the commands that report on the folder."""
    rows = [r for r in listing.rows if view.filters.keep(r)]
    primary = listing.primary()
    factors = listing.factors()
    groups = condition_groups(rows, primary, intervals=False)
    page = paginate(arrange(groups, rows, view.sort), view.page, per)
    return {
        "version": listing.version,
        "total": len(listing.rows),
        "shown": len(rows),
        "primary": primary,
        "measures": measure_info(primary),
        "sort": view.sort.param if view.sort else "",
        "page": page.to_json(),
        "runs": [r.to_json() for _, runs in page.groups for r in runs],
        "groups": [
            {**g.to_json(), "runs": [r.key for r in runs], "size": len(g.keys)}
            for g, runs in page.groups
        ],
        "factors": factors,
        "outcomes": listing.outcomes(),
        "commands": commands(root, factors),
        "unreadable": [{"key": u.key, "reason": clean(u.reason)} for u in listing.unreadable],
    }


def groups_json(listing: Listing, filters: Filters) -> dict[str, Any]:
    """Every condition group passing `filters`, with the means and 95% intervals of the
    primary measures (imports SciPy and statsmodels on first use)."""
    rows = [r for r in listing.rows if filters.keep(r)]
    groups = condition_groups(rows, listing.primary(), intervals=True)
    return {"version": listing.version, "groups": [g.to_json() for g in groups]}


def page_link(query: list[tuple[str, str]], number: int) -> str:
    """The address of page `number` of the list, keeping the other query parameters."""
    kept = [(k, v) for k, v in query if k not in ("page", "v")]
    return "/?" + urlencode([*kept, ("page", str(number))])


def _int(text: str | None, default: int | None) -> int | None:
    """A query parameter as an integer (`default` when absent; ValueError when not a number)."""
    return default if text is None or text == "" else int(text)


def create_app(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    page_size: int = PAGE_SIZE,
) -> Starlette:
    """The viewer of the records in `root` (a folder, searched recursively, or one record),
    served at `host`:`port` (Host headers naming another address are refused; port None: any
    port), `page_size` runs per page of the list."""
    index = RunIndex(root)
    texts = TextIndex()
    env = environment()
    intervals: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    lock = threading.Lock()

    def home(request: Request) -> Response:
        view = View.from_request(request)
        listing = index.scan()
        data = listing_json(listing, view, str(root), page_size)
        query = request.query_params.multi_items()
        pages = data["page"]
        return _page(
            env,
            "index.html",
            root=str(root),
            data=data,
            runs={r["key"]: r for r in data["runs"]},
            sort=data["sort"],
            filters=view.filters,
            none_level=NONE_LEVEL,
            poll_ms=POLL_MS,
            previous=page_link(query, pages["number"] - 1) if pages["number"] > 1 else None,
            next=page_link(query, pages["number"] + 1)
            if pages["number"] < pages["pages"]
            else None,
        )

    def api_runs(request: Request) -> Response:
        view = View.from_request(request)
        listing = index.scan()
        if request.query_params.get("v") == listing.version:
            return _json({"version": listing.version, "unchanged": True})
        return _json(listing_json(listing, view, str(root), page_size))

    def api_groups(request: Request) -> Response:
        filters = Filters.from_query(request.query_params.multi_items())
        listing = index.scan()
        key = (listing.version, filters.outcome, tuple(sorted(filters.conditions.items())))
        with lock:  # computed once per version and filters (the page asks after each change)
            if key not in intervals:
                intervals.clear()
                intervals[key] = groups_json(listing, filters)
            return _json(intervals[key])

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
            Route("/api/groups", api_groups),
            Route("/run", run),
            Route("/api/run", api_run),
            Route("/api/calls", api_calls),
            Route("/search", search),
            Route("/api/search", api_search),
            Route("/static/{name}", static),
        ],
        middleware=[Middleware(Guard, host=host, port=port)],
    )
