"""Student t and chi-squared distribution functions for the per-record scoring path.

The same special functions `scipy.stats.t` and `scipy.stats.chi2` call (`scipy.special.stdtr`,
`stdtrit`, `gammaincinv`), without importing `scipy.stats`: that import alone costs about a
second, more than scoring one record. The ufuncs are taken from `scipy.special._ufuncs`, where
`scipy.special` itself takes them from (the same objects), because importing `scipy.special`
also sets up its array-API wrappers, a few hundred milliseconds; `scipy.special` is the
fallback should a SciPy release move them. Arguments outside the domain give NaN, as scipy.stats
does (degrees of freedom <= 0, probabilities outside [0, 1]).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from scipy.special import _ufuncs as special
except ImportError:  # pragma: no cover - a SciPy release without the private module
    from scipy import special


def t_sf(x: Any, df: Any) -> np.ndarray:
    """Survival function P(T > x) of Student's t with `df` degrees of freedom."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype="float64"), np.asarray(df, dtype="float64"))
    return np.where(df > 0, special.stdtr(np.where(df > 0, df, 1.0), -x), np.nan)


def t_ppf(q: Any, df: Any) -> np.ndarray:
    """Quantile function of Student's t with `df` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype="float64"), np.asarray(df, dtype="float64"))
    ok = (df > 0) & (q >= 0) & (q <= 1)
    inner = special.stdtrit(np.where(df > 0, df, 1.0), q)
    inner = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, inner))
    return np.where(ok, inner, np.nan)


def chi2_ppf(q: Any, df: Any) -> np.ndarray:
    """Quantile function of the chi-squared distribution with `df` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype="float64"), np.asarray(df, dtype="float64"))
    ok = (df > 0) & (q >= 0) & (q <= 1)
    return np.where(ok, 2.0 * special.gammaincinv(np.where(df > 0, df, 1.0) / 2.0, q), np.nan)
