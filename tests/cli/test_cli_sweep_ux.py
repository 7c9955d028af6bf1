"""`dilemma sweep` for a new user: pilots (--repeats/--rounds) recorded in every header and
warned about by `compare`, temperatures from the experiment file, the next commands after a
finished sweep, a time estimate in --dry-run, per-call progress, and connection errors that
name the server without its credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dilemma.cli.call_progress import CallTracker
from dilemma.core.safe_text import public_url
from dilemma.records.reader import read_header
from dilemma.records.schema import ExperimentInfo
from tests.helpers.cli import invoke
from tests.helpers.fake_openai_server import FakeOpenAIServer
from tests.helpers.report_sweeps import two_factor_experiment

EXPERIMENT = two_factor_experiment(rounds=4, repeats=3, name="pilot-2x2")


def _experiment(tmp_path: Path, text: str = EXPERIMENT) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _headers(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text().splitlines()[0]) for p in sorted(folder.glob("*.jsonl"))]


def test_a_pilot_is_recorded_in_every_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", str(_experiment(tmp_path)), "--repeats", "1", "--rounds", "2")
    assert result.code == 0, result.stderr
    folder = tmp_path / "runs" / "pilot-2x2-pilot"  # never among the full design's records
    headers = _headers(folder)
    assert len(headers) == 4  # 2 x 2 cells, one seed
    for header in headers:
        experiment = header["experiment"]
        assert isinstance(experiment, dict)
        assert experiment["overrides"] == {"repeats": 1, "rounds": 2}
        assert header["scenario"]["rules"]["rounds"] == 2  # type: ignore[index]
    assert "(a pilot: --repeats 1 --rounds 2" in result.stdout


def test_a_full_sweep_has_no_overrides_and_prints_its_next_commands(tmp_path: Path) -> None:
    out = tmp_path / "full"
    result = invoke("sweep", str(_experiment(tmp_path)), "--out", str(out))
    assert result.code == 0, result.stderr
    assert all(h["experiment"]["overrides"] == {} for h in _headers(out))  # type: ignore[index]
    lines = result.stdout.splitlines()
    steps = lines[lines.index("next:") + 1 :]
    assert steps[0].strip() == f"dilemma compare {out} --by regime --interaction transparency"
    assert f"dilemma report {out} -o {out / 'report.html'}" in [s.strip() for s in steps]
    assert f"dilemma view {out}" in [s.strip() for s in steps]
    assert "(a pilot" not in result.stdout


def test_compare_warns_about_pilots_and_mixed_folders(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path)
    out = tmp_path / "runs"
    assert (
        invoke("--quiet", "sweep", str(experiment), "--repeats", "2", "--out", str(out)).code == 0
    )
    pilot = invoke("compare", str(out), "--by", "regime")
    assert pilot.code == 0, pilot.stderr
    assert "pilot runs (8 with repeats=2)" in pilot.unwrapped_stderr
    # --rounds 4 is the file's own value: the full design
    full = invoke(
        "--quiet", "sweep", str(experiment), "--rounds", "4", "--out", str(tmp_path / "f")
    )
    assert full.code == 0
    for record in (tmp_path / "f").glob("*.jsonl"):
        (out / f"full-{record.name}").write_bytes(record.read_bytes())
    mixed = invoke("compare", str(out), "--by", "regime")
    assert "mixes 8 pilot runs" in mixed.unwrapped_stderr


def test_older_headers_read_as_the_full_design() -> None:
    info = ExperimentInfo.model_validate({"name": "x", "source": None, "runs": 4, "conditions": {}})
    assert info.overrides == {} and not info.pilot


def test_a_bad_override_is_refused(tmp_path: Path) -> None:
    result = invoke("sweep", str(_experiment(tmp_path)), "--rounds", "500", "--out", str(tmp_path))
    assert result.code == 2
    assert "rounds" in result.stderr and "exp.yaml" in result.unwrapped_stderr
    assert not list(tmp_path.glob("*.jsonl"))


TEMPERATURE = """\
name: temps
scenarios: [two-rivals]
rounds: 1
model: openai:fake-model
temperatures: {{"openai:fake-model": 0.3}}
factors:
  temperature: [0.0, 0.7]
  rules.subturns: [0]
