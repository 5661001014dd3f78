"""Smoke test: ``benchmarks/peers.py --quick`` runs in the main venv (no peers there) and its wlra_core rows have finite numbers."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_peer_benchmark_has_finite_wlra_core_rows(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "peers.py"), "--quick",
         "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| case | contender | k |" in done.stdout

    markdown = (tmp_path / "peers_quick.md").read_text()
    for header in ("date:", "machine:", "load average", "BLAS (threadpoolctl)", "command:",
                   "| case | contender | k |"):
        assert header in markdown
    with open(tmp_path / "peers_quick.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    ours = [row for row in rows if row["contender"].startswith("wlra_core")]
    assert {"exact", "cg"} <= {row["solver"] for row in ours}
    for row in ours:
        for column in ("s_per_iter", "fit_seconds"):
            value = float(row[column])
            assert math.isfinite(value) and value > 0, (row["contender"], column)
        for column in ("final_rmse", "best_rmse"):
            assert math.isfinite(float(row[column])), (row["contender"], column)
    # the biased model is scored on its own prediction, offsets included: it fits the same ratings
    # at least as well as the centred one (scored on X Yᵀ alone it was 3.7 against 0.95)
    for solver in {row["solver"] for row in ours}:
        plain = [float(r["best_rmse"]) for r in ours if r["solver"] == solver and r["bias"] == "False"]
        biased = [float(r["best_rmse"]) for r in ours if r["solver"] == solver and r["bias"] == "True"]
        if plain and biased:
            assert biased[0] <= 1.05 * plain[0], (solver, biased, plain)
    assert any(r["bias"] == "True" for r in ours)
    # a peer missing from this venv is reported as a row, not a crash
    assert {"surprise SVD", "implicit ALS"} <= {row["contender"] for row in rows}
