"""The command line's arguments: ``python -m wlra_core --help``, their types and checks of form.

What the arguments mean for a run (loading, solving, printing) is in ``wlra_core.__main__``.
"""
from __future__ import annotations

import argparse
import math
import re

# The defaults of a plain run for the options --lift leaves to wlra_core.inpaint (None: not given).
RUN_DEFAULTS = {"solver": "sketched", "eps": 1e-6, "max_iter": 100, "init": "svd", "ridge": 0.0}
EXIT_OK = 0
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """Bytes from '1073741824', '512M', '1G', '1.5GiB', '64kb' (binary multiples: 1K = 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; write bytes or a number with K, M, G or T, e.g. 512M or 1G")
    value = float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is below one byte; give a positive size")
    return int(value)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _inner_eps(text: str):
    return text if text == "adaptive" else _nonnegative_float(text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the usage is in --help)."""

    def error(self, message):
        self.exit(EXIT_INPUT, f"error: {message} (see python -m wlra_core --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show '(default: ...)' only for options that have a default not already described."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or "").lower():
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    import wlra_core as wc
    from wlra_core.init import INITS

    parser = _Parser(
        prog="python -m wlra_core",
        description=(
            "Weighted low-rank approximation: find X (n x k), Y (m x k) minimising "
            "sum_ij W_ij (M_ij - (X Y^T)_ij)^2 by alternating minimisation "
            "(LLR16, with the sketched regressions of Song-Ye-Yin-Zhang, arXiv 2306.04169). "
            "W multiplies the squared residual; pass W^2 for the ||W o (M - XY^T)||_F convention."),
        epilog=(
            "Output: one line per iteration (iteration, objective, relative objective "
            "f / sum W M^2, seconds, mean inner iterations), then a summary with the stop reason. "
            "Exit status: 0 done (converged or max-iter reached), 2 bad input, 130 interrupted."),
        formatter_class=_HelpFormatter,
    )
    source = parser.add_argument_group("input (exactly one of --matrix, --ratings, --image, --planted)")
    exclusive = source.add_mutually_exclusive_group(required=True)
    exclusive.add_argument(
        "--matrix", metavar="FILE",
        help="matrix M as .npy, .csv or .mtx (Matrix Market); NaN marks a missing entry")
    exclusive.add_argument(
        "--ratings", metavar="FILE",
        help="rating triples (user, item, rating) file; rated entries get weight 1")
    exclusive.add_argument(
        "--image", metavar="FILE",
        help="image (PNG, JPEG, ...) to approximate; see --mask")
    exclusive.add_argument(
        "--planted", nargs=3, type=_positive_int, metavar=("N", "M", "K"),
        help="synthetic N x M problem with a planted rank-K truth; the relative error against the "
             "truth is printed at the end")
    source.add_argument(
        "--weights", metavar="FILE",
        help="weights W for --matrix, same shape and formats (.npy/.csv/.mtx; a coordinate .mtx "
             "stores the weighted entries). Default (wlra_core.io.matrix_problem, as in the app): "
             "weight 1 at every finite entry of a dense M (NaN is missing), and at every stored "
             "finite entry of a coordinate .mtx (an unstored entry is missing)")
    source.add_argument(
        "--mask", metavar="FILE",
        help="weight mask for --image (an image of the same size; the mask value is the pixel's "
             "weight). Default: every pixel has weight 1")
    source.add_argument(
        "--max-side", type=_positive_int, metavar="PX", default=None,
        help="for --image: downscale so that the longer side is at most PX pixels (default: keep "
             "the size)")
    source.add_argument(
        "--duplicates", choices=tuple(wc.io.DUPLICATE_POLICIES), default="mean",
        help="for --ratings, and a Matrix Market --matrix or --weights: what a (user, item) pair or "
             "an entry given more than once means: 'mean' averages, 'last' keeps the last, 'error' "
             "refuses the file")
    source.add_argument(
        "--pattern", choices=tuple(wc.synthetic.PATTERNS), default="bernoulli",
        help="for --planted: the weight pattern of wlra_core.data.planted ('bernoulli' 0/1, "
             "'graded' weights in (0, 1], 'blocks' holes, 'heavy_tailed' rating-like rows, 'full')")
    source.add_argument(
        "--p", type=_nonnegative_float, default=0.4,
        help="for --planted: the observed fraction of entries (ignored by 'full')")
    source.add_argument(
        "--noise", type=_nonnegative_float, default=0.0,
        help="for --planted: standard deviation of the noise added to the planted matrix")
    source.add_argument(
        "--sparse", action="store_true",
        help="for --planted: build W (and M) as scipy.sparse CSR, so the solver takes its O(nnz) path")

    _add_inpaint_options(parser)

    solver = parser.add_argument_group("solver (mirrors wlra_core.solve)")
    solver.add_argument(
        "-k", "--rank", type=_positive_int, default=None,
        help="rank k of the approximation (required, except with --planted where it defaults to K)")
    solver.add_argument("--solver", choices=tuple(wc.SOLVERS), default=None,
                        help=f"regression solver for each half-step (default: {RUN_DEFAULTS['solver']}; with --lift, "
                             "wlra_core.inpaint's: auto)")
    solver.add_argument("--eps", type=_nonnegative_float, default=None,
                        help="in (0, 1): stop when f <= eps^2 sum W M^2 ('fit') or when f moves by "
                             f"at most eps relative over one iteration ('stalled') (default: {RUN_DEFAULTS['eps']:g}; with "
                             "--lift, wlra_core.inpaint's)")
    solver.add_argument("--inner-eps", type=_inner_eps, default="adaptive", metavar="ETA",
                        help="regression tolerance of --solver sketched, cg or auto: 'adaptive' "
                             "(default: tied to the outer progress, see wlra_core.alternating) or "
                             "a number in (0, 1)")
    solver.add_argument("--max-iter", type=_positive_int, default=None,
                        help=f"maximum number of alternating iterations (default: {RUN_DEFAULTS['max_iter']}; with --lift, "
                             "wlra_core.inpaint's, where a round of --lift groups counts as one)")
    solver.add_argument("--init", choices=tuple(INITS), default=None,
                        help="initialisation of Y: 'svd' (top-k right singular vectors of W o M) "
                             f"or 'random' (default: {RUN_DEFAULTS['init']})")
    solver.add_argument("--ridge", type=_nonnegative_float, default=None,
                        help=f"ridge lambda added to every regression (lambda ||x||^2) (default: {RUN_DEFAULTS['ridge']:g}; "
                             "with --lift, wlra_core.inpaint's for that lifting)")
    solver.add_argument("--clip", action="store_true",
                        help="clip rows of the orthonormal factors with large norm (LLR16 clipping)")
    solver.add_argument("--seed", type=int, default=0, metavar="SEED",
                        help="seed of every random choice (planted data, init, sketches); same seed, "
                             "same result")
    solver.add_argument("--sketch", choices=tuple(wc.SKETCHES), default=None,
                        help=f"sketch for --solver sketched (default: {wc.DEFAULT_SKETCH})")
    solver.add_argument("--sketch-size", type=_positive_int, default=None, metavar="S",
                        help="rows of the sketch for --solver sketched (default: about 4k)")
    solver.add_argument("--inner", choices=tuple(wc.INNER), default="pcg",
                        help="inner iteration for --solver sketched: 'pcg' (preconditioned CG, a "
                             "labelled variant) or 'gd' (the paper's gradient descent)")
    solver.add_argument("--max-inner", type=_positive_int, default=None, metavar="T",
                        help="cap on inner iterations per regression of --solver sketched or cg "
                             "(default: the solver's, 100)")
    solver.add_argument("--memory-budget", type=parse_size, default="1G", metavar="SIZE",
                        help="bytes the solver may use for its row blocks; accepts 512M, 1G, ... "
                             "(binary multiples)")
    solver.add_argument("--max-file-size", type=parse_size, default=str(wc.limits.MAX_FILE_BYTES),
                        metavar="SIZE", help="largest input file read (default 50M, "
                                             "wlra_core.limits.MAX_FILE_BYTES); accepts 200M, 1G, ...")
    solver.add_argument("--max-entries", type=_positive_int, default=wc.limits.MAX_ENTRIES, metavar="N",
                        help="largest problem: n·m entries when dense, nnz when sparse, (n + m)·k for "
                             f"the factors (default {wc.limits.MAX_ENTRIES:,}, wlra_core.limits)")
    solver.add_argument("--no-diagnostics", action="store_true",
                        help="skip the per-iteration diagnostics (forward error, condition "
                             "numbers on sampled rows), which cost extra time")
    _add_model_arguments(solver)

    output = parser.add_argument_group("output")
    output.add_argument("--quiet", "-q", action="store_true",
                        help="print only the summary (and, for --planted, the error vs truth)")
    output.add_argument("--out", metavar="PREFIX", default=None,
                        help="save PREFIX_X.npy, PREFIX_Y.npy, PREFIX_history.csv and, for --image, "
                             "PREFIX.png of the reconstruction")
    return parser


