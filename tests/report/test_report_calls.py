"""The report opens with the verdicts, tests interactions, draws sane axes for short runs and
shows each run's model calls (escaped) when the report is small."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dilemma.evaluation.tables import score
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dilemma.core.observation import Phase
from dilemma.core.safe_text import escape_controls
from dilemma.records.reader import read_record
from dilemma.records.schema import ChatMessage, LlmCallEvent
from dilemma.report import plots
from dilemma.report.build import write_report
from dilemma.report.calls import call_html
from dilemma.report.data import GROUP
from tests.helpers.call_runs import MESSAGE, SCRIPT, STATEMENT, play_calls
from tests.helpers.report_sweeps import two_factor_sweep


@pytest.fixture(scope="module")
def two_factor_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("two")
    runs = two_factor_sweep(root, rounds=1, repeats=2)
    return write_report(runs, root / "report.html").read_text(encoding="utf-8")


def _section_order(html: str) -> list[str]:
    return re.findall(r'<h2 id="([a-z]+)">', html)


def test_verdicts_come_first_with_one_line_per_factor_and_interaction(
    two_factor_html: str,
) -> None:
    order = _section_order(two_factor_html)
    assert order[0] == "verdicts" and order.index("comparison") == 1
    assert two_factor_html.index('id="verdicts"') < two_factor_html.index("<nav>")
    summary = two_factor_html.split('id="verdicts"', 1)[1].split("</section>", 1)[0]
    items = re.findall(
        r'<li class="verdict[^"]*"><a href="#([^"]+)">([^<]+)</a>: <b>(\w+)</b>', summary
    )
    labels = {label: verdict for _, label, verdict in items}
    assert set(labels) == {"regime", "transparency", "regime x transparency"}
    assert set(labels.values()) <= {"changes", "equivalent", "inconclusive"}
    hrefs = {href for href, _, _ in items}
    for href in hrefs:
        assert f'id="{href}"' in two_factor_html  # every line links to its details


def test_interaction_is_reported_with_two_factors(two_factor_html: str) -> None:
    comparison = two_factor_html.split('<h2 id="comparison">', 1)[1].split("<h2 ", 1)[0]
    assert '<h3 id="interactions">' in comparison
    assert "<h3>regime x transparency</h3>" in comparison
    assert "diff of diffs" in comparison


def test_one_factor_has_no_interaction(tmp_path: Path) -> None:
    runs = two_factor_sweep(tmp_path, rounds=1, repeats=1)
    html = write_report(runs, tmp_path / "r.html", by=["regime"]).read_text(encoding="utf-8")
    assert 'id="interactions"' not in html
    assert "regime x" not in html


def test_a_one_round_run_gets_integer_round_ticks(tmp_path: Path) -> None:
    runs = two_factor_sweep(tmp_path, rounds=1, repeats=1)
    rounds = score(runs).rounds.assign(**{GROUP: "all runs"})
    fig = plots.escalation_figure(rounds, GROUP, "t")
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert (lo, hi) == (0.5, 1.5)
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks == [1.0]
        ylo, yhi = ax.get_ylim()
        assert yhi - ylo >= 1.0  # a constant value gets a readable range, not +-5% of it


@pytest.fixture
async def calls_record(tmp_path: Path) -> Path:
    return await play_calls(tmp_path / "run")


def test_single_run_report_shows_every_call_escaped(calls_record: Path, tmp_path: Path) -> None:
    html = write_report(calls_record, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    calls = html.split('<details class="calls"', 1)[1]
    assert calls.count('<details class="call"') == 14
    assert escape(SCRIPT, quote=True) in calls
    assert escape(MESSAGE, quote=True) in calls or escape(STATEMENT, quote=True) in calls
    # round 1: A's refused reply, its re-ask (refused too), both flagged as the fallback
    flagged = re.findall(
        r'data-round="(\d)" data-state="(\w)" data-attempt="(\d)" data-fallback="true"', calls
    )
    assert flagged == [("1", "A", "1"), ("1", "A", "2")]
    assert calls.count("badge reask") == 2
    assert "Validation error" in calls and "arms_change: Input should be" in calls
    logged = [c for c in read_record(calls_record).of_kind(LlmCallEvent) if c.input_tokens]
    assert logged  # the priced fake model reports tokens and cost for every call
    for c in logged:
        assert f"{c.input_tokens} in / {c.output_tokens} out tokens" in calls
        assert c.cost_usd and f"${c.cost_usd:.6f}" in calls
    assert "Messages sent (2)" in calls and "system · " in calls


def test_large_reports_leave_calls_out_and_say_how_to_see_them(
    calls_record: Path, tmp_path: Path
) -> None:
    html = write_report(calls_record, tmp_path / "r.html", max_call_runs=0).read_text(
        encoding="utf-8"
    )
    assert '<details class="call"' not in html
    assert "at most 0 runs" in html and f"dilemma report {calls_record}" in html


PAGE_TAGS = {"pre", "details", "summary", "span", "h5", "p", "b"}
"""The elements a call's HTML is built of."""


@example(raw="<a", error="<pre>x</pre>", content="</pre><script>alert(1)</script>")
@given(raw=st.text(max_size=200), error=st.text(max_size=80), content=st.text(max_size=200))
@settings(max_examples=60, deadline=None)
def test_any_model_text_stays_text_in_a_call(raw: str, error: str, content: str) -> None:
    call = LlmCallEvent(
        round=1, state="A", phase=Phase.DECISION, subturn=0, attempt=2, model="m",
        messages=[ChatMessage(role="user", content=content)], raw=raw, parsed=None,
        error=error, input_tokens=None, output_tokens=None, latency_s=0.1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    texts: list[str] = []
    foreign: list[str] = []

    class Pre(HTMLParser):
        depth = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in PAGE_TAGS:
                foreign.append(tag)  # an element the model's text would have made
            if tag == "pre":
                self.depth += 1
                texts.append("")

        def handle_endtag(self, tag: str) -> None:
            if tag == "pre":
                self.depth -= 1

        def handle_data(self, data: str) -> None:
            if self.depth:
                texts[-1] += data

    Pre(convert_charrefs=True).feed(call_html(call, fallback=True))
    assert foreign == []
    assert texts == [escape_controls(content), escape_controls(raw), escape_controls(error)]
