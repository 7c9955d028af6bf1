"""World rules added after the first record format, and how they leave serialized rules.

A rule at its default is left out of a scenario's serialized form (and of the rules snapshot in a
record header), so a scenario that does not use it dumps, and hashes into run ids, exactly as
before the rule existed.
"""

from __future__ import annotations

from collections.abc import MutableMapping

RULE_DEFAULTS_OMITTED: dict[str, object] = {
    "horizon": "known",
    "continuation": None,
    "min_rounds": 1,
    "communication": "full",
    "accident_rate": 0.0,
    "accidents_disclosed": False,
}
"""Rule name -> the default at which it is omitted."""


def omit_default_rules(data: MutableMapping[str, object]) -> MutableMapping[str, object]:
    """Drop from serialized rules every later-added rule that is at its default; return `data`."""
    for key, default in RULE_DEFAULTS_OMITTED.items():
        if key in data and data[key] == default:
            del data[key]
    return data
