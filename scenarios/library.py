"""Loading scenarios: built-in names or YAML files, refused with a clear message when invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from dilemma.scenarios.schema import Scenario
from pydantic import ValidationError

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


MAX_YAML_NODES = 100_000
"""Largest YAML document read, in nodes with every alias counted each time it is used.

Refuses an alias bomb (a "billion laughs" file) before it is built, in milliseconds."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML in which a mapping may not repeat a key (the last value would silently win)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` keys are meant to be overridden
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # an unhashable key: the constructor reports it
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first given on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(root: yaml.Node, limit: int, sizes: dict[int, int] | None = None) -> int:
    """Nodes of the document with aliases expanded (stops counting past `limit`); `sizes`
    keeps every node's size by id, for `_where_too_large`."""
    sizes = {} if sizes is None else sizes

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = limit + 1  # a node that contains itself is too large
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
                if total > limit:
                    break
        sizes[id(node)] = min(total, limit + 1)
        return sizes[id(node)]

    return size(root)


def _where_too_large(root: yaml.Node, limit: int, sizes: dict[int, int]) -> str:
    """Where a document too large lies, as a dotted key path with its line (`states.0.doctrine
    (line 5)`): the deepest mapping key (through lists of mappings) whose value alone is too
    large, or else the key at which a mapping's values add up to too much."""

    def opens(node: yaml.Node) -> bool:
        return isinstance(node, yaml.MappingNode) or (
            isinstance(node, yaml.SequenceNode)
            and any(isinstance(v, yaml.MappingNode) for v in node.value)
        )

    path: list[str] = []
    line = root.start_mark.line + 1
    node = root
    while opens(node):
        if isinstance(node, yaml.MappingNode):
            children = [
                (str(k.value) if isinstance(k, yaml.ScalarNode) else "?", k, v)
                for k, v in node.value
            ]
        else:
            children = [(str(n), v, v) for n, v in enumerate(node.value)]
        alone = next((c for c in children if sizes.get(id(c[2]), 0) > limit), None)
        if alone is None:
            total = 1
            for name, key, value in children if isinstance(node, yaml.MappingNode) else []:
                total += sizes.get(id(key), 0) + sizes.get(id(value), 0)
                if total > limit:
                    path.append(name)
                    line = key.start_mark.line + 1
                    break
            break
        path.append(alone[0])
        line = alone[1].start_mark.line + 1
        node = alone[2]
    return f"{'.'.join(path)} (line {line})" if path else "(top level)"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file strictly, turning every failure into a ScenarioError naming the file.

    The file must be UTF-8; a mapping may not repeat a key; the document may not expand to more
    than MAX_YAML_NODES nodes through aliases.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read file: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: (file encoding): not UTF-8 text (byte 0x{data[exc.start]:02x} at offset"
            f" {exc.start}); save the file as UTF-8"
        ) from exc
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}
        if _expanded_size(node, MAX_YAML_NODES, sizes) > MAX_YAML_NODES:
            where = _where_too_large(node, MAX_YAML_NODES, sizes)
            raise ScenarioError(
                f"{path}: {where}: expands to more than {MAX_YAML_NODES:,} values through its"
                " aliases (&anchor / *alias); refusing to build the document"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        raise ScenarioError(f"{path}: {where}invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ScenarioError(f"{path}: (top level): the YAML is nested too deeply") from exc
    finally:
        loader.dispose()


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


MIN_STATES, MAX_STATES = 2, 8
_REGIMES = ("democracy", "autocracy")
NEUTRAL_IDS = ("A", "B", "C", "D", "E", "F", "G", "H")
"""Ids of the states of a resized symmetric scenario; each is named `State <id>`."""
_IDENTITY = ("id", "name", "name_by_regime")
"""What may differ between the states of a symmetric scenario: their names."""


def with_n_states(data: dict[str, Any], n: object, source: str) -> dict[str, Any]:
    """Scenario data with `n` identical states (the experiment factor `n_states`).

    The scenario must be symmetric: every state the same apart from its id, name and model, and
    no treaty in force. The result has states A, B, ... named `State A`, ... (NEUTRAL_IDS),
    each a copy of the first state, so nothing but the number of states changes. ScenarioError
    names `source` when n is not an integer from MIN_STATES to MAX_STATES or the scenario is
    not symmetric.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_STATES <= n <= MAX_STATES:
        raise ScenarioError(
            f"{source}: n_states must be an integer from {MIN_STATES} to {MAX_STATES}, got {n!r}"
        )
    states = data.get("states") or []
    first = {k: v for k, v in states[0].items() if k not in _IDENTITY}
    for state in states[1:]:
        rest = {k: v for k, v in state.items() if k not in _IDENTITY}
        if rest != first:
            differ = sorted(k for k in set(rest) | set(first) if rest.get(k) != first.get(k))
            raise ScenarioError(
                f"{source}: n_states needs a symmetric scenario (states identical apart from id"
                f" and name), but state {state.get('id')!r} differs from"
                f" {states[0].get('id')!r} in {', '.join(differ)}; use the built-in `symmetric`"
            )
    if data.get("treaties"):
        raise ScenarioError(
            f"{source}: n_states cannot resize a scenario with treaties in force (their parties"
            " name states)"
        )
    out = dict(data)
    by_regime = "name_by_regime" in states[0]
    out["states"] = [
        {
            **first,
            "id": sid,
            "name": f"State {sid}",
            **({"name_by_regime": dict.fromkeys(_REGIMES, f"State {sid}")} if by_regime else {}),
        }
        for sid in NEUTRAL_IDS[:n]
    ]
    return out
