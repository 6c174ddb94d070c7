"""Contractual retention (subscriptions, memberships) with the shifted-beta-geometric model of
Fader & Hardie (2007, "How to project customer retention"): each customer renews with her own
probability, so a cohort's retention rate rises as the likely churners leave, and the model
projects survival beyond the data.

``retention(table)`` fits every cohort of a cohort table (``cohort, period, active``: customers
still active at the start of each period, period 0 = the cohort's size) or of per-customer
lifetimes (``cohort, renewals, churned``), as ``segmint retention`` does;
``ShiftedBetaGeometric`` fits one cohort's active counts.

>>> from segmint.retention import ShiftedBetaGeometric
>>> m = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
>>> round(m.alpha_, 3), round(m.beta_, 3)
(0.704, 1.182)
>>> round(100 * m.survival(12), 1)
17.0
"""

from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np

from . import _native
from ._tables import as_input, as_output

__all__ = ["ShiftedBetaGeometric", "Retention", "retention"]


def _floats(x: Any) -> list:
    return np.asarray(x, dtype=float).ravel().tolist()


class ShiftedBetaGeometric:
    """The sBG model of one cohort: ``alpha_``, ``beta_`` (Beta shapes of the churn probability)
    and ``log_likelihood_`` after :meth:`fit`."""

    def __init__(self):
        self.alpha_: Optional[float] = None
        self.beta_: Optional[float] = None
        self.log_likelihood_: Optional[float] = None

    def fit(self, active) -> "ShiftedBetaGeometric":
        """Maximum likelihood on the active customers at the start of each period (``active[0]``
        the cohort's size; the counts never rise)."""
        self.alpha_, self.beta_, self.log_likelihood_ = _native.sbg_fit(_floats(active))
        return self

    def _curve(self, what, t, discount=0.1):
        if self.alpha_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(active) first")
        out = np.asarray(_native.sbg_predict(self.alpha_, self.beta_, what, _floats(t), discount))
        # a number in, a number out; an array in, an array out
        return float(out[0]) if np.ndim(t) == 0 else out

    def survival(self, t) -> np.ndarray:
        """S(t): the share of the cohort still active after ``t`` renewals."""
        return self._curve("survival", t)

    def retention_rate(self, t) -> np.ndarray:
        """r_t = S(t)/S(t-1): the share of those active after t-1 renewals who renew again."""
        return self._curve("retention_rate", t)

    def churn_probability(self, t) -> np.ndarray:
        """P(T = t): the probability of leaving at the t-th renewal."""
        return self._curve("churn_probability", t)

    def derl(self, discount_rate, renewals) -> np.ndarray:
        """Discounted expected residual lifetime in payments of a customer who has renewed
        ``renewals`` times (Fader & Hardie 2010): the next payment undiscounted."""
        return self._curve("derl", renewals, float(discount_rate))


class Retention:
    """The fit of every cohort: ``cohorts`` (per cohort alpha, beta, log_likelihood, estimates,
    observed and projected survival, retention rates, DERL; as in ``retention.json``),
    ``curves`` (one row per cohort and period, the type of the input) and ``left_out``
    (cohorts that could not be fitted, with the reason)."""

    def __init__(self, result: dict, curves: Any):
        self.cohorts: list = result["cohorts"]
        self.left_out: list = result["left_out"]
        self.horizon: int = result["horizon"]
        self.discount_rate: float = result["discount_rate"]
        self.curves = curves
        self._json = result

    def to_json(self) -> dict:
        """The results as ``segmint retention`` writes them to ``retention.json``."""
        return self._json

    def __repr__(self) -> str:
        parts = [f"{c['cohort']}: alpha {c['alpha']:.3f}, beta {c['beta']:.3f}" for c in self.cohorts]
        return f"Retention({'; '.join(parts)})"


def retention(data: Any, *, horizon: int = 5, discount_rate: float = 0.1) -> Retention:
    """Fits the sBG model to each cohort of ``data`` (a cohort table ``cohort, period, active``
    or per-customer ``cohort, renewals, churned``; ``cohort`` optional) and projects it
    ``horizon`` periods beyond the data; the DERL at ``discount_rate`` per period.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"period": range(8), "active": [1000, 869, 743, 653, 593, 551, 517, 491]})
    >>> r = retention(t, horizon=5)
    >>> c = r.cohorts[0]
    >>> c["cohort"], round(c["alpha"], 3), round(c["beta"], 3)
    ('all', 0.668, 3.806)
    >>> list(r.curves.columns)[:4]
    ['cohort', 'period', 'observed', 'observed_survival']
    """
    kind, table = as_input(data)
    text, curves = _native.retention(table, horizon=int(horizon), discount_rate=float(discount_rate))
    return Retention(json.loads(text), as_output(curves, kind))
