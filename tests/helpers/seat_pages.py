"""Reading the web seat's pages in tests: the open turn's number, and waiting for a turn."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def turn_of(html: str) -> str:
    match = re.search(r'name="turn" value="(\d+)"', html)
    assert match, html[:2000]
    return match.group(1)


def wait_for_turn(client: TestClient, url: str, kind: str) -> str:
    """The page once a turn of `kind` ("decision" or "negotiation") is open (polls, no sleep:
    the scripted seat answers as soon as it is asked)."""
    for _ in range(2000):
        html = client.get(url).text
        if 'name="turn"' in html and (kind == "decision") == ("Your decision" in html):
            return html
    raise AssertionError(f"no {kind} turn opened")
