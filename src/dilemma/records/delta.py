"""Observations stored as a delta against the same state's previous observation (version 5).

A state's observations change little from one call to the next: a round's decision observation
is its negotiation observation with the round's messages added, the next round's shows new arms
and one more history row. Since version 5 only a state's first observation is written in full;
each later one is written as `delta`, the changes from the state's previous observation line
(whatever its phase). `diff` makes a delta and `patch` applies it: for any two JSON objects,
`patch(old, diff(old, new)) == new`, keys in the same order (`diff` returns None, and the
observation is written in full, when `new` moved a key of `old`).

A delta is a JSON object of changed keys, each mapped to one operation:

    {"=": value}            the key is new, or its value is replaced
    {"-": 1}                the key is gone
    {"~": {key: op, ...}}   an object whose listed keys changed (the others are unchanged)
    {"<": n, "+": [items]}  a list without its first n items (no "<": none), items appended
    {"*": [op or null]}     a list of the same length, item by item (null: unchanged)

Values that Python holds equal (1 and 1.0) count as unchanged: every field of an observation
has one JSON type, so two values written for it are equal only when their JSON is.
"""

from __future__ import annotations

from typing import Any

Op = dict[str, Any]
"""One operation of a delta (see the module docstring)."""


class DeltaError(ValueError):
    """A delta that does not fit the object it is applied to."""


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Op] | None:
    """The changes from `old` to `new` (both JSON objects); {} when equal, None when `new`
    does not keep `old`'s key order (a delta could not rebuild it: write `new` in full)."""
    return _object(old, new)


def _object(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Op] | None:
    """Key by key changes, or None when `new` does not keep `old`'s key order (then a patch,
    which keeps old keys in place and appends new ones, could not rebuild it)."""
    changes: dict[str, Op] = {}
    if list(old) == list(new):  # the common case: the same keys in the same order
        for key, value in new.items():
            was = old[key]
            if was is not value and was != value:
                changes[key] = _op(was, value)
        return changes
    if old.keys() == new.keys():
        return None  # the same keys in another order
    kept = [key for key in old if key in new]
    if list(new)[: len(kept)] != kept:
        return None
    for key, value in new.items():
        if key not in old:
            changes[key] = {"=": value}
            continue
        was = old[key]
        if was is value or was == value:
            continue
        changes[key] = _op(was, value)
    for key in old:
        if key not in new:
            changes[key] = {"-": 1}
    return changes


def _op(old: Any, new: Any) -> Op:
    """One changed value's operation: nested changes where they are smaller than a copy."""
    if isinstance(old, dict) and isinstance(new, dict):
        nested = _object(old, new)
        return {"=": new} if nested is None else {"~": nested}
    if isinstance(old, list) and isinstance(new, list):
        return _list(old, new)
    return {"=": new}


def _list(old: list[Any], new: list[Any]) -> Op:
    """A list kept in part and appended to (the common case: histories, messages), item by
    item when only items changed, else replaced."""
    for drop in range(len(old) + 1):
        kept = len(old) - drop
        if kept <= len(new) and new[:kept] == old[drop:]:
            if kept == 0 and drop > 0:
                break  # nothing kept: a replacement says the same more simply
            op: Op = {"<": drop} if drop else {}
            op["+"] = new[kept:]
            return op
    if len(old) == len(new):
        return {"*": [None if a == b else _op(a, b) for a, b in zip(old, new, strict=True)]}
    return {"=": new}


def patch(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`old` with a delta applied (a new object; `old` and the delta are not changed, but the
    result shares their unchanged parts). Raises DeltaError if the delta does not fit."""
    if not isinstance(changes, dict):
        raise DeltaError("a delta must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in old.items():
        op = changes.get(key)
        if op is None:
            out[key] = value
        elif _is_op(op) and "-" not in op:
            out[key] = _apply(value, op)
    for key, op in changes.items():
        if key not in old:
            if not _is_op(op) or "=" not in op:
                raise DeltaError(f"key {key!r} is not in the previous observation")
            out[key] = op["="]
        elif not _is_op(op):
            raise DeltaError(f"key {key!r}: {op!r} is not a delta operation")
    return out


def _is_op(op: Any) -> bool:
    return isinstance(op, dict) and len(op) >= 1


def _apply(old: Any, op: Op) -> Any:
    if "=" in op:
        return op["="]
    if "~" in op:
        if not isinstance(old, dict) or not isinstance(op["~"], dict):
            raise DeltaError("an object change on a value that is not an object")
        return patch(old, op["~"])
    if "+" in op:
        drop = op.get("<", 0)
        if not isinstance(old, list) or not isinstance(op["+"], list) or not isinstance(drop, int):
            raise DeltaError("a list change on a value that is not a list")
        return old[drop:] + op["+"]
    if "*" in op:
        items = op["*"]
        if not isinstance(old, list) or not isinstance(items, list) or len(items) != len(old):
            raise DeltaError("an item-by-item change that does not fit the list")
        return [a if item is None else _apply(a, item) for a, item in zip(old, items, strict=True)]
    raise DeltaError(f"{op!r} is not a delta operation")
