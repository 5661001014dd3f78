"""What the compiled kernels share: numba's threading layer and on-disk cache, the fast-math flags,
and the sizes that choose between code paths.

Every kernel is parallel over rows (`prange`) or called from one that is, releases the GIL, and
writes each row's result from one thread in a fixed order, so results do not depend on the number
of threads. Cold start: the kernels compile on first use and are cached on disk (beside these
files, or in the user's cache directory when the install is read-only).
"""
from __future__ import annotations

import os

# OpenMP workers that spin while waiting take a core from BLAS's threads on a busy machine; the
# policy is read when the OpenMP runtime first loads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from numba import njit  # noqa: E402

# Streamlit runs each session in its own thread: a threading layer that is safe when several
# Python threads launch parallel kernels at once (OpenMP or TBB; numba's workqueue is not).
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "threadsafe"


def _probe():
    return 0


def _can_cache():
    """Whether numba can cache here: beside this file, or in the user's cache directory. A
    read-only install with no writable home compiles on every start instead of failing."""
    try:
        njit(cache=True)(_probe)
        return True
    except RuntimeError:
        return False


CACHE = _can_cache()
SERIAL = dict(nogil=True, cache=CACHE)                 # helpers, called from parallel kernels
PARALLEL = dict(parallel=True, nogil=True, cache=CACHE)
REASSOC = {"reassoc", "contract", "nsz"}     # sums may vectorise; NaN and inf keep their meaning

SMALL_K = 24       # below it, per-row Grams by compiled loops over Aᵀ; from it on, one BLAS product
LAPACK_K = 64      # from this k on, LAPACK's Cholesky per row beats the compiled loops
ROW_CHUNK = 32     # rows per scratch allocation (fixed: results do not depend on the threads)
