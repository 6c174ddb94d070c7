"""Probabilistic CLV with lifetimes' names: change the import of a lifetimes notebook and it runs.

``summary`` is lifetimes' ``summary_data_from_transaction_data``; ``BetaGeo``,
``ModifiedBetaGeo``, ``ParetoNBD`` and ``GammaGamma`` are ``BetaGeoFitter``,
``ModifiedBetaGeoFitter``, ``ParetoNBDFitter`` and ``GammaGammaFitter`` with the same method
names (``GammaGamma.customer_lifetime_value`` too); ``BetaGeoBetaBinom`` is
``BetaGeoBetaBinomFitter`` (discrete purchase opportunities). The fits are segmint's (maximum likelihood,
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

__all__ = [
    "summary",
    "BetaGeo",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "GammaGamma",
    "BetaGeoBetaBinom",
    "fit_covariates",
]

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


class _TransactionModel:
    """A fitted purchase model (BG/NBD, MBG/NBD or Pareto/NBD) with lifetimes' method names."""

    _kind = ""
    _names: tuple = ()

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef
        self.params_: Optional[_Params] = None
        self.log_likelihood_: Optional[float] = None

    def fit(self, frequency, recency, T, **_ignored):
        """Maximum likelihood on per-customer ``frequency, recency, T`` (extra lifetimes
        keywords such as ``verbose`` are accepted and ignored)."""
        params, ll = _native.transaction_fit(
            self._kind, _floats(frequency), _floats(recency), _floats(T), self.penalizer_coef
        )
        self.params_ = _Params(zip(self._names, params))
        self.log_likelihood_ = ll
        return self

    def _params(self) -> list:
        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, recency, T) first")
        return [self.params_[n] for n in self._names]

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in the next ``t`` time units, per customer."""
        return np.asarray(
            _native.transaction_predict(
                self._kind, self._params(), _floats(frequency), _floats(recency), _floats(T), float(t)
            )
        )

    def conditional_probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive) per customer."""
        return np.asarray(
            _native.transaction_predict(
                self._kind, self._params(), _floats(frequency), _floats(recency), _floats(T), None
            )
        )

    def predict(self, t, frequency, recency, T) -> np.ndarray:
        """lifetimes' alias of :meth:`conditional_expected_number_of_purchases_up_to_time`."""
        return self.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)

    @property
    def summary(self):
        """The parameters (and the log-likelihood) as a pandas Series."""
        import pandas as pd

        self._params()
        return pd.Series({**self.params_, "log_likelihood": self.log_likelihood_})


class BetaGeo(_TransactionModel):
    """BG/NBD (Fader, Hardie & Lee 2005), lifetimes' ``BetaGeoFitter``: ``params_`` r, alpha,
    a, b.

    >>> bg = BetaGeo().fit([2, 0, 1, 0], [31, 0, 56, 0], [90, 88, 86, 60])
    >>> sorted(bg.params_)
    ['a', 'alpha', 'b', 'r']
    """

    _kind = "bgnbd"
    _names = ("r", "alpha", "a", "b")


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007), lifetimes' ``ModifiedBetaGeoFitter``."""

    _kind = "mbgnbd"


