"""Richardson arms-race dynamics per dyad: fitted equations, standard errors, stability verdict.

Model. For a dyad (a, b) with x = arms of a and y = arms of b, one round per step:

    x(t) - x(t-1) = a*y(t-1) - m*x(t-1) + g + e_x(t)      (a: reaction, m: fatigue, g: grievance)
    y(t) - y(t-1) = b*x(t-1) - n*y(t-1) + h + e_y(t)

Each equation is fitted by OLS over the rounds in which that state answered (fallback rounds are
not its behaviour): the arms change of the round on the two levels before it and a constant.
Standard errors are the classical OLS ones (sigma^2 (X'X)^-1 with sigma^2 = SSR / (n - 3), as
statsmodels OLS reports them), except that the residual standard deviation is floored at
RESIDUAL_FLOOR times the root mean square of the state's arms changes: records round arms, and a
fixed rule (arm 3% a round) fits "exactly" up to that rounding, which would otherwise make
round-off look like a precisely estimated reaction.

In matrix form the fitted system is z(t) = A z(t-1) + c with z = (x, y) and

    A = [[1 - m, a],
         [b, 1 - n]]

Its spectral radius rho (largest |eigenvalue|) governs the deviations from the system's fixed
point, which shrink like rho^t when rho < 1 and grow when rho > 1.

War losses: in a round in which a state fought a war, its arms change in the fit is the decided
change (arms before x applied change / 100); the losses move its levels (a shock) but are not
fitted as a decision.

Reaction test: not the t-test of a (levels trend, and that test rejects 12-33% of dyads that
never react), but the Granger-style test in growth rates of dilemma.evaluation.reaction,
calibrated under the null (about 5% per coefficient for independent random arming and for
fixed rates with noise).

Verdict, in this order:
  insufficient_data      either equation cannot be fitted or is not identified: fewer than
                         MIN_REGRESSION_POINTS answered rounds, a state whose arms never change,
                         level regressors with condition number above COND_MAX (series in
                         lockstep), or a reaction test whose regressors do not vary (a side
                         arming at one constant rate, e.g. at the cap every round: reaction and
                         self-growth cannot be told apart);
  reaction_not_detected  neither reaction test rejects at the 5% level. Not evidence that there
                         is no arms race: the test has little power in short runs, and
                         react_mde gives the smallest reaction it would have detected;
  stable                 the whole 95% interval of rho lies below 1;
  runaway                the whole 95% interval of rho lies above 1; runaway_source says why:
                         self_growth when a side's own coefficient |1 - m| exceeds 1 (its arms
                         run away with no reaction at all), mutual_reaction when both reaction
                         tests reject and neither own coefficient exceeds 1, else
                         one_sided_reaction;
  indeterminate          the interval contains 1: the data cannot tell the two apart.
The point estimate rho is reported beside the verdict in every case.

Interval for rho: a 95% parametric-bootstrap percentile interval. (a, -m) and (b, -n) are drawn
BOOTSTRAP_DRAWS times from multivariate t distributions centred on the estimates with the fits'
covariances and residual degrees of freedom, the two equations independently, and rho is
computed for every draw. Every dyad uses the same underlying random numbers (fixed seed), so a
dyad's interval does not depend on which other records are scored with it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from dilemma.evaluation.distributions import chi2_ppf, t_sf
from dilemma.evaluation.reaction import REACTION_COLUMNS, condition_number, reaction_tests
from dilemma.evaluation.stats import MIN_REGRESSION_POINTS, group_ols2

STABLE = "stable"
RUNAWAY = "runaway"
INDETERMINATE = "indeterminate"
NOT_DETECTED = "reaction_not_detected"
INSUFFICIENT = "insufficient_data"
VERDICTS = (STABLE, RUNAWAY, INDETERMINATE, NOT_DETECTED, INSUFFICIENT)

MUTUAL_REACTION = "mutual_reaction"
SELF_GROWTH = "self_growth"
ONE_SIDED = "one_sided_reaction"
RUNAWAY_SOURCES = (MUTUAL_REACTION, SELF_GROWTH, ONE_SIDED)

COND_MAX = 1000.0
"""Largest condition number of an equation's two centred, unit-scaled level regressors (the
rival's and its own arms); 1000 is a correlation of 0.999998 between the two arms series.
Explosive systems fitted well run at 60-80 after 30 rounds, so the bound only removes series
in lockstep up to noise; constant growth (a side at the cap every round) is caught by the
reaction test's own rank check (dilemma.evaluation.reaction)."""

