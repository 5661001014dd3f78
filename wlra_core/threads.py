"""Thread limits for small work: one BLAS thread (and one numba thread) where hand-offs cost more
than they gain.

Batched small-matrix work (n factorisations of k×k, n products of k×N by N×k) runs one matrix at a
time inside LAPACK/BLAS calls too small to share between threads; with two threads on two busy
cores a batch of 512 Cholesky factorisations of 128×128 took 76× longer than with one. Large
products keep every thread.
"""
from __future__ import annotations

import contextlib

from threadpoolctl import ThreadpoolController

_BLAS = []


def blas_single_thread():
    """A context in which BLAS/LAPACK use one thread."""
    if not _BLAS:                       # made on first use, once numpy's and scipy's BLAS are loaded
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


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