class ParetoNBD(_TransactionModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987), lifetimes' ``ParetoNBDFitter``:
    ``params_`` r, alpha, s, beta.

    Simulated customers (r=0.5, alpha=5, s=0.5, beta=20; 52 weeks) give their parameters back:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> n, T = 2000, 52.0
    >>> lam, mu = rng.gamma(0.5, 1 / 5, n), rng.gamma(0.5, 1 / 20, n)
    >>> alive = np.minimum(rng.exponential(1 / mu), T)
    >>> x = rng.poisson(lam * alive)
    >>> recency = np.where(x > 0, alive * rng.beta(np.maximum(x, 1), 1), 0.0)
    >>> pnbd = ParetoNBD().fit(x, recency, np.full(n, T))
    >>> {k: round(v, 1) for k, v in pnbd.params_.items()}
    {'r': 0.5, 'alpha': 4.6, 's': 0.5, 'beta': 17.5}
    """

    _kind = "pareto"
    _names = ("r", "alpha", "s", "beta")


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

    def customer_lifetime_value(
        self,
        transaction_prediction_model,
        frequency,
        recency,
        T,
        monetary_value,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> np.ndarray:
        """lifetimes' ``customer_lifetime_value``: per customer, over ``time`` months, the
        monthly increments of the expected purchases of ``transaction_prediction_model`` (a
        fitted ``BetaGeo``, ``ModifiedBetaGeo`` or ``ParetoNBD``) times the expected order
        value, discounted by ``(1 + discount_rate) ** month``; ``freq`` is the unit of
        ``recency`` and ``T`` (months of 30 days, 4.345 weeks or 1 month).

        >>> f, r, T, m = [2, 0, 1, 0, 3, 1], [30, 0, 56, 0, 80, 10], [90, 88, 86, 60, 85, 70], [20.0, 0, 35.0, 0, 12.0, 50.0]
        >>> bg = BetaGeo().fit(f, r, T)
        >>> gg = GammaGamma().fit(f, m)
        >>> clv = gg.customer_lifetime_value(bg, f, r, T, m, time=12, discount_rate=0.01, freq="D")
        >>> clv.shape, bool((clv > 0).all())
        ((6,), True)
        """
        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, monetary_value) first")
        if not isinstance(transaction_prediction_model, _TransactionModel):
            raise TypeError("transaction_prediction_model must be a fitted BetaGeo, ModifiedBetaGeo or ParetoNBD")
        if freq not in _UNITS:
            raise _native.SegmintError(f'freq must be "D", "W" or "M", not {freq!r}')
        p = self.params_
        return np.asarray(
            _native.customer_lifetime_value(
                transaction_prediction_model._kind,
                transaction_prediction_model._params(),
                (p["p"], p["q"], p["v"]),
                _floats(frequency),
                _floats(recency),
                _floats(T),
                _floats(monetary_value),
                time_unit=_UNITS[freq],
                months=int(time),
                discount_rate=float(discount_rate),
            )
        )


class BetaGeoBetaBinom:
    """BG/BB (Fader, Hardie & Shang 2010), lifetimes' ``BetaGeoBetaBinomFitter``, for purchases
    at discrete opportunities (a yearly donation, an annual event): ``params_`` alpha, beta
    (purchase probability) and gamma, delta (dropout probability). A history is ``frequency``
    (opportunities with a purchase after the first), ``recency`` (the last of them) and
    ``n_periods`` (opportunities since the first); ``weights`` counts the customers sharing a
    history, as in the paper's 22 patterns of 11,104 donors.

    >>> bgbb = BetaGeoBetaBinom().fit([0, 1, 3, 6, 2], [0, 1, 5, 6, 6], [6] * 5,
    ...                               weights=[3464, 1091, 225, 1203, 234])
    >>> sorted(bgbb.params_)
    ['alpha', 'beta', 'delta', 'gamma']
    >>> p = bgbb.conditional_probability_alive(1, [6, 0], [6, 0], [6, 6])
    >>> bool(p[0] > p[1])
    True
    """

    _names = ("alpha", "beta", "gamma", "delta")

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef
        self.params_: Optional[_Params] = None
        self.log_likelihood_: Optional[float] = None

    def fit(self, frequency, recency, n_periods, weights=None, **_ignored) -> "BetaGeoBetaBinom":
        """Maximum likelihood (the paper's sum over customers; lifetimes minimises its mean);
        extra lifetimes keywords such as ``verbose`` are accepted and ignored."""
        params, ll = _native.bgbb_fit(
            _floats(frequency),
            _floats(recency),
            _floats(n_periods),
            None if weights is None else _floats(weights),
            self.penalizer_coef,
        )
        self.params_ = _Params(zip(self._names, params))
        self.log_likelihood_ = ll
        return self

    def _predict(self, what, arg, frequency, recency, n_periods) -> np.ndarray:
        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, recency, n_periods) first")
        params = [self.params_[n] for n in self._names]
        return np.asarray(
            _native.bgbb_predict(what, params, _floats(frequency), _floats(recency), _floats(n_periods), float(arg))
        )

    def conditional_expected_number_of_purchases_up_to_time(
        self, m_periods_in_future, frequency, recency, n_periods
    ) -> np.ndarray:
        """Expected purchases in the next ``m_periods_in_future`` opportunities (equation 13)."""
        return self._predict("expected", m_periods_in_future, frequency, recency, n_periods)

    def conditional_probability_alive(self, m_periods_in_future, frequency, recency, n_periods) -> np.ndarray:
        """P(alive at opportunity n_periods + m_periods_in_future) (equation 11 for m = 1)."""
        return self._predict("p_alive", m_periods_in_future, frequency, recency, n_periods)

    def discounted_expected_residual_transactions(
        self, discount_rate, frequency, recency, n_periods
    ) -> np.ndarray:
        """DERT (equation 14): the future purchases a customer is worth today, each discounted
        by ``(1 + discount_rate)`` per opportunity."""
        return self._predict("dert", discount_rate, frequency, recency, n_periods)

    @property
    def summary(self):
        """The parameters (and the log-likelihood) as a pandas Series."""
        import pandas as pd

        if self.params_ is None:
            raise _native.SegmintError("the model is not fitted: call fit(frequency, recency, n_periods) first")
        return pd.Series({**self.params_, "log_likelihood": self.log_likelihood_})


def fit_covariates(frequency, recency, T, monetary_value, covariates, model: str = "bgnbd") -> dict:
    """Static covariates: the transaction model ``model`` (``bgnbd``, ``mbgnbd`` or ``pareto``)
    with each customer's purchase rate and dropout, and Gamma-Gamma with the order value, scaled
    by exp(coefficient x value) (Fader & Hardie 2007, note 019; CLVTools' parametrisation,
    except that BG/NBD's dropout covariate scales b alone).

    ``covariates`` maps names to one number per customer (a DataFrame works: booleans as 0/1;
    one-hot categories first, e.g. ``pd.get_dummies(df.region, drop_first=True)``); customers with
    a missing value (NaN) are left out and counted. Returns a dict: ``transaction`` and
    ``gamma_gamma`` each with ``coefficients`` (``process``, ``covariate``, ``value`` per unit,
    ``std_error``, ``ci_low``, ``ci_high``, ``p_value``), ``base`` parameters (at the covariates'
    means), ``log_likelihood`` and ``likelihood_ratio`` (``statistic``, ``df``, ``p_value``
    against the model without covariates); plus ``columns`` and ``customers_left_out``.
    """
    import json

    items = covariates.items() if hasattr(covariates, "items") else covariates
    columns = [(str(name), _floats(values)) for name, values in items]
    text = _native.covariate_fit(
        model, _floats(frequency), _floats(recency), _floats(T), _floats(monetary_value), columns
    )
    return json.loads(text)
