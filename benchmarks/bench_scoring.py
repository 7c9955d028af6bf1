"""Scoring speed: records per second without a cache, with a cold and a warm score cache; one
record end to end; `score --json` against `score`; the viewer's first list.

Records (20 rounds x 4 states, the test builder's decision and negotiation observations,
llm_call lines, about 5% fallbacks) are written once into --dir and reused. Only the first
--distinct of them (default 50) are played (`random_builder`, seed k); record k beyond them is a
copy of record k mod --distinct whose header carries its own run id (`bench-k`): a valid record
with a distinct run id and score-cache key, which the evaluator reads and scores in full like
any other, but whose moves repeat its source's (its header keeps the source's seed, which made
them). So 10,000 records take seconds to write instead of hours. For each size:

  no cache   load and score every record (`tables.score`, the evaluator alone)
  cold       the same through an empty score cache (scoring plus filling it)
  warm       again through a new cache object on the same file (a restart): every record a hit
each as records per second of wall and of CPU time (user+sys of this process), its ratio to no
cache, and the ratio of its rate to the smallest size's;

then, in fresh processes (`dilemma score FILE`, wall and CPU time, median of --repeat): one
record with a warm cache, with a new empty cache (a record never scored), with `--no-cache`, and
`python -c pass` for scale; in this process, with the cache warm: `score_json_text` against
`score_text` for the largest size up to 1,000 (wall and CPU). The viewer's first
page (`GET /`) on a folder of 1,000 records (VIEWER_RECORDS, whatever --sizes says), scores in
the cache: once with its list rows not yet cached (the first view of a scored folder), then in
fresh processes (a restart: imports, app, the page; wall and CPU time, and whether SciPy was
imported) and in this process (a new app each time).
Every figure comes from this one run; ratios are printed beside them.

    python benchmarks/bench_scoring.py [--dir /tmp/bench-scoring-copies] [--repeat 5]
                                       [--sizes 100,1000,10000] [--distinct 50]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dilemma.evaluation import score_cache  # noqa: E402
from dilemma.evaluation.score_cache import ScoreCache  # noqa: E402
from dilemma.evaluation.tables import score  # noqa: E402

from benchmarks.bench_cli_start import dilemma_command  # noqa: E402
from tests.helpers.records import random_builder  # noqa: E402

ONE_RECORD_TARGET_S = 1.0
JSON_TARGET = 1.2
VIEWER_TARGET_S = 1.0
VIEWER_RECORDS = 1000


def ensure_records(folder: Path, n: int, distinct: int = 50) -> list[Path]:
    """The first n benchmark records in `folder`, writing those missing: the first `distinct`
    played by `random_builder`, the others copies of them under their own run id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"bench-{k:05d}.jsonl" for k in range(n)]
    for k, path in enumerate(paths[:distinct]):
        if not path.exists():
            random_builder(k, n_states=4, rounds=20, chatter=True).write(path)
    for k, path in enumerate(paths[distinct:], start=distinct):
        if not path.exists():
            copy_record(paths[k % distinct], path, f"bench-{k}")
    return paths


def copy_record(source: Path, target: Path, run_id: str) -> None:
    """Write `source` to `target` with `run_id` in its header (the only place a record holds
    its run id); written under a temporary name and renamed, so a target is never partial."""
    header, rest = source.read_bytes().split(b"\n", 1)
    old = b'"run_id":' + json.dumps(json.loads(header)["run_id"]).encode()
    if header.count(old) != 1:
        raise ValueError(f"{source}: run id not found once in the header")
    partial = target.with_suffix(".partial")
    partial.write_bytes(
        header.replace(old, b'"run_id":' + json.dumps(run_id).encode()) + b"\n" + rest
    )
    partial.replace(target)


