"""Student t and chi-squared distribution functions for the per-record scoring path.

The same special functions `scipy.stats.t` and `scipy.stats.chi2` call (`scipy.special.stdtr`,
`stdtrit`, `gammaincinv`), without importing `scipy.stats`: that import alone costs about a
second, more than scoring one record. SciPy is imported on first use, so that reading scores
from the cache does not import it at all. Arguments outside the domain give NaN, as scipy.stats
does (degrees of freedom <= 0, probabilities outside [0, 1]).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def _special() -> ModuleType:
    from scipy import special

    module: ModuleType = special
    return module


def t_sf(x: Any, df: Any) -> np.ndarray:
    """Survival function P(T > x) of Student's t with `df` degrees of freedom."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype="float64"), np.asarray(df, dtype="float64"))
    return np.where(df > 0, _special().stdtr(np.where(df > 0, df, 1.0), -x), np.nan)


def t_ppf(q: Any, df: Any) -> np.ndarray:
    """Quantile function of Student's t with `df` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype="float64"), np.asarray(df, dtype="float64"))
    ok = (df > 0) & (q >= 0) & (q <= 1)
    inner = _special().stdtrit(np.where(df > 0, df, 1.0), q)
    inner = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, inner))
    return np.where(ok, inner, np.nan)


def chi2_ppf(q: Any, df: Any) -> np.ndarray:
    """Quantile function of the chi-squared distribution with `df` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype="float64"), np.asarray(df, dtype="float64"))
    ok = (df > 0) & (q >= 0) & (q <= 1)
    return np.where(ok, 2.0 * _special().gammaincinv(np.where(df > 0, df, 1.0) / 2.0, q), np.nan)
