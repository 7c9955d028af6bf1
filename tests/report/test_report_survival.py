"""The report's survival section: Kaplan-Meier curves and events per condition."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from dilemma.experiments.spec import expand, load_experiment
from dilemma.records.schema import ExperimentInfo
from dilemma.report.build import write_report
from tests.helpers.cli import invoke
from tests.helpers.sweeps import sweep_locally

EXPERIMENT = """\
name: tiny-accidents
scenarios: [two-rivals]
rounds: 4
model: scripted:deceiver
factors:
  rules.accident_rate: [0.0, 1.0]
repeats: 2
"""


@pytest.fixture(scope="module")
def accident_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four scripted deceiver runs: accident rate 0 and 1, two seeds each."""
    root = tmp_path_factory.mktemp("accidents")
    source = root / "tiny.yaml"
    source.write_text(EXPERIMENT, encoding="utf-8")
    experiment = load_experiment(source)
    runs = expand(experiment, source)
    out = root / "runs"
    meta = ExperimentInfo(name=experiment.name, source=str(source), runs=len(runs), conditions={})
    stats = asyncio.run(sweep_locally(runs, out, concurrency=2, experiment=meta))
    assert stats.failed == 0
    return out


def test_compare_reports_survival_tests_per_outcome(accident_runs: Path) -> None:
    result = invoke("compare", str(accident_runs), "--by", "rules.accident_rate", "--json")
    assert result.code == 0, result.stderr
    survival = json.loads(result.stdout)["survival"]
    tests = {t["outcome"]: t for t in survival["tests"]}
    assert survival["hr_margin"] == 2.0
    assert (tests["force"]["events_a"], tests["force"]["events_b"]) == (0, 2)
    assert tests["force"]["logrank_p"] < 0.2 and tests["war"]["events_b"] == 0
    assert tests["war"]["verdict"] == "inconclusive"  # no war at all: nothing to test
    text = invoke("compare", str(accident_runs), "--by", "rules.accident_rate").stdout
    assert "Survival (time to first use of force, time to war" in text


def test_report_shows_survival_curves_and_events_per_condition(
    accident_runs: Path, tmp_path: Path
) -> None:
    html = write_report(accident_runs, tmp_path / "report.html").read_text(encoding="utf-8")
    section = html.split('<h2 id="survival">', 1)[1].split("<h2", 1)[0]
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', section)
    rows = re.findall(
        r"<tr><td>(Time to [^<]+)</td><td>([^<]+)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", section
    )
    cells = {(o, c): re.findall(r"<td[^>]*>([^<]*)</td>", rest) for o, c, rest in rows}
    # every order misfires at rate 1: both deceivers strike in round 1 (force), no war yet
    # runs, events, censored, restricted mean rounds to the event (up to 4 rounds)
    assert cells[("Time to first use of force", "1.0")] == ["2", "2", "0", "1"]
    assert cells[("Time to first use of force", "0.0")] == ["2", "0", "2", "4"]
    assert cells[("Time to war", "1.0")] == ["2", "0", "2", "4"]
    assert '<a href="#survival">' in html
