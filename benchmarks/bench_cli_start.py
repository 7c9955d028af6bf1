"""CPU time of a CLI start: `dilemma --help`, `dilemma validate <built-in scenario file>` and
`dilemma score <one record>` (the packaged test fixture: warm score cache, a new empty cache each
run, and --no-cache), against a bare `python -c pass`; and the floor of scoring a record for the
first time: the CPU of importing, and nothing else, what such a `dilemma score` imports (the CLI,
its score formatting, the evaluator with pandas, SciPy's special functions), of the same without
SciPy, and of pandas alone.

Each command runs --repeat times in a fresh process; its CPU time (user + system, of the child
process alone, from `os.wait4`) is reported as median, min and max, with the ratio of medians to
the bare interpreter start. CPU time rather than wall time, so that other load on the machine
changes the figures less. Target: at most 1.0 s of CPU for a CLI start.

    python benchmarks/bench_cli_start.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_S = 1.0
RECORD = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/records_v3/scripted/two-rivals_s3_20261207T003447_2766b360404b.jsonl"
)
ENV = {**os.environ, "DILEMMA_CACHE_DIR": tempfile.mkdtemp(prefix="bench-cli-cache-")}
"""The score cache of these runs: a fresh folder, filled by the first (untimed) run."""


FLOOR = "import dilemma.cli.main, dilemma.cli.analysis, dilemma.cli.score_format"
"""What a first-time `dilemma score` imports besides the evaluator (CLI, formatting, reader)."""


def cpu_seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    """User + system CPU seconds of one run of `argv` (output discarded; must exit 0)."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or ENV
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def dilemma_command() -> list[str]:
    """The `dilemma` console script next to this interpreter, else `python -m dilemma`."""
    script = Path(sys.executable).parent / "dilemma"
    if script.exists():
        return [str(script)]
    found = shutil.which("dilemma")
    return [found] if found else [sys.executable, "-m", "dilemma"]


def scenario_file() -> str:
    """A built-in scenario's YAML file, as installed."""
    from dilemma.scenarios.library import LIBRARY_DIR, builtin_names

    return str(LIBRARY_DIR / f"{builtin_names()[0]}.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per command (default 9)")
    args = parser.parse_args()
    cli = dilemma_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dilemma --help": [*cli, "--help"],
        "dilemma validate FILE": [*cli, "validate", scenario_file()],
        "dilemma score RECORD": [*cli, "score", str(RECORD)],
        "dilemma score RECORD (empty cache)": [*cli, "score", str(RECORD)],
        "dilemma score --no-cache RECORD": [*cli, "score", "--no-cache", str(RECORD)],
        "floor: imports of a first score": [
            sys.executable,
            "-c",
            f"{FLOOR}, dilemma.evaluation.tables, scipy.special",
        ],
        "... without SciPy": [sys.executable, "-c", f"{FLOOR}, dilemma.evaluation.tables"],
        "... pandas alone": [sys.executable, "-c", "import pandas"],
    }
    print(f"load average {os.getloadavg()[0]:.1f} at start")
    for argv in commands.values():  # warm the file cache and the bytecode
        cpu_seconds(argv)
    figures: dict[str, list[float]] = {name: [] for name in commands}
    for k in range(args.repeat):  # interleaved, so a change of machine load hits all alike
        for name, argv in commands.items():
            empty = {**ENV, "DILEMMA_CACHE_DIR": f"{ENV['DILEMMA_CACHE_DIR']}-empty-{k}"}
            figures[name].append(cpu_seconds(argv, empty if "empty" in name else None))
    base = statistics.median(figures["python -c pass"])
    print(f"CPU seconds per start, {args.repeat} runs each ({' '.join(cli)}):")
    for name, values in figures.items():
        median = statistics.median(values)
        line = (
            f"  {name:36} median {median:.3f} s (min {min(values):.3f}, max {max(values):.3f})"
            f", {median / base:.1f}x python -c pass"
        )
        if name.startswith("dilemma"):
            line += " [ok]" if median <= TARGET_S else f" [over the {TARGET_S:.1f} s target]"
        print(line)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
