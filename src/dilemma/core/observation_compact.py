"""A compact JSON rendering of an observation, for prompts that pay per token (the embedded model).

The compact text leaves out what the full one spells but a reader can restore exactly: a key
whose value is null (a required field that may be None: `last_action`, ...), an empty list in a
required field (`treaties`, `history`, ...), and the `.0` of a whole-number float (`100` for
`100.0`). An empty list in a field that may be absent keeps its `[]` (`statements`, `messages`,
`open_proposals`: absent means the channel is closed, `[]` that nothing was said), and every
other value is written as in the full JSON. `expand_compact` puts back what was left out, so
`Observation.model_validate(expand_compact(json.loads(compact_observation_json(obs)), Observation))
== obs`.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel


def _allows_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _view(annotation: Any) -> type[BaseModel] | None:
    """The view class held by a field (`X`, `X | None` or `list[X]`), if any."""
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        inner = typing.get_args(candidate) if _is_list(candidate) else (candidate,)
        for item in inner:
            if isinstance(item, type) and issubclass(item, BaseModel):
                return item
    return None


def _plan(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str], dict[str, type]]:
    """Of `model`'s fields: required ones that may be None, required lists, nested views."""
    nullable, lists, views = set(), set(), {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if info.is_required() and _allows_none(annotation):
            nullable.add(name)
        if info.is_required() and _is_list(annotation):
            lists.add(name)
        view = _view(annotation)
        if view is not None:
            views[name] = view
    return frozenset(nullable), frozenset(lists), views


_PLANS: dict[type[BaseModel], tuple[frozenset[str], frozenset[str], dict[str, type]]] = {}


def _plan_of(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str], dict[str, type]]:
    if model not in _PLANS:
        _PLANS[model] = _plan(model)
    return _PLANS[model]


def _compact_value(value: Any, view: type[BaseModel] | None) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, list):
        return [_compact_value(item, view) for item in value]
    if isinstance(value, dict):
        if view is not None:
            return _compact(value, view)
        return {key: _compact_value(item, None) for key, item in value.items()}
    return value


def _compact(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    nullable, lists, views = _plan_of(model)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None and key in nullable:
            continue
        if value == [] and key in lists:
            continue
        out[key] = _compact_value(value, views.get(key))
    return out


def _expand(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    nullable, lists, views = _plan_of(model)
    out = dict(data)
    for key in nullable:
        out.setdefault(key, None)
    for key in lists:
        out.setdefault(key, [])
    for key, view in views.items():
        value = out.get(key)
        if isinstance(value, dict):
            out[key] = _expand(value, view)
        elif isinstance(value, list):
            out[key] = [_expand(v, view) if isinstance(v, dict) else v for v in value]
    return out


def compact_observation_json(obs: BaseModel) -> str:
    """The observation (a dilemma.core.observation.Observation) as compact JSON (module doc),
    no spaces, non-ASCII kept."""
    data = _compact(obs.model_dump(mode="json"), type(obs))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def expand_compact(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The full data of a `model` (Observation) from compact data (full data are returned
    unchanged)."""
    return _expand(data, model)
