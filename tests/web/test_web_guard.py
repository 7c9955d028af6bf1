"""Both web apps against a page elsewhere: foreign Host headers (DNS rebinding), cross-origin
posts, framing and sniffing headers, redirects that never carry the Host, the viewer's folder
boundary, and the warning when bound to an address other machines reach."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("starlette")

import uvicorn
from starlette.testclient import TestClient

from dilemma.cli.main import app as cli
from dilemma.web.guard import Guard
from dilemma.web.seat.app import create_app as seat_app
from dilemma.web.viewer.app import create_app as viewer_app
from tests.helpers.seats import seat_run
from tests.helpers.viewer_runs import write_run

PORT = 8123
FOREIGN = ["evil.example", "evil.example:8123", "127.0.0.1.evil.example", "localhost:9999", ""]


@pytest.fixture
def viewer(tmp_path: Path) -> TestClient:
    root = tmp_path / "runs"
    write_run(root / "r1.jsonl", "r1")
    return TestClient(viewer_app(root, port=PORT), base_url=f"http://127.0.0.1:{PORT}")


def test_the_viewer_refuses_a_foreign_host(viewer: TestClient) -> None:
    assert viewer.get("/run", params={"path": "r1.jsonl"}).status_code == 200
    for host in FOREIGN:
        for url in ("/", "/api/runs", "/run?path=r1.jsonl", "/api/run?path=r1.jsonl"):
            refused = viewer.get(url, headers={"Host": host})
            assert refused.status_code == 400, (host, url)
            assert "private" not in refused.text and "r1" not in refused.text
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}", "localhost"):
        assert viewer.get("/api/runs", headers={"Host": host}).status_code == 200, host


def test_every_response_carries_the_security_headers(viewer: TestClient) -> None:
    for url in ("/", "/api/runs", "/run?path=r1.jsonl", "/run?path=nope", "/static/viewer.js"):
        headers = viewer.get(url).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], url
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
    refused = viewer.get("/", headers={"Host": "evil.example"})
    assert refused.headers["x-frame-options"] == "DENY"


def test_the_seat_refuses_foreign_hosts_and_cross_origin_posts(tmp_path: Path) -> None:
    run = seat_run(tmp_path, ["Aria"], rounds=1)
    token = run.tokens["Aria"]
    page, submit = f"/seat/Aria?token={token}", f"/seat/Aria/submit?token={token}"
    app = seat_app(run, start=False, port=PORT)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        assert c.get(page).status_code == 200
        for host in FOREIGN:
            refused = c.get(page, headers={"Host": host})
            assert refused.status_code == 400 and token not in refused.text, host
        for origin in ("http://evil.example", "null", f"http://localhost:{PORT + 1}",
                       f"https://127.0.0.1:{PORT}"):  # fmt: skip
            posted = c.post(submit, data={"turn": "1"}, headers={"Origin": origin})
            assert posted.status_code == 403, origin
        for site in ("cross-site", "same-site"):
            posted = c.post(submit, data={"turn": "1"}, headers={"Sec-Fetch-Site": site})
            assert posted.status_code == 403, site
        # let through (409: no turn is open): this app's own pages, and clients that are not
        # browsers; a page with referrer policy no-referrer posts its forms with Origin null
        for headers in (
            {"Origin": f"http://127.0.0.1:{PORT}", "Sec-Fetch-Site": "same-origin"},
            {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
            {},
        ):
            same = c.post(submit, data={"turn": "1"}, headers=headers)
            assert same.status_code == 409, headers
        shown = c.get(page).headers
        assert shown["referrer-policy"] == "no-referrer" and shown["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in shown["content-security-policy"]
        assert c.get("/static/seat.js").headers["x-content-type-options"] == "nosniff"


async def test_the_seat_redirect_never_carries_the_host(tmp_path: Path) -> None:
    import asyncio
    import re

    import httpx

    run = seat_run(tmp_path, ["Aria"], rounds=1)
    token = run.tokens["Aria"]
    app = seat_app(run, port=PORT)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=f"http://localhost:{PORT}") as c,
    ):
        for _ in range(5000):
            html = (await c.get(f"/seat/Aria?token={token}")).text
            if 'name="turn"' in html:
                break
            await asyncio.sleep(0)
        turn = re.search(r'name="turn" value="(\d+)"', html)
        assert turn is not None
        sent = await c.post(
            f"/seat/Aria/submit?token={token}",
            data={"turn": turn.group(1), "message_0": "hello", "to_0": "Borea"},
        )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/seat/Aria?token={token}"


def test_a_guard_bound_to_every_interface_takes_the_machines_names() -> None:
    guard = Guard(lambda *a: None, host="0.0.0.0", port=PORT)  # type: ignore[arg-type]
    assert guard.host_allowed(f"{socket.gethostname()}:{PORT}")
    assert guard.host_allowed(f"127.0.0.1:{PORT}") and guard.host_allowed(f"0.0.0.0:{PORT}")
    assert not guard.host_allowed(f"evil.example:{PORT}")
    bound = Guard(lambda *a: None, host="10.1.2.3", port=PORT)  # type: ignore[arg-type]
    assert bound.host_allowed(f"10.1.2.3:{PORT}") and not bound.host_allowed(f"10.1.2.4:{PORT}")


# --- the viewer's folder ------------------------------------------------------------------------


def test_the_viewer_serves_no_record_outside_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "inside.jsonl", "inside")
    secret = write_run(tmp_path / "elsewhere" / "secret.jsonl", "secret")
    os.symlink(secret, root / "link.jsonl")
    (root / "linked").symlink_to(secret.parent, target_is_directory=True)
    c = TestClient(viewer_app(root), base_url="http://127.0.0.1")
    keys = {r["key"] for r in c.get("/api/runs").json()["runs"]}
    assert keys == {"inside.jsonl"}
    for key in ("link.jsonl", "linked/secret.jsonl"):
        assert c.get("/run", params={"path": key}).status_code == 404
        assert c.get("/api/run", params={"path": key}).status_code == 404


def test_a_record_turned_into_a_symlink_after_listing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    record = write_run(root / "r.jsonl", "r")
    secret = write_run(tmp_path / "elsewhere" / "secret.jsonl", "secret")
    c = TestClient(viewer_app(root), base_url="http://127.0.0.1")
    assert c.get("/run", params={"path": "r.jsonl"}).status_code == 200
    record.unlink()
    os.symlink(secret, record)
    assert c.get("/run", params={"path": "r.jsonl"}).status_code == 404
    assert "secret" not in c.get("/run", params={"path": "r.jsonl"}).text


def test_unreadable_reasons_name_paths_relative_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "good.jsonl", "good")
    (root / "sub").mkdir()
    (root / "sub" / "bad.jsonl").write_text('{"kind": "header", "broken": \n', encoding="utf-8")
    data = TestClient(viewer_app(root), base_url="http://127.0.0.1").get("/api/runs").json()
    (bad,) = data["unreadable"]
    assert bad["key"] == "sub/bad.jsonl"
    assert "sub/bad.jsonl" in bad["reason"]
    assert str(tmp_path) not in bad["reason"] and str(tmp_path.resolve()) not in bad["reason"]


# --- warnings when other machines can reach the server ------------------------------------------


def test_view_on_a_non_loopback_address_warns_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self))
    result = CliRunner().invoke(cli, ["view", str(tmp_path), "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert served
    assert "Warning: listening on 0.0.0.0" in result.stderr
    assert "Warning" not in result.stdout
    quiet = CliRunner().invoke(cli, ["view", str(tmp_path), "--port", "0"])
    assert quiet.exit_code == 0 and "Warning" not in quiet.output


def test_serve_on_a_non_loopback_address_warns_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_serving(self: Any, sockets: Any = None) -> None:
        return None

    monkeypatch.setattr(uvicorn.Server, "serve", no_serving)
    args = ["serve", "two-rivals", "--seat", "Aria", "--model", "scripted:dove", "--port", "0"]
    args += ["--out", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--host", "0.0.0.0"])
    assert "Warning: listening on 0.0.0.0" in result.stderr, result.output
    quiet = CliRunner().invoke(cli, args)
    assert "Warning" not in quiet.stderr
