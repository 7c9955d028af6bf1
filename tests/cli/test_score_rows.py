"""`dilemma score` from cached rows: the table and the JSON a warm score cache gives (read
without pandas) are those of a fresh score; the table renders as pandas renders it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from dilemma.evaluation import score_cache
from dilemma.evaluation.score_cache import ScoreCache
from dilemma.evaluation.tables import score
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dilemma.cli.score_format import render, score_json, score_text
from tests.helpers.records import random_builder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _folder(tmp_path: Path) -> Path:
    """Records of two experiments with different factors, and scripted runs without any."""
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("records_v3/sweep", "records_v4/sweep", "records_v4/scripted"):
        for record in sorted((FIXTURES / name).glob("*.jsonl")):
            shutil.copy(record, folder / f"{name.replace('/', '-')}-{record.name}")
    random_builder(7, n_states=3, rounds=6, chatter=False).write(folder / "built.jsonl")
    return folder


def _outputs(folder: Path) -> tuple[str, str, str, str]:
    return (
        score_text(folder, 80),
        score_text(folder, 200),
        score_text(folder, None),
        json.dumps(score_json(folder), indent=2),
    )


def test_a_warm_cache_prints_what_a_fresh_score_prints(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    fresh = _outputs(folder)  # no cache in use
    cache = ScoreCache(tmp_path / "scores.sqlite")
    score_cache.use(cache)
    cold = _outputs(folder)
    hits = cache.hits
    warm = _outputs(folder)
    n = len(list(folder.glob("*.jsonl")))
    assert cache.hits - hits == 4 * n  # every output of the second pass came from the cache
    assert cold == fresh
    assert warm == fresh
    assert "transparency" in fresh[0]  # a factor of one experiment only is a column


def test_cached_rows_are_the_scored_rows_and_misses_give_none(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    paths = sorted(folder.glob("*.jsonl"))
    cache = ScoreCache(tmp_path / "scores.sqlite")
    assert cache.rows(paths, grains=("dyads",)) is None  # nothing stored yet
    cache.score(paths)
    rows = cache.rows(paths, grains=("dyads", "state_rounds"))
    assert rows is not None
    fresh = score(paths)
    for grain in ("runs", "dyads", "state_rounds"):
        expected = getattr(fresh, grain).to_dict("records")
        assert len(rows[grain]) == len(expected)
        for got, want in zip(rows[grain], expected, strict=True):
            assert got.keys() == want.keys()
            for key, value in want.items():
                if pd.isna(value):
                    assert got[key] is None or got[key] != got[key], (grain, key)
                else:  # the cache holds what this batch scored: the same values
                    assert got[key] == value, (grain, key)
                    assert isinstance(got[key], bool) == isinstance(value, bool), (grain, key)
    assert cache.rows([*paths, paths[0]], grains=()) is None  # one run id twice
    paths[0].write_bytes(paths[0].read_bytes() + b"\n")  # changed: a miss
    assert cache.rows(paths, grains=()) is None


def test_a_warm_score_of_cached_records_does_not_load_pandas(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    file = tmp_path / "scores.sqlite"
    ScoreCache(file).score(sorted(folder.glob("*.jsonl")))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dilemma.evaluation import score_cache\n"
        "from dilemma.cli.score_format import score_json, score_text\n"
        f"score_cache.use(score_cache.ScoreCache(Path({str(file)!r})))\n"
        f"score_text(Path({str(folder)!r}), 80)\n"
        f"score_json(Path({str(folder)!r}))\n"
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12).map(
    str.strip
)  # pandas strips some edge spaces; no cell of the score table has any
names = st.text(alphabet="abcdefgh .\t\n", min_size=1, max_size=8).map(lambda s: s.strip() or "x")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda rows: st.dictionaries(
            names, st.lists(cells, min_size=rows, max_size=rows), min_size=1, max_size=5
        )
    )
)
def test_a_table_renders_as_pandas_renders_text_columns(table: dict[str, list[str]]) -> None:
    assert render(table) == pd.DataFrame(table).to_string(index=False)
