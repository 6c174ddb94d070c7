"""Hidden segments: does one global model of a target (spend, order value) hide groups of
customers that behave differently? (``segmint segments discover``)"""

from __future__ import annotations

import json
import os
from typing import Any, List, Mapping, Optional

from . import _native
from ._results import OutputDir, _DirResult
from ._tables import as_input, as_output, optional_input

__all__ = ["discover", "Discovery"]


class Discovery(_DirResult):
    """The segments found (rules, sizes, their own models), the verdict against one global
    model on held-out customers, and agreement with ``truth`` when given."""

    _section = "hidden"

    def __init__(self, kind: str, out: OutputDir, report: str, markdown: str, notes: List[str]):
        super().__init__(out, markdown, notes)
        self._kind = kind
        self.report: dict = json.loads(report)

    @property
    def segments(self) -> Any:
        """Per segment: its rule, customers and the model's numbers."""
        import pyarrow as pa

        return as_output(pa.Table.from_pylist(self.report.get("segments", [])), self._kind)

    @property
    def assignments(self) -> Any:
        """Each customer's segment."""
        return as_output(self._read("segments.parquet"), self._kind)

    @property
    def verdict(self) -> str:
        return self.report.get("verdict", "")


def discover(
    transactions: Any,
    customers: Any = None,
    *,
    target: str = "monetary",
    features: Optional[List[str]] = None,
    exclude: Optional[List[str]] = None,
    truth: Optional[str] = None,
    test_size: float = 0.3,
    seed: int = 42,
    out: Optional[os.PathLike] = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: bool = False,
    **search: Any,
) -> Discovery:
    """Searches for segments in which ``target`` (a mart column or any numeric customer column)
    follows its own model. ``search`` keywords set the search: ``method`` (``"both"``, the
    default: partitioning and mixture of regressions compared on validation rows; ``"mob"``;
    ``"mixture"``), ``transform`` (``"auto"``, ``"none"``, ``"log1p"``: the target's scale for
    every model, errors always on the original scale), ``max_components`` and ``restarts`` (the
    mixture), ``max_depth``, ``min_share``, ``min_gain`` (the trees), ``min_improvement``,
    ``alpha``, ``bootstrap``. ``truth`` names a customers column with known segments to compare
    with (adjusted Rand index). The report says which method and transformation were used
    (``report["method"]``, ``report["transform"]``) and the validation errors that chose them
    (``report["selection"]``, ``report["transforms"]``).

    >>> import segmint
    >>> data = segmint.demo(customers=5000)
    >>> d = segmint.segments.discover(data["transactions"], data["customers"], truth="tier", bootstrap=50)
    >>> d.verdict, d.report["truth"]["ari"] > 0.5
    ('use_segment_models', True)
    """
    kind, tx = as_input(transactions)
    params = dict(target=target, test_size=test_size, features=list(features or []), exclude=list(exclude or []))
    params["search"] = dict(search, seed=seed)
    dest = OutputDir(out)
    report, markdown, notes = _native.discover(
        tx,
        dest.path,
        optional_input(customers)[1],
        params=json.dumps(params),
        truth=truth,
        columns=dict(columns) if columns else None,
        progress=progress,
    )
    return Discovery(kind, dest, report, markdown, notes)
