"""Smoke test: ``benchmarks/ratings.py --quick`` runs every case to the end in the main venv
(Surprise is absent there and reported as missing rows) with finite numbers for wlra_core."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_ratings_benchmark_runs_every_case_with_finite_numbers(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "ratings.py"), "--quick",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=170)
    assert done.returncode == 0, done.stderr[-2000:]
    markdown = (tmp_path / "ratings_quick.md").read_text()
    for header in ("date:", "machine:", "load average", "BLAS (threadpoolctl)", "command:", "Acceptance"):
        assert header in markdown
    with open(tmp_path / "ratings_quick.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cases = {"100k", "1m", "sample"}
    assert {r["case"] for r in rows} == cases
    wanted = {"wlra_core plain", "wlra_core bias", "wlra_core bias+count", "wlra_core fit_biases",
              "surprise BaselineOnly", "surprise SVD"}
    for case in cases:
        assert wanted <= {r["contender"] for r in rows if r["case"] == case}
    for r in rows:
        if r["contender"].startswith("wlra_core"):
            assert math.isfinite(float(r["test_rmse"])) and float(r["test_rmse"]) > 0
            assert float(r["fit_seconds"]) > 0
        if r["contender"].startswith("wlra_core") and r["contender"] != "wlra_core fit_biases":
            curve = [float(v) for v in r["rmse_curve"].split(";")]
            assert all(math.isfinite(v) for v in curve)
            assert float(r["true_best_rmse"]) == pytest.approx(min(curve), rel=1e-5)   # CSV keeps 6 digits
            assert 0 <= float(r["stopping_gap"]) < 1
        if r["case"] != "sample" and r["contender"].startswith("wlra_core"):
            assert float(r["ratio_to_floor"]) > 0.9      # the floor is the planted truth's own error
