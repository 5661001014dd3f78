"""wlra_core: weighted low-rank approximation by alternating minimisation.

The fast solver follows Song, Ye, Yin, Zhang, "Efficient Alternating Minimization with Applications
to Weighted Low Rank Approximation" (arXiv 2306.04169): each weighted regression of the alternating
loop (Li, Liang, Risteski 2016) is solved approximately, by a sketch preconditioner and a few
iterations. Pure numpy/scipy; usable without the app.

    import wlra_core as wc
    res = wc.solve(M, W, k, solver="sketched", eps=1e-6)
    M_hat = res.low_rank()
"""
from . import cost, data, io, lifting, limits, masks, metrics, synthetic
from .alternating import ConvergenceWarning, iterate, solve
from .records import AutoStats, EMStats, RegressionStats, Result, Step, StopReason, step_row
from .settings import DEFAULT_SKETCH, INNER, OPTION_SOLVERS, SOLVERS, RunOptions
from .cost import Estimate, estimate
from .inpainting import InpaintResult, InpaintStep, inpaint, inpaint_steps
from .models import Biases, fit_biases
from .problem import InputError, objective
from .sketches import SKETCHES

__all__ = ["solve", "iterate", "Result", "Step", "StopReason", "RegressionStats", "AutoStats", "EMStats",
           "step_row", "RunOptions", "SOLVERS", "SKETCHES", "DEFAULT_SKETCH", "INNER", "OPTION_SOLVERS",
           "InputError", "ConvergenceWarning", "objective", "estimate", "Estimate", "fit_biases", "Biases", "cost",
           "data", "io", "synthetic", "limits", "metrics", "lifting", "masks", "inpaint", "inpaint_steps",
           "InpaintResult", "InpaintStep"]
