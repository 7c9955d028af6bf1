"""The evaluator's identity: which code and which numeric libraries computed a set of scores.

    evaluator_version() -> "0.4.0+m1+3f2a...": the package version, MEASURES_REVISION, and a
                          digest of the evaluator's and the record reader's source files and of
                          the numpy, pandas, scipy and statsmodels versions

Cached scores (`dilemma.evaluation.score_cache`) are keyed on it, so a cache entry written by
another evaluator is never read back as if this one had computed it. Bump MEASURES_REVISION with
every change to a measure's definition (it names the change even where the source digest would
catch it anyway, e.g. in a release with the same package version).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

from dilemma._version import __version__

MEASURES_REVISION = 1
"""Bumped whenever a measure's definition changes (see CHANGELOG "Measure definitions")."""

LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels")
"""Packages whose numerics shape the scores."""


def _source_files() -> list[Path]:
    """The evaluator's modules and the record reader's modules and schemas, sorted."""
    import dilemma.evaluation

    import dilemma.records

    files: list[Path] = []
    for package in (dilemma.evaluation, dilemma.records):
        folder = Path(package.__file__ or "").resolve().parent
        files += [p for p in folder.iterdir() if p.suffix in (".py", ".json")]
    return sorted(files, key=lambda p: (p.parent.name, p.name))


@cache
def evaluator_version() -> str:
    """The identity of the running evaluator (see the module docstring)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in _source_files():
        digest.update(f"{path.parent.name}/{path.name}\0".encode())
        digest.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}={version}\0".encode())
    return f"{__version__}+m{MEASURES_REVISION}+{digest.hexdigest()}"
