"""The per-record score cache: hits give the scores a fresh score gives; any change misses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation import evaluator_version as ev
from dilemma.evaluation import score_cache
from dilemma.evaluation.score_cache import GRAINS, ScoreCache, ScoreCacheWarning
from dilemma.evaluation.tables import Scores, score

from tests.helpers.records import random_builder


def _records(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        random_builder(seed, n_states=3, rounds=6, chatter=False).write(folder / f"r{seed}.jsonl")
        for seed in range(1, n + 1)
    ]


def _same(a: Scores, b: Scores, grains: tuple[str, ...] = GRAINS) -> None:
    for grain in grains:
        pd.testing.assert_frame_equal(getattr(a, grain), getattr(b, grain), check_exact=True)
    assert a.skipped == b.skipped


def test_a_hit_after_a_restart_gives_the_fresh_scores(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs")
    file = tmp_path / "cache" / "scores.sqlite"
    cold = ScoreCache(file)
    _same(cold.score(paths), score(paths))
    assert (cold.hits, cold.misses) == (0, 3)
    warm = ScoreCache(file)  # a new process would start with a new object on the same file
    _same(warm.score(paths), score(paths))
    assert (warm.hits, warm.misses) == (3, 0)
    runs_only = ScoreCache(file).score(paths, grains=("runs",))
    _same(runs_only, score(paths), ("runs",))
    assert runs_only.pair_rounds.empty


def test_hits_and_misses_combine_in_record_order(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs", 4)
    cache = ScoreCache(tmp_path / "c.sqlite")
    cache.score(paths[1:3])
    mixed = cache.score(list(reversed(paths)))
    assert cache.hits == 2
    fresh = score(list(reversed(paths)))
    for grain in GRAINS:  # a batch differs from single records by rounding at most
        pd.testing.assert_frame_equal(getattr(mixed, grain), getattr(fresh, grain), rtol=1e-12)


def _edit_digit_near_end(path: Path) -> None:
    """Change one digit in the last 200 bytes, keeping size and modification time."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    at = next(i for i in range(len(data) - 1, len(data) - 200, -1) if chr(data[i]).isdigit())
    data[at] = ord("7") if data[at] != ord("7") else ord("3")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _rewrite(path: Path) -> None:
    path.unlink()
    random_builder(99, n_states=3, rounds=5, chatter=False).write(path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 1])


def _append(path: Path) -> None:
    with path.open("a") as fh:
        fh.write(path.read_text().splitlines()[-1] + "\n")


@pytest.mark.parametrize("change", [_rewrite, _truncate, _append, _edit_digit_near_end])
def test_a_changed_record_misses(tmp_path: Path, change: object) -> None:
    paths = _records(tmp_path / "runs")
    cache = ScoreCache(tmp_path / "c.sqlite")
    cache.score(paths)
    change(paths[0])  # type: ignore[operator]
    again = ScoreCache(tmp_path / "c.sqlite")
    got = again.score(paths)
    assert (again.hits, again.misses) == (2, 1)
    fresh = score(paths)
    for grain in GRAINS:
        pd.testing.assert_frame_equal(getattr(got, grain), getattr(fresh, grain), rtol=1e-12)


def test_another_evaluator_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _records(tmp_path / "runs", 2)
    file = tmp_path / "c.sqlite"
    ScoreCache(file).score(paths)
    other = ScoreCache(file, evaluator="0.0.1+m0+0")
    other.score(paths)
    assert (other.hits, other.misses) == (0, 2)
    before = ev.evaluator_version()
    monkeypatch.setattr(ev, "MEASURES_REVISION", ev.MEASURES_REVISION + 1)
    ev.evaluator_version.cache_clear()
    try:
        bumped = ev.evaluator_version()
    finally:
        ev.evaluator_version.cache_clear()
    assert bumped != before


