"""The keywords of `solve` and `iterate`, defined once (`RunOptions`), and their validation before
any work: every option is checked, and one the chosen solver would not use is refused."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from . import holdout as _holdout
from . import init as _init
from . import models as _models
from .limits import MAX_ENTRIES
from .problem import MIN_WORK_BYTES, InputError, check_choice, check_float, check_int, validate
from .sketches import SKETCHES
from .solvers import Options

SOLVERS = ("exact", "sketched", "cg", "em", "auto")
INNER = ("pcg", "gd")
DEFAULT_SKETCH = "rownorm"


@dataclass(frozen=True)
class RunOptions:
    """The keywords of `iterate` (and of `solve`, which adds keep_factors), with their defaults;
    `solve` documents each."""

    solver: str = "sketched"
    eps: float = 1e-6
    max_iter: int = 100
    init: str = "svd"
    ridge: float = 0.0
    clip: bool = False
    seed: int | np.random.Generator | None = 0
    sketch: str | None = None
    sketch_size: int | None = None
    inner: str = "pcg"
    max_inner: int | None = None
    memory_budget: int = 1 << 30
    diagnostics: bool = False
    max_entries: int | None = MAX_ENTRIES
    inner_eps: str | float = "adaptive"
    holdout: float = 0.0
    bias: bool = False
    ridge_scaling: str = "none"


NAMES = tuple(f.name for f in fields(RunOptions))


def run_options(caller: str, given: dict) -> RunOptions:
    """RunOptions from the keywords a caller received; an unknown one is a TypeError, as Python
    gives for any function."""
    for name in given:
        if name not in NAMES:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    return RunOptions(**given)


def signature(extra: tuple[inspect.Parameter, ...] = ()) -> inspect.Signature:
    """(M, W, k, *, <RunOptions>, *extra): the signature `solve` and `iterate` present."""
    positional = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("M", "W", "k")]
    keywords = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
                for f in fields(RunOptions)]
    return inspect.Signature(positional + keywords + list(extra))


class Prepared(NamedTuple):
    """A validated run, ready for the loop."""

    prob: Any                  # problem.Problem: the scaled problem and its sides
    o: Options                 # what the solvers read (scaled ridge, sketch size, memory left, ...)
    max_iter: int
    init: str
    clip: bool
    settings: dict             # the options as given, validated and with defaults filled in (Result.settings)
    inner_eps: str | float     # "adaptive" or the fixed regression tolerance
    held: Any                  # holdout.Held, the held-out entries, or None


def prepare(M, W, k, options: RunOptions) -> Prepared:
    """Validate every option before any work (InputError), then the problem itself."""
    (solver, eps, max_iter, init, ridge, clip, seed, sketch, sketch_size, inner, max_inner, memory_budget,
     diagnostics, max_entries, inner_eps, holdout, bias, ridge_scaling) = (getattr(options, n) for n in NAMES)
    check_choice("solver", solver, SOLVERS)
    eps = check_float("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                      what=" (the tolerance, in the open interval (0, 1))")
    if not (isinstance(inner_eps, str) and inner_eps == "adaptive"):
        if isinstance(inner_eps, str):
            raise InputError(f"inner_eps: found {inner_eps!r}, need 'adaptive' or a number in (0, 1).")
        inner_eps = check_float("inner_eps", inner_eps, low=0.0, high=1.0, low_open=True, high_open=True,
                                what=" (the regression tolerance, in (0, 1); or 'adaptive')")
        if solver in ("exact", "em"):
            raise InputError(f"inner_eps: found {inner_eps:g} with solver={solver!r}, which solves its "
                             "regressions exactly; inner_eps applies to 'sketched', 'cg' and 'auto'.")
    max_iter = check_int("max_iter", max_iter, low=1, what=" (alternating iterations at most)")
    _check_applies(solver, sketch, sketch_size, inner, max_inner, diagnostics)
    check_choice("init", init, _init.INITS)
    ridge = check_float("ridge", ridge, low=0.0, what=" (the ridge λ; 0 for none)")
    if not isinstance(clip, (bool, np.bool_)):
        raise InputError(f"clip: found {clip!r}, need True or False.")
    if clip and ridge > 0:
        raise InputError(f"clip: found clip=True with ridge={ridge:g}; LLR16 clipping needs orthonormal "
                         "factors, which ridge > 0 does not keep. Use ridge=0 or clip=False.")
    if not isinstance(bias, (bool, np.bool_)):
        raise InputError(f"bias: found {bias!r}, need True or False.")
    check_choice("ridge_scaling", ridge_scaling, _models.SCALINGS)
    if ridge_scaling == "count" and ridge == 0:
        raise InputError("ridge_scaling: found 'count' with ridge=0; the count scaling multiplies the "
                         "ridge λ of each row by its number of entries, so it needs ridge > 0.")
    if ridge_scaling == "count" and solver == "em":
        raise InputError("ridge_scaling: found 'count' with solver='em'; EM's M-step is one singular-value "
                         "threshold of the whole filled matrix, which has no per-row ridge. Use "
                         "ridge_scaling='none' or another solver.")
    if seed is not None and not isinstance(seed, np.random.Generator):
        seed = check_int("seed", seed, low=0)
    sketch = DEFAULT_SKETCH if sketch is None else check_choice("sketch", sketch, SKETCHES)
    check_choice("inner", inner, INNER)
    if max_inner is not None:
        max_inner = check_int("max_inner", max_inner, low=1)
    memory_budget = check_int("memory_budget", memory_budget, low=1 << 20,
                              what=" bytes (at least 1 MiB)")
    if max_entries is not None:
        max_entries = check_int("max_entries", max_entries, low=1)
    holdout = _holdout.check_holdout(holdout)
    held = None
    if holdout > 0:
        W, held = _holdout.split(M, W, holdout, seed)
    prob = validate(M, W, k, budget=memory_budget, max_entries=max_entries)
    k = prob.k
    cols = k + 1 if bias else k       # bias adds a column of ones to each regression's design
    s = 4 * k if sketch_size is None else check_int(
        "sketch_size", sketch_size, low=cols,
        what=f" (at least k + 1 = {cols}: k = {k} plus the offset)" if bias else f" (at least k = {k})")
    # the problem is scaled (M/m_scale, W/w_scale); with factors scaled by √m_scale each, the ridge
    # of the scaled problem is λ/(w_scale·m_scale)
    o = Options(solver=solver, eps=eps, ridge=scaled_ridge(ridge, prob), sketch=sketch, s=s, inner=inner,
                max_inner=100 if max_inner is None else max_inner,
                budget=max(memory_budget - prob.layout_bytes, MIN_WORK_BYTES),
                diagnostics=bool(diagnostics))
    settings = dict(solver=solver, eps=eps, max_iter=max_iter, init=init, ridge=ridge, clip=bool(clip),
                    seed=seed if not isinstance(seed, np.random.Generator) else "Generator",
                    sketch=sketch, sketch_size=s, inner=inner, max_inner=o.max_inner,
                    memory_budget=memory_budget, inner_eps=inner_eps, holdout=holdout, bias=bool(bias),
                    ridge_scaling=ridge_scaling)
    return Prepared(prob, o, max_iter, init, bool(clip), settings, inner_eps, held)


# the solver-specific keywords and the solvers that use them; any other solver refuses them
# (callers that offer one setting to several solvers filter with this)
OPTION_SOLVERS = MappingProxyType({
    "sketch": ("sketched", "auto"),
    "inner": ("sketched", "auto"),
    "sketch_size": ("sketched", "auto"),
    "max_inner": ("sketched", "cg", "auto"),
    "inner_eps": ("sketched", "cg", "auto"),
    "diagnostics": ("exact", "sketched", "cg", "auto"),
})


def _check_applies(solver, sketch, sketch_size, inner, max_inner, diagnostics):
    """Refuse options that the chosen solver would ignore (nothing is silently ignored)."""
    given = [(name, value) for name, value in (
        ("sketch", sketch), ("inner", None if inner == "pcg" else inner), ("max_inner", max_inner),
        ("sketch_size", sketch_size), ("diagnostics", diagnostics or None))
        if value is not None and solver not in OPTION_SOLVERS[name]]
    if given:
        name, value = given[0]
        raise InputError(f"{name}: found {value!r} with solver={solver!r}, which does not use it; "
                         f"leave {name} at its default or pick a solver that uses it "
                         f"({', '.join(OPTION_SOLVERS[name])}).")


# Above this a scaled ridge swamps every Gram matrix (entries ≤ 2**25 after scaling), so the factors
# are 0 whatever λ is; capping keeps an overflowing λ/scale from sending inf into LAPACK.
RIDGE_CAP = 1e200


def scaled_ridge(ridge, prob):
    """λ/(w_scale·m_scale), divided in two steps (the product of the scales can overflow), kept
    positive when λ is (an underflow to 0 would turn the ridge off) and capped at RIDGE_CAP."""
    if ridge == 0:
        return 0.0
    lam = ridge / prob.w_scale / prob.m_scale
    return float(min(max(lam, np.finfo(float).tiny), RIDGE_CAP))
