"""Loading scenarios: built-in names or YAML files, refused with a clear message when invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scenarios.schema import Scenario

LIBRARY_DIR = Path(__file__).parent / "library"


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the field."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path (`states.1.arms`)."""
    return ".".join(str(part) for part in loc) or "(top level)"


def validation_message(source: str, exc: ValidationError) -> str:
    """One message listing each invalid field of `source`."""
    lines = [f"{source}: invalid scenario"]
    for err in exc.errors():
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  {field_path(err['loc'])}: {err['msg']}{shown}")
    return "\n".join(lines)


def builtin_names() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml"))


def parse_scenario(data: Any, source: str) -> Scenario:
    """Validate already-parsed YAML data."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: (top level): expected a mapping of scenario fields")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(validation_message(source, exc)) from exc


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every failure into a ScenarioError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read file: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        raise ScenarioError(f"{path}: {where}invalid YAML: {exc}") from exc


def load_scenario(name_or_path: str) -> tuple[Scenario, str]:
    """A built-in scenario by name or a YAML file by path, with its source label."""
    if name_or_path in builtin_names():
        path = LIBRARY_DIR / f"{name_or_path}.yaml"
        return parse_scenario(read_yaml(path), f"builtin:{name_or_path}"), f"builtin:{name_or_path}"
    path = Path(name_or_path)
    if not path.exists():
        raise ScenarioError(
            f"{name_or_path}: no such file and no built-in scenario of that name"
            f" (built-in: {', '.join(builtin_names())})"
        )
    return parse_scenario(read_yaml(path), str(path)), str(path)


def load_builtin(name: str) -> Scenario:
    """A built-in scenario by name."""
    if name not in builtin_names():
        raise ScenarioError(f"unknown built-in scenario {name!r} (built-in: {builtin_names()})")
    return load_scenario(name)[0]
