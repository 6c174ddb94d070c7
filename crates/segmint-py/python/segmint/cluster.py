"""k-means with scikit-learn's names (``fit``, ``predict``, ``fit_predict``, ``labels_``,
``cluster_centers_``, ``inertia_``, ``n_iter_``) plus ``names_``: each cluster's name from the data."""

from __future__ import annotations

import json
from typing import Any, List, Optional, Union

import numpy as np
import pyarrow as pa

from . import _native

__all__ = ["KMeans"]


def _features(X: Any) -> pa.Table:
    """``X`` as an Arrow table of numeric columns, named as the caller named them."""
    module = type(X).__module__.split(".")[0]
    if module in ("pandas", "polars") or isinstance(X, (pa.Table, pa.RecordBatch)):
        if module == "pandas":
            return pa.Table.from_pandas(X, preserve_index=False)
        return X if module != "polars" else X.to_arrow()
    a = np.asarray(X, dtype=float)
    if a.ndim != 2:
        raise _native.SegmintError(f"X must be 2-dimensional (samples x features), got shape {a.shape}")
    return pa.table({f"x{j}": np.ascontiguousarray(a[:, j]) for j in range(a.shape[1])})


class KMeans:
    """k-means (k-means++ seeding, ``n_init`` seeded restarts, exact Lloyd iterations), with
    scikit-learn's parameters and attributes. ``n_clusters="auto"`` chooses k in 3..8
    (``k_range``) by a vote of silhouette, Calinski-Harabasz, Davies-Bouldin and the inertia knee
    (``selection_`` says why).

    Clusters ``X`` as given (no transform or scaling, as scikit-learn); for customers, cluster
    ``np.log1p`` of the RFM columns standardised, as ``segmint cluster`` does. ``names_`` names
    the clusters: RFM names ("High-Value Frequent", "At-Risk High-Value", ...) when ``X`` is a
    table with ``recency_days``, ``frequency`` and ``monetary`` columns (with ``actions_``), else
    the features that set each cluster apart ("high x1, low x0").

    >>> import numpy as np
    >>> X = np.array([[0.0, 0.1], [0.2, 0.0], [5.0, 5.1], [5.2, 4.9]])
    >>> km = KMeans(n_clusters=2).fit(X)
    >>> sorted(np.bincount(km.labels_).tolist()), round(km.inertia_, 3)
    ([2, 2], 0.065)
    """

    def __init__(
        self,
        n_clusters: Union[int, str] = 4,
        *,
        n_init: int = 10,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int = 42,
        algorithm: str = "auto",
        k_range: tuple = (3, 8),
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.algorithm = algorithm
        self.k_range = k_range

    def fit(self, X: Any, y: Any = None) -> "KMeans":
        auto = isinstance(self.n_clusters, str)
        if auto and self.n_clusters != "auto":
            raise _native.SegmintError(f'n_clusters must be a number or "auto", not {self.n_clusters!r}')
        labels, centers, inertia, n_iter, names, actions, details = _native.kmeans_fit(
            _features(X),
            None if auto else int(self.n_clusters),
            k_min=int(self.k_range[0]),
            k_max=int(self.k_range[1]),
            n_init=int(self.n_init),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            seed=int(self.random_state),
            algorithm=self.algorithm,
        )
        self.labels_: np.ndarray = labels.column(0).to_numpy().astype(np.int32)
        self.cluster_centers_: np.ndarray = np.asarray(centers, dtype=float)
        self.inertia_: float = inertia
        self.n_iter_: int = n_iter
        self.names_: List[str] = names
        self.actions_: List[str] = actions
        self.details_: dict = json.loads(details)
        self.selection_: Optional[dict] = self.details_.get("selection")
        self.n_features_in_: int = self.cluster_centers_.shape[1]
        return self

    def _check_fitted(self):
        if not hasattr(self, "cluster_centers_"):
            raise _native.SegmintError("the model is not fitted: call fit(X) first")

    def predict(self, X: Any) -> np.ndarray:
        """The nearest center's index for each row of ``X``."""
        self._check_fitted()
        labels, _ = _native.kmeans_predict(_features(X), self.cluster_centers_.tolist())
        return labels.column(0).to_numpy().astype(np.int32)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).labels_

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the inertia of ``X`` on the fitted centers (scikit-learn's sign)."""
        self._check_fitted()
        _, inertia = _native.kmeans_predict(_features(X), self.cluster_centers_.tolist())
        return -inertia

    def __repr__(self) -> str:
        return f"KMeans(n_clusters={self.n_clusters!r}, n_init={self.n_init}, random_state={self.random_state})"
