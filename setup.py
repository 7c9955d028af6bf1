"""Build hook: stamps the sandbox's own git revision into the package at build time.

Everything else is configured in pyproject.toml. A wheel (and an sdist, for the wheels built
from it) gets `dilemma/_build_info.json` holding the revision and dirty flag of the checkout it
was built from, read from git only when the project folder is itself the top of a git checkout
of this project; otherwise (an unpacked sdist inside some other repository, say) the revision is
the one the sdist carries, or unknown. Editable installs get no stamp: they read git at run time.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PROJECT = "security-dilemma-sandbox"
STAMP = Path("src", "dilemma", "_build_info.json")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _own_checkout() -> bool:
    """Is ROOT the top of a git checkout of this project (not a folder in another repo)?"""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != ROOT:
        return False
    with (ROOT / "pyproject.toml").open("rb") as f:
        return bool(tomllib.load(f).get("project", {}).get("name") == PROJECT)


def build_info() -> dict[str, object]:
    """The revision this build comes from: git, else the sdist's stamp, else unknown."""
    if _own_checkout():
        revision = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=no")
        if revision:
            return {"git_revision": revision, "git_dirty": bool(status), "source": "git"}
    carried = ROOT / STAMP
    if carried.is_file():
        data: dict[str, object] = json.loads(carried.read_text(encoding="utf-8"))
        return data
    return {"git_revision": None, "git_dirty": None, "source": "unknown"}


def _write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_info(), indent=2) + "\n", encoding="utf-8")


class StampedBuildPy(build_py):
    """build_py that adds the build stamp to a (non-editable) wheel."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            _write(Path(self.build_lib, "dilemma", "_build_info.json"))


class StampedSdist(sdist):
    """sdist that carries the build stamp for the wheels built from it."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir, STAMP)
        if target.exists():
            target.unlink()  # a hard link to the source tree's copy: never write through it
        _write(target)


setup(cmdclass={"build_py": StampedBuildPy, "sdist": StampedSdist})
