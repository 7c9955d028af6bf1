"""Parsers of what a person types in a seat, the terminal's (`dilemma play`) and the web's
(`dilemma serve`) alike; each raises InputError with a reason in plain words.

Pure functions, so the terminal prompts can re-ask on any error, the web form can list every
error at once, and tests can check that both seats accept and refuse exactly the same text:
numbers are ASCII digits with an optional sign (no `٥`, `５` or `1_0`), and free text holds no
control character (no NUL, no Escape: nothing that could act on a terminal or hide in a record).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
"""Characters free text may not hold: C0 controls but tab and newline, DEL, C1 controls, line
and paragraph separators, bidirectional overrides and isolates, and lone surrogates."""


class InputError(ValueError):
    """Typed text that is not an acceptable answer; the message says what is expected."""


def parse_int(text: str, low: int, high: int) -> int:
    """A whole number in [low, high] (a leading + or - allowed, surrounding spaces ignored)."""
    value = text.strip()
    digits = value[1:] if value[:1] in "+-" else value
    if not digits.isascii() or not digits.isdigit():
        raise InputError(f"type a whole number from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise InputError(f"{number} is out of range: type a whole number from {low} to {high}")
    return number


def parse_optional_int(text: str, low: int, high: int) -> int | None:
    """Like parse_int, but an empty answer means none."""
    return None if not text.strip() else parse_int(text, low, high)


def parse_choice(text: str, options: Sequence[str]) -> str:
    """One of `options`: by its number (1-based), its name, or a prefix naming only it
    (case-insensitive)."""
    value = text.strip().lower()
    if value.isascii() and value.isdigit() and 1 <= int(value) <= len(options):
        return options[int(value) - 1]
    exact = [o for o in options if o.lower() == value]
    if exact:
        return exact[0]
    matches = [o for o in options if value and o.lower().startswith(value)]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(f"{i}={o}" for i, o in enumerate(options, 1))
    raise InputError(f"choose one of {shown} (number or name)")


def parse_yes_no(text: str, default: bool | None = None) -> bool:
    """y/yes or n/no; an empty answer is `default` (an error when there is none)."""
    value = text.strip().lower()
    if value in ("y", "yes"):
        return True
    if value in ("n", "no"):
        return False
    if not value and default is not None:
        return default
    raise InputError("answer y or n")


def parse_states(text: str, options: Sequence[str]) -> list[str]:
    """A comma-separated list of `options` (each as parse_choice takes it), no repeats, at least
    one."""
    parts = [p for p in (part.strip() for part in text.split(",")) if p]
    if not parts:
        raise InputError(f"name at least one of {', '.join(options)} (comma-separated)")
    chosen: list[str] = []
    for part in parts:
        choice = parse_choice(part, options)
        if choice not in chosen:
            chosen.append(choice)
    return chosen


def parse_text(text: str, max_length: int, required: bool = False) -> str:
    """Free text up to `max_length` characters, stripped; empty allowed unless required; no
    control characters (tab and line breaks aside)."""
    value = text.replace("\r\n", "\n").strip()
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InputError(
            f"the text holds an invisible control character (code {ord(bad.group()):#06x},"
            " such as Escape or NUL): type plain text"
        )
    if required and not value:
        raise InputError("type some text")
    if len(value) > max_length:
        raise InputError(f"too long: {len(value)} characters, at most {max_length}")
    return value
