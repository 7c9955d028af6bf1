"""Provenance for record headers: package versions, the sandbox's git revision, times.

The revision is the sandbox's own, never that of some other repository around it. A built
package (wheel, or a wheel built from an sdist) carries it in `dilemma/_build_info.json`,
stamped at build time (see setup.py). A package without the stamp runs from source (an editable
install): the revision is read from git, and only when the package folder lies inside a git
checkout whose top holds this project's pyproject.toml. Anything else records no revision.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from dilemma.core.versions import package_versions as package_versions

PROJECT = "security-dilemma-sandbox"
PACKAGE_DIR = Path(__file__).parent.parent
"""The installed `dilemma` folder (as imported, links not followed)."""
BUILD_INFO = "_build_info.json"

GitState = tuple[str | None, bool | None]
"""(revision, dirty), or (None, None) when unknown."""


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def build_stamp(package_dir: Path) -> GitState | None:
    """The revision stamped into a built package, or None when the package has no stamp."""
    try:
        data = json.loads((package_dir / BUILD_INFO).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None, None  # a stamp that cannot be read says nothing; git is not asked either
    revision, dirty = data.get("git_revision"), data.get("git_dirty")
    return (
        revision if isinstance(revision, str) else None,
        dirty if isinstance(dirty, bool) else None,
    )


def is_own_checkout(toplevel: Path) -> bool:
    """Does this git checkout's top folder hold this project's pyproject.toml?"""
    try:
        with (toplevel / "pyproject.toml").open("rb") as f:
            name = tomllib.load(f).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(name == PROJECT)


def checkout_state(folder: Path) -> GitState:
    """(revision, dirty) of the sandbox checkout holding `folder`; (None, None) when `folder`
    is in no git checkout or in another project's."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None or not is_own_checkout(Path(top)):
        return None, None
    revision = _git(folder, "rev-parse", "HEAD")
    if not revision:
        return None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return revision, None if status is None else bool(status)


@lru_cache(maxsize=1)
def git_state() -> GitState:
    """(revision, dirty) of the sandbox itself: the build's stamp, else its own checkout's.

    Read once per process: a sweep's runs share it.
    """
    stamped = build_stamp(PACKAGE_DIR)
    if stamped is not None:
        return stamped
    return checkout_state(PACKAGE_DIR)


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
