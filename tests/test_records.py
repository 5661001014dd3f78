"""wlra_core.records: StopReason, the typed inner statistics, Step/Result and step_row."""
import csv
import math
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core.records import ROW_FIELDS, StopReason


def test_stop_reasons_are_strings_with_a_converged_flag():
    assert [str(r) for r in StopReason] == ["fit", "stalled", "max_iter reached", "interrupted"]
    assert StopReason.FIT == "fit" and "stalled" == StopReason.STALLED     # old comparisons keep working
    assert f"{StopReason.MAX_ITER}" == "max_iter reached"
    assert {r: r.converged for r in StopReason} == {StopReason.FIT: True, StopReason.STALLED: True,
                                                    StopReason.MAX_ITER: False, StopReason.INTERRUPTED: False}
    assert {"fit": "label"}.get(StopReason.FIT) == "label"                 # usable as a str key


def test_repr_of_a_long_run_stays_short(planted_noisy):
    """repr(Result) held every step's arrays (95 000 characters after 47 iterations)."""
    M, W = planted_noisy(60, 40, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        res = wc.solve(M, W, 3, solver="em", eps=1e-15, max_iter=100)     # EM: slow, never stalls here
    assert len(res.history) == 100 and res.stop_reason is StopReason.MAX_ITER
    assert len(repr(res)) < 2000 and len(repr(res.history[-1])) < 300
    assert "iterations=100" in repr(res) and "max_iter reached" in repr(res) and "X=60×3" in repr(res)
    assert isinstance(res.history, tuple)


@pytest.mark.parametrize("solver, family", [("exact", wc.RegressionStats), ("sketched", wc.RegressionStats),
                                            ("cg", wc.RegressionStats), ("auto", wc.AutoStats),
                                            ("em", wc.EMStats)])
def test_each_solver_family_reports_its_typed_statistics(planted, solver, family):
    M, W = planted(40, 30, 3, seed=1)
    step = next(iter(wc.iterate(M, W, 3, solver=solver)))
    stats = step.inner
    assert type(stats) is family
    assert list(stats) == [f.name for f in family.__dataclass_fields__.values()]
    assert dict(stats) == {name: getattr(stats, name) for name in stats}       # mapping and attributes agree
    with pytest.raises(KeyError):
        stats["no such statistic"]
    assert stats.seconds_x >= 0 and stats.seconds_y >= 0
    if family is not wc.EMStats:
        if solver == "exact":
            assert stats.iterative_rows == 0 and stats.exact_rows == 40 + 30 and stats.inner_eps is None
        assert (stats.sketch_size is not None) == (solver == "sketched")
        assert stats.residual >= 0 and stats.inner_iterations_max >= 0
    if family is wc.AutoStats:
        assert len(stats.choice) == 2 and all(c in ("exact", "cg", "sketched") for c in stats.choice)
    assert len(repr(stats)) < 2000
    with pytest.raises(Exception):
        stats.seconds_x = 1.0                                                   # frozen


def test_step_row_is_the_one_flat_record(planted):
    M, W = planted(40, 30, 3, seed=2)
    steps = list(wc.iterate(M, W, 3, solver="sketched", eps=1e-8))
    rows = [wc.step_row(s) for s in steps]
    assert all(tuple(r) == ROW_FIELDS for r in rows)
    assert [r["iteration"] for r in rows] == list(range(1, len(steps) + 1))
    assert [r["objective"] for r in rows] == [s.objective for s in steps]
    assert rows[-1]["inner_iterations"] == steps[-1].inner.inner_iterations
    assert rows[0]["sketch_size"] == 12
    last = wc.step_row(steps[-1], ("iteration", "stop_reason", "holdout_rmse", "choice"))
    assert last == {"iteration": len(steps), "stop_reason": str(steps[-1].stop_reason), "holdout_rmse": None,
                    "choice": None}                       # "choice" is AutoStats's: None for another family
    assert type(last["stop_reason"]) is str
    with pytest.raises(wc.InputError, match="fields: found 'colour'"):
        wc.step_row(steps[0], ("iteration", "colour"))


def test_the_cli_history_is_step_row(tmp_path, planted):
    from wlra_core.__main__ import main

    M, W = planted(30, 20, 2, seed=4)
    np.save(tmp_path / "M.npy", np.where(W > 0, M, np.nan))
    assert main(["--matrix", str(tmp_path / "M.npy"), "-k", "2", "--solver", "exact", "--out",
                 str(tmp_path / "run"), "-q"]) == 0
    with open(tmp_path / "run_history.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    M_, W_ = wc.io.matrix_problem(wc.io.load_matrix(str(tmp_path / "M.npy")))
    res = wc.solve(M_, W_, 2, solver="exact")
    assert [list(r) for r in written] == [list(ROW_FIELDS)] * len(res.history)
    expected = io.StringIO()
    writer = csv.DictWriter(expected, fieldnames=ROW_FIELDS)
    for step in res.history:
        writer.writerow({k: ("" if v is None else v) for k, v in wc.step_row(step).items()})
    got = [[r[f] for f in ("iteration", "objective", "sketch_size")] for r in written]
    want = [[row[0], row[1], row[7]] for row in csv.reader(io.StringIO(expected.getvalue()))]
    assert got == want


def test_model_factors_multiply_to_the_estimate(planted_biased):
    M, W, *_ = planted_biased(40, 30, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        res = wc.solve(M, W, 3, solver="exact", bias=True, max_iter=5)
    for record in (res, res.history[-1]):
        A, B = record.model_factors()
        assert A.shape == (40, 3 + 3) and B.shape == (30, 3 + 3)
        assert np.allclose(A @ B.T, record.low_rank())
    A, B = res.model_factors()
    assert wc.metrics.factor_error(A, B, A, B) < 1e-14          # round-off of the QRs only
    assert wc.metrics.factor_error(res.X, res.Y, A, B) == pytest.approx(
        np.linalg.norm(res.X @ res.Y.T - res.low_rank()) / np.linalg.norm(res.low_rank()), rel=1e-9)
    with pytest.raises(wc.InputError, match="X, Y, U, V"):
        wc.metrics.factor_error(res.X, res.Y, A[:5], B)


PART_SECONDS = ("sketch_seconds", "factor_seconds", "inner_seconds", "exact_seconds")
# the parts each solver has (the others are 0.0); "auto" has those of what it picked
PARTS_OF = {"exact": {"exact_seconds"}, "cg": {"inner_seconds", "exact_seconds"},
            "sketched": set(PART_SECONDS)}


@pytest.mark.parametrize("solver", ["exact", "sketched", "cg", "auto"])
@pytest.mark.parametrize("sparse", [False, True])
def test_timed_parts_are_reported_and_zero_where_a_solver_has_no_such_part(planted, solver, sparse):
    M, W = planted(60, 80, 3, seed=5)
    if sparse:
        W = sp.csr_matrix(W)
    for step in wc.iterate(M, W, 3, solver=solver, max_iter=3, eps=1e-15):
        row = wc.step_row(step, PART_SECONDS)
        for name in PART_SECONDS:
            value = getattr(step.inner, name)
            assert type(value) is float and math.isfinite(value) and value >= 0.0, (name, value)
            assert step.inner[name] == value == row[name]
        has = set().union(*(PARTS_OF[c] for c in step.inner.choice)) if solver == "auto" else PARTS_OF[solver]
        for name in set(PART_SECONDS) - has:
            assert getattr(step.inner, name) == 0.0, f"{solver}: {name} should be 0.0"


def test_timed_parts_of_em_are_not_statistics_of_its_family(planted):
    M, W = planted(30, 20, 2, seed=6)
    step = next(iter(wc.iterate(M, W, 2, solver="em")))
    assert wc.step_row(step, PART_SECONDS) == dict.fromkeys(PART_SECONDS)
