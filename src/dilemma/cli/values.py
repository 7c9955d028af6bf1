"""One way to show a table value, for `score`, `compare`, `export` and the web viewer:
`plain` for JSON, `display_value` for text."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def plain(value: Any) -> Any:
    """A JSON-ready Python value: None for a missing one (None, NaN, pandas' NA), "inf" or
    "-inf" for an infinity (JSON has none), Python scalars for numpy ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(value) if math.isinf(value) else value
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def display_value(value: Any, digits: int = 2) -> str:
    """A value for display: n/a for missing or NaN, yes/no for booleans, fixed digits for floats."""
    value = plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
