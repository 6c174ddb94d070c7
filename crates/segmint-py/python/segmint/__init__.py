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
from typing import Any, Mapping, Optional

from . import _native, clv
from ._native import SegmintError
from ._tables import as_input, as_output, optional_input

__all__ = ["SegmintError", "clv", "mart", "rfm", "validate", "__version__"]
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


def rfm(
    transactions: Any,
    customers: Any = None,
    rules: str = "default",
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
    set: ``"default"``, ``"standard"`` or a TOML rule file. ``customers`` (optional) gives the
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
        rules=rules,
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
