"""The JSON Schema of the record format, and the committed snapshot it is checked against.

    python -m dilemma.records.json_schema            # write records/schema_v<SCHEMA_VERSION>.json
    python -m dilemma.records.json_schema --check    # exit 1 if the snapshot differs from the code

The schema is that of one record line (the header or any event, told apart by `kind`), as a
reader validates it. Titles and descriptions are left out: they are documentation, and editing
a docstring does not change the format. A test fails when the code's schema differs from the
snapshot of the current version (see docs/records.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dilemma.records.schema import LINE_ADAPTER, SCHEMA_VERSION

_DOC_KEYS = frozenset({"title", "description"})
_NAME_MAPS = frozenset({"properties", "$defs", "patternProperties"})
"""Schema keywords whose keys are names (of fields or definitions), not keywords."""
_LITERALS = frozenset({"default", "const", "enum", "examples"})
"""Schema keywords whose values are data, kept as they are."""


def snapshot_path(version: int = SCHEMA_VERSION) -> Path:
    """Where the snapshot of a version lives."""
    return Path(__file__).with_name(f"schema_v{version}.json")


def _strip_docs(node: Any, names: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: value
            if key in _LITERALS and not names
            else _strip_docs(value, key in _NAME_MAPS and not names)
            for key, value in node.items()
            if names or key not in _DOC_KEYS
        }
    if isinstance(node, list):
        return [_strip_docs(item) for item in node]
    return node


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a record line of the current version, without titles and descriptions."""
    schema: dict[str, Any] = _strip_docs(LINE_ADAPTER.json_schema())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-record-schema-version": SCHEMA_VERSION,
        **schema,
    }


def render() -> str:
    """The snapshot text: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(record_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the snapshot, or with --check report whether it is up to date (exit 0 / 1)."""
    args = sys.argv[1:] if argv is None else argv
    path = snapshot_path()
    if args == ["--check"]:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == render():
            print(f"{path.name} is up to date (record schema version {SCHEMA_VERSION})")
            return 0
        print(f"{path} differs from the record models; see docs/records.md", file=sys.stderr)
        return 1
    if args:
        print("usage: python -m dilemma.records.json_schema [--check]", file=sys.stderr)
        return 2
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
