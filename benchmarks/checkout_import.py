"""Import the sandbox from another checkout (for before/after figures on one machine).

A checkout keeps `dilemma` in `src/dilemma` and maps `agents/`, `scenarios/` and `evaluation/`
into it through `[tool.setuptools] package-dir`, so putting the checkout on `sys.path` is not
enough. `link_tree(root)` builds (once per checkout) a folder whose `dilemma/` links every
entry of `src/dilemma` and the three mapped folders; put it first on `sys.path`.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

MAPPED = ("agents", "scenarios", "evaluation")


def link_tree(root: Path) -> Path:
    """A folder to put first on sys.path so that `import dilemma` loads `root`'s code."""
    root = root.resolve()
    src = root / "src" / "dilemma"
    if not src.is_dir():  # a checkout from before the src/ layout
        return root
    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    tree = Path(tempfile.gettempdir()) / f"dilemma-bench-{key}"
    package = tree / "dilemma"
    package.mkdir(parents=True, exist_ok=True)
    for entry in [*src.iterdir(), *(root / name for name in MAPPED)]:
        link = package / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    return tree