def rates(n: int, wall_s: float, cpu_s: float) -> str:
    """Records per second of wall and CPU time."""
    return f"{n / wall_s:7.1f}/s wall, {n / cpu_s:7.1f}/s CPU ({wall_s:7.2f} s, {cpu_s:7.2f} s CPU)"


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (user+sys of this process) of `work()`."""
    start, start_cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - start, time.process_time() - start_cpu


def throughput(paths: list[Path], cache_file: Path) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds to score `paths` without a cache, into an empty cache, and from
    it."""
    cache_file.unlink(missing_ok=True)
    out = {"no cache": timed(lambda: score(paths))}
    cold = ScoreCache(cache_file)
    out["cold"] = timed(lambda: cold.score(paths))
    warm = ScoreCache(cache_file)
    out["warm"] = timed(lambda: warm.score(paths))
    assert warm.hits == len(paths), f"{warm.hits} hits of {len(paths)}"
    return out


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user+sys, from the children's rusage) of running `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def one_record(path: Path, cache_dir: Path, repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Wall and CPU seconds of `dilemma score FILE` (warm cache, a new empty cache, no cache)
    and `python -c pass`."""
    env = {**os.environ, score_cache.CACHE_DIR_ENV: str(cache_dir)}
    cli = dilemma_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dilemma score FILE (warm cache)": [*cli, "score", str(path)],
        "dilemma score FILE (empty cache)": [*cli, "score", str(path)],
        "dilemma score FILE --no-cache": [*cli, "score", "--no-cache", str(path)],
    }
    for argv in commands.values():  # fills the cache, warms the file cache and bytecode
        run_child(argv, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for k in range(repeat):  # interleaved: a change of load hits all alike
        for name, argv in commands.items():
            empty = {score_cache.CACHE_DIR_ENV: str(cache_dir.with_name(f"empty-{k}"))}
            times[name].append(run_child(argv, {**env, **empty} if "empty" in name else env))
    return times


def json_against_text(paths: list[Path], repeat: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of what `score --json` and `score` print for `paths` (the
    active cache is warm), interleaved."""
    from dilemma.cli.score_format import score_json_text, score_text

    found: dict[str, list[tuple[float, float]]] = {"json": [], "text": []}
    for _ in range(repeat):
        found["json"].append(timed(lambda: score_json_text(paths)))
        found["text"].append(timed(lambda: score_text(paths, 80)))
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in found.items()
    }


