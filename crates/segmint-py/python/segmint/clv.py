"""Probabilistic CLV with lifetimes' names: change the import of a lifetimes notebook and it runs.

``summary`` is lifetimes' ``summary_data_from_transaction_data``; ``BetaGeo``,
``ModifiedBetaGeo`` and ``GammaGamma`` are ``BetaGeoFitter``, ``ModifiedBetaGeoFitter`` and
``GammaGammaFitter`` with the same method names. The fits are segmint's (maximum likelihood,
damped Newton in log-parameters from several starts) and equal lifetimes 0.11.3's on the same data
(CDNOW sample: max relative difference of the parameters below 1e-6).

Time units: ``freq="D"`` counts days, ``"W"`` weeks of 7 days and ``"M"`` months of 30.4375 days,
from the day of each purchase (lifetimes' ``freq="D", freq_multiplier=7`` for weeks; its
``freq="W"`` groups by calendar weeks instead).

>>> import pandas as pd
>>> from segmint.clv import summary, BetaGeo
>>> tx = pd.DataFrame({"id": ["a", "a", "a", "b", "c", "c"],
...     "date": ["2024-01-01", "2024-01-08", "2024-02-01", "2024-01-03", "2024-01-05", "2024-03-01"],
...     "spend": [10.0, 12.0, 9.0, 5.0, 20.0, 30.0]})
>>> s = summary(tx, "id", "date", "spend", observation_period_end="2024-03-31")
>>> s.loc["a", ["frequency", "recency", "T"]].tolist()
[2.0, 31.0, 90.0]
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _native
from ._tables import PANDAS, as_input, as_output

__all__ = ["summary", "BetaGeo", "ModifiedBetaGeo", "GammaGamma"]

_UNITS = {"D": "day", "W": "week", "M": "month"}


def _floats(x: Any) -> list:
    return np.asarray(x, dtype=float).ravel().tolist()


def summary(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: Optional[str] = None,
    observation_period_end: Optional[str] = None,
    freq: str = "D",
    *,
    purchases: str = "positive",
    datetime_format: Optional[str] = None,
    timezone: Optional[str] = None,
) -> Any:
    """lifetimes' ``summary_data_from_transaction_data``: per customer ``frequency`` (repeat
    purchase days), ``recency`` and ``T`` (in ``freq`` units) and ``monetary_value`` (mean spend
    per repeat purchase day; 0 without a monetary column or a repeat). A pandas input gives a
    frame indexed by customer id, as lifetimes does.

    Purchases are rows with a positive amount (``purchases="non-negative"`` counts $0 rows too,
    as lifetimes counts every row). Without ``monetary_value_col`` every row is a purchase of 1.
    """
    if freq not in _UNITS:
        raise _native.SegmintError(f'freq must be "D", "W" or "M", not {freq!r}')
    kind, tx = as_input(transactions)
    columns = {"customer_id": customer_id_col, "timestamp": datetime_col}
    columns["amount"] = monetary_value_col if monetary_value_col else "1"
    table = _native.clv_summary(
        tx,
        observation_end=observation_period_end,
        time_unit=_UNITS[freq],
        purchases=purchases,
        columns=columns,
        timestamp_format=datetime_format,
        timezone=timezone,
    )
    out = as_output(table, kind)
    if kind == PANDAS:
        out = out.set_index("customer_id")
        out.index.name = customer_id_col
        if not monetary_value_col:
            out = out.drop(columns=["monetary_value"])
    return out


class _Params(dict):
    """Fitted parameters: a dict that also reads as attributes and as a pandas Series."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def to_series(self):
        import pandas as pd

        return pd.Series(self)


class BetaGeo:
    """BG/NBD (Fader, Hardie & Lee 2005), lifetimes' ``BetaGeoFitter``.

    >>> bg = BetaGeo().fit([2, 0, 1, 0], [31, 0, 56, 0], [90, 88, 86, 60])
    >>> sorted(bg.params_)
    ['a', 'alpha', 'b', 'r']
    """

    _modified = False

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef
        self.params_: Optional[_Params] = None
        self.log_likelihood_: Optional[float] = None

    def fit(self, frequency, recency, T, **_ignored) -> "BetaGeo":
        r, alpha, a, b, ll = _native.bgnbd_fit(
            _floats(frequency), _floats(recency), _floats(T), self.penalizer_coef, self._modified
        )
        self.params_ = _Params(r=r, alpha=alpha, a=a, b=b)
        self.log_likelihood_ = ll
        return self

    def _params(self):
        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, recency, T) first")
        p = self.params_
        return (p["r"], p["alpha"], p["a"], p["b"])

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in the next ``t`` time units, per customer."""
        return np.asarray(
            _native.bgnbd_predict(
                self._params(), _floats(frequency), _floats(recency), _floats(T), float(t), self._modified
            )
        )

    def conditional_probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive) per customer."""
        return np.asarray(
            _native.bgnbd_predict(
                self._params(), _floats(frequency), _floats(recency), _floats(T), None, self._modified
            )
        )

    @property
    def summary(self):
        """The parameters (and the log-likelihood) as a pandas Series."""
        import pandas as pd

        return pd.Series({**self.params_, "log_likelihood": self.log_likelihood_})


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007), lifetimes' ``ModifiedBetaGeoFitter``."""

    _modified = True


class GammaGamma:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005), lifetimes' ``GammaGammaFitter``; fitted
    on the customers with ``frequency > 0`` (a repeat customer with a mean spend of exactly 0 is
    left out and counted, as lifetimes users filter ``monetary_value > 0``).

    >>> gg = GammaGamma().fit([1, 2, 3, 1, 4], [10.0, 12.5, 9.0, 30.0, 11.0])
    >>> round(float(gg.conditional_expected_average_profit([0], [0])[0]), 2) > 0
    True
    """

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef
        self.params_: Optional[_Params] = None
        self.log_likelihood_: Optional[float] = None

    def fit(self, frequency, monetary_value, **_ignored) -> "GammaGamma":
        p, q, v, ll = _native.gamma_gamma_fit(_floats(frequency), _floats(monetary_value), self.penalizer_coef)
        self.params_ = _Params(p=p, q=q, v=v)
        self.log_likelihood_ = ll
        return self

    def conditional_expected_average_profit(self, frequency, monetary_value) -> np.ndarray:
        """Expected average order value per customer (the population mean without repeats)."""
        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, monetary_value) first")
        p = self.params_
        return np.asarray(
            _native.gamma_gamma_expected((p["p"], p["q"], p["v"]), _floats(frequency), _floats(monetary_value))
        )
