"""The compiled per-row kernels (numba) under one name, each with the numpy reference it must
agree with (tests/test_kernels.py). They live by concept in `compiled/`: grams.py (Gram matrices,
right-hand sides and products of the rows' designs; packed outer products), rownorm.py (the
row-norm sketch), factor.py (per-row Cholesky solves and preconditioner factors), pcg.py (the fused
inner iterations); jit.py holds their shared settings (threads, cache, fast-math flags).
"""
from __future__ import annotations

from .compiled.factor import *  # noqa: F401,F403
from .compiled.grams import *  # noqa: F401,F403
from .compiled.jit import CACHE, LAPACK_K  # noqa: F401
from .compiled.pcg import *  # noqa: F401,F403
from .compiled.rownorm import *  # noqa: F401,F403
