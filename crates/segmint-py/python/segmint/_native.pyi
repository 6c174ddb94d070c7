"""Type stubs of the native module (src/lib.rs); use the functions of `segmint` instead."""

from typing import Any, Dict, Optional

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
