"""`dilemma view DIR`: check the folder and the `web` extra, bind the port, serve the viewer.

Importable without the `web` extra: Starlette, Jinja2 and uvicorn are imported only once they
are known to be installed.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from dilemma.cli.common import NoCacheOption
from dilemma.web.guard import is_loopback as is_loopback
from dilemma.web.guard import non_loopback_warning

WEB_MODULES = ("starlette", "jinja2", "uvicorn")
INSTALL_HINT = "pip install -e '.[web]'"


class ViewerError(ValueError):
    """Bad input for `dilemma view` (exit 2): no such folder, no `web` extra, port in use."""


def missing_web_modules() -> list[str]:
    """The modules of the `web` extra that cannot be imported."""
    return [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]


def check(folder: Path) -> None:
    """Refuse a folder that does not exist, or a missing `web` extra (raises ViewerError)."""
    if not folder.exists():
        raise ViewerError(f"{folder}: no such folder")
    if not (folder.is_dir() or folder.suffix == ".jsonl"):
        raise ViewerError(f"{folder}: not a folder of records")
    missing = missing_web_modules()
    if missing:
        raise ViewerError(
            f"dilemma view needs the optional extra `web` (missing: {', '.join(missing)});"
            f" install it with: {INSTALL_HINT}"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port); ViewerError if it cannot."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ViewerError(f"cannot listen on {host}: {exc}") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ViewerError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def to_stderr(text: str) -> None:
    """Print a line on stderr."""
    print(text, file=sys.stderr, flush=True)


def serve(
    folder: Path,
    host: str,
    port: int,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = to_stderr,
) -> None:
    """Serve the viewer of `folder` until interrupted (raises ViewerError on bad input); a
    warning on stderr when other machines can reach it."""
    check(folder)
    sock = bind(host, port)
    import uvicorn

    from dilemma.web.viewer.app import create_app

    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    say(f"Viewing {folder} at http://{shown}:{bound}/ (Ctrl-C to stop)")
    warning = non_loopback_warning(
        host, "these records, including every state's private intent and rationale"
    )
    if warning is not None:
        warn(warning)
    app = create_app(folder, host=host, port=bound)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def view(
    folder: Annotated[Path, typer.Argument(help="a folder of records (searched recursively)")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback only)")] = (
        "127.0.0.1"
    ),
    no_cache: NoCacheOption = False,
) -> None:
    """Serve a live web page of a folder's runs, updated while a sweep writes (`web` extra)."""
    from dilemma.cli.common import INTERRUPTED, console, fail, use_score_cache

    use_score_cache(no_cache)

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    try:
        serve(folder, host, port, say=say)
    except ViewerError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
