"""Sweep benchmarks: concurrency, per-call overhead, memory growth with run count.

    python benchmarks/bench_sweep.py [--quick] [--code DIR] [--compare DIR]

1. 50 runs x 4 states x 10 rounds against a fake model with a fixed latency of 50 ms and of
   500 ms: wall time vs the ideal time when concurrency is not binding (rounds x model-call phases
   x latency). Target at 500 ms: ratio <= 1.15. At 50 ms the 4,000 calls' CPU time,
   not the latency, bounds the wall time of one process.
2. Framework CPU time per model call with a zero-latency fake model (prompt, validation, record,
   resolution, the model call itself), against a bare LangChain `ainvoke` of the same fake model
   with the same messages, measured in the same process; repeated, interleaved, medians.
   Targets: at most 0.6 ms and at most 2.0x the bare call. (The framework itself calls a chat
   model through `agenerate`, the public entry point that `ainvoke` wraps, which skips
   `ainvoke`'s config merge and input conversion; the reference stays the bare `ainvoke`.)
3. Peak memory (RSS high-water mark, measured in fresh subprocesses) of a 1,000-run sweep vs a
   100-run sweep with a zero-latency model. Target: ratio <= 1.5.
4. Throughput (model calls per second) at zero fake latency of the local executor and of the
   Ray executor with 1 and 2 workers, as ratios (target: 2 workers >= 1.6x 1 worker on a 2-core
   machine), measured `--repeats N` times (default 3): each measurement with each worker's CPU
   time and utilisation, then min / median / max of the ratios and the load average. Needs the
   `ray` extra; `--ray-only` runs this part alone. Ray's start-up (the instance and the workers'
   imports) is timed apart: the throughput counts from the moment the workers are ready to the
   last record.

`--code DIR` imports the sandbox from another checkout (e.g. the main branch, for "before"
figures); `--compare DIR` measures [2] alternately in subprocesses on DIR's code and on this
checkout's and prints both (before/after on one machine, under the same load): medians, and the
min and max of the ratio over every repeat of every subprocess, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _code_root() -> Path:
    """The checkout to import the sandbox from: --code DIR, else this one."""
    if "--code" in sys.argv[:-1]:
        return Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    return Path(__file__).resolve().parent.parent


ROOT = _code_root()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkout_import import link_tree  # noqa: E402

sys.path.insert(0, str(link_tree(ROOT)))

from dilemma.experiments.config import SweepConfig, SweepStats  # noqa: E402
from dilemma.experiments.spec import RunSpec, expand, load_experiment  # noqa: E402
from dilemma.experiments.sweep import LocalExecutor  # noqa: E402
from dilemma.models.fake import FakeChatModel  # noqa: E402
from dilemma.models.registry import ResolvedModel  # noqa: E402
from tests.helpers.engine import fake  # noqa: E402

NEGOTIATION = json.dumps({"messages": [{"to": ["all"], "text": "We keep the peace."}]})


def cheap_responder(messages):  # type: ignore[no-untyped-def]
    """A fixed valid reply per state and phase: the fake model itself costs next to nothing."""
    prompt = messages[-1].content
    if '"phase":"negotiation"' in prompt:
        return NEGOTIATION
    me = prompt.split('"you":{"id":"', 1)[1].split('"', 1)[0]
    others = [s for s in ("Albion", "Gallia", "Prussa", "Ruthen") if s != me]
    return json.dumps(
        {
            "threat": [{"state": s, "level": 3, "reason": "steady"} for s in others],
            "arms_change": 1,
            "action": "status_quo",
            "target": others[0],
            "private_intent": [{"state": s, "intent": "defensive"} for s in others],
            "perceived_intent": [{"state": s, "intent": "defensive"} for s in others],
            "forecast": [{"state": s, "arms_change": 0} for s in others],
            "signals": [{"state": s, "rung": "status_quo"} for s in others],
            "public_statement": "Steady as we go.",
        }
    )


EXPERIMENT = """
name: bench
scenarios: [concert]
rounds: {rounds}
model: scripted:reactive
factors:
  rules.subturns: [1]
