"""The compiled (numba) kernels, one module per concept, each kernel with the numpy reference it
must agree with: `grams` (Gram matrices, right-hand sides, products and packed outer products of
the rows' designs), `rownorm` (the row-norm sketch), `factor` (per-row Cholesky factorisations and
solves), `pcg` (the fused inner iterations); `jit` holds the settings they share.
`wlra_core.solvers.kernels` gathers them under one name.
"""
