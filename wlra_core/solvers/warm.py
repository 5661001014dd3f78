"""Compile every kernel once, for the types the solvers pass, so that numba's on-disk cache is
warm before the first real solve (`python -m wlra_core.solvers.warm`; `make run` and `make test`
call it after installing). A cold first solve compiles for tens of seconds; a warm one loads in
about a second.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp


def main() -> None:
    import wlra_core as wc
    from .kernels import CACHE

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore", wc.ConvergenceWarning)
    # the compiled small-k paths, the float32 / block ones, and exact's LAPACK one (k ≥ 64)
    for k in (3, 40, 64):
        n, m = 80, 200
        M = rng.standard_normal((n, m))
        W = (rng.random((n, m)) < 0.7) * rng.uniform(0.1, 1.0, (n, m))
        for weights in (W, sp.csr_array(W)):
            for solver in ("exact", "sketched", "cg", "auto"):
                sketch = {"sketch_size": k + 1} if solver in wc.OPTION_SOLVERS["sketch_size"] else {}
                wc.solve(M, weights, k, solver=solver, max_iter=2, diagnostics=True, **sketch)
    # the block matching of the default inpainting (grey and colour windows)
    for shape in ((40, 40), (40, 40, 3)):
        image = rng.random(shape)
        wc.inpaint(image, (rng.random(shape[:2]) < 0.7).astype(float), max_iter=1)
    print(f"wlra_core kernels compiled in {time.perf_counter() - t0:.1f} s "
          f"({'cached on disk' if CACHE else 'no writable cache: they compile on every start'})")


if __name__ == "__main__":
    main()
