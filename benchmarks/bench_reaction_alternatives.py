"""The tests of the pooled reaction k = 0 that were tried, on the same simulated conditions.

    python benchmarks/bench_reaction_alternatives.py [--sims 600] [--systems random,fixed]
        [--seed 11] [--perms 199]

Per system of dilemma.evaluation.reaction_sim (20 runs x 8 rounds per condition), the share of
conditions rejecting k = 0 at 5% and the coverage of the true k by the 95% interval, for:

- cv3_t:  the cluster jackknife (CV3) with t(G - 1), the test of 0.4.0;
- cr1_t:  statsmodels' CR1 with t(G - 1);
- cr2_t:  CR2 with t(G - 1);
- cr2_bm: CR2 with Bell-McCaffrey degrees of freedom (p_k_bm; the reported test is now the
  wild cluster bootstrap of benchmarks/bench_reaction_pooled.py);
- cv3_bm: CV3 with the same Bell-McCaffrey degrees of freedom;
- repair: a randomization test that re-pairs each run's x series with the y series of another
  run of the condition (exact when the two sides are independent), studentized by CV3, with
  `--perms` re-pairings; its interval is k +- the 95% quantile of the re-paired |t| times the
  CV3 standard error. Implemented here for balanced dyads only (every round answered, runs of
  equal length), which is what the simulations give and what records need not.
"""

from __future__ import annotations

import argparse

import numpy as np
from dilemma.evaluation.cluster_robust import jackknife_cov
from dilemma.evaluation.reaction_pooled import pooled_design, pooled_reaction
from dilemma.evaluation.reaction_sim import TRUE_K, simulate, simulated_rows
from scipy import stats

METHODS = ("cv3_t", "cr1_t", "cr2_t", "cr2_bm", "cv3_bm", "repair")


def _solve_k(*sums: np.ndarray) -> np.ndarray:
    """First coefficient of the 2 x 2 normal equations (a11, a12, a22, c1, c2), elementwise."""
    a11, a12, a22, c1, c2 = sums
    out: np.ndarray = (a22 * c1 - a12 * c2) / (a11 * a22 - a12 * a12)
    return out


def repair_test(
    x: np.ndarray, y: np.ndarray, runs: int, perms: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """p-value and interval half-width factor of the re-pairing test, and the CV3 se of k.

    Balanced rows in simulated_rows order (x's equation: runs x rounds, then y's). Re-pairing
    commutes with the partialling out of the equation and role x round effects, so the
    partialled columns are re-paired directly: cluster r holds x's equation of run r with the
    rival series of run pi(r), and y's equation of run pi(r) with x's series of run r.
    """
    yt, rt, ot = (v.reshape(2, runs, -1) for v in (y, x[:, 0], x[:, 1]))
    order = np.vstack([np.arange(runs), [rng.permutation(runs) for _ in range(perms)]])
    r0, y1, o1 = rt[0][order], yt[1][order], ot[1][order]
    y0, o0, r1 = (np.broadcast_to(v, r0.shape) for v in (yt[0], ot[0], rt[1]))

    def per_cluster(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        out: np.ndarray = (a * b).sum(-1) + (c * d).sum(-1)
        return out

    sums = [
        per_cluster(r0, r0, r1, r1),
        per_cluster(r0, o0, r1, o1),
        per_cluster(o0, o0, o1, o1),
        per_cluster(r0, y0, r1, y1),
        per_cluster(o0, y0, o1, y1),
    ]
    k = _solve_k(*(s.sum(1) for s in sums))
    loo = _solve_k(*(s.sum(1)[:, None] - s for s in sums))
    se = np.sqrt((runs - 1) / runs * ((loo - loo.mean(1, keepdims=True)) ** 2).sum(1))
    t = np.abs(k / se)
    p = (np.sum(t[1:] >= t[0]) + 1) / (perms + 1)
    return float(p), float(np.quantile(t[1:], 0.95)), float(se[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=600)
    parser.add_argument("--systems", default="random,fixed,fixed_sides,stable,explosive")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--perms", type=int, default=199)
    args = parser.parse_args()
    runs, rounds = 20, 8
    rng = np.random.default_rng(args.seed)
    q19 = stats.t.ppf(0.975, runs - 1)
    print(f"{args.sims} conditions of {runs} runs x {rounds} rounds per system")
    for kind in args.systems.split(","):
        true_k = TRUE_K.get(kind, 0.0)
        hits = {m: [0, 0] for m in METHODS}
        for _ in range(args.sims):
            rows = simulated_rows(simulate(kind, runs, rounds, rng))
            fit = pooled_reaction(rows)
            x, y, cluster = pooled_design(rows)
            se3 = float(np.sqrt(jackknife_cov(x, y, cluster)[0, 0]))
            q_bm = stats.t.ppf(0.975, fit["dof_k"])
            p, q_rep, se_rep = repair_test(x, y, runs, args.perms, rng)
            for method, se, q in (
                ("cv3_t", se3, q19),
                ("cr1_t", fit["se_k_cr1"], q19),
                ("cr2_t", fit["se_k"], q19),
                ("cr2_bm", fit["se_k"], q_bm),
                ("cv3_bm", se3, q_bm),
            ):
                hits[method][0] += abs(fit["k"]) > q * se
                hits[method][1] += abs(fit["k"] - true_k) <= q * se
            hits["repair"][0] += p < 0.05
            hits["repair"][1] += abs(fit["k"] - true_k) <= q_rep * se_rep
        print(f"{kind} (true k {true_k:.2f})")
        for method, (reject, cover) in hits.items():
            print(
                f"  {method:<7} k p<.05 {reject / args.sims:.3f}  cover k {cover / args.sims:.3f}"
            )


if __name__ == "__main__":
    main()
