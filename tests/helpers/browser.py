"""Headless Debian chromium driven by Playwright, and a loopback server for ASGI apps.

Browsers cannot be downloaded here: Playwright is pointed at the system's chromium
(`DILEMMA_CHROMIUM`, default /usr/bin/chromium). When it is missing the browser tests are
skipped, unless `DILEMMA_REQUIRE_BROWSER=1` (set by .ci/run) makes that an error.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
"""Without the background-networking flags chromium keeps trying to reach Google's hosts."""

SCREENSHOTS = Path(__file__).resolve().parent.parent / "output" / "screenshots"
"""Where browser tests leave screenshots for a reviewer (git-ignored)."""


def chromium_path() -> str:
    """The chromium binary to drive: skips without one (fails if DILEMMA_REQUIRE_BROWSER=1)."""
    path = os.environ.get("DILEMMA_CHROMIUM", "/usr/bin/chromium")
    if Path(path).exists() or shutil.which(path):
        return path
    reason = f"no chromium at {path} (apt-get install chromium, or set DILEMMA_CHROMIUM)"
    if os.environ.get("DILEMMA_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of `page` as tests/output/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yields its base URL.

    The listening socket is bound before the thread starts, so requests queue on it at once
    and nothing waits for the server to come up.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def fill_decision(
    page: Any,
    *,
    arms: int,
    action: str,
    signal: str,
    statement: str | None = None,
    reason: str | None = None,
) -> None:
    """Fill the web seat's decision form for Aria facing Borea (threat 6, coercive, deterrent,
    forecast 5), with the given arms change, action (at Borea) and public signal; `statement`
    and `reason` fill the optional texts."""
    page.fill("input[name=threat_Borea]", "6")
    if reason is not None:
        page.fill("input[name=reason_Borea]", reason)
    page.select_option("select[name=perceived_Borea]", "coercive")
    page.select_option("select[name=intent_Borea]", "deterrent")
    page.fill("input[name=forecast_Borea]", "5")
    page.select_option("select[name=signal_Borea]", signal)
    page.fill("#arms_change", str(arms))
    page.select_option("select[name=action]", action)
    page.select_option("select[name=target]", "Borea")
    if statement is not None:
        page.fill("textarea[name=public_statement]", statement)
        page.fill("textarea[name=private_rationale]", "hold the line")