def viewer_first_page(folder: Path, repeat: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of the first `GET /` of a new viewer app on `folder` (in this
    process, with the active cache), and the page's bytes."""
    from starlette.testclient import TestClient

    from dilemma.web.viewer.app import create_app

    times, cpu, size = [], [], 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        with TestClient(create_app(folder), base_url="http://127.0.0.1") as client:
            page = client.get("/")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert page.status_code == 200, page.status_code
        size = len(page.content)
    return times, cpu, size


FRESH_VIEWER = """
import json, sys, time
start, cpu = time.perf_counter(), time.process_time()
from pathlib import Path
from starlette.testclient import TestClient
from dilemma.evaluation import score_cache
from dilemma.web.viewer.app import create_app
score_cache.use(score_cache.ScoreCache(score_cache.default_file()))
with TestClient(create_app(Path(sys.argv[1])), base_url="http://127.0.0.1") as client:
    page = client.get("/")
assert page.status_code == 200, page.status_code
print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "scipy": "scipy" in sys.modules, "statsmodels": "statsmodels" in sys.modules}))
"""


def viewer_fresh(folder: Path, cache_dir: Path, repeat: int) -> dict[str, Any]:
    """Wall and CPU seconds of a fresh process that imports the viewer, makes its app and
    serves the first `GET /` of `folder` (cache in `cache_dir`), and whether SciPy or
    statsmodels got imported."""
    import json

    env = {**os.environ, score_cache.CACHE_DIR_ENV: str(cache_dir)}
    wall, cpu, scipy = [], [], set()
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_VIEWER, str(folder)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        found = json.loads(out.stdout)
        wall.append(found["wall"])
        cpu.append(found["cpu"])
        scipy.add(bool(found["scipy"] or found["statsmodels"]))
    return {"wall": wall, "cpu": cpu, "scipy": scipy}


def viewer_figures(paths: list[Path], folder: Path, work: Path, repeat: int) -> None:
    """Print the viewer's first-page figures for `paths` (hard-linked into `folder`), with a
    copy of the score cache work/shared.sqlite (scores missing from it are added first)."""
    try:
        import starlette  # noqa: F401
    except ImportError as exc:
        print(f"viewer: not measured ({exc}; needs the web extra)")
        return
    if not folder.exists():
        folder.mkdir(parents=True)
        for p in paths:  # hard links: the viewer lists no symlink leading outside
            os.link(p, folder / p.name)
    cache = ScoreCache(work / "viewer" / score_cache.FILE_NAME)
    cache.file.parent.mkdir(parents=True, exist_ok=True)
    if (work / "shared.sqlite").exists():
        shutil.copyfile(work / "shared.sqlite", cache.file)
    score_cache.use(cache)
    cache.score(sorted(folder.glob("*.jsonl")), grains=("runs", "states"))
    first, first_cpu, _ = viewer_first_page(folder, 1)  # scores cached, list rows not yet
    fresh = viewer_fresh(folder, work / "viewer", repeat)
    warm, warm_cpu, page_bytes = viewer_first_page(folder, repeat)
    score_cache.use(None)
    print(
        f"viewer first page, {len(paths)} records ({page_bytes} bytes,"
        f" load {os.getloadavg()[0]:.1f}):"
    )
    print(_line("GET /, rows not cached (wall)", first))
    print(_line("... CPU", first_cpu))
    print(_line("restart: import+app+GET / (wall)", fresh["wall"], VIEWER_TARGET_S))
    print(_line("... CPU", fresh["cpu"], VIEWER_TARGET_S))
    print(f"  {'... SciPy/statsmodels imported':42} {sorted(fresh['scipy'])}")
    print(_line("new app in process: GET / (wall)", warm, VIEWER_TARGET_S))
    print(_line("... CPU", warm_cpu, VIEWER_TARGET_S))


def _line(name: str, values: list[float], target: float | None = None) -> str:
    med = statistics.median(values)
    text = f"  {name:42} median {med:6.3f} s (min {min(values):.3f}, max {max(values):.3f})"
    if target is not None:
        text += " [ok]" if med <= target else f" [over the {target:g} s target]"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-scoring-copies"))
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the timed commands")
    parser.add_argument("--sizes", default="100,1000,10000", help="record counts, ascending")
    parser.add_argument(
        "--distinct", type=int, default=50, help="records played; the others are their copies"
    )
    parser.add_argument(
        "--list-only",
        action="store_true",
        help="only score --json against score and the viewer's first page",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f} at start")
    t = time.perf_counter()
    paths = ensure_records(args.dir, max([*sizes, VIEWER_RECORDS]), args.distinct)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6 / len(paths)
    print(
        f"records ready in {time.perf_counter() - t:.1f}s ({size_mb:.2f} MB each;"
        f" {min(args.distinct, len(paths))} played, the others copies under their own run id)"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    try:
        if not args.list_only:
            print(
                "records per second (x no cache: ratio to no cache at that size;"
                f" x of {sizes[0]}: ratio to the same figure at {sizes[0]} records):"
            )
        first: dict[str, float] = {}
        if not args.list_only:
            score(paths[:1])  # the evaluator's imports and first-call costs, not timed
        for n in [] if args.list_only else sizes:
            times = throughput(paths[:n], work / f"scores-{n}.sqlite")
            base = n / times["no cache"][0]
            print(f"  {n:>6} records, load {os.getloadavg()[0]:.1f}:")
            for name, (wall_s, cpu_s) in times.items():
                first.setdefault(name, n / wall_s)
                print(
                    f"    {name:8} {rates(n, wall_s, cpu_s)}  {n / wall_s / base:5.2f}x no cache,"
                    f" {n / wall_s / first[name]:5.2f}x of {sizes[0]}"
                )
        one = {} if args.list_only else one_record(paths[0], work / "cli-cache", args.repeat)
        if one:
            print(f"one record end to end, {args.repeat} runs each, load {os.getloadavg()[0]:.1f}:")
        for name, values in one.items():
            target = ONE_RECORD_TARGET_S if "cache)" in name else None
            print(_line(f"{name} (wall)", [w for w, _ in values], target))
            print(_line("... CPU", [c for _, c in values]))
        small = [n for n in sizes if n <= 1000] or sizes[:1]
        listed = paths[: small[-1]]
        folder = args.dir.with_name(f"{args.dir.name}-first-{len(listed)}")
        if not folder.exists():
            folder.mkdir(parents=True)
            for p in listed:  # hard links: the viewer lists no symlink leading outside
                os.link(p, folder / p.name)
        score_cache.use(ScoreCache(work / "shared.sqlite"))
        score_cache.active().score(sorted(folder.glob("*.jsonl")))  # type: ignore[union-attr]
        medians = json_against_text(sorted(folder.glob("*.jsonl")), args.repeat)
        (js, js_cpu), (text, text_cpu) = medians["json"], medians["text"]
        verdict = "ok" if js / text <= JSON_TARGET else f"over the {JSON_TARGET}x target"
        print(
            f"score --json against score, {len(listed)} records, warm cache, medians of"
            f" {args.repeat} (load {os.getloadavg()[0]:.1f}): wall {js:.3f} s / {text:.3f} s ="
            f" {js / text:.2f}x [{verdict}]; CPU {js_cpu:.3f} s / {text_cpu:.3f} s ="
            f" {js_cpu / text_cpu:.2f}x"
        )
        score_cache.use(None)
        viewer = args.dir.with_name(f"{args.dir.name}-first-{VIEWER_RECORDS}")
        viewer_figures(paths[:VIEWER_RECORDS], viewer, work, args.repeat)
    finally:
        score_cache.use(None)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
