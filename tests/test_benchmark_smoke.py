"""Smoke test: ``benchmarks/solvers.py --quick`` runs every case and solver and reports finite numbers.

Nothing here depends on the machine's speed or load: --quick runs every case x solver to its
iteration cap with no time budget, and only the table's completeness and its numbers' sanity are
checked, never a time. The timeouts are generous limits against a hang, not budgets.
"""
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
FLOOR = "floor: plain product"
CASES = ("dense3072", "dense4096", "lognormal3072", "sparse20000", "app170x768", "app256x256",
         "ratings")
# the iterative solvers' objective after the same iterations as exact's, when their regressions
# are solved to eps = 1e-8 (no inner_eps, or a numeric one this tight): equal within round-off,
# loosely. A looser inner accuracy (the "adaptive" default) follows another path on the way, so
# there only a finite, positive objective is asserted (the time to accuracy is the comparison)
SAME_OBJECTIVE = 1e-3


def _regressions_to_eps(inner_eps: str) -> bool:
    if inner_eps == "":
        return True
    try:
        return float(inner_eps) <= 1e-6
    except ValueError:
        return False


def _float(row: dict, column: str) -> float:
    text = row[column]
    assert text != "", (column, row)
    return float(text)


def _positive(row: dict, column: str) -> float:
    value = _float(row, column)
    assert math.isfinite(value) and value > 0, (column, row)
    return value


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "solvers.py"), "--quick",
         "--out-dir", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "solvers_quick.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return done.stdout, (out / "solvers_quick.md").read_text(), rows


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_benchmark_header(quick_run):
    stdout, markdown, _ = quick_run
    assert "| case | k | solver |" in stdout
    for header in ("date:", "machine:", "cores", "load average", "BLAS (threadpoolctl)",
                   "numpy", "scipy", "command: `python benchmarks/solvers.py --quick"):
        assert header in markdown, header
    for case in CASES:
        assert f"- {case}: " in markdown, case  # each problem described


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_benchmark_has_every_case_and_solver_with_finite_numbers(quick_run):
    _, _, rows = quick_run
    solvers = {("exact", ""), ("cg", "")} | {("sketched", s) for s in wc.SKETCHES}
    if "auto" in wc.SOLVERS:
        solvers.add(("auto", ""))
    for case in CASES:
        in_case = [row for row in rows if row["case"] == case]
        assert in_case, case
        for k in sorted({row["k"] for row in in_case}):
            at_k = [row for row in in_case if row["k"] == k]
            found = {(row["solver"], row["sketch"]) for row in at_k}
            assert solvers | {(GRAM, ""), (FLOOR, "")} <= found, (case, k, found)
            exact = next(row for row in at_k if row["solver"] == "exact")
            assert exact["tta_status"] == "reached", exact  # its own final f* at the latest
            for row in at_k:
                where = (case, k, row["solver"], row["sketch"])
                for word in ("skipped", "failed", "budget"):
                    assert word not in row["note"] and word not in row["stop"], (where, row)
                assert row["estimate"] == "", (where, row)
                for column in ("s_per_iter", "ratio_exact", "ratio_floor"):
                    _positive(row, column)
                if row["solver"] in (GRAM, FLOOR):
                    continue
                low, mid, high = (_positive(row, c) for c in ("s_min", "s_per_iter", "s_max"))
                assert low <= mid <= high, (where, row)
                assert int(row["timed_iterations"]) >= 1 and int(row["iterations"]) >= 2, row
                assert math.isfinite(_float(row, "relative_objective")), row
                if row["exact_rows_pct"]:
                    assert 0 <= float(row["exact_rows_pct"]) <= 100, row
                if row["inner_mean"]:
                    assert float(row["inner_mean"]) >= 0, row
                # time to accuracy: a finite time, or an explicit "not reached"
                if row["tta_status"] == "reached":
                    _positive(row, "tta_s")
                    _positive(row, "tta_ratio_exact")
                else:
                    assert row["tta_status"].startswith("not reached in "), (where, row)
                    assert row["tta_s"] == "", row
                versus = _float(row, "objective_vs_exact")
                assert math.isfinite(versus) and versus > -1, (where, row)
                if _regressions_to_eps(row["inner_eps"]):
                    assert abs(versus) < SAME_OBJECTIVE, (where, row)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_benchmark_linearity_rows(quick_run):
    _, _, rows = quick_run
    linearity = [row for row in rows if row["case"] == "linearity"]
    assert len(linearity) == 3
    for row in linearity:
        assert "skipped" not in row["note"] and "failed" not in row["note"], row
        _positive(row, "s_per_iter")
        _positive(row, "per_nnz")


def _table(script, *args):
    """The rows of the table `benchmarks/<script> args` prints: {first cell: the other cells}."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| run")}


def test_sketch_parts_prints_every_run_with_finite_numbers():
    # benchmarks/sketch_parts.py at a tiny size: exact, sketched fresh and kept, cg; the kept run
    # reuses preconditioners and the fresh one none (k = 24: the smallest rank that keeps them)
    rows = _table("sketch_parts.py", "--n", "240", "--k", "24", "--iters", "4", "--sizes", "4")
    assert set(rows) == {"exact", "sketched s = 4k, fresh", "sketched s = 4k, kept", "cg"}
    for name, cells in rows.items():
        seconds, ratio, its, *parts, reused, objective = cells
        assert float(seconds) > 0 and float(ratio) > 0 and math.isfinite(float(objective)), name
        assert all(float(p) >= 0 for p in parts), name
    assert rows["sketched s = 4k, fresh"][6] == "0 %" and rows["sketched s = 4k, kept"][6] != "0 %"


def test_sketch_bound_prints_every_run_and_the_bound_reaches_f_star():
    # benchmarks/sketch_bound.py at a tiny size: exact, cg, sketched and the free exact
    # preconditioner's bound, each with a time to f*; the bound's regressions are solved in one
    # inner iteration (an exact preconditioner)
    rows = _table("sketch_bound.py", "--n", "240", "--k", "32", "--iters", "6", "--sizes", "2")
    assert set(rows) == {"exact", "cg", "sketched (default)", "sketched, s = 2k",
                         "bound: exact preconditioner, free"}
    for name, (seconds, iteration, its, ratio) in rows.items():
        assert iteration.isdigit() and float(seconds) > 0, (name, seconds, iteration)   # f* reached
        assert ratio == "-" if name in ("exact", "cg") else float(ratio) > 0, (name, ratio)
    assert 1.0 <= float(rows["bound: exact preconditioner, free"][2]) < 1.5


def test_sketch_bound_refuses_a_rank_without_the_shared_sample():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "sketch_bound.py"), "--n", "64",
                           "--k", "8"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2 and "--k: found 8, need at least 32" in done.stderr
