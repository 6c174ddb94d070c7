"""Tests of the Python package: input kinds, parity with the pandas peers, errors, the GIL.

Run from a venv with the package installed (``.ci/run`` builds the wheel and runs them):
``python -m pytest crates/segmint-py/tests``. The parity tests on the reference data need
``../shared/bench`` (``SEGMINT_BENCH_DIR``); they skip visibly without it unless
``SEGMINT_PEER_TESTS=1``.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import segmint

REPO = Path(__file__).resolve().parents[3]
BENCH = Path(os.environ.get("SEGMINT_BENCH_DIR", REPO.parent / "shared" / "bench"))
REQUIRED = os.environ.get("SEGMINT_PEER_TESTS") == "1"

TX = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c", "c"],
        "order_id": ["1", "2", "3", "4", "4"],
        "timestamp": ["2024-01-01", "2024-02-01 10:00:00", "2024-01-15", "2024-01-20", "2024-01-21"],
        "amount": [10.0, 5.5, 7.25, 3.10, -1.05],
    }
)
# by hand: a 2 orders 15.50, b 1 order 7.25, c 1 order net 2.05 (the return nets)
EXPECTED = {"a": (2, 15.5), "b": (1, 7.25), "c": (1, 2.05)}


def check_mart(m):
    assert list(m["customer_id"]) == ["a", "b", "c"]
    assert list(m["frequency"]) == [v[0] for v in EXPECTED.values()]
    assert list(m["monetary"]) == [v[1] for v in EXPECTED.values()]


class Capsule:
    """Only the Arrow PyCapsule interface, nothing else."""

    def __init__(self, table):
        self.table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self.table.__arrow_c_stream__(requested_schema)


def test_every_input_kind_round_trips(tmp_path):
    m = segmint.mart(TX)
    assert isinstance(m, pd.DataFrame)
    check_mart(m)
    m = segmint.mart(pl.from_pandas(TX))
    assert isinstance(m, pl.DataFrame)
    check_mart(m.to_pandas())
    m = segmint.mart(pl.from_pandas(TX).lazy())
    assert isinstance(m, pl.DataFrame)
    arrow = pa.Table.from_pandas(TX, preserve_index=False)
    for obj in [arrow, arrow.to_batches()[0], Capsule(arrow), duckdb.sql("select * from TX")]:
        m = segmint.mart(obj)
        assert isinstance(m, pa.Table), type(obj)
        check_mart(m.to_pandas())
    path = tmp_path / "transactions.parquet"
    pq.write_table(arrow, path)
    check_mart(segmint.mart(path).to_pandas())
    check_mart(segmint.mart(str(path)).to_pandas())
    csv = tmp_path / "transactions.csv"
    TX.to_csv(csv, index=False)
    check_mart(segmint.mart(csv).to_pandas())


def test_real_export_options():
    """The command line's reading options, on a frame shaped like the Online Retail export."""
    raw = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536366", "C536367", "536368"],
            "Quantity": [6, 2, 1, -1, 3],
            "InvoiceDate": ["01.12.2010 08:26", "01.12.2010 08:26", "02.12.2010 09:00", "03.12.2010 10:00", "03.12.2010 11:00"],
            "UnitPrice": [2.55, 1.85, 10.0, 1.85, 1.0],
            "CustomerID": ["17850", "17850", "17850", "17850", None],
        }
    )
    m = segmint.mart(
        raw,
        columns={
            "customer_id": "CustomerID",
            "order_id": "InvoiceNo",
            "timestamp": "InvoiceDate",
            "amount": "Quantity * UnitPrice",
        },
        timestamp_format="%d.%m.%Y %H:%M",
        timezone="Europe/London",
        missing_ids="drop",
    )
    # 6 * 2.55 + 2 * 1.85 + 10 - 1.85, exact to the cent (15.30 + 3.70 + 10 - 1.85)
    assert m["monetary"].tolist() == [27.15]
    assert m["frequency"].tolist() == [2]
    report = segmint.validate(
        raw,
        columns={"customer_id": "CustomerID", "order_id": "InvoiceNo", "timestamp": "InvoiceDate", "amount": "Quantity * UnitPrice"},
        timestamp_format="%d.%m.%Y %H:%M",
        missing_ids="drop",
    )
    assert report["tables"][0]["dropped"] == {"rows": 1, "amount": 3.0}


