"""wlra_core.threads: the BLAS and numba thread limits of small work, nested, entered from several
threads, and restored as they were."""
from __future__ import annotations

import contextlib

import numpy as np

import wlra_core as wc
from wlra_core.threads import blas_single_thread, single_thread


def _blas_threads():
    from threadpoolctl import threadpool_info
    return sorted((d["internal_api"], d["filepath"], d["num_threads"]) for d in threadpool_info()
                  if d["user_api"] == "blas")


@contextlib.contextmanager
def blas_threads(n):
    """A known, non-trivial starting point (n BLAS threads), set without making this thread
    threadpoolctl's controlling thread (which would hide the bug: other threads' limits would
    then be ignored)."""
    from wlra_core.threads import blas_libraries, set_blas_threads

    saved = [lib.get_num_threads() for lib in blas_libraries()]
    set_blas_threads([n] * len(saved))
    try:
        yield
    finally:
        set_blas_threads(saved)


def test_concurrent_solves_leave_the_process_blas_threads_as_they_were():
    """Eight threads each run small solves (which take one BLAS thread, nested inside the loop's
    own limit) at once; afterwards every BLAS library has the thread count it had before."""
    import threading

    rng = np.random.default_rng(0)
    M = rng.standard_normal((40, 30))
    W = (rng.random((40, 30)) < 0.7).astype(float)
    with blas_threads(2):
        before = _blas_threads()
        assert all(t[2] == 2 for t in before)
        errors = []
        start = threading.Barrier(8)

        def run(seed):
            try:
                start.wait()
                for solver in ("exact", "sketched", "cg"):
                    for _ in wc.iterate(M, W, 3, solver=solver, max_iter=4, seed=seed):
                        pass                          # (iterate: warnings filters are not thread-safe)
            except Exception as exc:                      # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert _blas_threads() == before


def test_nested_single_thread_limits_from_two_threads_restore_in_any_order():
    """The interleaving that broke: A enters, B enters, A leaves, B leaves."""
    import threading

    from wlra_core.threads import blas_single_thread

    with blas_threads(2):
        before = _blas_threads()
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        inside = []

        def a():
            with blas_single_thread():
                a_in.set()
                b_in.wait()
            a_out.set()

        def b():
            a_in.wait()
            with blas_single_thread():
                b_in.set()
                a_out.wait()
                inside.append(_blas_threads())

        ta, tb = threading.Thread(target=a), threading.Thread(target=b)
        ta.start(), tb.start()
        ta.join(), tb.join()
        assert inside and all(t[2] == 1 for t in inside[0])    # B still inside: one thread
        assert _blas_threads() == before


def test_single_thread_limits_numba_to_one_thread_and_restores_it_after_an_exception():
    import numba

    before, seen = numba.get_num_threads(), []
    with contextlib.suppress(RuntimeError):
        with single_thread():
            seen.append((numba.get_num_threads(), [t[2] for t in _blas_threads()]))
            raise RuntimeError("leave the context by an exception")
    assert seen and seen[0][0] == 1 and all(n == 1 for n in seen[0][1])
    assert numba.get_num_threads() == before


def test_nested_blas_single_thread_in_one_thread_restores_only_at_the_outermost_exit():
    with blas_threads(2):
        before = _blas_threads()
        with blas_single_thread():
            with blas_single_thread():
                pass
            inner_exit = _blas_threads()               # the outer limit still holds
        assert all(t[2] == 1 for t in inner_exit)
        assert _blas_threads() == before
