"""Type stubs of the native module (src/lib.rs); use the functions of `segmint` instead."""

from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa

class SegmintError(ValueError): ...

def version() -> str: ...
def mart(
    transactions: Any,
    *,
    ref_date: Optional[str] = ...,
    columns: Optional[Dict[str, str]] = ...,
    timestamp_format: Optional[str] = ...,
    timezone: Optional[str] = ...,
    missing_ids: Optional[str] = ...,
    progress: bool = ...,
) -> pa.Table: ...
def rfm(
    transactions: Any,
    customers: Any = ...,
    *,
    rules: str = ...,
    bins: int = ...,
    ties: str = ...,
    ref_date: Optional[str] = ...,
    columns: Optional[Dict[str, str]] = ...,
    timestamp_format: Optional[str] = ...,
    timezone: Optional[str] = ...,
    missing_ids: Optional[str] = ...,
    progress: bool = ...,
) -> pa.Table: ...
def validate(
    transactions: Any,
    customers: Any = ...,
    events: Any = ...,
    *,
    columns: Optional[Dict[str, str]] = ...,
    timestamp_format: Optional[str] = ...,
    timezone: Optional[str] = ...,
    missing_ids: Optional[str] = ...,
) -> str: ...
def clv_summary(transactions: Any, **kwargs: Any) -> pa.Table: ...
def bgbb_fit(
    frequency: List[float],
    recency: List[float],
    n_periods: List[float],
    weights: Optional[List[float]] = ...,
    penalizer: float = ...,
) -> Tuple[List[float], float]: ...
def bgbb_predict(
    what: str, params: List[float], frequency: List[float], recency: List[float], n_periods: List[float], arg: float
) -> List[float]: ...
def sbg_fit(active: List[float]) -> Tuple[float, float, float]: ...
def sbg_predict(alpha: float, beta: float, what: str, t: List[float], discount: float = ...) -> List[float]: ...
def retention(data: Any, *, horizon: int = ..., discount_rate: float = ...) -> Tuple[str, pa.Table]: ...
def covariate_fit(
    kind: str,
    frequency: List[float],
    recency: List[float],
    t: List[float],
    monetary_value: List[float],
    covariates: List[Tuple[str, List[float]]],
) -> str: ...
def transaction_fit(
    kind: str, frequency: List[float], recency: List[float], t: List[float], penalizer: float = ...
) -> Tuple[List[float], float]: ...
def transaction_predict(
    kind: str,
    params: List[float],
    frequency: List[float],
    recency: List[float],
    t: List[float],
    horizon: Optional[float] = ...,
) -> List[float]: ...
def gamma_gamma_fit(
    frequency: List[float], monetary_value: List[float], penalizer: float = ...
) -> Tuple[float, float, float, float]: ...
def gamma_gamma_expected(
    params: Tuple[float, float, float], frequency: List[float], monetary_value: List[float]
) -> List[float]: ...
def customer_lifetime_value(
    kind: str,
    params: List[float],
    gg_params: Tuple[float, float, float],
    frequency: List[float],
    recency: List[float],
    t: List[float],
    monetary_value: List[float],
    time_unit: str = ...,
    months: int = ...,
    discount_rate: float = ...,
) -> List[float]: ...

class Comparison:
    notes: List[str]
    def rules(self) -> pa.Table: ...
    def assignments(self) -> pa.Table: ...
    def to_sql(self, dialect: str = ..., table: str = ...) -> str: ...
    def to_python(self) -> str: ...
    def routing_json(self) -> str: ...
    def json(self) -> str: ...
    def markdown(self, top: int = ...) -> str: ...
    def html(self) -> str: ...
    def write(self, out: str, table: str = ...) -> None: ...

def compare(customers: Any, group: str, outcome: str, **kwargs: Any) -> Comparison: ...
def kmeans_fit(
    x: Any, n_clusters: Optional[int], **kwargs: Any
) -> Tuple[pa.Table, List[List[float]], float, int, List[str], List[str], str]: ...
def kmeans_predict(x: Any, centers: List[List[float]]) -> Tuple[pa.Table, float]: ...
def profile(
    transactions: Any, segments: Any, customers: Any = ..., **kwargs: Any
) -> Tuple[pa.Table, pa.Table, str, str, List[str]]: ...
def migrate(
    transactions: Any, from_date: str, to_date: str, customers: Any = ..., **kwargs: Any
) -> Tuple[pa.Table, str, str]: ...
def discover(transactions: Any, out: str, customers: Any = ..., **kwargs: Any) -> Tuple[str, str, List[str]]: ...
def predict(
    task: str, out: str, transactions: Any = ..., customers: Any = ..., events: Any = ..., **kwargs: Any
) -> Tuple[str, str, List[str]]: ...
def score(model: str, transactions: Any = ..., customers: Any = ..., events: Any = ..., **kwargs: Any) -> pa.Table: ...
def section_html(kind: str, dir: str) -> str: ...
def run(
    out: str, data: Optional[str] = ..., transactions: Any = ..., customers: Any = ..., events: Any = ..., **kwargs: Any
) -> str: ...
