"""`dilemma sweep --executor ray` on a local Ray instance of 2 CPUs (one for the module)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.ray_executor import LOOPBACK, import_ray, ray_session, shares
from dilemma.models.budget import SpendLimit
from dilemma.records.reader import read_record, record_status
from dilemma.records.schema import LlmCallEvent
from tests.helpers.priced import OUTPUT_TOKENS, priced_everywhere
from tests.helpers.ray_sweeps import (
    CALLS_PER_RUN,
    EXPERIMENT,
    experiment,
    noisy,
    records,
    silent,
    without_times,
)
from tests.helpers.sweeps import sweep_locally, sweep_on_ray

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local Ray instance of 2 CPUs, started as the executor starts its own."""
    ray = import_ray()
    with ray_session(ray, workers=2, address=None) as started:
        assert started
        yield ray
    assert not ray.is_initialized()


def test_every_ray_service_listens_on_loopback_only(ray_instance: Any) -> None:
    ray = ray_instance
    node = ray._private.worker.global_worker.node
    assert node.node_ip_address == LOOPBACK
    assert node.gcs_address.rsplit(":", 1)[0] == LOOPBACK
    assert node.address_info["node_ip_address"] == LOOPBACK
    assert ray.get_runtime_context().gcs_address.rsplit(":", 1)[0] == LOOPBACK
    assert not node.address_info.get("webui_url")  # no dashboard
    (entry,) = ray.nodes()
    assert entry["NodeManagerAddress"] == LOOPBACK and entry["NodeName"] == LOOPBACK
    # every TCP port a process of the instance listens on (raylet, GCS, object manager, agents,
    # workers) is bound to 127.0.0.1
    import psutil  # the `ray` extra's; imported here so that `-m 'not ray'` runs without it

    ours = psutil.Process().children(recursive=True)
    pids = {p.pid for p in ours}
    listening = [
        c
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    assert listening, "found no Ray process listening"
    assert {as_ipv4(c.laddr.ip) for c in listening} == {LOOPBACK}, listening


def as_ipv4(ip: str) -> str:
    """An address as IPv4 text (`::ffff:127.0.0.1`, IPv4 mapped into IPv6, is 127.0.0.1)."""
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def test_ray_sweep_writes_the_local_executors_records(ray_instance: Any, tmp_path: Path) -> None:
    _, runs = experiment(tmp_path)
    local = asyncio.run(sweep_locally(runs, tmp_path / "local", concurrency=4))
    on_ray = sweep_on_ray(runs, tmp_path / "ray", concurrency=4, workers=2)
    assert (on_ray.done, on_ray.failed, on_ray.calls) == (local.done, 0, local.calls)
    assert local.calls == len(runs) * CALLS_PER_RUN
    expected = records(tmp_path / "local")
    assert sorted(expected) == sorted(r.run_id for r in runs)
    assert records(tmp_path / "ray") == expected  # headers (seeds, argv...) and every event
    assert sorted(on_ray.nodes) == sorted(expected)


def test_replay_under_ray_reproduces_the_cached_sweep(ray_instance: Any, tmp_path: Path) -> None:
    _, runs = experiment(tmp_path)
    cache = tmp_path / "cache.sqlite"
    first = sweep_on_ray(runs, tmp_path / "cached", concurrency=4, cache=cache, resolver=noisy)
    assert first.failed == 0
    again = sweep_on_ray(
        runs,
        tmp_path / "replayed",
        concurrency=4,
        cache=cache,
        replay=True,
        resolver=silent,
    )
    assert again.failed == 0
    for path in sorted((tmp_path / "cached").glob("*.jsonl")):
        cached, replayed = without_times(path), without_times(tmp_path / "replayed" / path.name)
        assert cached[0].pop("response_cache") == "read_write"
        assert replayed[0].pop("response_cache") == "replay"
        assert cached == replayed


def test_spend_limit_holds_across_workers_and_resume_plays_each_run_once(
    ray_instance: Any, tmp_path: Path
) -> None:
    _, runs = experiment(tmp_path)
    out = tmp_path / "out"
    # 2 workers with one permit each play a run each at a time; which worker makes which of the
    # 30 calls depends on the processes' pace, their total does not
    first = sweep_on_ray(runs, out, concurrency=2, limit=SpendLimit(max_calls=30))
    assert first.stop_reason is not None and "--max-calls 30" in first.stop_reason
    assert first.calls == 30  # counted from the records' llm_call events
    assert first.done in (1, 2) and 1 <= first.stopped <= 2  # a run in flight per worker at most
    assert first.done + first.stopped + first.not_started == len(runs)
    statuses = sorted(record_status(p) for p in out.glob("*.jsonl"))
    assert statuses == ["completed"] * first.done + ["stopped"] * first.stopped
    finished = {
        p.name: p.read_bytes() for p in out.glob("*.jsonl") if record_status(p) != "stopped"
    }
    second = sweep_on_ray(runs, out, concurrency=2, resume=True)
    assert (second.done, second.skipped, second.remaining) == (6, first.done, 0)
    assert second.calls == (len(runs) - first.done) * CALLS_PER_RUN
    assert sorted(p.stem for p in out.glob("*.jsonl")) == sorted(r.run_id for r in runs)
    assert all(record_status(p) == "completed" for p in out.glob("*.jsonl"))
    set_aside = sorted(p.name.split(".")[0] for p in (out / "failed").glob("*.jsonl"))
    assert len(set_aside) == first.stopped  # the stopped records, moved aside, not merged
    for name, content in finished.items():
        assert (out / name).read_bytes() == content
    reference = tmp_path / "reference"
    asyncio.run(sweep_locally(runs, reference, concurrency=2))
    assert records(out) == records(reference)


def test_max_cost_holds_on_ray_at_concurrency_32(ray_instance: Any, tmp_path: Path) -> None:
    # 32 runs on 2 workers, replies of 700 output tokens, each worker's calls held until 16 are
    # in flight: every call reserves its worst case in the shared keeper before it goes out
    _, runs = experiment(tmp_path, EXPERIMENT.replace("repeats: 3", "repeats: 16"))
    out = tmp_path / "out"
    cap = 0.002
    stats = sweep_on_ray(
        runs,
        out,
        concurrency=32,
        workers=2,
        limit=SpendLimit(max_cost_usd=cap),
        resolver=priced_everywhere,
    )
    assert stats.stop_reason is not None and "--max-cost" in stats.stop_reason
    calls = [c for p in out.rglob("*.jsonl") for c in read_record(p).of_kind(LlmCallEvent)]
    assert calls and all(c.output_tokens == OUTPUT_TOKENS for c in calls)
    assert sum(c.cost_usd or 0.0 for c in calls) <= cap


def test_cli_sweep_on_ray(ray_instance: Any, tmp_path: Path) -> None:
    path, runs = experiment(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["sweep", str(path), "--executor", "ray", "--workers", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "6 runs played" in result.output
    assert sorted(p.stem for p in out.glob("*.jsonl")) == sorted(r.run_id for r in runs)
    calls = sum(len(read_record(p).of_kind(LlmCallEvent)) for p in out.glob("*.jsonl"))
    assert f"{calls}/~" in result.output  # the progress line counts the workers' calls
    assert "calls counted as runs finish" in result.output


@given(total=st.integers(1, 500), parts=st.integers(1, 500))
def test_permit_shares_add_up_to_the_global_limit(total: int, parts: int) -> None:
    if parts > total:
        with pytest.raises(ValueError):
            shares(total, parts)
        return
    split = shares(total, parts)
    assert sum(split) == total and len(split) == parts
    assert max(split) - min(split) <= 1 and min(split) >= 1


def test_ray_executor_without_ray_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    path, _ = experiment(tmp_path)
    result = CliRunner().invoke(
        app, ["sweep", str(path), "--executor", "ray", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "security-dilemma-sandbox[ray]" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_the_sweep_modules_do_not_import_ray() -> None:
    code = (
        "import sys, dilemma.cli.main, dilemma.cli.sweep, dilemma.cli.sweep_run,"
        " dilemma.experiments.sweep, dilemma.experiments.ray_executor,"
        " dilemma.experiments.ray_worker;"
        " print('ray' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"