def test_bad_input_raises_segmint_error_naming_the_column():
    bad = TX.assign(amount=["1", "2", "ten", "4", "5"])
    with pytest.raises(segmint.SegmintError, match=r'row 3, column amount: not a number \(value: "ten"\)'):
        segmint.mart(bad)
    assert issubclass(segmint.SegmintError, ValueError)
    with pytest.raises(segmint.SegmintError, match="missing column amount"):
        segmint.mart(TX.drop(columns=["amount"]))
    with pytest.raises(segmint.SegmintError, match="missing_ids must be error or drop"):
        segmint.mart(TX, missing_ids="skip")
    with pytest.raises(segmint.SegmintError, match='ties: unknown variant `dense`, expected `first` or `average`'):
        segmint.rfm(TX, ties="dense")
    with pytest.raises(segmint.SegmintError, match="bins"):
        segmint.rfm(TX, bins=1)
    with pytest.raises(TypeError, match="expected a pandas or Polars DataFrame"):
        segmint.mart([1, 2, 3])


def test_gil_is_released_while_segmint_works():
    """A Python thread keeps running while the engine builds a mart of 2M rows."""
    n = 2_000_000
    rng = np.random.default_rng(42)
    big = pa.table(
        {
            "customer_id": pa.array((rng.integers(0, 200_000, n)).astype(str)),
            "order_id": pa.array(np.arange(n).astype(str)),
            "timestamp": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")),
            "amount": pa.array(np.round(rng.gamma(2.0, 20.0, n), 2)),
        }
    )
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.perf_counter()
    m = segmint.mart(big)
    end = time.perf_counter()
    done.set()
    t.join()
    assert m.num_rows > 190_000
    during = [x for x in ticks if start < x < end]
    # with the GIL held the counter could not run at all between start and end
    assert len(during) >= 5, (len(during), end - start)