ALPHA = 0.05
"""Level of the reaction tests; intervals are 1 - ALPHA."""

RESIDUAL_FLOOR = 1e-4
"""Smallest residual sd used for standard errors, relative to the RMS arms change."""

BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 20_260_110
_CHUNK = 512  # dyads per block of bootstrap arrays (memory: _CHUNK x BOOTSTRAP_DRAWS floats)

FIT_COLUMNS = (
    "reaction",
    "fatigue",
    "grievance",
    "se_reaction",
    "se_fatigue",
    "se_grievance",
    "cov_reaction_own",
    "p_reaction",
    "dof",
    "r2",
    "n_obs",
    "ok",
    "cond",
    *REACTION_COLUMNS,
)

__all__ = [
    "ALPHA",
    "INDETERMINATE",
    "INSUFFICIENT",
    "MIN_REGRESSION_POINTS",
    "MUTUAL_REACTION",
    "NOT_DETECTED",
    "ONE_SIDED",
    "RUNAWAY",
    "SELF_GROWTH",
    "STABLE",
    "VERDICTS",
    "directed_fits",
    "dynamics",
    "equation_fits",
    "equation_rows",
    "spectral_radius",
]


def equation_fits(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Fit d_own = reaction*rival - fatigue*own + grievance per group of `keys`.

    `d` has the key columns and d_own (the arms change), rival and own (the levels before it).
    Returns one row per group with FIT_COLUMNS; cov_reaction_own is the covariance of the
    reaction and the own-level coefficient (-fatigue); p_reaction the two-sided t-test p-value.
    """
    fit = group_ols2(d, keys, "d_own", "rival", "own")
    rms = np.sqrt(
        d.assign(_sq=d["d_own"].astype("float64") ** 2).groupby(keys, sort=False)["_sq"].mean()
    )
    floor = (RESIDUAL_FLOOR * rms.reindex(fit.index)).to_numpy()
    sigma2 = np.maximum(fit["sigma2"].to_numpy(), floor * floor)
    dof = fit["dof"].to_numpy()
    se_r = np.sqrt(sigma2 * fit["u11"].to_numpy())
    reaction = fit["c1"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = reaction / se_r
        p = np.where(fit["ok"], 2.0 * t_sf(np.abs(t), np.maximum(dof, 1)), np.nan)
    return pd.DataFrame(
        {
            "reaction": reaction,
            "fatigue": -fit["c2"].to_numpy(),
            "grievance": fit["c0"].to_numpy(),
            "se_reaction": se_r,
            "se_fatigue": np.sqrt(sigma2 * fit["u22"].to_numpy()),
            "se_grievance": np.sqrt(sigma2 * fit["u00"].to_numpy()),
            "cov_reaction_own": sigma2 * fit["u12"].to_numpy(),
            "p_reaction": p,
            "dof": dof,
            "r2": fit["r2"].to_numpy(),
            "n_obs": fit["n_obs"].to_numpy(),
            "ok": fit["ok"].to_numpy(),
            "cond": condition_number(
                fit["u11"].to_numpy(), fit["u22"].to_numpy(), fit["u12"].to_numpy()
            ),
        },
        index=fit.index,
    )


def reaction_rows(p: pd.DataFrame, wars: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of every directed equation (`equation_rows`: war losses are shocks) with the
    applied growth rates of i and j in that round (growth_own, growth_rival; NaN on fallback):
    the input of `dilemma.evaluation.reaction_pooled`. Here, and not there, so that scoring
    does not import statsmodels."""
    rows = equation_rows(p, wars)
    growth = p[["run_id", "round", "i", "j", "growth_pct_i", "growth_pct_j"]].rename(
        columns={"growth_pct_i": "growth_own", "growth_pct_j": "growth_rival"}
    )
    return rows.merge(growth, on=["run_id", "round", "i", "j"], how="left")


def equation_rows(p: pd.DataFrame, wars: pd.DataFrame | None = None) -> pd.DataFrame:
    """The data of i's equation against j, one row per ordered pair and round i answered.

    Columns run_id, round, i, j, d_own (i's arms change), own and rival (the levels before it).
    `wars` (run_id, round, initiator, target) marks the rounds in which a state fought: there
    its arms change is taken as the decided change, arms_before * growth / 100, so war losses
    move the levels (a shock) but never count as a decision.
    """
    cols = ["run_id", "round", "i", "j", "arms_before_i", "arms_after_i", "arms_before_j"]
    d = p.loc[~p["fallback_i"], [*cols, "growth_pct_i"]]
    d_own = d["arms_after_i"] - d["arms_before_i"]
    if wars is not None and not wars.empty:
        fought = pd.concat(
            [
                wars[["run_id", "round", "initiator"]].set_axis(["run_id", "round", "i"], axis=1),
                wars[["run_id", "round", "target"]].set_axis(["run_id", "round", "i"], axis=1),
            ]
        ).dropna()
        key = pd.MultiIndex.from_frame(d[["run_id", "round", "i"]])
        at_war = key.isin(pd.MultiIndex.from_frame(fought.astype({"round": "int64"})))
        decided = d["arms_before_i"] * d["growth_pct_i"] / 100.0
        d_own = d_own.where(~at_war, decided)
    return pd.DataFrame(
        {
            "run_id": d["run_id"],
            "round": d["round"],
            "i": d["i"],
            "j": d["j"],
            "d_own": d_own,
            "own": d["arms_before_i"],
            "rival": d["arms_before_j"],
        }
    )


def directed_fits(p: pd.DataFrame, wars: pd.DataFrame | None = None) -> pd.DataFrame:
    """i's equation against j for every ordered pair of the pair rows (answered rounds of i),
    with the growth-rate reaction test (dilemma.evaluation.reaction) beside it.

    The equation's data are `equation_rows(p, wars)`: war losses are shocks, not decisions.
    """
    keys = ["run_id", "i", "j"]
    fits = equation_fits(equation_rows(p, wars), keys)
    tests = reaction_tests(p).reindex(fits.index)
    tests["react_ok"] = tests["react_ok"].eq(True)
    return fits.join(tests).reset_index()


def spectral_radius(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Largest |eigenvalue| of [[p, q], [r, s]], elementwise over arrays.

    The eigenvalues are (tr +- sqrt(disc)) / 2 with disc = (p - s)^2 + 4qr: real when disc >= 0
    (radius (|tr| + sqrt(disc)) / 2), else a complex pair of modulus sqrt(det), det = ps - qr.
    """
    disc = (p - s) ** 2 + 4.0 * q * r
    real = (np.abs(p + s) + np.sqrt(np.abs(disc))) / 2.0
    complex_pair = np.sqrt(np.abs(p * s - q * r))
    out: np.ndarray = np.where(disc >= 0.0, real, complex_pair)
    return out


@cache
def _normals() -> tuple[np.ndarray, np.ndarray]:
    """Standard normal (2 equations x 2 coefficients x draws) and uniform (2 x draws) numbers."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    return rng.standard_normal((2, 2, BOOTSTRAP_DRAWS)), rng.random((2, BOOTSTRAP_DRAWS))


def _t_scale(dof: np.ndarray, u: np.ndarray) -> np.ndarray:
    """1 / sqrt(chi2(dof) / dof) for the common uniforms u, one row per dyad."""
    out = np.empty((len(dof), len(u)))
    for k in np.unique(dof):
        out[dof == k] = 1.0 / np.sqrt(chi2_ppf(u, k) / k)
    return out


def _draws(fit: pd.DataFrame, z: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws (dyads x draws) of an equation's reaction and own-level coefficient."""
    v11 = fit["se_reaction"].to_numpy() ** 2
    v22 = fit["se_fatigue"].to_numpy() ** 2
    v12 = fit["cov_reaction_own"].to_numpy()
    l11 = np.sqrt(v11)
    with np.errstate(divide="ignore", invalid="ignore"):
        l21 = np.where(l11 > 0, v12 / l11, 0.0)
    l22 = np.sqrt(np.maximum(v22 - l21 * l21, 0.0))
    w = _t_scale(fit["dof"].to_numpy().astype("int64"), u)
    z0, z1 = z[0] * w, z[1] * w
    react = fit["reaction"].to_numpy()[:, None] + l11[:, None] * z0
    z0 *= l21[:, None]
    z1 *= l22[:, None]
    z0 += z1
    z0 -= fit["fatigue"].to_numpy()[:, None]
    return react, z0


def dynamics(fx: pd.DataFrame, fy: pd.DataFrame) -> pd.DataFrame:
    """Spectral radius, its interval and the verdict per dyad.

    fx and fy are equation_fits rows for a's and b's equations, aligned row by row (same index).
    Returns rho, rho_lo, rho_hi, verdict and runaway_source with that index.
    """
    ok = fx["ok"].to_numpy(dtype=bool) & fy["ok"].to_numpy(dtype=bool)
    a, m = fx["reaction"].to_numpy(), fx["fatigue"].to_numpy()
    b, n = fy["reaction"].to_numpy(), fy["fatigue"].to_numpy()
    rho = np.where(ok, spectral_radius(1.0 - m, a, b, 1.0 - n), np.nan)
    lo = np.full(len(ok), np.nan)
    hi = np.full(len(ok), np.nan)
    z, u = _normals()
    where = np.flatnonzero(ok)
    for start in range(0, len(where), _CHUNK):
        rows = where[start : start + _CHUNK]
        ax, ox = _draws(fx.iloc[rows], z[0], u[0])
        by, oy = _draws(fy.iloc[rows], z[1], u[1])
        radius = spectral_radius(1.0 + ox, ax, by, 1.0 + oy)
        lo[rows], hi[rows] = np.percentile(radius, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)], axis=1)
    identified = ok.copy()
    for f in (fx, fy):
        identified &= f["cond"].to_numpy(dtype="float64") <= COND_MAX
        identified &= f["react_ok"].to_numpy(dtype=bool)
    reacts = (fx["p_react"].to_numpy() < ALPHA) | (fy["p_react"].to_numpy() < ALPHA)
    verdict = np.where(
        ~identified,
        INSUFFICIENT,
        np.where(
            ~reacts,
            NOT_DETECTED,
            np.where(hi < 1.0, STABLE, np.where(lo > 1.0, RUNAWAY, INDETERMINATE)),
        ),
    )
    own = np.maximum(np.abs(1.0 - m), np.abs(1.0 - n))
    both = (fx["p_react"].to_numpy() < ALPHA) & (fy["p_react"].to_numpy() < ALPHA)
    source = pd.Series(
        np.where(own > 1.0, SELF_GROWTH, np.where(both, MUTUAL_REACTION, ONE_SIDED)),
        dtype="string",
    )
    return pd.DataFrame(
        {
            "rho": rho,
            "rho_lo": lo,
            "rho_hi": hi,
            "verdict": pd.array(verdict, dtype="string"),
            "runaway_source": source.where(verdict == RUNAWAY).to_numpy(),
        },
        index=fx.index,
    )


def array_fits(x: np.ndarray, y: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both equations of many simulated dyads, ready for `dynamics`.

    x and y are arms levels, one row per dyad and one column per round (the start first); every
    round counts as answered and war-free. Used by the calibration benchmark and tests.
    """
    n, cols = x.shape
    run = np.repeat(np.arange(n), cols - 1).astype(str)
    rnd = np.tile(np.arange(1, cols), n)

    def growth(z: np.ndarray) -> np.ndarray:
        out: np.ndarray = (np.diff(z, axis=1) / z[:, :-1] * 100.0).ravel()
        return out

    def one(own: np.ndarray, rival: np.ndarray) -> pd.DataFrame:
        p = pd.DataFrame(
            {
                "run_id": run,
                "round": rnd,
                "i": "x",
                "j": "y",
                "fallback_i": False,
                "arms_before_i": own[:, :-1].ravel(),
                "arms_after_i": own[:, 1:].ravel(),
                "arms_before_j": rival[:, :-1].ravel(),
                "growth_pct_i": growth(own),
                "growth_pct_j": growth(rival),
            }
        )
        fits = directed_fits(p).set_index("run_id").reindex(np.arange(n).astype(str))
        fits["ok"] = fits["ok"].eq(True)
        fits["react_ok"] = fits["react_ok"].eq(True)
        fits["cond"] = fits["cond"].fillna(np.inf)
        fits["dof"] = fits["dof"].fillna(0).astype("int64")
        return fits.reset_index(drop=True)

    return one(x, y), one(y, x)
