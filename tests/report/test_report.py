"""The HTML report: sections, embedded plots, comparisons, transcripts and escaping."""

from __future__ import annotations

import asyncio
import re
import shutil
from html import escape
from pathlib import Path

import pytest

from dilemma.experiments.spec import expand, load_experiment
from dilemma.records.schema import ExperimentInfo
from dilemma.report.build import ReportError, write_report
from tests.helpers.hostile import INJECTED, RATIONALE, STATEMENT, play_hostile
from tests.helpers.sweeps import sweep_locally

EXPERIMENT = """\
name: tiny-transparency
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency:
    - [transparent, transparent]
    - [secretive, secretive]
  rules.intel_noise: [0.15]
repeats: 3
"""

PNG = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"')


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six scripted runs of a two-level transparency experiment."""
    root = tmp_path_factory.mktemp("sweep")
    source = root / "tiny.yaml"
    source.write_text(EXPERIMENT, encoding="utf-8")
    experiment = load_experiment(source)
    runs = expand(experiment, source)
    out = root / "runs"
    meta = ExperimentInfo(name=experiment.name, source=str(source), runs=len(runs), conditions={})
    stats = asyncio.run(sweep_locally(runs, out, concurrency=4, experiment=meta))
    assert stats.failed == 0
    return out


@pytest.fixture(scope="module")
def sweep_html(sweep_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    assert write_report(sweep_dir, out) == out
    return out.read_text(encoding="utf-8")


def test_report_has_every_section(sweep_html: str) -> None:
    for anchor in (
        "provenance",
        "runs",
        "curves",
        "heatmaps",
        "spirals",
        "comparison",
        "transcripts",
    ):
        assert f'<h2 id="{anchor}">' in sweep_html
    assert sweep_html.startswith("<!DOCTYPE html>") and sweep_html.rstrip().endswith("</html>")
    assert "Security dilemma report: tiny-transparency" in sweep_html


def test_report_provenance(sweep_html: str) -> None:
    assert "tiny.yaml" in sweep_html
    assert "runs declared / records found</th><td>6 / 6" in sweep_html
    assert "two-rivals (builtin:two-rivals)" in sweep_html
    assert "scripted:reactive" in sweep_html
    assert "baseline v4: system=" in sweep_html
    assert "pydantic " in sweep_html
    assert "git revision" in sweep_html and "seeds</th><td>0-2" in sweep_html
    assert "time range (UTC)" in sweep_html


def test_report_embeds_png_plots(sweep_html: str) -> None:
    # curves, escalation index by condition, heatmaps
    assert len(PNG.findall(sweep_html)) >= 3
    assert "http://" not in sweep_html.replace("http://www.w3.org", "")
    assert "<script" not in sweep_html.lower()


def test_report_compares_only_the_varying_factor(sweep_html: str) -> None:
    comparison = sweep_html.split('<h2 id="comparison">', 1)[1].split('<h2 id="transcripts">')[0]
    assert '<h3 id="cmp-transparency">transparency</h3>' in comparison
    assert ">rules.intel_noise</h3>" not in comparison  # one level: does not vary
    assert ">scenario</h3>" not in comparison
    verdict = re.search(r'class="verdict[^"]*">(changes|equivalent|inconclusive): ', comparison)
    assert verdict is not None
    assert "paired by seed" in comparison  # levels share seeds: paired, not pooled
    for column in (
        "Hedges g",
        "Holm p",
        "95% CI",
        "CI method",
        "p method",
        "equivalence p (margin)",
        "secretive/secretive - transparent/transparent",
    ):
        assert column in comparison
    assert "escalation_index" in comparison and "(n=3)" in comparison


def test_report_spirals_wars_and_transcripts(sweep_html: str) -> None:
    spirals = sweep_html.split('<h2 id="spirals">', 1)[1].split("<h2", 1)[0]
    assert "secretive/secretive" in spirals and "war share" in spirals
    transcripts = sweep_html.split('<h2 id="transcripts">', 1)[1]
    assert transcripts.count('<details id="run-') == 6
    assert "Negotiation, sub-turn 1" in transcripts and "End of round 3" in transcripts


def test_report_by_named_factor_with_few_transcripts(sweep_dir: Path, tmp_path: Path) -> None:
    # a resumed sweep keeps an unfinished earlier attempt of a run under failed/
    folder = tmp_path / "runs"
    shutil.copytree(sweep_dir, folder)
    first = sorted(folder.glob("*.jsonl"))[0]
    (folder / "failed").mkdir()
    lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "failed" / f"{first.stem}.attempt1.jsonl").write_text("".join(lines[:5]))
    out = tmp_path / "r.html"
    html = write_report(folder, out, by=["rules.intel_noise"], max_transcripts=2).read_text()
    # the set-aside attempt is not a result: only the 6 finished runs are reported
    assert "6 run(s) from" in html and "earlier attempt" not in html
    comparison = html.split('<h2 id="comparison">', 1)[1].split('<h2 id="transcripts">')[0]
    assert ">rules.intel_noise</h3>" in comparison and ">transparency</h3>" not in comparison
    assert "fewer than two levels" in comparison
    transcripts = html.split('<h2 id="transcripts">', 1)[1]
    assert transcripts.count('<details id="run-') == 2
    assert "Showing 2 of 6 runs" in transcripts


def test_report_rejects_an_unknown_factor(sweep_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown factor"):
        write_report(sweep_dir, tmp_path / "x.html", by=["no_such_factor"])
    assert not (tmp_path / "x.html").exists()


def test_report_escapes_model_text(hostile_record: Path, tmp_path: Path) -> None:
    html = write_report(hostile_record, tmp_path / "one.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "<b>mean it</b>" not in html and "<i>intentions</i>" not in html
    assert escape(INJECTED) in html
    assert escape(STATEMENT) in html
    assert escape(RATIONALE) in html
    # a single record: no experiment, so no comparison (and it says so); war and fallback shown
    assert "No comparison: these records carry no experiment conditions" in html
    assert "FLAGGED FALLBACK" in html and "WAR: A chose full_scale_war against B" in html
    assert len(PNG.findall(html)) >= 2


def test_report_of_a_folder_without_records(tmp_path: Path) -> None:
    with pytest.raises(ReportError):
        write_report(tmp_path, tmp_path / "r.html")


async def test_report_survives_a_record_without_rounds(
    hostile_record: Path, tmp_path: Path
) -> None:
    other = await play_hostile(tmp_path / "other", seed=2)
    header = other.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    (hostile_record.parent / "crashed.jsonl").write_text(header, encoding="utf-8")
    html = write_report(hostile_record.parent, tmp_path / "r.html").read_text(encoding="utf-8")
    # either scored as an incomplete run, or listed as left out with the evaluator's error
    assert "INCOMPLETE RECORD" in html or "crashed.jsonl" in html
    assert "WAR: A chose full_scale_war against B" in html


def test_report_and_compare_flag_runs_that_break_their_rules(tmp_path: Path) -> None:
    from dilemma.evaluation.comparison import Resampling, compare

    from tests.helpers.records import Move, RecordBuilder

    folder = tmp_path / "runs"
    folder.mkdir()
    for n, change in enumerate((37, 2)):  # 37% under a 10% cap breaks the rules; 2% does not
        b = RecordBuilder(["A", "B"], rounds=2, cap=10, run_id=f"run-{n}", seed=n)
        b.play({"A": Move(change=change, requested=change), "B": Move(change=3)})
        b.play({"A": Move(change=2), "B": Move(change=2)})
        b.write(folder / f"r{n}.jsonl")
    out = tmp_path / "r.html"
    write_report(folder, out)
    html = out.read_text(encoding="utf-8")
    assert "1 run(s) break their own scenario rules" in html and "run-0" in html

    from dilemma.evaluation import score

    runs = score(folder).runs.assign(f=["a", "b"])
    warned = compare(runs, "f", resampling=Resampling(n_boot=199)).warnings
    assert any("1 of 2 compared runs break their own scenario rules" in w for w in warned)
    assert not any("scenario rules" in w for w in compare(runs.iloc[1:], "f").warnings)
