"""Version-3 records written by release 0.2.0 load and score as they did then.

tests/fixtures/records_v3 holds scripted records of that release and its `dilemma score --json`
(expected_scores.json). Every value it printed must come out the same today; columns added
since are ignored here (their own tests say what older records give for them).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.fixture_records import check_loads, check_scores

V3 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v3"


def test_version_3_records_load_with_the_version_they_were_written_in() -> None:
    check_loads(V3, 3, 6)


def test_version_3_records_score_as_release_0_2_0_scored_them() -> None:
    check_scores(V3)