repeats: {runs}
"""


def runs_for(n: int, rounds: int, folder: Path) -> list[RunSpec]:
    path = folder / "bench.yaml"
    path.write_text(EXPERIMENT.format(rounds=rounds, runs=n))
    return expand(load_experiment(path), path)


async def sweep(specs: list[RunSpec], out: Path, **config: object) -> SweepStats:
    """The local executor on `SweepConfig(out, **config)`."""
    return await LocalExecutor().run(specs, SweepConfig(out, **config))  # type: ignore[arg-type]


def fake_resolver(latency: float, responder=cheap_responder):  # type: ignore[no-untyped-def]
    """Fresh fake models per run, answering through `responder`."""

    def resolve(run: RunSpec) -> dict[str, ResolvedModel]:
        chat = FakeChatModel(responder=responder, latency_s=latency)
        return {sid: fake(chat) for sid in run.models}

    return resolve


async def bench_concurrency(runs: int, rounds: int, latency: float, target: str = "") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        specs = runs_for(runs, rounds, Path(tmp))
        states = len(specs[0].models)
        start = time.perf_counter()
        stats = await sweep(
            specs, Path(tmp) / "out", concurrency=runs * states, resolver=fake_resolver(latency)
        )
        wall = time.perf_counter() - start
    phases = 2  # one negotiation sub-turn + the decision
    ideal = rounds * phases * latency
    print(
        f"[1] {runs} runs x {states} states x {rounds} rounds, {latency * 1000:.0f} ms fake"
        f" latency, {stats.calls} calls: wall {wall:.2f} s, ideal {ideal:.2f} s,"
        f" ratio {wall / ideal:.2f}{target}",
        flush=True,
    )


async def overhead_once(runs: int) -> tuple[float, float]:
    """(framework, bare ainvoke) CPU seconds per model call, measured back to back."""
    with tempfile.TemporaryDirectory() as tmp:
        specs = runs_for(runs, 10, Path(tmp))
        captured: list[list[object]] = []
        base = cheap_responder

        def responder(messages):  # type: ignore[no-untyped-def]
            captured.append(messages)
            return base(messages)

        gc.collect()  # neither measurement pays for the other's garbage
        start = time.process_time()
        stats = await sweep(
            specs, Path(tmp) / "out", concurrency=8, resolver=fake_resolver(0.0, responder)
        )
        framework = (time.process_time() - start) / stats.calls
    direct_model = FakeChatModel(responder=base)
    gc.collect()
    start = time.process_time()
    for messages in captured:
        await direct_model.ainvoke(messages)  # type: ignore[arg-type]
    direct = (time.process_time() - start) / len(captured)
    return framework, direct


async def overhead(runs: int, repeats: int) -> dict[str, float]:
    """Medians over `repeats` interleaved measurements (after one warm-up)."""
    await overhead_once(2)
    pairs = [await overhead_once(runs) for _ in range(repeats)]
    ratios = [f / d for f, d in pairs]
    return {
        "framework_ms": statistics.median(f for f, _ in pairs) * 1e3,
        "direct_ms": statistics.median(d for _, d in pairs) * 1e3,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def overhead_line(figures: dict[str, float], label: str = "") -> str:
    return (
        f"[2] per model call{label}: framework {figures['framework_ms']:.2f} ms CPU (prompt,"
        f" validation, record, resolution, the call), bare LangChain ainvoke"
        f" {figures['direct_ms']:.2f} ms; ratio median {figures['ratio']:.2f}, min"
        f" {figures['ratio_min']:.2f}, max {figures['ratio_max']:.2f} over the repeats (targets"
        " <= 0.6 ms, <= 2.0x)"
    )


def bench_compare(before: Path, runs: int, rounds: int) -> None:
    """[2] alternately on `before`'s code and on this checkout's, in fresh subprocesses."""
    here = Path(__file__).resolve().parent.parent
    results: dict[Path, list[dict[str, float]]] = {before: [], here: []}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        for code in (before, here):
            out = subprocess.run(
                [sys.executable, __file__, "--overhead-child", str(runs), "--code", str(code)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(code)},
            )
            results[code].append(json.loads(out.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
    for code, label in ((before, f" before ({before})"), (here, f" after ({here})")):
        rows = results[code]
        median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        median["ratio_min"] = min(r["ratio_min"] for r in rows)
        median["ratio_max"] = max(r["ratio_max"] for r in rows)
        print(overhead_line(median, label), flush=True)
    print(
        f"    ({rounds} subprocesses per side, alternating; load average"
        f" {min(loads):.1f}-{max(loads):.1f})"
    )


def memory_child(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        specs = runs_for(runs, 5, Path(tmp))
        asyncio.run(sweep(specs, Path(tmp) / "out", concurrency=8, resolver=fake_resolver(0.0)))
    print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def bench_memory(small: int, large: int) -> None:
    rss = {}
    for n in (small, large):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n), "--code", str(ROOT)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss[n] = json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kb"] / 1024
    print(
        f"[3] peak RSS: {small} runs {rss[small]:.0f} MiB, {large} runs {rss[large]:.0f} MiB,"
        f" ratio {rss[large] / rss[small]:.2f} (target <= 1.5)"
    )


def _worker_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each Ray worker process playing runs, by pid (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"SweepWorker" not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


class Usage:
    """CPU use between `start()` and `stop()`: each Ray worker's, this process's, the machine's.

    Workers are sampled every 0.1 s from a thread, since a worker process may have exited by the
    time the sweep returns; the last sample of each is kept (at most 0.1 s of its CPU is missed).
    """

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.workers0 = _worker_cpu()
        self.last = dict(self.workers0)
        self.own0 = time.process_time()
        self.machine0 = _machine_busy()
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        while not self.done.wait(0.1):
            self.last.update(_worker_cpu())

    def stop(self) -> str:
        self.done.set()
        self.sampler.join()
        self.last.update(_worker_cpu())
        wall = time.perf_counter() - self.t0
        own = time.process_time() - self.own0
        busy, total = (b - a for a, b in zip(self.machine0, _machine_busy(), strict=True))
        used = {pid: cpu - self.workers0.get(pid, 0.0) for pid, cpu in sorted(self.last.items())}
        per_worker = [f"{cpu:.1f} s ({cpu / wall:.0%})" for cpu in used.values() if cpu > 0]
        cpus = os.cpu_count() or 1
        return (
            f"wall {wall:.1f} s; worker CPU {', '.join(per_worker) or 'not found'};"
            f" driver {own:.1f} s ({own / wall:.0%}); machine busy {busy / total:.0%} of {cpus}"
            f" CPUs, load average {os.getloadavg()[0]:.1f}"
        )


def ray_once(runs: int, rounds: int) -> tuple[dict[str, float], dict[int, str], int]:
    """One measurement of [4]: (calls per second by executor, CPU use per worker count, calls)."""
    from dilemma.experiments.ray_executor import RayExecutor, import_ray, ray_session

    ray = import_ray()
    figures: dict[str, float] = {}
    usages: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        specs = runs_for(runs, rounds, Path(tmp))
        # warm up this process as the Ray workers are warm when their clock starts
        asyncio.run(
            sweep(specs[:2], Path(tmp) / "warm", concurrency=8, resolver=fake_resolver(0.0))
        )
        start = time.perf_counter()
        stats = asyncio.run(
            sweep(specs, Path(tmp) / "local", concurrency=8, resolver=fake_resolver(0.0))
        )
        figures["local"] = stats.calls / (time.perf_counter() - start)
        for workers in (1, 2):
            ready: list[float] = []  # workers start (and import the package) before the clock
            usage = Usage()

            def on_ready(ready: list[float] = ready, usage: Usage = usage) -> None:
                ready.append(time.perf_counter())
                usage.start()

            with ray_session(ray, workers=workers, address=None):
                executor = RayExecutor(workers=workers, on_ready=on_ready)
                config = SweepConfig(
                    Path(tmp) / f"ray{workers}", concurrency=8, resolver=fake_resolver(0.0)
                )
                stats = asyncio.run(executor.run(specs, config))
                figures[f"ray{workers}"] = stats.calls / (time.perf_counter() - ready[0])
                usages[workers] = usage.stop()
    return figures, usages, stats.calls


def ray_throughput(runs: int, rounds: int, repeats: int) -> None:
    """[4]: calls per second of the local executor and of Ray with 1 and 2 workers, `repeats`
    times; min / median / max of the ratios."""
    loads = [os.getloadavg()[0]]
    scaling: list[float] = []
    over_local: list[float] = []
    for repeat in range(1, repeats + 1):
        figures, usages, calls = ray_once(runs, rounds)
        loads.append(os.getloadavg()[0])
        scaling.append(figures["ray2"] / figures["ray1"])
        over_local.append(figures["ray2"] / figures["local"])
        print(
            f"[4] ({repeat}/{repeats}) zero-latency throughput, {runs} runs x {rounds} rounds"
            f" ({calls} calls): local {figures['local']:.0f} calls/s, Ray 1 worker"
            f" {figures['ray1']:.0f} calls/s, Ray 2 workers {figures['ray2']:.0f} calls/s;"
            f" 2 workers / 1 worker {scaling[-1]:.2f}, Ray 2 workers / local {over_local[-1]:.2f}",
            flush=True,
        )
        for workers, line in usages.items():
            print(f"    Ray {workers} worker{'s' if workers > 1 else ''}: {line}", flush=True)
    print(
        f"[4] Ray 2 workers / 1 worker over {repeats} repeats: min {min(scaling):.2f}, median"
        f" {statistics.median(scaling):.2f}, max {max(scaling):.2f} (target >= 1.6); Ray 2"
        f" workers / local: min {min(over_local):.2f}, median {statistics.median(over_local):.2f},"
        f" max {max(over_local):.2f}; load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        "    (a low ratio with the workers near 100% each: the CPUs are the limit; with the"
        " workers below 100% and the machine near 100% busy: other work on the machine is;"
        " with both well below 100%: the executor or the driver is)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--code", type=Path, help="import the sandbox from this checkout")
    parser.add_argument("--compare", type=Path, help="[2] before (this checkout) and after")
    parser.add_argument("--memory-child", type=int)
    parser.add_argument("--ray-only", action="store_true", help="only the Ray throughput [4]")
    parser.add_argument("--overhead-child", type=int)
    parser.add_argument(
        "--repeats", type=int, default=3, help="measurements of the Ray figure [4] (default 3)"
    )
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if args.overhead_child:
        print(json.dumps(asyncio.run(overhead(args.overhead_child, 5))))
        return
    print(f"code: {ROOT}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.ray_only:
        ray_throughput(*((10, 4) if args.quick else (50, 10)), args.repeats)
        return
    if args.compare:
        bench_compare(args.compare.resolve(), 5 if args.quick else 10, 2 if args.quick else 5)
        return
    if args.quick:
        asyncio.run(bench_concurrency(10, 4, 0.05))
        print(overhead_line(asyncio.run(overhead(5, 3))))
        bench_memory(20, 100)
        ray_throughput(10, 4, args.repeats)
    else:
        asyncio.run(bench_concurrency(50, 10, 0.05))
        asyncio.run(bench_concurrency(50, 10, 0.5, " (target <= 1.15)"))
        print(overhead_line(asyncio.run(overhead(10, 7))))
        bench_memory(100, 1000)
        ray_throughput(50, 10, args.repeats)


if __name__ == "__main__":
    main()
