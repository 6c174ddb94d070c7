"""Shared fixtures: the reference data of ../shared/bench (generated once per session).

Tests that need ../shared (``SEGMINT_BENCH_DIR``) skip visibly in a bare clone and fail instead
under ``SEGMINT_PEER_TESTS=1`` (``.ci/run``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BENCH = Path(os.environ.get("SEGMINT_BENCH_DIR", REPO.parent / "shared" / "bench"))
REQUIRED = os.environ.get("SEGMINT_PEER_TESTS") == "1"


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """gen_data.py's reference data: 20k customers, seed 42 (transactions, customers, events)."""
    if not (BENCH / "gen_data.py").is_file():
        if REQUIRED:
            pytest.fail(f"SEGMINT_PEER_TESTS=1 but {BENCH} has no gen_data.py")
        pytest.skip(f"SKIPPED peer test: {BENCH} not found (set SEGMINT_BENCH_DIR)")
    out = tmp_path_factory.mktemp("ref")
    subprocess.run(
        [sys.executable, str(BENCH / "gen_data.py"), "--customers", "20000", "--seed", "42", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out
