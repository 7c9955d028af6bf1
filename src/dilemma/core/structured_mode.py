"""How a model is asked for structured output (light: records import it without any provider)."""

from __future__ import annotations

from dilemma.core.str_enum import FastStrEnum


class StructuredMode(FastStrEnum):
    """How a model is asked for structured output."""

    FUNCTION_CALLING = "function_calling"
    JSON_TEXT = "json_text"
