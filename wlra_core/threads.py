"""Thread limits for small work: one BLAS thread (and one numba thread) where hand-offs cost more
than they gain.

Batched small-matrix work (n factorisations of k×k, n products of k×N by N×k) runs one matrix at a
time inside LAPACK/BLAS calls too small to share between threads, so extra threads only add
hand-offs. Large products keep every thread.
"""
from __future__ import annotations

import contextlib
import threading

from threadpoolctl import ThreadpoolController

_BLAS = []
# BLAS thread limits are process-wide: nested limits from several threads, each restoring what it
# saw on entry, restored out of order and left the process at one thread. So the first entrant
# sets the limit and the last one out restores the original, under a lock.
_LOCK = threading.Lock()
_HOLD = {"depth": 0, "saved": None}


def blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries (found once, on first use, when
    numpy's and scipy's BLAS are loaded)."""
    if not _BLAS:
        _BLAS.append([c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"])
    return _BLAS[0]


def set_blas_threads(counts):
    """Set each BLAS library's thread count (a list, in `blas_libraries()` order). threadpoolctl
    ≥ 3.6 lets only the thread that first set a limit change OpenBLAS's and ignores the others;
    here the lock above already serialises, and the restoring thread may not be the one that set
    the limit, so the library's own setter is called."""
    for lib, n in zip(blas_libraries(), counts):
        getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


@contextlib.contextmanager
def blas_single_thread():
    """A context in which BLAS/LAPACK use one thread (safe to nest and to enter from threads)."""
    with _LOCK:
        if _HOLD["depth"] == 0:
            _HOLD["saved"] = [lib.get_num_threads() for lib in blas_libraries()]
            set_blas_threads([1] * len(_HOLD["saved"]))
        _HOLD["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _HOLD["depth"] -= 1
            if _HOLD["depth"] == 0:
                set_blas_threads(_HOLD["saved"])
                _HOLD["saved"] = None


@contextlib.contextmanager
def single_thread():
    """One BLAS thread and one numba thread (numba's limit is per calling thread, so concurrent
    solves in other threads keep theirs)."""
    import numba                        # here, not at the top: `import wlra_core` stays light

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with blas_single_thread():
            yield
    finally:
        numba.set_num_threads(before)
