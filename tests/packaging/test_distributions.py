"""What the wheel and the sdist hold: every package file and data file; the tests, docs,
benchmarks and CI scripts; the build's git revision."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, Dist, run

pytestmark = pytest.mark.slow


def package_files() -> dict[str, Path]:
    """Every file of the `dilemma` packages in the tree, by its path inside the wheel.

    Read from pyproject's package-dir mapping, so a folder mapped into the namespace counts."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    files: dict[str, Path] = {}
    for package, folder in mapping.items():
        base = ROOT / folder
        nested = [ROOT / f for p, f in mapping.items() if p.startswith(package + ".")]
        for path in base.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if any(path.is_relative_to(n) for n in nested):
                continue  # counted under its own mapping
            inside = path.relative_to(base).as_posix()
            files[f"{package.replace('.', '/')}/{inside}"] = path
    return files


def own_checkout() -> bool:
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True
    )
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == ROOT


def test_the_wheel_holds_every_package_and_data_file_and_nothing_else(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        members = {n for n in wheel.namelist() if not n.endswith("/")}
    expected = set(package_files()) - {"dilemma/_build_info.json"}
    assert expected - members == set(), "files of the tree missing from the wheel"
    assert any(m.endswith("records/schema_v2.json") for m in expected)
    data = {m for m in expected if not m.endswith(".py")}
    assert {Path(m).parts[1] for m in data} >= {"scenarios", "agents", "experiments", "web"}
    tops = {m.split("/")[0] for m in members}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"dilemma"}
    assert members - expected - {"dilemma/_build_info.json"} == {
        m for m in members if m.split("/")[0].endswith(".dist-info")
    }
    license_files = [m for m in members if m.endswith("dist-info/licenses/LICENSE")]
    assert license_files, "LICENSE not in the wheel's metadata"


def test_the_wheel_is_stamped_with_the_revision_it_was_built_from(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        stamp = json.loads(wheel.read("dilemma/_build_info.json"))
    if own_checkout():
        head = run(["git", "rev-parse", "HEAD"], cwd=ROOT).strip()
        assert stamp["git_revision"] == head
        assert isinstance(stamp["git_dirty"], bool)
    else:  # built from an unpacked sdist: the revision its stamp carries, or none
        carried = ROOT / "src" / "dilemma" / "_build_info.json"
        want = json.loads(carried.read_text())["git_revision"] if carried.exists() else None
        assert stamp["git_revision"] == want


def sdist_members(dist: Dist) -> set[str]:
    with tarfile.open(dist.sdist) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    return {n.split("/", 1)[1] for n in names}


def test_the_sdist_holds_the_whole_tree(dist: Dist) -> None:
    members = sdist_members(dist)
    if own_checkout():
        tracked = set(run(["git", "ls-files"], cwd=ROOT).splitlines())
    else:
        tracked = {
            p.relative_to(ROOT).as_posix()
            for top in ("tests", "docs", "benchmarks", ".ci")
            for p in (ROOT / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and "output" not in p.parts
        }
    assert tracked - members - {".gitignore"} == set()
    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "tests/conftest.py", ".ci/run"):
        assert needed in members, needed
    assert any(m.startswith("tests/fixtures/") for m in members)
    assert any(m.startswith("tests/helpers/") for m in members)


def collected(folder: Path) -> tuple[str, list[str]]:
    """`pytest --collect-only -q` run in `folder`: its count line and its collection errors."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    count = re.fullmatch(r"(.* collected.*) in [\d.]+s", lines[-1] if lines else "")
    assert count is not None, done.stdout[-3000:] + done.stderr[-3000:]
    return count.group(1), sorted(line for line in lines if line.startswith("ERROR "))


def test_the_unpacked_sdist_collects_the_same_tests_as_the_tree(dist: Dist, tmp_path: Path) -> None:
    """Same tests, same collection errors (none where every extra is installed, as in CI)."""
    with tarfile.open(dist.sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    in_sdist, in_tree = collected(unpacked), collected(ROOT)
    assert in_sdist == in_tree
    assert re.match(r"\d+ tests collected", in_sdist[0]), in_sdist
