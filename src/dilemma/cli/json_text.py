"""`json.dumps(value, indent=2)`, several times faster for large outputs such as
`dilemma score --json` of a folder. Python's json module writes indented output in Python, one
generator step per value; here each stretch of plain values (numbers, text, true, false, null)
of a list or an object is written by the json module's C encoder in one call, its item
separator carrying the line break and indent of that depth.

    indented_json(value) -> str   the same text as json.dumps(value, indent=2)

Values are what JSON holds (dict with str keys, list, tuple, str, int, float, bool, None);
anything else is left to json.dumps itself, which gives the same text or raises as it does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

INDENT = "  "
PLAIN = {str, int, float, bool, type(None)}
"""Types the C encoder writes as json.dumps does (not their subclasses: an IntEnum, say)."""


class _Unsupported(Exception):
    """A value this encoder does not write (json.dumps handles it)."""


def indented_json(value: Any) -> str:
    """The text of `json.dumps(value, indent=2)`."""
    try:
        return _text(value, "\n")
    except (_Unsupported, RecursionError):
        return json.dumps(value, indent=2)


@functools.cache
def _encoder(inner: str) -> Callable[[Any], str]:
    """The C encoder writing items separated by a comma and `inner` (a line break + indent)."""
    return json.JSONEncoder(separators=("," + inner, ": ")).encode


def _text(value: Any, newline: str) -> str:
    """The JSON of `value`, its nested lines starting with `newline` + one indent."""
    kind = type(value)
    if kind in PLAIN:
        return json.dumps(value)
    if kind is not dict and kind is not list and kind is not tuple:
        raise _Unsupported
    if not value:
        return "{}" if kind is dict else "[]"
    inner = newline + INDENT
    encode = _encoder(inner)
    parts: list[str] = []
    if kind is dict:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsupported
            if type(item) in PLAIN:
                flat[key] = item
                continue
            if flat:
                parts.append(encode(flat)[1:-1])
                flat = {}
            parts.append(encode_basestring_ascii(key) + ": " + _text(item, inner))
        if flat:
            parts.append(encode(flat)[1:-1])
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    run: list[Any] = []
    for item in value:
        if type(item) in PLAIN:
            run.append(item)
            continue
        if run:
            parts.append(encode(run)[1:-1])
            run = []
        parts.append(_text(item, inner))
    if run:
        parts.append(encode(run)[1:-1])
    return "[" + inner + ("," + inner).join(parts) + newline + "]"
