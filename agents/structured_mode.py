"""How a model is asked for structured output (light: records import it without any provider)."""

from __future__ import annotations

from enum import StrEnum


class StructuredMode(StrEnum):
    """How a model is asked for structured output."""

    FUNCTION_CALLING = "function_calling"
    JSON_TEXT = "json_text"
