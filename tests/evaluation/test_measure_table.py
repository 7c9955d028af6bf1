"""docs/measures.md's measure table agrees with CHANGELOG.md's "Measure definitions" entries:
each measure's "last changed" release is the newest release whose entries name it (0.1.0 when
none does), and every measure in the table is a column of the score tables."""

from __future__ import annotations

import re
from pathlib import Path

from dilemma.evaluation.columns import FRAMES

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| `(?P<measure>[a-z_0-9]+)` \| .+ \| \[(?P<release>[0-9.]+)\]\((?P<link>[^)]+)\) \|$"
)


def measure_table() -> dict[str, tuple[str, str]]:
    """measure -> (release, link) from the table in docs/measures.md."""
    text = (ROOT / "docs" / "measures.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if found := ROW.match(line):
            rows[found["measure"]] = (found["release"], found["link"])
    return rows


def definition_mentions() -> dict[str, set[str]]:
    """release -> the names in backticks in its "Measure definitions" entries."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    release = None
    inside = False
    for line in text.splitlines():
        if line.startswith("## "):
            release = line[3:].split()[0]
            inside = False
        elif line.startswith("### "):
            inside = line.startswith("### Measure definitions")
        elif inside and release:
            out.setdefault(release, set()).update(re.findall(r"`([a-z_0-9]+)`", line))
    return out


def _key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.split("."))


def test_table_releases_match_the_changelog() -> None:
    table = measure_table()
    assert len(table) >= 20
    mentions = definition_mentions()
    for measure, (release, link) in table.items():
        named = [r for r, names in mentions.items() if measure in names]
        expected = max(named, key=_key) if named else "0.1.0"
        assert release == expected, f"{measure}: table says {release}, CHANGELOG {expected}"
        assert link == f"../CHANGELOG.md#{release.replace('.', '')}"


def test_table_names_real_columns() -> None:
    columns = {c.name for frame in FRAMES.values() for c in frame}
    missing = [m for m in measure_table() if m not in columns]
    assert not missing, missing
