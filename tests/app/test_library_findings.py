"""The library findings of issue 12 seen through the solver lab (the library tests are in
tests/test_robustness_findings.py): what the page shows for complex and near-1e308 uploads, that
sessions running at once leave the process's BLAS threads as they were, that a Step gives the
same bits in every session, and that a new upload starts new runs instead of changing the arrays
under the running ones."""
from __future__ import annotations

import threading

import numpy as np

from tests.app._apptest import run_page
from tests.app.test_lab_upload import PAGE, UPLOAD, errors, low_rank, npy, records, step, upload, with_a_run


def test_a_complex_matrix_file_is_refused_in_the_page_and_the_runs_are_kept():
    at = with_a_run()
    caption = at.caption[0].value
    at = upload(at, "complex.npy", npy(np.ones((30, 20)) + 0.5j))
    assert not at.exception
    assert errors(at) == ["Matrix file 'complex.npy': matrix: found dtype complex128, need a real numeric "
                          "array (bool, int or float). The previous data is kept."]
    assert at.caption[0].value == caption
    assert all(len(recs) == 1 for recs in records(at).values())


def test_values_near_1e308_are_refused_on_step_naming_M_and_the_runs_are_kept():
    at = with_a_run()
    before = {name: list(recs) for name, recs in records(at).items()}
    at = upload(at, "huge.npy", npy(np.nan_to_num(low_rank(seed=5)) / 10 * 1.5e308))
    assert not at.exception and not errors(at)
    at = step(at)
    assert not at.exception
    (message,) = errors(at)
    assert message.startswith("M: found a value of magnitude") and "Scale M down" in message
    assert {name: list(recs) for name, recs in records(at).items()} == before


def _blas_threads():
    from threadpoolctl import threadpool_info
    return sorted((d["filepath"], d["num_threads"]) for d in threadpool_info() if d["user_api"] == "blas")


def test_sessions_advancing_real_runs_at_once_keep_their_histories_and_the_process_blas_threads():
    """Three sessions' run sets (exact, sketched, cg on small uploads, the app's own RunSet), each
    advanced by two threads at once (a stopped script run goes on beside the newer one): every
    history is 1…n, and the process's BLAS threads are as before. (AppTest cannot run sessions
    in threads, so this drives ui.runs.RunSet, which the pages' controller uses.)"""
    import wlra_core as wc
    from ui.runs import RunSet
    from wlra_core.threads import blas_libraries, set_blas_threads

    saved = [lib.get_num_threads() for lib in blas_libraries()]
    set_blas_threads([2] * len(saved))
    try:
        before = _blas_threads()
        sets = []
        for seed in range(3):
            M = low_rank(seed=seed)
            W = np.isfinite(M).astype(float)
            sets.append(RunSet.build(("upload", seed), ["exact", "sketched", "cg"],
                                     lambda name, M=M, W=W: wc.iterate(M, W, 3, solver=name, eps=1e-15,
                                                                       max_iter=50, seed=0)))
        failures, start = [], threading.Barrier(6)

        def work(runs):
            start.wait()
            try:
                for _ in range(5):
                    runs.advance()
            except Exception as exc:          # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(runs,)) for runs in sets for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures
        for runs in sets:
            for name, run in runs.runs.items():
                assert run.error is None, (name, run.error)
                assert [r["iteration"] for r in run.records] == list(range(1, 11)), name
        assert _blas_threads() == before
    finally:
        set_blas_threads(saved)


def test_the_same_step_in_two_sessions_gives_the_same_bits():
    a, b = step(with_a_run()), step(with_a_run())
    for name in records(a):
        ra, rb = a.session_state["lab_runs"].runs[name], b.session_state["lab_runs"].runs[name]
        for it in (1, 2):
            _, Xa, Ya = ra.factors_at(it)
            _, Xb, Yb = rb.factors_at(it)
            assert np.array_equal(Xa, Xb) and np.array_equal(Ya, Yb), name


def test_a_new_upload_starts_new_runs_and_never_changes_the_arrays_of_the_running_ones():
    at = step(with_a_run())
    old = at.session_state["lab_runs"]
    at = upload(at, "other.npy", npy(low_rank(seed=9)))
    at = step(at)
    assert not at.exception and not errors(at)           # no "changed in place" from the library
    new = at.session_state["lab_runs"]
    assert new is not old
    assert all([r["iteration"] for r in recs] == [1] for recs in records(at).values())
    assert all(np.isfinite(r["objective"]) for recs in records(at).values() for r in recs)
