"""`dilemma export`: the evaluation's tables, the records' texts and calls, and their dictionary.

    export_tables(Path("runs/2x2"), Path("tables"))   # -> the written files

Writes, as CSV and Parquet: runs (with each run's conditions), rounds, dyad_rounds,
state_rounds and pair_rounds (dilemma.evaluation.tables), texts (dilemma.evaluation.texts) and
calls (dilemma.evaluation.calls); beside them data_dictionary.csv and data_dictionary.md (one
row per exported column: table, column, dtype, meaning, from dilemma.evaluation.columns) and
export.json (sandbox version and revision). Secrets are redacted from every text cell.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from dilemma._version import __version__
from dilemma.core.safe_text import redactor
from dilemma.evaluation.calls import calls_table
from dilemma.evaluation.columns import FRAMES, RECORD_FRAMES, Column, condition_doc
from dilemma.evaluation.comparison import with_conditions
from dilemma.evaluation.tables import record_paths, score
from dilemma.evaluation.texts import texts_table
from dilemma.records.reader import read_record

EXPORT_INFO = "export.json"
"""Written beside the tables: the sandbox version and revision that computed them."""

DICTIONARY = "data_dictionary"
"""Stem of the data dictionary files written beside the tables (.csv and .md)."""

SCORED = ("runs", "rounds", "dyad_rounds", "state_rounds", "pair_rounds")
"""Exported frames of `score()`, in the order they are written."""


def _redacted(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with secrets redacted from its text cells (an error may quote a key)."""
    frame = frame.copy()
    clean = redactor()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        frame[column] = values.map(lambda v: clean(v) if isinstance(v, str) else v)
    return frame


def tables_of(path: Path) -> dict[str, pd.DataFrame]:
    """Every exported table of a record or a folder of records, by name."""
    paths = record_paths(path)
    scores = score(paths)
    tables = {name: getattr(scores, name) for name in SCORED}
    tables["runs"] = with_conditions(scores.runs)
    records = [read_record(Path(p)) for p in scores.runs["path"]]
    tables["texts"] = texts_table(records)
    tables["calls"] = calls_table(records)
    return tables


def dictionary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per column of `tables`: table, column, dtype and meaning.

    Meanings come from the column specs of dilemma.evaluation.columns; a condition column
    joined to runs is described by `condition_doc`. Raises KeyError for an undocumented column.
    """
    specs = {**FRAMES, **RECORD_FRAMES}
    rows = []
    for name, frame in tables.items():
        docs: dict[str, Column] = {c.name: c for c in specs[name]}
        for col in frame.columns:
            if col in docs:
                rows.append((name, col, docs[col].dtype, docs[col].doc))
            elif name == "runs":
                rows.append((name, col, str(frame[col].dtype), condition_doc(str(col))))
            else:
                raise KeyError(f"table {name}: column {col!r} has no definition")
    return pd.DataFrame(rows, columns=["table", "column", "dtype", "description"])


def _dictionary_md(entries: pd.DataFrame) -> str:
    out = [
        "# Data dictionary",
        "",
        f"Tables written by `dilemma export` (security-dilemma-sandbox {__version__}).",
        "Each table is written as NAME.csv and NAME.parquet.",
    ]
    for table, sub in entries.groupby("table", sort=False):
        out += ["", f"## {table}", "", "| column | dtype | description |", "|---|---|---|"]
        out += [
            f"| {r.column} | {r.dtype} | {str(r.description).replace('|', '/')} |"
            for r in sub.itertuples()
        ]
    return "\n".join(out) + "\n"


def export_tables(path: Path, out: Path) -> list[Path]:
    """Write every table as CSV and Parquet into `out`, the data dictionary and `export.json`.

    The Parquet files carry the sandbox version in their metadata too (pandas reads it back
    as `DataFrame.attrs["dilemma_version"]`)."""
    from dilemma.records.provenance import git_state

    tables = tables_of(path)
    entries = dictionary(tables)  # before writing: an undocumented column writes nothing
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in tables.items():
        csv_path, parquet = out / f"{name}.csv", out / f"{name}.parquet"
        frame = _redacted(frame)
        frame.attrs = {"dilemma_version": __version__}
        frame.to_csv(csv_path, index=False)
        frame.to_parquet(parquet, index=False)
        written += [csv_path, parquet]
    dict_csv, dict_md = out / f"{DICTIONARY}.csv", out / f"{DICTIONARY}.md"
    entries.to_csv(dict_csv, index=False, quoting=csv.QUOTE_MINIMAL)
    dict_md.write_text(_dictionary_md(entries), encoding="utf-8")
    written += [dict_csv, dict_md]
    revision, dirty = git_state()
    info = {
        "dilemma_version": __version__,
        "git_revision": revision,
        "git_dirty": dirty,
        "tables": [file.name for file in written],
    }
    written.append(out / EXPORT_INFO)
    written[-1].write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return written