repeats: 1
"""


def test_temperature_as_a_factor_reaches_the_model_and_the_header(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    experiment = _experiment(tmp_path, TEMPERATURE.format())
    out = tmp_path / "runs"
    result = invoke(
        "sweep", str(experiment), "--out", str(out), "--base-url", openai_server.base_url
    )  # fmt: skip
    assert result.code == 0, result.stderr
    seen = set()
    for path in sorted(out.glob("*.jsonl")):
        header = read_header(path)
        assert header.experiment is not None
        level = header.experiment.conditions["temperature"]
        temps = {m.params.get("temperature") for m in header.models.values()}
        assert temps == {float(level)}
        seen.add(level)
    assert seen == {"0.0", "0.7"}
    sent = {r.body.get("temperature") for r in openai_server.requests}
    assert sent == {0.0, 0.7}


def test_top_level_and_per_model_temperatures(tmp_path: Path) -> None:
    from dilemma.api.sweeps import plan_sweep

    text = (
        "name: t\nscenarios: [two-rivals]\nrounds: 1\ntemperature: 0.2\n"
        "temperatures: {'openai:b': 0.9}\nfactors:\n  model.Aria: ['openai:a', 'openai:b']\n"
        "  model.Borea: ['scripted:hawk']\n"
    )
    plan = plan_sweep(_experiment(tmp_path, text))
    assert [r.temperatures for r in plan.runs] == [{"Aria": 0.2}, {"Aria": 0.9}]


def test_experiments_without_temperatures_keep_their_run_ids(tmp_path: Path) -> None:
    """Run ids of 0.2 experiments must not change (a --resume would replay every run)."""
    from dilemma.api.sweeps import plan_sweep

    plain = plan_sweep(_experiment(tmp_path))
    assert all(r.temperatures == {} for r in plain.runs)
    hot = plan_sweep(
        _experiment(
            tmp_path, EXPERIMENT.replace("scripted:reactive", "openai:m") + "temperature: 1\n"
        )
    )
    cold = plan_sweep(_experiment(tmp_path, EXPERIMENT.replace("scripted:reactive", "openai:m")))
    assert {r.run_id for r in hot.runs}.isdisjoint(r.run_id for r in cold.runs)


@pytest.mark.parametrize(
    "text",
    [
        "factors:\n  temperature: [0.0, 3.0]\n",
        "factors:\n  temperature: [hot]\n",
        "temperature: -1\n",
        "temperatures: {'openai:m': 9}\n",
    ],
)
def test_bad_temperatures_are_refused_naming_the_field(tmp_path: Path, text: str) -> None:
    base = "name: t\nscenarios: [two-rivals]\nmodel: openai:m\n"
    result = invoke("sweep", str(_experiment(tmp_path, base + text)), "--dry-run")
    assert result.code == 2
    assert "temperature" in result.stderr and "exp.yaml" in result.unwrapped_stderr


def test_cli_temperature_is_refused_when_the_file_sets_one(tmp_path: Path) -> None:
    text = "name: t\nscenarios: [two-rivals]\nmodel: openai:m\ntemperature: 0.5\n"
    result = invoke("sweep", str(_experiment(tmp_path, text)), "--temperature", "1", "--dry-run")
    assert result.code == 2 and "--temperature" in result.stderr


def test_dry_run_estimates_time_from_defaults_and_measurements(
    tmp_path: Path, _latency_file: Path
) -> None:
    text = (
        "name: t\nscenarios: [two-rivals]\nrounds: 2\nfactors:\n"
        "  model: [local, 'openai:m']\n  rules.subturns: [0]\n"
    )
    experiment = _experiment(tmp_path, text)
    before = invoke("sweep", str(experiment), "--dry-run", "--concurrency", "2")
    assert before.code == 0, before.stderr
    out = before.stdout
    assert "estimated time (an estimate" in out
    # 2 states x 2 rounds x 1 call x 1.1 (expected re-asks) = 4.4 calls per model
    assert "local: 4 calls x 20 s (default) = 1m28s; one call at a time" in out
    assert "openai:m: 4 calls x 3 s (default) = 13s; 7s with 2 calls in flight" in out
    _latency_file.write_text(json.dumps({"local": {"seconds": 100.0, "calls": 12}}))
    after = invoke("sweep", str(experiment), "--dry-run", "--concurrency", "2")
    assert "local: 4 calls x 100 s (measured on this machine, mean of 12 calls) = 7m20s" in (
        after.stdout
    )


def test_a_finished_local_run_keeps_its_measured_latency(_latency_file: Path) -> None:
    from dilemma.models.latency import latency_of, remember_latency

    assert latency_of("local").measured_calls == 0
    assert not remember_latency("openai:m", [1.0])  # only the embedded model is measured
    assert remember_latency("local", [2.0, 4.0])
    assert latency_of("local").seconds == 3.0 and latency_of("local").measured_calls == 2


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_names_waiting_states_and_paces_the_eta(tmp_path: Path) -> None:
    """Events of a real scripted run, replayed through the tracker with a hand-moved clock."""
    from dilemma.records.reader import iter_events
    from dilemma.records.schema import LlmCallEvent, ObservationEvent

    assert invoke("--quiet", "run", "two-rivals", "--model", "scripted:dove", "--rounds", "2",
                  "--out", str(tmp_path)).code == 0  # fmt: skip
    (record,) = tmp_path.glob("*.jsonl")
    events = list(iter_events(record))
    clock = Clock()
    tracker = CallTracker(expected_calls=8, clock=clock)
    first_call = next(i for i, e in enumerate(events) if isinstance(e, LlmCallEvent))
    for event in events[:first_call]:
        tracker.on_event(event, "r1")
    asked = {e.state for e in events[:first_call] if isinstance(e, ObservationEvent)}
    assert asked == {"Aria", "Borea"}
    clock.now += 12
    assert tracker.waiting_text() == "waiting: Aria 12s, Borea 12s"
    assert "ETA after the first call" in tracker.line()
    tracker.on_event(events[first_call], "r1")
    assert tracker.calls == 1 and "Aria" not in tracker.waiting_text()
    assert tracker.eta_s() == pytest.approx(7 * 12)  # 7 calls left at 12 s a call
    for event in events[first_call + 1 :]:
        tracker.on_event(event, "r1")
    assert tracker.calls == 8 and tracker.waiting_text() == "waiting: none"
    assert tracker.eta_s() == 0


def test_a_tracker_without_streamed_calls_counts_finished_runs_and_names_no_one() -> None:
    """Under Ray the calls arrive as counts when runs finish: the line shows them, never
    pretends that nobody waits, and a count never goes back."""
    clock = Clock()
    tracker = CallTracker(expected_calls=20, clock=clock, per_call=False)
    assert tracker.line().startswith("0/~20 calls | calls counted as runs finish")
    clock.now += 30
    tracker.count(10)
    assert tracker.calls == 10 and tracker.eta_s() == pytest.approx(30)
    tracker.count(4)
    assert tracker.calls == 10
    assert "waiting" not in tracker.line()


@given(
    user=st.text(alphabet="abcXYZ09", min_size=1, max_size=8),
    password=st.text(alphabet="pqrSTU78", min_size=3, max_size=12),
    secret=st.text(alphabet="klmNOP56", min_size=3, max_size=12),
)
def test_public_urls_carry_no_credentials(user: str, password: str, secret: str) -> None:
    url = f"https://{user}:{password}@example.org:8443/v1?api_key={secret}#{secret}"
    shown = public_url(url)
    assert shown == "https://example.org:8443/v1"
    assert password not in shown and secret not in shown


def test_a_connection_error_names_the_server_without_credentials(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    from tests.helpers.fake_openai_server import Status

    openai_server.enqueue(*[Status(code=400, message="bad request")] * 50)
    port = openai_server.port
    result = invoke(
        "run", "two-rivals", "--model", "openai:m", "--rounds", "1", "--out", str(tmp_path),
        "--base-url", f"http://alice:hunter2@127.0.0.1:{port}/v1?key=sekret99",
    )  # fmt: skip
    assert result.code == 1
    assert f"(server http://127.0.0.1:{port}/v1)" in result.unwrapped_stderr
    assert "hunter2" not in result.stderr and "sekret99" not in result.stderr
