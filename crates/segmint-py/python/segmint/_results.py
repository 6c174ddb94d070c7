"""Result objects: typed views over what the engine computed, shown in Jupyter as the report
section of that result (``_repr_html_``) and as Markdown in a terminal (``repr``)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, List, Optional

import pyarrow as pa

from . import _native
from ._tables import as_output


class OutputDir:
    """Where an analysis writes its files: ``out`` if given (kept), else a temporary directory
    removed with the result."""

    def __init__(self, out: Optional[os.PathLike]):
        self._tmp = None if out is not None else tempfile.TemporaryDirectory(prefix="segmint-")
        self.path = os.fspath(out) if out is not None else self._tmp.name
        os.makedirs(self.path, exist_ok=True)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


class Comparison:
    """Where each group does better (``segmint.compare``).

    ``rules`` is the top table (one row per validated rule: the rule, the pair compared, test
    shares, means, difference with its 95% interval, p and q values, stability, verdict and
    recommended group); ``assignments`` gives every customer's split, predicted outcome per
    group, matching rule and recommended group. ``to_sql(dialect)`` and ``to_python()`` export
    the routing exactly as ``segmint compare`` writes it.
    """

    def __init__(self, native: Any, kind: str):
        self._native = native
        self._kind = kind

    @property
    def rules(self) -> Any:
        return as_output(self._native.rules(), self._kind)

    @property
    def assignments(self) -> Any:
        return as_output(self._native.assignments(), self._kind)

    @property
    def notes(self) -> List[str]:
        """Customers and columns left out, and what reading the table decided."""
        return self._native.notes

    def to_dict(self) -> dict:
        """The whole comparison (``rules.json``)."""
        return json.loads(self._native.json())

    @property
    def arms(self) -> Optional[dict]:
        """With ``control=``: each arm's lift over the control, overall and per rule
        (``arms.json``); ``None`` without a control."""
        both = self._native.arms_and_policy()
        return json.loads(both[0]) if both else None

    @property
    def policy(self) -> Optional[dict]:
        """With ``control=``: the policy tree (``leaves``: rule and arm), its held-out value and
        the baselines' (``value_test``), as ``policy.json``; ``None`` without a control. Each
        customer's arm is ``assignments["recommended_arm"]``."""
        both = self._native.arms_and_policy()
        return json.loads(both[1]) if both else None

    def to_sql(self, dialect: str = "duckdb", table: str = "customers") -> str:
        """The routing as one SELECT (``postgres``, ``duckdb`` or ``spark``) over ``table``."""
        return self._native.to_sql(dialect, table)

    def to_python(self) -> str:
        """The routing as Python source with ``route(row)`` and ``rule_id(row)``."""
        return self._native.to_python()

    def to_json(self) -> str:
        """The routing rules as JSON (``routing.json``)."""
        return self._native.routing_json()

    def write(self, out: os.PathLike, table: str = "customers") -> None:
        """Writes the files of ``segmint compare --out DIR``."""
        self._native.write(os.fspath(out), table)

    def _repr_html_(self) -> str:
        return self._native.html()

    def __repr__(self) -> str:
        return self._native.markdown(10)


class Profile:
    """What distinguishes the segments (``segmint.profile``): ``segments`` (per segment its
    customers, share, revenue and the features' median [q25, q75]), ``features`` (ranked by
    the Kruskal-Wallis effect size epsilon²), ``to_dict()`` (everything, ``profile.json``)."""

    def __init__(self, segments: Any, features: Any, profile_json: str, html: str, notes: List[str]):
        self.segments = segments
        self.features = features
        self._json = profile_json
        self._html = html
        self.notes = notes

    def to_dict(self) -> dict:
        return json.loads(self._json)

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return f"Profile of {len(self.segments)} segments"


class Migration:
    """RFM segment migration between two dates (``segmint.migrate``): ``customers`` (per
    customer the segment at each date), ``summary`` (the transition matrix, shares, biggest
    flows)."""

    def __init__(self, customers: Any, summary_json: str, markdown: str):
        self.customers = customers
        self.summary = json.loads(summary_json)
        self._markdown = markdown

    def __repr__(self) -> str:
        return self._markdown

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self._markdown) + "</pre>"


class _DirResult:
    """A result whose files live in a directory, with its report section."""

    _section = ""

    def __init__(self, out: OutputDir, summary: str, notes: List[str]):
        self._out = out
        self._summary = summary
        self.notes = notes

    @property
    def out(self) -> str:
        """The directory with the files the command line writes."""
        return self._out.path

    def _read(self, name: str) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(self._out.file(name))

    def _repr_html_(self) -> str:
        return _native.section_html(self._section, self._out.path)

    def __repr__(self) -> str:
        return self._summary


class Run:
    """The whole analysis (``segmint.run``): its files in ``out`` (``report.html``,
    ``summary.json``, ``mart.parquet``, ``rfm.parquet``, ``clusters/``, ``clv/``, ``churn/``,
    ...), ``summary`` (what ran, what did not and why), ``report`` (the HTML file's path); in
    Jupyter it shows the report itself."""

    def __init__(self, out: str, summary_json: str, kind: str):
        self.out = out
        self.summary: dict = json.loads(summary_json)
        self.report = os.path.join(out, "report.html")
        self._kind = kind

    @property
    def stages(self) -> List[str]:
        return [s["stage"] for s in self.summary["stages"]]

    @property
    def skipped(self) -> List[str]:
        return list(self.summary["skipped"])

    def table(self, name: str) -> Any:
        """A table the run wrote (``"mart"``, ``"rfm"``, ``"clusters/clusters"``, ``"clv/clv"``,
        ``"churn/predictions"``, ...), in the kind of the input."""
        import pyarrow.parquet as pq

        return as_output(pq.read_table(os.path.join(self.out, name + ".parquet")), self._kind)

    def _repr_html_(self) -> str:
        import html

        with open(self.report, encoding="utf-8") as f:
            doc = f.read()
        # an iframe keeps the report's stylesheet out of the notebook's
        return ('<iframe style="width:100%;height:800px;border:0" srcdoc="' + html.escape(doc, quote=True)
                + '"></iframe>')

    def __repr__(self) -> str:
        return (f"Run: {', '.join(self.stages)} -> {self.report}"
                + "".join(f"\n  skipped {s}" for s in self.skipped))
