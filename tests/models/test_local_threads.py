"""The local server's default thread count, from the machine's measured idle CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dilemma.models.local import server as local_server
from dilemma.models.local.server import CpuTimes, idle_cores, parse_proc_stat

STAT = """cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0
cpu0 1 0 1 1 0 0 0 0 0 0
cpu1 1 0 1 1 0 0 0 0 0 0
intr 12345
ctxt 999
"""


def stat(user: int, system: int, idle: int, iowait: int = 0) -> str:
    return STAT.format(user=user, system=system, idle=idle, iowait=iowait)


def test_proc_stat_is_read_from_the_aggregate_line_and_the_cpu_lines() -> None:
    times = parse_proc_stat(stat(100, 50, 800, 50))
    assert times == CpuTimes(idle=850, total=1000, cpus=2)


@pytest.mark.parametrize("text", ["", "intr 1\n", "cpu  1 2 3\ncpu0 1 2 3 4 5\n", "cpu  a b\n"])
def test_unusable_proc_stat_gives_nothing(text: str) -> None:
    assert parse_proc_stat(text) is None


def test_idle_cores_between_two_readings() -> None:
    before = parse_proc_stat(stat(100, 0, 100))
    # 200 jiffies pass on 2 CPUs: 150 idle, 50 busy -> 1.5 of the 2 cores idle.
    after = parse_proc_stat(stat(150, 0, 250))
    assert before is not None and after is not None
    assert idle_cores(before, after) == pytest.approx(1.5)
    assert idle_cores(after, after) is None


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_idle_cores_stay_between_none_and_all(busy: int, idle: int, extra: int) -> None:
    before = CpuTimes(idle=0, total=0, cpus=4)
    after = CpuTimes(idle=idle, total=busy + idle + extra, cpus=4)
    cores = idle_cores(before, after)
    assert cores is not None and 0.0 <= cores <= 4.0


@pytest.mark.parametrize(
    ("cpus", "idle", "threads"),
    [(1, 1.0, 1), (2, 2.0, 2), (2, 1.5, 2), (2, 1.4, 1), (2, 0.1, 1), (8, 6.0, 2), (8, 1.0, 1)],
)
def test_two_threads_only_with_enough_measured_idle_cores(
    monkeypatch: pytest.MonkeyPatch, cpus: int, idle: float, threads: int
) -> None:
    monkeypatch.delenv(local_server.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(local_server, "measured_idle_cores", lambda: idle)
    # A load average that says otherwise (a VM reading ~1 while idle) does not decide.
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0) if idle > 1 else (0.0,) * 3)
    assert local_server.LocalServerConfig(model_path=Path("m")).n_threads == threads
    monkeypatch.setenv(local_server.THREADS_ENV, "3")
    assert local_server.LocalServerConfig(model_path=Path("m")).n_threads == 3


@pytest.mark.parametrize(
    ("cpus", "load", "threads"), [(2, 0.0, 2), (2, 0.5, 2), (2, 0.6, 1), (2, 15.0, 1), (8, 7.0, 1)]
)
def test_without_proc_stat_the_load_average_decides(
    monkeypatch: pytest.MonkeyPatch, cpus: int, load: float, threads: int
) -> None:
    monkeypatch.delenv(local_server.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(local_server, "measured_idle_cores", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert local_server.LocalServerConfig(model_path=Path("m")).n_threads == threads


def test_without_proc_stat_or_load_average_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load() -> tuple[float, float, float]:
        raise OSError("no load average")

    monkeypatch.delenv(local_server.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(local_server, "measured_idle_cores", lambda: None)
    monkeypatch.setattr(os, "getloadavg", no_load)
    assert local_server.LocalServerConfig(model_path=Path("m")).n_threads == 1


def test_a_missing_proc_stat_measures_nothing(tmp_path: Path) -> None:
    assert local_server.measured_idle_cores(0.0, tmp_path / "stat") is None
