"""Calibration of the pooled reaction fit (dilemma.evaluation.reaction_pooled).

    python benchmarks/bench_reaction_pooled.py [--sims 1000] [--runs 20] [--rounds 8] [--seed 1]
        [--systems random,fixed] [--single-run] [--weights mammen] [--mixed random,fixed]

Each simulation is one condition: `--runs` dyads of `--rounds` rounds of one system of
dilemma.evaluation.reaction_sim. Prints per system, with binomial 95% intervals for the rates:

- `k p<.05`: the share of pooled fits calling a significant reaction (k = 0 rejected at 5%, the
  reported test: the wild cluster restricted bootstrap of the CR2 t, 999 Mammen draws): power
  for the reactive systems, the null rate for the others; `cover k`: coverage of the true k by
  the 95% interval (the bootstrap test inverted);
- the same two for the tests it replaced: CR2 with Bell-McCaffrey degrees of freedom (p_k_bm,
  0.4.1 before the bootstrap) and the cluster jackknife (CV3) with t(G - 1) (0.4.0);
- `fat p<.05` and `cover fat`: the test of fatigue = 0 and the coverage of the true fatigue
  where the system has one (dilemma.evaluation.reaction_sim.TRUE_FATIGUE);
- `contrast p<.05`: `compare --reaction`'s test of the difference of k between two conditions
  of the same system (consecutive simulated conditions paired: sims / 2 comparisons), its
  false-positive rate: the reported test (both of the next two reject: p_value), the
  relabelling test (p_relabel), the wild bootstrap (p_boot) and the Welch t (p_welch); with
  `--mixed random,fixed` also between two systems with the same k and other dynamics;
- `CPU`: per condition, the pooled fit with its bootstrap, and the bootstrap's share (the fit
  with 999 draws minus the fit with 1, over the first 50 conditions);
- `single run` (with --single-run): the share of single runs whose per-run reaction test (the
  growth-rate test of dilemma.evaluation.reaction) rejects for x's equation.

The load average is printed at the start and the end (CPU times are per process).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from dilemma.evaluation import reaction_pooled
from dilemma.evaluation.cluster_robust import jackknife_cov
from dilemma.evaluation.reaction_pooled import (
    DRAWS,
    CellData,
    _pooled,
    contrasts_from_cells,
    pooled_design,
)
from dilemma.evaluation.reaction_sim import (
    SYSTEMS,
    TRUE_FATIGUE,
    TRUE_K,
    pair_rows,
    simulate,
    simulated_rows,
)
from dilemma.evaluation.richardson import directed_fits
from scipy import stats


def rate(hits: int, n: int) -> str:
    """`hits / n` with its exact (Clopper-Pearson) binomial 95% interval."""
    if n == 0:
        return "n/a"
    ci = stats.binomtest(hits, n).proportion_ci()
    return f"{hits / n:.3f} ({ci.low:.3f}-{ci.high:.3f})"


def system(kind: str, args: argparse.Namespace, rng: np.random.Generator) -> list[str]:
    """The calibration lines of one system."""
    k, fatigue = TRUE_K.get(kind, 0.0), TRUE_FATIGUE.get(kind)
    q_old = stats.t.ppf(0.975, args.runs - 1)
    names = ["n", "rej", "cov", "rej_bm", "cov_bm", "rej_old", "cov_old", "fat", "fat_cov"]
    count = dict.fromkeys(names, 0)
    contrasts: list[tuple[bool, ...]] = []
    single: list[bool] = []
    cpu: list[float] = []
    cpu_one: list[float] = []
    cpu_contrast: list[float] = []
    previous: Cell | None = None
    for sim in range(args.sims):
        levels = simulate(kind, args.runs, args.rounds, rng)
        rows = simulated_rows(levels, prefix=f"c{sim}r")
        start = time.process_time()
        fit, parts = _pooled(rows, 0.05, rng, DRAWS)
        cpu.append(time.process_time() - start)
        if sim < 50:
            start = time.process_time()
            _pooled(rows, 0.05, np.random.default_rng(0), 1)
            cpu_one.append(time.process_time() - start)
        if not fit["identified"]:
            previous = None
            continue
        count["n"] += 1
        count["rej"] += fit["p_k"] < 0.05
        count["cov"] += fit["ci_low"] <= k <= fit["ci_high"]
        count["rej_bm"] += fit["p_k_bm"] < 0.05
        q_bm = stats.t.ppf(0.975, fit["dof_k"])
        count["cov_bm"] += abs(fit["k"] - k) <= q_bm * fit["se_k"]
        x, y, cluster = pooled_design(rows)
        se_old = float(np.sqrt(jackknife_cov(x, y, cluster)[0, 0]))
        count["rej_old"] += abs(fit["k"]) > q_old * se_old
        count["cov_old"] += abs(fit["k"] - k) <= q_old * se_old
        count["fat"] += fit["p_fatigue"] < 0.05
        if fatigue is not None:
            q = stats.t.ppf(0.975, fit["dof_fatigue"])
            count["fat_cov"] += abs(fit["fatigue"] - fatigue) <= q * fit["se_fatigue"]
        if previous is None:
            previous = (fit, CellData(rows, parts))
        else:
            start = time.process_time()
            contrasts.append(contrast(previous, (fit, CellData(rows, parts)), rng))
            cpu_contrast.append(time.process_time() - start)
            previous = None
        if args.single_run:
            per_run = directed_fits(pair_rows(levels[:, :1]))
            single += list(per_run.loc[per_run["i"] == "x", "p_react"] < 0.05)
    n = count["n"]
    boot = np.mean(cpu[: len(cpu_one)]) - np.mean(cpu_one)
    return [
        f"{kind} (true k {k:.2f}, fatigue {'-' if fatigue is None else fatigue}):"
        f" {n} of {args.sims} conditions identified",
        f"  k p<.05 {rate(count['rej'], n)}  cover k {rate(count['cov'], n)}"
        f"  [wild bootstrap, {DRAWS} {reaction_pooled.WEIGHTS} draws]",
        f"  old CR2 BM df: k p<.05 {rate(count['rej_bm'], n)}  cover k {rate(count['cov_bm'], n)}",
        f"  old CV3 t(G-1): k p<.05 {rate(count['rej_old'], n)}"
        f"  cover k {rate(count['cov_old'], n)}",
        f"  fat p<.05 {rate(count['fat'], n)}"
        + (f"  cover fat {rate(count['fat_cov'], n)}" if fatigue is not None else ""),
        f"  contrast p<.05 {contrast_rates(contrasts)}"
        + (f"  single run p<.05 {np.mean(single):.3f}" if single else ""),
        f"  CPU per condition {1000 * np.mean(cpu):.0f} ms, of which bootstrap about"
        f" {1000 * boot:.0f} ms; per contrast {np.mean(cpu_contrast or [np.nan]):.2f} s",
    ]


Cell = tuple[dict[str, object], CellData]


def contrast_rates(hits: list[tuple[bool, ...]]) -> str:
    """The four tests' rates of p < .05 (see `contrast`)."""
    n = len(hits)
    names = ("both", "relabel", "boot", "Welch t")
    return "  ".join(f"{name} {rate(sum(h[c] for h in hits), n)}" for c, name in enumerate(names))


