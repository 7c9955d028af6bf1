"""What both web apps (`dilemma view`, `dilemma serve`) put in front of every request.

`Guard` is an ASGI middleware that:

- refuses (400) a request whose `Host` header is not an address the app is served at: the
  loopback names (`127.0.0.1`, `localhost`, `[::1]`) and the address it is bound to, with the
  bound port when it is known. A web page elsewhere cannot read the app through a name of its
  own that resolves to this machine (DNS rebinding);
- refuses (403) a state-changing request (POST and the like) sent from a page of another
  origin: `Sec-Fetch-Site`, which a browser sets and no page can forge, must be `same-origin`
  (or `none`) when present, and `Origin`, when present, must name an allowed host. `Origin:
  null` passes only with `Sec-Fetch-Site: same-origin`: a browser sends `null` for a form
  posted from a page whose referrer policy is `no-referrer`, as these pages' is;
- adds to every response a Content-Security-Policy allowing scripts, styles, images and fetches
  from the app itself only, no framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`),
  `Referrer-Policy: no-referrer` (a seat's token never leaves in a Referer), and
  `X-Content-Type-Options: nosniff`.

`non_loopback_warning` is the warning both commands print when bound to an address that other
machines can reach.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def non_loopback_warning(host: str, what: str) -> str | None:
    """The warning to print when `host` can be reached from other machines (None on loopback)."""
    if is_loopback(host):
        return None
    return (
        f"Warning: listening on {host}, not on loopback: anyone who can reach this machine on"
        f" the network can open {what}."
    )


def _machine_names() -> set[str]:
    """This machine's name and addresses, for an app bound to every interface."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return {n for n in names if n}


def allowed_names(host: str) -> frozenset[str]:
    """The host names (lower case, IPv6 without brackets) a request may use for an app bound to
    `host`: the loopback names and the bound address, or the machine's names and addresses when
    bound to every interface."""
    names = set(LOOPBACK_NAMES)
    bare = host.strip("[]").lower()
    if bare in WILDCARDS:  # (a browser may also open the printed http://0.0.0.0:PORT/)
        names |= {n.lower() for n in _machine_names()}
    names.add(bare)
    return frozenset(names - {""})


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a Host header value (`[::1]:8000`, `localhost`); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep:
            return None
        port_text = rest[1:] if rest.startswith(":") else rest
        if rest and not rest.startswith(":"):
            return None
    else:
        name, _, port_text = value.partition(":")
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isascii() or not port_text.isdigit():
        return None
    return name, int(port_text)


class Guard:
    """The ASGI middleware described in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_names: Iterable[str] = (),
        cache_control: str = "no-store",
    ) -> None:
        self.app = app
        self.names = allowed_names(host) | {n.lower() for n in extra_names}
        self.port = port
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in {**SECURITY_HEADERS, "Cache-Control": cache_control}.items()
        ]

    def host_allowed(self, value: str) -> bool:
        """Whether a Host header value names this app (any port when the port is not known)."""
        parts = _split_host(value)
        if parts is None:
            return False
        name, port = parts
        if name not in self.names:
            return False
        return port is None or self.port is None or port == self.port

    def origin_allowed(self, origin: str) -> bool:
        """Whether an Origin header names this app (http on an allowed host)."""
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme == "http" and not parts.path and self.host_allowed(parts.netloc)

    def same_origin(self, headers: dict[str, str]) -> bool:
        """Whether a state-changing request comes from this app's own pages (or from no page:
        a client that is not a browser sends neither header)."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = headers.get("origin")
        if origin is None or self.origin_allowed(origin):
            return True
        return origin == "null" and site == "same-origin"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # neither app has one
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.host_allowed(headers.get("host", "")):
            await self._refuse(send, 400, "Invalid host header")
            return
        if scope.get("method") not in SAFE_METHODS and not self.same_origin(headers):
            await self._refuse(send, 403, "Cross-origin request refused")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in self.headers if k not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, send: Send, status: int, text: str) -> None:
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
