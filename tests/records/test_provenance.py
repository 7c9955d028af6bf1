"""The git revision in a record header is the sandbox's own, never another repository's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dilemma.records import provenance
from dilemma.records.provenance import build_stamp, checkout_state, git_state

ROOT = Path(__file__).resolve().parents[2]


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def repo(folder: Path, project: str) -> str:
    """A git repository at `folder` whose pyproject names `project`; its HEAD."""
    (folder / "pkg").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{project}"\n')
    (folder / "pkg" / "mod.py").write_text("x = 1\n")
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return git(folder, "rev-parse", "HEAD")


@pytest.fixture
def fresh_state() -> Iterator[None]:
    git_state.cache_clear()
    yield
    git_state.cache_clear()


def test_another_projects_checkout_gives_no_revision(tmp_path: Path) -> None:
    repo(tmp_path, "my-analysis")
    assert checkout_state(tmp_path / "pkg") == (None, None)


def test_the_sandbox_checkout_gives_its_head_and_dirty_flag(tmp_path: Path) -> None:
    head = repo(tmp_path, "security-dilemma-sandbox")
    assert checkout_state(tmp_path / "pkg") == (head, False)
    (tmp_path / "pkg" / "mod.py").write_text("x = 2\n")
    assert checkout_state(tmp_path / "pkg") == (head, True)


def test_a_sandbox_folder_nested_in_another_repository_gives_no_revision(tmp_path: Path) -> None:
    repo(tmp_path, "my-analysis")
    nested = tmp_path / "vendor" / "sandbox"
    nested.mkdir(parents=True)
    (nested / "pyproject.toml").write_text('[project]\nname = "security-dilemma-sandbox"\n')
    assert checkout_state(nested) == (None, None)


def test_no_git_checkout_gives_no_revision(tmp_path: Path) -> None:
    assert checkout_state(tmp_path) == (None, None)


def test_a_build_stamp_wins_over_the_repository_around_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_state: None
) -> None:
    head = repo(tmp_path, "security-dilemma-sandbox")
    package = tmp_path / "pkg"
    stamp = {"git_revision": "a" * 40, "git_dirty": False, "source": "git"}
    (package / "_build_info.json").write_text(json.dumps(stamp))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    assert git_state() == ("a" * 40, False) != (head, False)


def test_an_unreadable_stamp_claims_nothing(tmp_path: Path) -> None:
    (tmp_path / "_build_info.json").write_text("{not json")
    assert build_stamp(tmp_path) == (None, None)
    assert build_stamp(tmp_path / "absent") is None


def test_an_installed_package_inside_an_analysis_repository_does_not_claim_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_state: None
) -> None:
    """A package folder without a stamp, inside someone's repository: no revision at all."""
    repo(tmp_path, "my-analysis")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path / "pkg")
    assert git_state() == (None, None)


def test_this_checkout_is_recognised() -> None:
    """The test suite runs from a checkout of the sandbox (or an unpacked sdist, not in git)."""
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True
    )
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != ROOT:
        assert checkout_state(ROOT / "src" / "dilemma") == (None, None)
    else:
        revision, dirty = checkout_state(ROOT / "src" / "dilemma")
        assert revision == git(ROOT, "rev-parse", "HEAD") and isinstance(dirty, bool)
