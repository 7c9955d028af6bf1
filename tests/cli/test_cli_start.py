"""Starting the command line loads no model provider and no statistics stack: `dilemma --help`
and `dilemma validate` import only what they use (see benchmarks/bench_cli_start.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dilemma.scenarios.library import LIBRARY_DIR, builtin_names

HEAVY = (
    "openai",
    "langchain",
    "langchain_core",
    "langchain_openai",
    "ray",
    "pandas",
    "scipy",
    "statsmodels",
    "matplotlib",
)
"""Packages a CLI start must not import (model providers, Ray, the evaluation's stack)."""

CHECK = """
import json, sys
{code}
heavy = {heavy!r}
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def imported(code: str) -> list[str]:
    """The HEAVY packages imported after running `code` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(code=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_provider() -> None:
    assert imported("import dilemma.cli.main") == []


@pytest.mark.parametrize("args", [["--help"], ["validate", "SCENARIO"], ["scenarios"]])
def test_help_and_validate_load_no_provider(args: list[str]) -> None:
    path = str(LIBRARY_DIR / f"{builtin_names()[0]}.yaml")
    argv = [path if a == "SCENARIO" else a for a in args]
    code = (
        "from dilemma.cli.main import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert imported(code) == []


def test_a_command_that_runs_models_does_load_them() -> None:
    # the check can fail: a command that plays a run imports the providers
    code = (
        "from dilemma.cli.main import app\n"
        "try:\n"
        "    app(['run', 'two-rivals', '--model', 'scripted:dove', '--rounds', '1', '--out',"
        " __import__('tempfile').mkdtemp()])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert "langchain_core" in imported(code)


def test_import_dilemma_is_cheap_and_resolves_every_public_name() -> None:
    assert imported("import dilemma") == []
    code = "import dilemma\nfor name in dilemma.__all__:\n    getattr(dilemma, name)\n"
    assert "pandas" in imported(code)  # the lazy names are real (score needs pandas)