def _add_inpaint_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inpainting (--image with --lift: wlra_core.inpaint, best step on "
                                      "held-out pixels; -k optional)")
    group.add_argument("--lift", choices=("pixels", "patches", "groups"), default=None,
                       help="inpaint the image through this matrix: 'groups' (the library default: "
                            "similar windows found by block matching, one small low-rank fit per group, "
                            "in rounds), 'patches' (all overlapping windows as one matrix), 'pixels' (the "
                            "image matrix); the masked pixels are filled, the known ones kept")
    group.add_argument("--patch", type=_positive_int, default=None, metavar="P",
                       help="side of the windows of --lift patches/groups (default 8)")
    group.add_argument("--stride", type=_positive_int, default=None, metavar="S",
                       help="pixels between windows of --lift patches (default 2), between reference "
                            "windows of --lift groups (default 6)")


def _add_model_arguments(group) -> None:
    group.add_argument("--bias", action="store_true",
                       help="fit mu + b_i + c_j + x_i^T y_j: a global mean and row and column offsets "
                            "beside the rank-k part (saved with --out as PREFIX_offsets.npz)")
    group.add_argument("--ridge-scaling", choices=("none", "count"), default="none",
                       help="'count': the ridge of each row is lambda times its number of weighted "
                            "entries (ALS-WR, Spark's ALS); needs --ridge > 0")
    group.add_argument("--holdout", type=float, default=None, metavar="F",
                       help="hold out this fraction in [0, 1) of the weighted entries (seeded by "
                            "--seed) and report the iteration with the lowest error on them (default: 0; "
                            "with --lift, wlra_core.inpaint's 0.05 of the known pixels)")



def not_for_inpainting(args: argparse.Namespace) -> list[str]:
    """The given options that wlra_core.inpaint does not take (refused with --lift)."""
    from wlra_core import limits

    return [name for name, given in (
        ("--clip", args.clip), ("--inner-eps", args.inner_eps != "adaptive"), ("--inner", args.inner != "pcg"),
        ("--max-inner", args.max_inner is not None), ("--memory-budget", args.memory_budget != parse_size("1G")),
        ("--no-diagnostics", args.no_diagnostics), ("--sketch", args.sketch is not None),
        ("--sketch-size", args.sketch_size is not None), ("--bias", args.bias),
        ("--ridge-scaling", args.ridge_scaling != "none"),
        ("--max-entries", args.max_entries != limits.MAX_ENTRIES)) if given]
