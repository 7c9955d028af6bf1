"""`json.dumps(value, indent=2)`, written by orjson: the same text, many times faster for large
outputs such as `dilemma score --json` of a folder.

    indented_json(value) -> str   the text of json.dumps(value, indent=2)

orjson writes the same indented document as the json module but for two things, which are
rewritten after it: non-ASCII characters (and DEL) are written as they are, where json.dumps
escapes them (`\\u00e9`); and floats of magnitude 1e-9 to 1e-5 have a shorter notation
(`1e-6` and `0.00001` where `repr` gives `1e-06` and `1e-05`). Floats must be finite: orjson
writes NaN and the infinities as null (json.dumps writes `NaN`, which is not JSON).
What orjson does not write (integers beyond 64 bits, keys other than str, other types) is left to
json.dumps, which gives the same text or raises as it does.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

_NOT_ASCII = re.compile(r"[^\x00-\x7e]+")
"""What json.dumps escapes and orjson writes as it is (control characters both escape)."""
_SHORT_FLOATS = (re.compile(rb"e-\d(?=,?\n|$)"), re.compile(rb"0\.0000\d+(?=,?\n|$)"))
"""Where orjson's notation of a float can differ from `repr`'s: the end of a number that is
the last token of its line (every number of an indented document is). Two patterns, each
starting with a literal, which the re module finds quickly (one alternation is ten times
slower)."""
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def indented_json(value: Any) -> str:
    """The text of `json.dumps(value, indent=2)` (floats finite)."""
    if not isinstance(value, (dict, list, tuple)):
        return json.dumps(value, indent=2)
    try:
        data = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2)
    text = _repr_floats(data).decode()
    if not text.isascii() or "\x7f" in text:
        text = _NOT_ASCII.sub(lambda m: encode_basestring_ascii(m.group())[1:-1], text)
    return text


def _repr_floats(data: bytes) -> bytes:
    """`data` with each float that orjson writes otherwise than `repr` rewritten as `repr`.

    A candidate ends a line; it is a number only if its whole last token (after the last space
    of the line) is one: a string's text never ends a line (its closing quote does)."""
    parts: list[bytes] = []
    done = 0
    found = sorted((m.start(), m.end()) for p in _SHORT_FLOATS for m in p.finditer(data))
    for at, end in found:
        start = data.rfind(b" ", 0, at) + 1
        if start < done or not _NUMBER.fullmatch(data, start, end):
            continue
        parts += [data[done:start], repr(float(data[start:end])).encode()]
        done = end
    if not parts:
        return data
    parts.append(data[done:])
    return b"".join(parts)
