"""Text that crosses a boundary (a record line, the console, a report, a table) made safe.

- `scrub(text)`: lone UTF-16 surrogates (which a model or a server can send as `\\ud800`) become
  U+FFFD, so the text encodes as UTF-8 and every JSON reader can read it back.
- `redact(text)`: secrets become `[REDACTED]`: the values of key-like environment variables
  (`OPENAI_API_KEY`, any `*_API_KEY`, `*_TOKEN`, `*_SECRET`, ...), values registered with
  `register_secret` (e.g. the password of a `--base-url`), and key-shaped strings (`sk-...`,
  `Bearer ...`, Google `AIza...`, Hugging Face `hf_...`). A redaction never makes text longer.
- `escape_controls(text)`: control characters (ESC, NUL, CR, DEL, C1, U+2028/U+2029, bidi
  overrides) become visible escapes such as `\\x1b` and `\\u2028`, so text printed to a terminal
  or a page cannot move the cursor, clear the screen, retitle the window or reorder a line.
- `safe_console(text)`: redacted, scrubbed and escaped (newlines kept) for printing.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 12
"""Shorter values are not treated as secrets (and a redaction never lengthens text)."""

KEY_ENV_NAME = re.compile(
    r"(?:API_?KEY|ACCESS_KEY|SECRET(?:_ACCESS)?_KEY|_KEY|TOKEN|SECRET|PASSWORD|PASSWD)$",
    re.IGNORECASE,
)
"""Environment variable names whose values are secrets (OPENAI_API_KEY, HF_TOKEN, ...)."""

_KEY_SHAPED = re.compile(
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic (sk-ant-...), DeepSeek, ...
    r"|(?<![A-Za-z0-9])AIza[A-Za-z0-9_-]{30,}"  # Google
    r"|(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"  # Hugging Face
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{12,}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_CONTROL_OR_NEWLINE = re.compile(f"{_CONTROL.pattern[:-1]}\n]")

_KEY_MARK_K = re.compile("k-").search
_KEY_MARK_A = re.compile("AIza").search
_KEY_MARK_H = re.compile("hf_").search
"""Literals that a `_KEY_SHAPED` match contains: text holding none of them cannot match.

A fast pre-check: `re` finds a literal by scanning for its first character, which for these
(`k`, `A`, `h`) is faster than `in` on record lines; `k-` rather than `sk-` because `s` is far
more common than `k`. `AIza` is only looked for in text holding a `z` (one fast `in`), which
record lines rarely do.
"""
_BEARER_WORD = b"bearer"
"""What `_BEARER` needs in the text's UTF-8 with ASCII letters lowered (no other character
folds to these letters, and lowering bytes is far cheaper than `str.lower`)."""

_registered: set[str] = set()
_lock = threading.Lock()
_generation = 0
"""Bumped by every new registered secret, so cached secret values are recomputed."""
_cached: tuple[int, tuple[str, ...]] | None = None
"""(generation of the registered secrets, secret values) of the last call."""


def register_secret(value: str | None) -> None:
    """Treat `value` as a secret from now on (ignored if shorter than MIN_SECRET_LEN)."""
    global _generation
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            if value not in _registered:
                _registered.add(value)
                _generation += 1


def public_url(url: str) -> str:
    """`url` without what may be a credential: no user or password, no query, no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def register_url_secrets(url: str | None) -> None:
    """Register the password (or user) of a URL and the values of its query parameters."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    register_secret(parts.password)
    if parts.password is None:
        register_secret(parts.username)
    for pair in parts.query.split("&"):
        register_secret(pair.partition("=")[2])


_cached_env: dict[bytes, bytes] | dict[str, str] | None = None
"""A copy of the environment `_cached` was computed from."""


def _raw_environment() -> dict[bytes, bytes] | dict[str, str]:
    """os.environ's own mapping (no copy), or a copy where it has none."""
    raw = getattr(os.environ, "_data", None)
    return raw if isinstance(raw, dict) else dict(os.environ)


def _secrets() -> tuple[str, ...]:
    """Every secret value currently known, longest first.

    Recomputed only when the environment or the registered secrets changed since the last call
    (scanning the environment for key-like names costs more than redacting a record line; a
    comparison with a copy of the environment costs far less).
    """
    global _cached, _cached_env
    raw = _raw_environment()
    cached = _cached
    if cached is None or cached[0] != _generation or _cached_env != raw:
        generation = _generation
        env = dict(raw)
        cached = _cached = (generation, tuple(_secret_values()))
        _cached_env = env
    return cached[1]


def secret_values() -> list[str]:
    """Every secret value currently known, longest first."""
    return list(_secrets())


def _secret_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if KEY_ENV_NAME.search(name) and len(value) >= MIN_SECRET_LEN
    }
    with _lock:
        values |= _registered
    forms = set(values)
    for value in values:
        forms.add(json.dumps(value)[1:-1])  # as it appears inside a JSON string
        forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    return sorted((f for f in forms if len(f) >= MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every known secret and key-shaped string replaced by [REDACTED]."""
    return redactor()(text)


def redactor() -> Callable[[str], str]:
    """`redact` with the secrets known now, for redacting many texts (e.g. a table's cells)."""
    values = _secrets()

    def redact_one(text: str) -> str:
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        if _KEY_MARK_K(text) or ("z" in text and _KEY_MARK_A(text)) or _KEY_MARK_H(text):
            text = _KEY_SHAPED.sub(REDACTED, text)
        if _BEARER_WORD in text.encode("utf-8", "surrogatepass").lower():
            text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    return redact_one


def scrub(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (the replacement character)."""
    return _SURROGATE.sub("\ufffd", text)


def scrub_tree(value: Any) -> Any:
    """A JSON-like value with every string (keys too) scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_tree(k): scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_tree(v) for v in value]
    return value


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """Control characters as visible escapes (`\\x1b`, `\\x00`, `\\u2028`); newlines kept or not."""
    pattern = _CONTROL if keep_newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escape, text)


def safe_console(text: str) -> str:
    """Text for a terminal: secrets redacted, surrogates scrubbed, controls escaped."""
    return escape_controls(scrub(redact(text)))
