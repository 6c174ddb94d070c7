"""Churn, value and conversion models: gradient boosting on features segmint builds from your
tables, evaluated on a held-out split, with the lists and actions ``segmint predict`` gives.

Each function returns a :class:`Prediction`: ``predictions`` (per customer or session: split,
label, score, band and action), ``metrics`` (test AUC or RMSE next to a baseline, cross-validation,
importance), ``importance`` (a table), ``model`` (save / load / score new customers).

>>> import segmint
>>> data = segmint.demo(customers=3000)
>>> churn = segmint.predict.churn(data["transactions"], data["customers"], folds=0)
>>> churn.metrics["test"]["roc_auc"] > 0.7, churn.importance["feature"].iloc[0]
(True, 'recency_days')
>>> scored = churn.model.score(data["transactions"], data["customers"])
>>> len(scored) == len(data["customers"]), "churn_probability" in scored.columns
(True, True)
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, List, Mapping, Optional

from . import _native
from ._results import OutputDir, _DirResult
from ._tables import ARROW, PANDAS, POLARS, as_input, as_output, optional_input

__all__ = ["churn", "value", "conversion", "Model", "Prediction"]


class Model:
    """A trained model (``model.json``): ``save(path)``, ``Model.load(path)`` and
    ``score(transactions, customers, events, cutoff=...)`` for new customers (or sessions), with
    the features rebuilt exactly as in training."""

    def __init__(self, path: str):
        self._path = os.fspath(path)
        with open(self._path, encoding="utf-8") as f:
            self._data = json.load(f)

    @property
    def task(self) -> str:
        return self._data["task"]

    @property
    def features(self) -> List[str]:
        return list(self._data.get("model", {}).get("features", []))

    @classmethod
    def load(cls, path: os.PathLike) -> "Model":
        return cls(os.fspath(path))

    def save(self, path: os.PathLike) -> None:
        """Copies ``model.json`` to ``path`` (through a temporary file and a rename)."""
        tmp = os.fspath(path) + ".tmp"
        shutil.copyfile(self._path, tmp)
        os.replace(tmp, os.fspath(path))

    def score(
        self,
        transactions: Any = None,
        customers: Any = None,
        events: Any = None,
        *,
        cutoff: Optional[str] = None,
        columns: Optional[Mapping[str, str]] = None,
        progress: bool = False,
    ) -> Any:
        """Scores every customer as of ``cutoff`` (default: the day after the last
        transaction), or every session of ``events`` for a conversion model."""
        first = next((t for t in (transactions, events, customers) if t is not None), None)
        if first is None:
            raise _native.SegmintError("score needs the tables the model was trained on")
        kind, _ = as_input(first)
        table = _native.score(
            self._path,
            optional_input(transactions)[1],
            optional_input(customers)[1],
            optional_input(events)[1],
            cutoff=cutoff,
            columns=dict(columns) if columns else None,
            progress=progress,
        )
        return as_output(table, kind)

    def contributions(self, X: Any) -> Any:
        """Why each prediction: the exact TreeSHAP contribution of every feature for every row of
        ``X`` (a DataFrame or Arrow table with the model's feature columns, by name), one column
        per feature, as ``X``'s kind (pandas, polars or Arrow). Per row the contributions plus
        ``expected_value`` (the attribute of the returned frame's ``attrs`` for pandas, and of
        this model after the call) give the raw score: log-odds for churn and conversion, the
        value for value. The same numbers as LightGBM's ``predict(pred_contrib=True)`` on
        ``model.txt``."""
        from .cluster import _features

        module = type(X).__module__.split(".")[0]
        kind = module if module in (PANDAS, POLARS) else ARROW
        table, expected = _native.contributions(self._path, _features(X))
        self.expected_value = expected
        out = as_output(table, kind)
        if kind == PANDAS:
            out.attrs["expected_value"] = expected
        return out

    def __repr__(self) -> str:
        return f"Model({self.task}, {len(self.features)} features)"


class Prediction(_DirResult):
    """A trained and evaluated model; the files of ``segmint predict --out`` are in ``out``."""

    def __init__(self, task: str, kind: str, out: OutputDir, metrics: str, summary: str, notes: List[str]):
        super().__init__(out, summary, notes)
        self._section = task
        self._kind = kind
        self.task = task
        self.metrics: dict = json.loads(metrics)

    @property
    def predictions(self) -> Any:
        return as_output(self._read("predictions.parquet"), self._kind)

    @property
    def importance(self) -> Any:
        """Gain and permutation importance per feature, most important first."""
        import pyarrow as pa

        rows = self.metrics.get("importance", [])
        return as_output(pa.Table.from_pylist(rows), self._kind)

    @property
    def model(self) -> Model:
        return Model(self._out.file("model.json"))

    @property
    def explanation(self) -> dict:
        """``explain.json``: for a seeded sample of test rows each top feature's values and
        TreeSHAP contributions (``features[i]["values"]``, ``["contributions"]``, the data of a
        SHAP summary plot) and, for the top five, partial dependence with ICE percentiles
        (``["dependence"]``: ``grid``, ``mean``, ``ice_p10``, ``ice_p50``, ``ice_p90``)."""
        with open(self._out.file("explain.json"), encoding="utf-8") as f:
            return json.load(f)


def _predict(task, transactions, customers, events, out, cutoff, columns, progress, params) -> Prediction:
    first = next((t for t in (transactions, events, customers) if t is not None), None)
    if first is None:
        raise _native.SegmintError(f"predict {task} needs a transactions (or events) table")
    kind, _ = as_input(first)
    dest = OutputDir(out)
    metrics, summary, notes = _native.predict(
        task,
        dest.path,
        optional_input(transactions)[1],
        optional_input(customers)[1],
        optional_input(events)[1],
        cutoff=cutoff,
        params=json.dumps(params) if params else None,
        columns=dict(columns) if columns else None,
        progress=progress,
    )
    return Prediction(task, kind, dest, metrics, summary, notes)


def _params(horizon_days, test_size, folds, seed, clickstream, model, extra) -> dict:
    p = dict(horizon_days=horizon_days, test_size=test_size, folds=folds, seed=seed, clickstream=clickstream)
    if model:
        p["gbdt"] = dict(model)
    p.update(extra)
    return p


def churn(
    transactions: Any,
    customers: Any = None,
    events: Any = None,
    *,
    cutoff: Optional[str] = None,
    horizon_days: int = 90,
    clickstream: bool = False,
    test_size: float = 0.3,
    folds: int = 5,
    seed: int = 42,
    calibrate: Optional[str] = None,
    model: Optional[Mapping[str, Any]] = None,
    out: Optional[os.PathLike] = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
    **params: Any,
) -> Prediction:
    """Who will not buy in the ``horizon_days`` after ``cutoff`` (default: the data's end minus
    the horizon), from behaviour before it. ``model`` sets the gradient boosting
    (``{"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, ...}``, LightGBM's names);
    other keywords are parameters of ``segmint predict`` (``recent_days``,
    ``permutation_repeats``, ``actions``, e.g. ``actions={"drivers": 5, "drivers_all": True}``).
    ``predictions`` carries, for the test customers and everyone on a list, the features that
    moved each prediction most (TreeSHAP: ``driver_1``, ``driver_1_value``,
    ``driver_1_contribution``, ...); ``out`` keeps the files, among them ``model.txt``, the
    model in LightGBM's text format (``lightgbm.Booster(model_file=...)``).
    ``calibrate="isotonic"`` or ``"sigmoid"`` maps the probabilities to observed rates with a
    map fitted on out-of-fold predictions of the training rows (never the test rows);
    ``metrics["calibration"]`` has the test Brier score and expected calibration error before and
    after. ``explanation`` holds the SHAP values of a sample of test customers and the partial
    dependence of the top features."""
    p = _params(horizon_days, test_size, folds, seed, clickstream, model, params)
    if calibrate is not None:
        p["calibrate"] = calibrate
    return _predict("churn", transactions, customers, events, out, cutoff, columns, progress, p)


def value(
    transactions: Any,
    customers: Any = None,
    events: Any = None,
    *,
    cutoff: Optional[str] = None,
    horizon_days: int = 90,
    clickstream: bool = False,
    test_size: float = 0.3,
    folds: int = 5,
    seed: int = 42,
    model: Optional[Mapping[str, Any]] = None,
    out: Optional[os.PathLike] = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
    **params: Any,
) -> Prediction:
    """Each customer's net spend in the ``horizon_days`` after ``cutoff`` (regression); the
    same keywords as :func:`churn`."""
    p = _params(horizon_days, test_size, folds, seed, clickstream, model, params)
    return _predict("value", transactions, customers, events, out, cutoff, columns, progress, p)


def conversion(
    events: Any,
    customers: Any = None,
    *,
    split: str = "time",
    test_size: float = 0.3,
    folds: int = 5,
    seed: int = 42,
    calibrate: Optional[str] = None,
    model: Optional[Mapping[str, Any]] = None,
    out: Optional[os.PathLike] = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
    **params: Any,
) -> Prediction:
    """Which sessions end in a purchase, from the clickstream events; ``split="time"`` tests on
    the latest sessions (as deployed), ``"random"`` on a stratified sample. ``calibrate`` as in
    :func:`churn`."""
    p = dict(session_split=split, test_size=test_size, folds=folds, seed=seed)
    if calibrate is not None:
        p["calibrate"] = calibrate
    if model:
        p["gbdt"] = dict(model)
    p.update(params)
    return _predict("conversion", None, customers, events, out, None, columns, progress, p)
