"""Smoke test: ``benchmarks/solvers.py --quick`` runs, and its table has every solver with finite numbers."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest

import wlra_core as wc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAM = "exact: Gram product only"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_quick_benchmark_has_every_solver_and_finite_numbers(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "solvers.py"), "--quick",
         "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| case | k | solver |" in done.stdout

    markdown = (tmp_path / "solvers_quick.md").read_text()
    for header in ("date:", "machine:", "cores", "BLAS (threadpoolctl)"):
        assert header in markdown
    with open(tmp_path / "solvers_quick.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    expected = {("exact", ""), ("cg", ""), (GRAM, "")} | {("sketched", s) for s in wc.SKETCHES}
    for case in ("dense", "sparse", "ratings"):
        in_case = [row for row in rows if row["case"] == case]
        assert expected <= {(row["solver"], row["sketch"]) for row in in_case}, case
        for row in in_case:
            assert "failed" not in row["note"] and "skipped" not in row["note"], row
            for column in ("s_per_iter", "ratio_exact", "ratio_gemm", "gemm_s"):
                value = float(row[column])
                assert math.isfinite(value) and value > 0, (case, row["solver"], column)
            if row["solver"] != GRAM:
                assert math.isfinite(float(row["relative_objective"])), row
                assert float(row["peak_mb"]) >= 0, row
        # equal regression accuracy: the same objective as exact after the same iterations
        for row in in_case:
            if row["objective_vs_exact"]:
                assert abs(float(row["objective_vs_exact"])) < 1e-4, row

    linearity = [row for row in rows if row["case"] == "linearity"]
    assert len(linearity) == 3
    assert all(math.isfinite(float(row["s_per_iter"])) for row in linearity)
