"""Tables in, tables out: what the caller handed over decides what comes back.

pandas in, pandas out; Polars in, Polars out; anything else (pyarrow, a DuckDB relation, any
object with ``__arrow_c_stream__``, a file path) comes back as a ``pyarrow.Table``. Inputs are
handed to the engine as Arrow C streams without a copy: pyarrow as it is, pandas through
``pyarrow.Table.from_pandas`` (pandas 3's string columns and numeric columns without nulls are
Arrow buffers already; object-dtype strings are converted), Polars through its C stream (its
``Utf8View`` strings are converted to ``Utf8`` by the engine's reader).
"""

from __future__ import annotations

import os
from typing import Any, Tuple

import pyarrow as pa

PANDAS = "pandas"
POLARS = "polars"
ARROW = "arrow"


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def as_input(obj: Any) -> Tuple[str, Any]:
    """The kind of ``obj`` and an object the engine reads (a path, or an Arrow stream)."""
    if isinstance(obj, (str, os.PathLike)):
        return ARROW, os.fspath(obj)
    module = _module(obj)
    if module == "pandas":
        return PANDAS, pa.Table.from_pandas(obj, preserve_index=False)
    if module == "polars":
        if hasattr(obj, "collect") and not hasattr(obj, "to_arrow"):
            obj = obj.collect()  # a LazyFrame
        return POLARS, obj
    if module == "duckdb":
        # a relation: its result as Arrow (DuckDB streams it in record batches)
        if hasattr(obj, "__arrow_c_stream__"):
            return ARROW, obj
        return ARROW, obj.arrow()
    if isinstance(obj, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)) or hasattr(
        obj, "__arrow_c_stream__"
    ):
        return ARROW, obj
    raise TypeError(
        f"expected a pandas or Polars DataFrame, a pyarrow Table, a DuckDB relation, an object "
        f"with __arrow_c_stream__ or a file path, not {type(obj).__name__}"
    )


def optional_input(obj: Any) -> Tuple[str, Any]:
    """Like :func:`as_input`, with ``None`` passed through."""
    if obj is None:
        return ARROW, None
    return as_input(obj)


def as_output(table: pa.Table, kind: str) -> Any:
    """``table`` as the kind the caller handed over."""
    if kind == PANDAS:
        return table.to_pandas()
    if kind == POLARS:
        import polars as pl

        return pl.from_arrow(table)
    return table
