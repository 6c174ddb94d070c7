"""segmint: customer analytics on your DataFrames, computed by a fast and exact Rust engine.

Every function takes pandas or Polars DataFrames, pyarrow Tables, DuckDB relations, anything with
the Arrow PyCapsule interface (``__arrow_c_stream__``) or a file path (Parquet, CSV, .xlsx), and
returns the kind it was given (pandas in, pandas out; Polars in, Polars out; otherwise pyarrow).
The engine releases the GIL while it works. Bad input raises :class:`SegmintError` (a
``ValueError``) whose one-line message names the table, row, column and value.

Columns of your export are mapped with ``columns={"amount": "Quantity * UnitPrice",
"customer_id": "CustomerID"}`` (a source may be an expression, or ``"@row"``), dates with
``timestamp_format="%d.%m.%Y %H:%M"`` and ``timezone="Europe/Berlin"``, rows without an id with
``missing_ids="drop"`` -- the same options as the command line's.

>>> import pandas as pd, segmint
>>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
...     "timestamp": ["2024-01-01", "2024-02-01", "2024-01-15"], "amount": [10.0, 5.5, 7.25]})
>>> segmint.mart(tx)[["customer_id", "frequency", "monetary"]]
  customer_id  frequency  monetary
0           a          2     15.50
1           b          1      7.25
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional

from . import _native, clv, predict, retention, segments
from ._native import SegmintError
from ._results import Comparison, Migration, Profile, Run
from ._tables import ARROW, as_input, as_output, optional_input
from .cluster import KMeans

__all__ = [
    "SegmintError",
    "KMeans",
    "clv",
    "compare",
    "demo",
    "mart",
    "migrate",
    "predict",
    "profile",
    "retention",
    "rfm",
    "run",
    "segments",
    "validate",
    "__version__",
]
__version__: str = _native.version()


def _reading(columns, timestamp_format, timezone, missing_ids):
    return dict(
        columns=dict(columns) if columns else None,
        timestamp_format=timestamp_format,
        timezone=timezone,
        missing_ids=missing_ids,
    )


def mart(
    transactions: Any,
    ref_date: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    *,
    timestamp_format: Optional[str] = None,
    timezone: Optional[str] = None,
    missing_ids: Optional[str] = None,
    progress: bool = False,
) -> Any:
    """The customer mart: one row per customer with a purchase (``amount > 0``), sorted by
    ``customer_id``: ``recency_days, frequency, monetary, first_purchase, last_purchase,
    tenure_days, avg_order_value, total_quantity, primary_region, preferred_payment``.

    ``ref_date`` (``YYYY-MM-DD``) defaults to the day after the last transaction. Sums are exact
    to the cent (equal to pandas' groupby on the same definitions).

    >>> import polars as pl, segmint
    >>> tx = pl.DataFrame({"CustomerID": ["17850", "17850"], "InvoiceNo": ["536365", "536366"],
    ...     "InvoiceDate": ["2010-12-01 08:26:00", "2010-12-02 09:00:00"],
    ...     "Quantity": [6, 2], "UnitPrice": [2.55, 1.85]})
    >>> m = segmint.mart(tx, columns={"customer_id": "CustomerID", "order_id": "InvoiceNo",
    ...     "timestamp": "InvoiceDate", "amount": "Quantity * UnitPrice"})
    >>> m["monetary"].to_list()
    [19.0]
    """
    kind, tx = as_input(transactions)
    table = _native.mart(
        tx,
        ref_date=ref_date,
        progress=progress,
        **_reading(columns, timestamp_format, timezone, missing_ids),
    )
    return as_output(table, kind)


def _rules(rules: Any) -> str:
    """A rule set name, a TOML file's path, or a dict in that file's layout (``{"name": ...,
    "default": ..., "segments": [{"name": ..., "when": "R >= 4 and F >= 4", "actions": [...]}]}``),
    handed to the engine as JSON."""
    if isinstance(rules, Mapping):
        return json.dumps(dict(rules))
    return os.fspath(rules)


def rfm(
    transactions: Any,
    customers: Any = None,
    rules: Any = "default",
    bins: int = 5,
    ties: str = "first",
    *,
    ref_date: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    timestamp_format: Optional[str] = None,
    timezone: Optional[str] = None,
    missing_ids: Optional[str] = None,
    progress: bool = False,
) -> Any:
    """RFM scores (1..``bins``, higher is better; ``ties="first"`` ranks equal values in customer
    order like pandas' ``rank(method="first")``) and the segment of each customer under a rule
    set: ``"default"``, ``"standard"``, a TOML rule file, or a dict in that file's layout. ``customers`` (optional) gives the
    columns rules may use (e.g. ``premium``).

    >>> import pandas as pd, segmint
    >>> tx = pd.DataFrame({"customer_id": list("abcde"), "order_id": list("12345"),
    ...     "timestamp": ["2024-01-0%d" % d for d in range(1, 6)], "amount": [5.0, 1, 3, 2, 4]})
    >>> segmint.rfm(tx)["M"].tolist()
    [5, 1, 3, 2, 4]
    """
    kind, tx = as_input(transactions)
    _, cu = optional_input(customers)
    table = _native.rfm(
        tx,
        cu,
        rules=_rules(rules),
        bins=bins,
        ties=ties,
        ref_date=ref_date,
        progress=progress,
        **_reading(columns, timestamp_format, timezone, missing_ids),
    )
    return as_output(table, kind)


def validate(
    transactions: Any,
    customers: Any = None,
    events: Any = None,
    *,
    columns: Optional[Mapping[str, str]] = None,
    timestamp_format: Optional[str] = None,
    timezone: Optional[str] = None,
    missing_ids: Optional[str] = None,
) -> dict:
    """Checks the tables as ``segmint validate`` does and returns its report as a dict:
    ``tables`` (rows, columns, rows left out for a missing id) and ``findings`` (severity,
    code, message, count, examples with row, column and value). Hard errors (a value that
    cannot be read) raise :class:`SegmintError`.

    >>> import pandas as pd, segmint
    >>> tx = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"],
    ...     "timestamp": ["2024-01-01"], "amount": [0.0]})
    >>> [f["code"] for f in segmint.validate(tx)["findings"]][:1]
    ['zero_amount']
    """
    _, tx = as_input(transactions)
    _, cu = optional_input(customers)
    _, ev = optional_input(events)
    text = _native.validate(tx, cu, ev, **_reading(columns, timestamp_format, timezone, missing_ids))
    return json.loads(text)


def profile(
    transactions: Any,
    segments: Any,
    customers: Any = None,
    *,
    segment_column: str = "segment",
    rules: Any = None,
    ref_date: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
) -> Profile:
    """What distinguishes the segments of ``segments`` (a table or file with ``customer_id``
    and ``segment_column``, e.g. the output of :func:`rfm` or ``KMeans`` labels): per segment
    customers, revenue share and the features' median [q25, q75]; features ranked by how much
    they differ (Kruskal-Wallis epsilon²); the rule set's actions.

    >>> import pandas as pd, segmint
    >>> tx = pd.DataFrame({"customer_id": list("abcd"), "order_id": list("1234"),
    ...     "timestamp": ["2024-01-01", "2024-01-02", "2024-03-01", "2024-03-02"],
    ...     "amount": [10.0, 20.0, 300.0, 400.0]})
    >>> seg = pd.DataFrame({"customer_id": list("abcd"), "segment": ["low", "low", "high", "high"]})
    >>> segmint.profile(tx, seg).segments[["segment", "customers"]].values.tolist()
    [['low', 2], ['high', 2]]
    """
    kind, tx = as_input(transactions)
    seg_kind, seg = as_input(segments)
    _, cu = optional_input(customers)
    seg_table, feat_table, js, html, notes = _native.profile(
        tx,
        seg,
        cu,
        segment_column=segment_column,
        rules=None if rules is None else _rules(rules),
        ref_date=ref_date,
        columns=dict(columns) if columns else None,
        progress=progress,
    )
    return Profile(as_output(seg_table, kind), as_output(feat_table, kind), js, html, notes)


def migrate(
    transactions: Any,
    from_date: str,
    to_date: str,
    customers: Any = None,
    *,
    rules: Any = "default",
    bins: int = 5,
    ties: str = "first",
    top: int = 5,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
) -> Migration:
    """How customers moved between RFM segments from ``from_date`` to ``to_date`` (each scored
    on the transactions before it): ``customers`` (customer_id, segment_from, segment_to) and
    ``summary`` (the transition matrix with row shares, customers who stayed, the ``top``
    biggest flows).

    >>> import segmint
    >>> data = segmint.demo(customers=2000)
    >>> m = segmint.migrate(data["transactions"], "2025-06-30", "2025-12-31")
    >>> sorted(m.customers.columns), m.summary["stayed"] <= m.summary["segmented_at_both"]
    (['customer_id', 'segment_from', 'segment_to'], True)
    """
    kind, tx = as_input(transactions)
    _, cu = optional_input(customers)
    table, js, md = _native.migrate(
        tx,
        from_date,
        to_date,
        cu,
        rules=_rules(rules),
        bins=bins,
        ties=ties,
        top=top,
        columns=dict(columns) if columns else None,
        progress=progress,
    )
    return Migration(as_output(table, kind), js, md)


def compare(
    customers: Any,
    group: str = "seller_group",
    outcome: str = "sale_success",
    *,
    features: Optional[list] = None,
    exclude: Optional[list] = None,
    seed: int = 42,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
    **params: Any,
) -> Comparison:
    """Where does each ``group`` (a seller team, channel, variant) reach a better ``outcome``
    (0/1 or a number)? Candidate rules over the customers' columns are found on a training
    split and tested on held-out customers (q-values over all rules, bootstrap stability,
    verdicts IMPLEMENT NOW / PILOT / ...), exactly as ``segmint compare`` does: the same data
    and seed give the same rules. ``params`` are that command's options by their library names
    (``test_size``, ``max_conditions``, ``min_share``, ``min_customers``, ``methods``,
    ``min_effect``, ``fdr``, ``bootstrap``, ...).

    The demo data plant a segment (high income, not premium) where group A sells better:

    >>> import segmint
    >>> data = segmint.demo(customers=10000)
    >>> cmp = segmint.compare(data["customers"], group="seller_group", outcome="sale_success")
    >>> cmp.rules[["rule", "verdict", "recommended_group"]].iloc[0].tolist()
    ['income > 160000 and premium is false and loyalty_points > 242', 'IMPLEMENT NOW', 'A']
    >>> print(cmp.to_sql("postgres").splitlines()[0])
    -- segmint 0.1.0 compare: 8 routing rule(s), first match wins (postgres SQL)
    """
    kind, cu = as_input(customers)
    params = dict(params, seed=seed)
    native = _native.compare(
        cu,
        group,
        outcome,
        features=list(features) if features else None,
        exclude=list(exclude or []),
        params=json.dumps(params),
        columns=dict(columns) if columns else None,
        progress=progress,
    )
    return Comparison(native, kind)


def run(
    data: Any = None,
    out: Any = "segmint-out",
    *,
    stages: Optional[list] = None,
    skip: Optional[list] = None,
    seed: int = 42,
    ref_date: Optional[str] = None,
    rules: Any = "default",
    group: str = "seller_group",
    outcome: str = "sale_success",
    columns: Optional[Mapping[str, str]] = None,
    timestamp_format: Optional[str] = None,
    timezone: Optional[str] = None,
    missing_ids: Optional[str] = None,
    progress: bool = False,
) -> Run:
    """The whole analysis, as ``segmint run`` does it: validation, the mart, RFM segments,
    compare, clusters, CLV with its holdout check, churn, value, conversion and hidden segments
    (each where its tables are there), and the HTML report, written into ``out``.

    ``data`` is a directory with ``transactions`` / ``customers`` / ``events`` files, or a dict
    of tables (``{"transactions": df, "customers": df2, "events": df3}``; any input kind).
    ``stages`` / ``skip`` choose among rfm, compare, cluster, clv, clv_holdout, churn, value,
    conversion, hidden. A stage that fails is listed in ``skipped`` with its error.

    >>> import segmint
    >>> import tempfile
    >>> data = segmint.demo(customers=2000)
    >>> r = segmint.run({"transactions": data["transactions"], "customers": data["customers"]},
    ...     out=tempfile.mkdtemp(), stages=["rfm", "cluster", "clv"])
    >>> r.stages, r.skipped, os.path.basename(r.report)
    (['mart', 'rfm', 'cluster', 'clv'], [], 'report.html')
    """
    kind = ARROW
    tables: dict = {}
    if isinstance(data, Mapping):
        unknown = set(data) - {"transactions", "customers", "events"}
        if unknown:
            raise SegmintError(f"unknown tables {sorted(unknown)}: expected transactions, customers, events")
        for name, obj in data.items():
            k, tables[name] = optional_input(obj)
            if name == "transactions":
                kind = k
        data = None
    elif data is None:
        raise SegmintError("no input: pass a data directory or a dict of tables")
    summary = _native.run(
        os.fspath(out),
        None if data is None else os.fspath(data),
        tables.get("transactions"),
        tables.get("customers"),
        tables.get("events"),
        stages=list(stages) if stages is not None else None,
        skip=list(skip or []),
        seed=seed,
        ref_date=ref_date,
        rules=_rules(rules),
        group=group,
        outcome=outcome,
        progress=progress,
        **_reading(columns, timestamp_format, timezone, missing_ids),
    )
    return Run(os.fspath(out), summary, kind if isinstance(kind, str) else ARROW)


def demo(customers: int = 2000, seed: int = 42, *, kind: str = "pandas", out: Any = None) -> dict:
    """The built-in demo data (``segmint demo``): customers with planted segments, their
    transactions (with returns), clickstream events, products and the ground truth, as a dict
    of tables (``kind``: ``"pandas"``, ``"polars"`` or ``"pyarrow"``). ``out`` also keeps the
    Parquet files there.

    >>> import segmint
    >>> data = segmint.demo(customers=1000)
    >>> sorted(data), len(data["customers"])
    (['customers', 'events', 'ground_truth', 'products', 'transactions'], 1000)
    """
    import tempfile

    import pyarrow.parquet as pq

    if kind not in ("pandas", "polars", "pyarrow"):
        raise SegmintError(f'kind must be "pandas", "polars" or "pyarrow", not {kind!r}')
    with tempfile.TemporaryDirectory(prefix="segmint-demo-") as tmp:
        dest = os.fspath(out) if out is not None else tmp
        _native.demo(dest, customers=customers, seed=seed)
        tables = {}
        for name in sorted(os.listdir(dest)):
            if name.endswith(".parquet"):
                t = pq.read_table(os.path.join(dest, name))
                tables[name[: -len(".parquet")]] = as_output(t, {"pyarrow": ARROW}.get(kind, kind))
        return tables
