"""The built wheel installed as a user installs it: in a fresh venv inside the user's own git
repository, beside OpenAI's Agents SDK (`agents`) in either install order, with files named like
the old top-level packages in the working folder."""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.packaging.conftest import UV, Dist, run

pytestmark = pytest.mark.slow

ORDERS = {
    "sandbox-then-agents-sdk": ("WHEEL", "openai-agents"),
    "agents-sdk-then-sandbox": ("openai-agents", "WHEEL"),
}
SHADOWS = ("evaluation", "agents", "records", "experiments", "simulation", "scenarios")


class Installed:
    """A venv holding the wheel and the Agents SDK, inside an unrelated git repository."""

    def __init__(self, home: Path, venv: Path, analysis_head: str, wheel: Path) -> None:
        self.home, self.venv, self.analysis_head, self.wheel = home, venv, analysis_head, wheel
        self._record: Path | None = None

    def run(self, *args: str) -> str:
        return run(list(args), cwd=self.home, venv=self.venv)

    def python(self, *args: str) -> str:
        return self.run(str(self.venv / "bin" / "python"), *args)

    def dilemma(self, *args: str) -> str:
        return self.run(str(self.venv / "bin" / "dilemma"), *args)

    def record(self) -> Path:
        """The record of `dilemma run two-rivals --model scripted:reactive --rounds 2` played
        in the analysis repository (played once per venv)."""
        if self._record is None:
            model = ("--model", "scripted:reactive")
            self.dilemma("run", "two-rivals", *model, "--rounds", "2", "--out", "runs")
            (self._record,) = (self.home / "runs").glob("*.jsonl")
        return self._record


def git(folder: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=folder)


def make_venv(order: str, dist: Dist, home: Path) -> Installed:
    """A fresh venv inside a fresh git repository `home`, the two packages installed in `order`."""
    (home / "pyproject.toml").write_text('[project]\nname = "my-analysis"\n')
    (home / "notes.md").write_text("my analysis\n")
    git(home, "init", "-q")
    git(home, "add", "-A")
    git(home, "commit", "-q", "-m", "analysis")
    head = git(home, "rev-parse", "HEAD").strip()
    venv = home / ".venv"  # inside the analysis repository, as researchers often keep it
    run([*UV, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=home)
    python = str(venv / "bin" / "python")
    for item in ORDERS[order]:
        target = str(dist.wheel) if item == "WHEEL" else item
        run([*UV, "pip", "install", "--quiet", "--python", python, target], cwd=home)
    return Installed(home=home, venv=venv, analysis_head=head, wheel=dist.wheel)


@pytest.fixture(scope="module")
def venvs(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Installed]:
    """The venv of an install order, made on first use (each order once per module)."""
    made: dict[str, Installed] = {}

    def get(order: str) -> Installed:
        if order not in made:
            made[order] = make_venv(order, dist, tmp_path_factory.mktemp("analysis"))
        return made[order]

    return get


@pytest.fixture(params=list(ORDERS))
def installed(request: pytest.FixtureRequest, venvs: Callable[[str], Installed]) -> Installed:
    """Each install order in turn."""
    return venvs(request.param)


@pytest.fixture
def one_install(venvs: Callable[[str], Installed]) -> Installed:
    """One install (for what the order cannot change)."""
    return venvs(next(iter(ORDERS)))


def test_the_agents_sdk_still_imports(installed: Installed) -> None:
    out = installed.python("-c", "from agents import Agent; print(Agent.__module__)")
    assert out.strip() == "agents.agent"


def test_a_run_works_and_records_the_sandboxes_revision_not_the_repositorys(
    installed: Installed,
) -> None:
    header = json.loads(installed.record().read_text(encoding="utf-8").splitlines()[0])
    with zipfile.ZipFile(installed.wheel) as wheel:
        stamp = json.loads(wheel.read("dilemma/_build_info.json"))
    assert header["git_revision"] != installed.analysis_head
    assert (header["git_revision"], header["git_dirty"]) == (
        stamp["git_revision"],
        stamp["git_dirty"],
    )
    version = installed.python("-c", "import dilemma; print(dilemma.__version__)").strip()
    assert header["package_versions"]["security-dilemma-sandbox"] == version
    assert installed.dilemma("--version").strip() == f"dilemma {version}"
    assert f"-{version}-" in installed.wheel.name


def test_files_named_like_the_old_packages_change_nothing(one_install: Installed) -> None:
    """`python -m dilemma score` puts the working folder first on sys.path."""
    installed = one_install
    scored = str(installed.record().relative_to(installed.home))
    before = installed.python("-m", "dilemma", "score", scored, "--json")
    for name in SHADOWS:
        (installed.home / f"{name}.py").write_text(f"raise ImportError('the local {name}.py')\n")
    try:
        after = installed.python("-m", "dilemma", "score", scored, "--json")
        tables = installed.python(
            "-c",
            "import pathlib; from dilemma.evaluation.tables import score, record_paths;"
            f" print(len(score(record_paths(pathlib.Path({scored!r}))).runs))",
        )
    finally:
        for name in SHADOWS:
            (installed.home / f"{name}.py").unlink()
    assert after == before and json.loads(after)
    assert tables.strip() == "1"


def test_the_schema_snapshot_check_passes_against_the_installed_wheel(
    one_install: Installed,
) -> None:
    one_install.python("-m", "dilemma.records.json_schema", "--check")


def test_sweep_finds_a_packaged_example_by_name(one_install: Installed) -> None:
    out = one_install.dilemma("sweep", "regime-transparency-2x2", "--dry-run", "--out", "planned")
    assert "experiment regime-transparency-2x2: 40 runs" in out
    assert not (one_install.home / "planned").exists()