def test_a_corrupt_cache_file_warns_and_scores(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs", 2)
    file = tmp_path / "c.sqlite"
    file.write_bytes(b"this is not a database" * 100)
    cache = ScoreCache(file)
    with pytest.warns(ScoreCacheWarning, match="not used"):
        got = cache.score(paths)
    _same(got, score(paths))


def test_a_damaged_entry_warns_and_is_scored_again(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs", 2)
    file = tmp_path / "c.sqlite"
    ScoreCache(file).score(paths)
    with sqlite3.connect(file) as con:  # one record's runs row given the other's
        con.execute(
            "UPDATE entries SET runs = (SELECT runs FROM entries WHERE path = ?) WHERE path = ?",
            (str(paths[1].resolve()), str(paths[0].resolve())),
        )
    con.close()
    cache = ScoreCache(file)
    with pytest.warns(ScoreCacheWarning, match="damaged"):
        got = cache.score(paths)
    assert cache.hits == 1
    _same(got, score(paths))


def test_an_unusable_cache_location_warns_and_scores(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs", 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = ScoreCache(blocker / "sub" / "scores.sqlite")
    with pytest.warns(ScoreCacheWarning):
        got = cache.score(paths)
    _same(got, score(paths))


def test_a_read_only_folder_is_scored_and_left_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    paths = _records(folder, 2)
    folder.chmod(0o555)
    try:
        before = sorted(p.name for p in folder.iterdir())
        cache = ScoreCache(tmp_path / "cache" / "scores.sqlite")
        cache.score(paths)
        _same(ScoreCache(cache.file).score(paths), score(paths))
        assert sorted(p.name for p in folder.iterdir()) == before
    finally:
        folder.chmod(0o755)


def test_records_sharing_a_run_id_are_scored_together(tmp_path: Path) -> None:
    paths = _records(tmp_path / "runs", 2)
    copy = tmp_path / "runs" / "copy.jsonl"
    copy.write_bytes(paths[0].read_bytes())
    everything = [*paths, copy]
    cache = ScoreCache(tmp_path / "c.sqlite")
    cache.score(paths)
    _same(cache.score(everything), score(everything))


_WRITER = """
import sys
from pathlib import Path
from dilemma.evaluation.score_cache import ScoreCache
paths = sorted(Path(sys.argv[2]).glob("*.jsonl"))
for _ in range(3):
    ScoreCache(Path(sys.argv[1])).score(paths)
"""


def test_two_processes_filling_one_cache_leave_it_whole(tmp_path: Path) -> None:
    """Both writers store every record; this process reads all four back as hits.

    The writers digest the evaluator's source files when they start; this process digests
    them afresh too (its `evaluator_version` is cached from whenever the session first asked),
    or an edit of the evaluator during a test session (a merge, say) would make every entry
    another evaluator's and the test fail for that reason alone."""
    paths = sorted(_records(tmp_path / "runs", 4))
    file = tmp_path / "c.sqlite"
    ev.evaluator_version.cache_clear()
    argv = [sys.executable, "-c", _WRITER, str(file), str(tmp_path / "runs")]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors
        assert "ScoreCacheWarning" not in errors
    cache = ScoreCache(file)
    with sqlite3.connect(file) as con:
        stored = dict(con.execute("SELECT path, evaluator FROM entries").fetchall())
    con.close()
    assert stored == {str(p.resolve()): cache.evaluator for p in paths}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScoreCacheWarning)
        got = cache.score(paths)
    assert (cache.hits, cache.misses) == (4, 0)
    _same(got, score(paths))


def test_the_command_line_fills_the_cache_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.cli import invoke

    monkeypatch.setenv(score_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    paths = _records(tmp_path / "runs", 2)
    file = tmp_path / "cache" / score_cache.FILE_NAME
    off = invoke("score", "--json", "--no-cache", str(tmp_path / "runs"))
    assert off.code == 0 and not file.exists()
    first = invoke("score", "--json", str(tmp_path / "runs"))
    assert first.code == 0 and file.exists()
    with sqlite3.connect(file) as con:
        stored = {row[0] for row in con.execute("SELECT path FROM entries")}
    con.close()
    assert stored == {str(p.resolve()) for p in paths}
    second = invoke("score", "--json", str(tmp_path / "runs"))
    assert second.stdout == first.stdout == off.stdout
