"""Student's t, the normal and the F distribution, as far as the report uses them, on
`scipy.special`.

`scipy.stats` takes about a second to import (more than the statistics of a small report take
to compute); these are the special functions its `t`, `norm` and `f` call, with its values at
the ends of the support, so the numbers are the same. `from reports import distributions as
stats` reads like `from scipy import stats`; any other name (`stats.chi2`) loads scipy.stats
and is its own.
"""

from __future__ import annotations

import importlib

import numpy as np
from scipy import special


def _scalar(values: np.ndarray):
    return values[()] if values.ndim == 0 else values


def _probability(x, raw, low: float, high: float):
    """A cdf or sf: `raw` inside the support, `low` at -inf and `high` at +inf."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return _scalar(np.where(x == -np.inf, low, np.where(x == np.inf, high, raw)))


def _quantile(q, raw, at_zero: float, at_one: float):
    """A ppf or isf: `raw` inside (0, 1), the support's ends at 0 and 1, NaN outside."""
    q = np.asarray(q, dtype=float)
    inside = np.where((q > 0) & (q < 1), raw, np.nan)
    return _scalar(np.where(q == 0, at_zero, np.where(q == 1, at_one, inside)))


class _StudentT:
    @staticmethod
    def cdf(x, df):
        return _probability(x, special.stdtr(df, x), 0.0, 1.0)

    @staticmethod
    def sf(x, df):
        return _probability(x, special.stdtr(df, -np.asarray(x, dtype=float)), 1.0, 0.0)

    @staticmethod
    def ppf(q, df):
        return _quantile(q, special.stdtrit(df, q), -np.inf, np.inf)

    @staticmethod
    def isf(q, df):
        return _quantile(q, -special.stdtrit(df, q), np.inf, -np.inf)


class _Normal:
    @staticmethod
    def cdf(x):
        return _probability(x, special.ndtr(x), 0.0, 1.0)

    @staticmethod
    def sf(x):
        return _probability(x, special.ndtr(-np.asarray(x, dtype=float)), 1.0, 0.0)

    @staticmethod
    def ppf(q):
        return _quantile(q, special.ndtri(q), -np.inf, np.inf)

    @staticmethod
    def isf(q):
        return _quantile(q, -special.ndtri(q), np.inf, -np.inf)


class _F:
    @staticmethod
    def sf(x, dfn, dfd):
        x = np.asarray(x, dtype=float)
        with np.errstate(invalid="ignore"):
            return _scalar(np.where(x <= 0, 1.0, np.where(x == np.inf, 0.0, special.fdtrc(dfn, dfd, x))))  # fmt: skip


t = _StudentT()
norm = _Normal()
f = _F()


def __getattr__(name: str):
    return getattr(importlib.import_module("scipy.stats"), name)
