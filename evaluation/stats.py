"""Vectorised per-group statistics: slopes, least squares with two regressors, streaks.

Every function works on a long DataFrame and a list of key columns, and computes all groups at
once from grouped sums (no Python loop over groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_REGRESSION_POINTS = 5
"""Fewest observations for a two-regressor fit with intercept (leaves two residual dof)."""

MAX_COLLINEARITY = 1e-8
"""A fit is degenerate when 1 - r^2 between its regressors falls below this."""


def group_slope(df: pd.DataFrame, keys: list[str], x: str, y: str) -> pd.DataFrame:
    """OLS slope of `y` on `x` per group, with the number of points; NaN below two distinct x.

    Rows are matched by position, so any index (also one with repeated labels) gives the same
    result.
    """
    d = df.loc[df[x].notna() & df[y].notna(), [*keys, x, y]].reset_index(drop=True)
    g = d.groupby(keys, sort=False)
    cx = d[x] - g[x].transform("mean")
    cy = d[y] - g[y].transform("mean")
    sums = (
        pd.DataFrame({"sxx": cx * cx, "sxy": cx * cy, "n": 1}, index=d.index)
        .join(d[keys])
        .groupby(keys, sort=False)
        .sum()
    )
    ok = (sums["n"] >= 2) & (sums["sxx"] > 0)
    slope = (sums["sxy"] / sums["sxx"].where(ok)).astype("float64")
    return pd.DataFrame({"slope": slope, "n": sums["n"].astype("int64")})


def group_ols2(df: pd.DataFrame, keys: list[str], y: str, x1: str, x2: str) -> pd.DataFrame:
    """Least squares y = c1*x1 + c2*x2 + c0 per group, with classical (homoskedastic) errors.

    Returns per group: c1, c2, c0; their standard errors se1, se2, se0 and the covariance
    cov12 of c1 and c2 (sigma2 * (X'X)^-1, as statsmodels OLS reports them); the residual
    variance sigma2 = SSR / dof with dof = n - 3; the unscaled entries u11, u22, u12 of
    (X'X)^-1 for the two slopes and u00 for the intercept (so SE = sqrt(sigma2 * u)); r2,
    n_obs and `ok`. Every estimate is NaN (and ok False) where a group has fewer than
    MIN_REGRESSION_POINTS points, a constant regressor or collinear regressors; r2 is NaN where
    y does not vary. Rows are matched by position, so any index (also one with repeated labels,
    e.g. after pd.concat) gives the same result.
    """
    cols = [y, x1, x2]
    d = df.loc[df[cols].notna().all(axis=1), [*keys, *cols]].reset_index(drop=True)
    g = d.groupby(keys, sort=False)
    group = g.ngroup().to_numpy()
    c = d[cols] - g[cols].transform("mean")
    parts = pd.DataFrame(
        {
            "s11": c[x1] * c[x1],
            "s22": c[x2] * c[x2],
            "s12": c[x1] * c[x2],
            "s1y": c[x1] * c[y],
            "s2y": c[x2] * c[y],
            "syy": c[y] * c[y],
            "q1": d[x1] * d[x1],
            "q2": d[x2] * d[x2],
            "n": 1,
        }
    ).join(d[keys])
    s = parts.groupby(keys, sort=False).sum()
    means = d[[*keys, *cols]].groupby(keys, sort=False).mean()
    s11, s22, s12 = s["s11"].to_numpy(), s["s22"].to_numpy(), s["s12"].to_numpy()
    s1y, s2y, syy = s["s1y"].to_numpy(), s["s2y"].to_numpy(), s["syy"].to_numpy()
    m1, m2 = means[x1].to_numpy(), means[x2].to_numpy()
    n = s["n"].to_numpy()
    # a regressor is constant when its spread is negligible against its level
    varies = (s11 > 1e-12 * s["q1"].to_numpy()) & (s22 > 1e-12 * s["q2"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        det = s11 * s22 - s12 * s12
        one_minus_r2 = det / (s11 * s22)
        ok = (n >= MIN_REGRESSION_POINTS) & varies & (one_minus_r2 > MAX_COLLINEARITY)
        c1 = np.where(ok, (s22 * s1y - s12 * s2y) / det, np.nan)
        c2 = np.where(ok, (s11 * s2y - s12 * s1y) / det, np.nan)
        c0 = means[y].to_numpy() - c1 * m1 - c2 * m2
        # residuals row by row: more accurate than SSR = syy - c1*s1y - c2*s2y near exact fits
        resid = c[y].to_numpy() - c1[group] * c[x1].to_numpy() - c2[group] * c[x2].to_numpy()
        ssr = np.bincount(group, weights=resid * resid, minlength=len(n))
        dof = n - 3
        sigma2 = np.where(ok, ssr / dof, np.nan)
        u11, u22, u12 = s22 / det, s11 / det, -s12 / det
        u00 = 1.0 / n + m1 * m1 * u11 + m2 * m2 * u22 + 2.0 * m1 * m2 * u12
        u11, u22, u12, u00 = (np.where(ok, u, np.nan) for u in (u11, u22, u12, u00))
        r2 = np.where(ok & (syy > 0), 1 - ssr / syy, np.nan)
    return pd.DataFrame(
        {
            "c1": c1,
            "c2": c2,
            "c0": c0,
            "se1": np.sqrt(sigma2 * u11),
            "se2": np.sqrt(sigma2 * u22),
            "se0": np.sqrt(sigma2 * u00),
            "cov12": sigma2 * u12,
            "sigma2": sigma2,
            "dof": dof.astype("int64"),
            "u11": u11,
            "u22": u22,
            "u12": u12,
            "u00": u00,
            "r2": r2,
            "n_obs": n.astype("int64"),
            "ok": ok,
        },
        index=s.index,
    )


def streak_lengths(df: pd.DataFrame, keys: list[str], order: str, flag: str) -> pd.Series:
    """Per row: the length of the run of consecutive True flags it belongs to (0 when False).

    Rows are sorted by `order` within each group of `keys` and taken as consecutive; a missing
    flag counts as False. The result is aligned with `df`'s rows (by position, so any index).
    """
    d = df[[*keys, order, flag]].reset_index(drop=True)
    d = d.assign(_row=np.arange(len(d))).sort_values([*keys, order], kind="stable")
    on = d[flag].fillna(False).to_numpy(dtype=bool)
    group = d.groupby(keys, sort=False).ngroup().to_numpy()
    change = np.ones(len(d), dtype=bool)
    change[1:] = (group[1:] != group[:-1]) | (on[1:] != on[:-1])
    streak_id = np.cumsum(change)
    lengths = np.where(on, np.bincount(streak_id, weights=on.astype("float64"))[streak_id], 0)
    out = np.empty(len(d), dtype="int64")
    out[d["_row"].to_numpy()] = lengths.astype("int64")
    return pd.Series(out, index=df.index)


def streaks(df: pd.DataFrame, keys: list[str], order: str, flag: str) -> pd.DataFrame:
    """Per group: count of True flags, first `order` value flagged, and longest run of Trues.

    Rows are sorted by `order` within each group and taken as consecutive. Groups with no True
    flag get count 0, onset NaN and longest 0.
    """
    d = df[[*keys, order, flag]].sort_values([*keys, order])
    on = d[flag].fillna(False).to_numpy(dtype=bool)
    group = d.groupby(keys, sort=False).ngroup().to_numpy()
    change = np.ones(len(d), dtype=bool)
    change[1:] = (group[1:] != group[:-1]) | (on[1:] != on[:-1])
    streak_id = np.cumsum(change)
    lengths = np.bincount(streak_id, weights=on.astype("float64"))[streak_id]
    d = d.assign(_on=on, _len=np.where(on, lengths, 0.0), _first=d[order].where(on))
    g = d.groupby(keys, sort=False)
    return pd.DataFrame(
        {
            "count": g["_on"].sum().astype("int64"),
            "onset": g["_first"].min().astype("float64"),
            "longest": g["_len"].max().astype("int64"),
        }
    )
