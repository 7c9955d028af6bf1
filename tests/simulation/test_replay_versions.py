"""A resumed run that no longer retraces its record names the package versions that differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from dilemma.scenarios.library import load_scenario

from dilemma.core.versions import package_versions
from dilemma.models.registry import resolve_model
from dilemma.records.reader import read_record
from dilemma.simulation.replay import Replay
from dilemma.simulation.runner import RunConfig, RunFailed, play_scenario


async def resume_with_other_seed(tmp_path: Path, edit: dict[str, str]) -> str:
    """Play two-rivals, then resume its record with another seed; the failure's cause."""
    scenario, _ = load_scenario("two-rivals")
    models = {sid: resolve_model("scripted:hawk", seed=0) for sid in scenario.ids}
    first = await play_scenario(scenario, models, RunConfig(seed=0, out_dir=tmp_path))
    replay = Replay.of(read_record(first))
    assert replay.versions == package_versions()  # the header's, as recorded
    replay.versions.update(edit)
    with pytest.raises(RunFailed) as info:
        await play_scenario(scenario, models, RunConfig(seed=1, out_dir=tmp_path, replay=replay))
    return info.value.cause


async def test_a_mismatch_names_the_versions_that_differ(tmp_path: Path) -> None:
    cause = await resume_with_other_seed(tmp_path, {"pydantic": "2.9.2"})
    assert "ReplayMismatch" in cause
    assert f"pydantic 2.9.2 -> {package_versions()['pydantic']}" in cause


async def test_a_mismatch_under_the_records_versions_names_none(tmp_path: Path) -> None:
    cause = await resume_with_other_seed(tmp_path, {})
    assert "ReplayMismatch" in cause and "package versions" not in cause
