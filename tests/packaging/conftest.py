"""Fixtures of the packaging tests: the wheel and sdist built once per session, with uv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = [sys.executable, "-m", "uv"]


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment without this test run's venv or import paths (another venv's bin first)."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def run(args: list[str], cwd: Path, venv: Path | None = None, timeout: float = 600) -> str:
    """Run a command; fail the test with its output when it fails."""
    done = subprocess.run(
        args, cwd=cwd, env=clean_env(venv), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Dist:
    """The built distributions: the wheel is built from the sdist, as a release build does."""

    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    run([*UV, "build", "--quiet", "--out-dir", str(out), str(ROOT)], cwd=ROOT)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel=wheel, sdist=sdist)