def contrast(a: Cell, b: Cell, rng: np.random.Generator) -> tuple[bool, ...]:
    """Whether the reported test (p_value), the relabelling test (p_relabel), the wild
    bootstrap (p_boot) and the Welch t (p_welch) call k(a) != k(b)."""
    cells = pd.DataFrame([{"c": "a", **a[0]}, {"c": "b", **b[0]}])
    pair = contrasts_from_cells(cells, "c", data=[a[1], b[1]], rng=rng).iloc[0]
    return tuple(bool(pair[p] < 0.05) for p in ("p_value", "p_relabel", "p_boot", "p_welch"))


def mixed(kinds: list[str], args: argparse.Namespace, rng: np.random.Generator) -> str:
    """The contrast's false-positive rate between two systems with the same k but different
    dynamics (`--mixed random,fixed`: random arming against fixed rates, k = 0 in both)."""
    hits: list[tuple[bool, ...]] = []
    for _ in range(args.sims // 2):
        cells = []
        for side, kind in enumerate(kinds):
            levels = simulate(kind, args.runs, args.rounds, rng)
            rows = simulated_rows(levels, prefix=f"{side}{kind}r")
            fit, parts = _pooled(rows, 0.05, rng, DRAWS)
            cells.append((fit, CellData(rows, parts)))
        if all(c[0]["identified"] for c in cells):
            hits.append(contrast(cells[0], cells[1], rng))
    return (
        f"{' vs '.join(kinds)} (same k {TRUE_K.get(kinds[0], 0.0)}, other dynamics differ):"
        f" contrast p<.05 {contrast_rates(hits)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--single-run", action="store_true", help="also the per-run test")
    parser.add_argument(
        "--weights", default=reaction_pooled.WEIGHTS, help="bootstrap weights (rademacher, webb)"
    )
    parser.add_argument(
        "--mixed",
        default="",
        help="also contrast two systems with the same k, e.g. random,fixed (sims / 2 pairs)",
    )
    args = parser.parse_args()
    reaction_pooled.WEIGHTS = args.weights
    rng = np.random.default_rng(args.seed)
    print(f"{args.sims} simulated conditions of {args.runs} runs x {args.rounds} rounds per system")
    print(f"load average {os.getloadavg()[0]:.2f} (seed {args.seed})", flush=True)
    for kind in args.systems.split(","):
        start = time.process_time()
        lines = system(kind, args, rng)
        lines[0] += f" ({time.process_time() - start:.0f} s CPU)"
        print("\n".join(lines), flush=True)
    if args.mixed:
        print(mixed(args.mixed.split(","), args, rng), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