def _peer(script, data, out):
    r = subprocess.run(
        [sys.executable, str(BENCH / "peers" / script), "--data", str(data), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_THREADS": "1"},
    )
    return r.stdout


def test_rfm_from_polars_equals_pandas_peer(reference, tmp_path):
    """The reference data (gen_data.py, 20k customers, seed 42) as Polars frames: every row of
    segmint.rfm equals ../shared/bench/peers/rfm_pandas.py (pandas 3.1.1)."""
    _peer("rfm_pandas.py", reference, tmp_path)
    want = pd.read_parquet(tmp_path / "rfm_pandas.parquet")
    tx = pl.read_parquet(reference / "transactions.parquet")
    customers = pl.read_parquet(reference / "customers.parquet")
    got = segmint.rfm(tx, customers).to_pandas()
    assert len(got) == len(want) > 19_000
    for col in ["customer_id", "recency_days", "frequency", "R", "F", "M", "segment"]:
        assert got[col].tolist() == want[col].tolist(), col
    assert got["monetary"].tolist() == want["monetary"].tolist()


def test_mart_from_pandas_equals_pandas_peer(reference, tmp_path):
    """segmint.mart on a pandas frame equals ../shared/bench/peers/mart_pandas.py row for row."""
    _peer("mart_pandas.py", reference, tmp_path)
    want = pd.read_parquet(tmp_path / "mart_pandas.parquet")
    got = segmint.mart(pd.read_parquet(reference / "transactions.parquet"))
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for col in ["recency_days", "frequency", "monetary", "tenure_days", "total_quantity"]:
        assert got[col].tolist() == want[col].tolist(), col


@pytest.fixture(scope="module")
def cdnow_sample():
    """The CDNOW sample (lifetimes 0.11.3 wheel) as a pandas frame, as lifetimes' users read it."""
    path = Path(os.environ.get("SEGMINT_REAL_DATA", "/nonexistent")) / "CDNOW_sample.txt"
    if not path.is_file():
        if os.environ.get("SEGMINT_REAL_DATA_TESTS") == "1":
            pytest.fail(f"SEGMINT_REAL_DATA_TESTS=1 but {path} is missing")
        pytest.skip("SKIPPED real-data test: SEGMINT_REAL_DATA has no CDNOW_sample.txt (testdata/real/fetch_public.py)")
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "master_id", "date", "cds", "dollars"],
                     dtype={"id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


@pytest.mark.parametrize("freq,multiplier", [("D", 1), ("W", 7)])
def test_clv_equals_lifetimes_on_cdnow(cdnow_sample, freq, multiplier):
    """A lifetimes notebook with its import changed: summary, BG/NBD and Gamma-Gamma on the CDNOW
    sample equal lifetimes 0.11.3 (summary_data_from_transaction_data with freq="D" and
    freq_multiplier 1 or 7; its likelihoods, evaluated at both fits)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    ref = summary_data_from_transaction_data(cdnow_sample, "id", "date", monetary_value_col="dollars",
                                             observation_period_end="1998-06-30", freq="D",
                                             freq_multiplier=multiplier)
    s = segmint.clv.summary(cdnow_sample, "id", "date", "dollars", observation_period_end="1998-06-30",
                            freq=freq, purchases="non-negative")
    assert len(s) == len(ref) == 2357
    s = s.loc[ref.index]
    for col in ["frequency", "recency", "T", "monetary_value"]:
        np.testing.assert_allclose(s[col], ref[col], rtol=1e-12, atol=1e-9, err_msg=col)

    lt = BetaGeoFitter().fit(ref["frequency"], ref["recency"], ref["T"])
    bg = segmint.clv.BetaGeo().fit(s["frequency"], s["recency"], s["T"])
    for k in ["r", "alpha", "a", "b"]:
        # lifetimes' optimiser stops ~1e-6 short of the optimum (its likelihood below)
        assert abs(bg.params_[k] - lt.params_[k]) <= 2e-6 * abs(lt.params_[k]), k
    weights = np.ones(len(ref))
    nll = lambda p: BetaGeoFitter._negative_log_likelihood(  # noqa: E731
        np.log([p["r"], p["alpha"], p["a"], p["b"]]), ref["frequency"].to_numpy(), ref["recency"].to_numpy(),
        ref["T"].to_numpy(), weights, 0.0)
    assert nll(bg.params_) <= nll(lt.params_)
    # predictions at the same parameters: equal
    at_ours = BetaGeoFitter()
    at_ours.params_ = pd.Series(dict(bg.params_))
    np.testing.assert_allclose(
        bg.conditional_expected_number_of_purchases_up_to_time(10, s["frequency"], s["recency"], s["T"]),
        at_ours.conditional_expected_number_of_purchases_up_to_time(10, ref["frequency"], ref["recency"], ref["T"]),
        rtol=1e-9)
    np.testing.assert_allclose(
        bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"]),
        at_ours.conditional_probability_alive(ref["frequency"], ref["recency"], ref["T"]), rtol=1e-9)

    repeat = ref[(ref["frequency"] > 0) & (ref["monetary_value"] > 0)]
    lg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    gg = segmint.clv.GammaGamma().fit(s["frequency"], s["monetary_value"])
    for k in "pqv":
        assert abs(gg.params_[k] - lg.params_[k]) <= 1e-6 * abs(lg.params_[k]), k
    at_ours = GammaGammaFitter()
    at_ours.params_ = pd.Series(dict(gg.params_))
    np.testing.assert_allclose(
        gg.conditional_expected_average_profit(repeat["frequency"], repeat["monetary_value"]),
        at_ours.conditional_expected_average_profit(repeat["frequency"], repeat["monetary_value"]), rtol=1e-12)


def test_clv_errors():
    with pytest.raises(segmint.SegmintError, match='freq must be "D", "W" or "M"'):
        segmint.clv.summary(TX, freq="Q")
    with pytest.raises(segmint.SegmintError, match="not fitted"):
        segmint.clv.BetaGeo().conditional_probability_alive([1], [1], [2])
    with pytest.raises(segmint.SegmintError, match="recency has 1 values, frequency has 2"):
        segmint.clv.BetaGeo().fit([1, 2], [1], [3, 4])
