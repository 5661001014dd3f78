"""Command line: ``python -m wlra_core``, weighted low-rank approximation of a file or a planted problem.

One input (``--matrix`` with optional ``--weights``, ``--ratings``, ``--image`` with optional
``--mask``, or ``--planted N M K``), solver options that mirror :func:`wlra_core.solve`, one line
per alternating iteration as it runs (from :func:`wlra_core.iterate`), then a summary line.
Bad input prints one ``error: ...`` line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

from wlra_core.outputs import OutputError as _CliError  # noqa: F401 (the name the tests use)
from wlra_core.outputs import _save_offsets, _save_outputs, check_outputs, output_paths  # noqa: F401

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
    solver.add_argument("--solver", choices=tuple(wc.SOLVERS), default="sketched",
                        help="regression solver for each half-step")
    solver.add_argument("--eps", type=_nonnegative_float, default=1e-6,
                        help="in (0, 1): stop when f <= eps^2 sum W M^2 ('fit') or when f moves by "
                             "at most eps relative over one iteration ('stalled')")
    solver.add_argument("--inner-eps", type=_inner_eps, default="adaptive", metavar="ETA",
                        help="regression tolerance of --solver sketched, cg or auto: 'adaptive' "
                             "(default: tied to the outer progress, see wlra_core.alternating) or "
                             "a number in (0, 1)")
    solver.add_argument("--max-iter", type=_positive_int, default=100,
                        help="maximum number of alternating iterations")
    solver.add_argument("--init", choices=tuple(INITS), default="svd",
                        help="initialisation of Y: 'svd' (top-k right singular vectors of W o M) "
                             "or 'random'")
    solver.add_argument("--ridge", type=_nonnegative_float, default=0.0,
                        help="ridge lambda added to every regression (lambda ||x||^2)")
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


class _Problem:
    """What the CLI solves: M, W, k and what it needs to report (truth, image shape)."""

    def __init__(self, M, W, k, description, *, truth=None, image_shape=None):
        self.M, self.W, self.k = M, W, k
        self.description = description
        self.truth = truth              # (U, V) with truth = U V^T, for planted problems
        self.image_shape = image_shape


def _check_source_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject options that do not belong to the chosen input, before reading any file.

    An input-specific option counts as given when it differs from its default."""
    belongs = (  # option, the input it goes with, given?
        ("--weights", "--matrix", args.weights is not None),
        ("--mask", "--image", args.mask is not None),
        ("--max-side", "--image", args.max_side is not None),
        ("--duplicates", ("--ratings", "--matrix"), args.duplicates != "mean"),
        ("--pattern", "--planted", args.pattern != "bernoulli"),
        ("--p", "--planted", args.p != 0.4),
        ("--noise", "--planted", args.noise != 0.0),
        ("--sparse", "--planted", args.sparse),
        ("--lift", "--image", args.lift is not None),
        ("--patch", "--image", args.patch is not None),
        ("--stride", "--image", args.stride is not None),
    )
    chosen = {"--matrix": args.matrix, "--image": args.image, "--ratings": args.ratings,
              "--planted": args.planted}
    for option, sources, given in belongs:
        sources = (sources,) if isinstance(sources, str) else sources
        if given and all(chosen[source] is None for source in sources):
            parser.error(f"{option} goes with {' or '.join(sources)}, which was not given")
    if args.lift == "pixels" and (args.patch is not None or args.stride is not None):
        parser.error("--patch and --stride go with --lift patches or groups, not pixels")
    if args.lift is None and (args.patch is not None or args.stride is not None):
        parser.error("--patch and --stride go with --lift")
    if args.rank is None and args.planted is None and args.lift is None:
        parser.error("-k/--rank is required (except with --planted, where it defaults to K)")
    if args.solver != "sketched":
        given = [name for name, value in (("--sketch", args.sketch),
                                          ("--sketch-size", args.sketch_size)) if value is not None]
        if given:
            parser.error(f"{', '.join(given)} only apply to --solver sketched, not {args.solver!r}")




def cli_words(message: str) -> str:
    """A library message with its cap parameters named as this command line sets them."""
    return message.replace("max_bytes)", "--max-file-size)").replace("max_entries)", "--max-entries)")


def _named(path: str, option: str, error: Exception) -> Exception:
    """A loader's message ("matrix: found ...") naming the file the user gave instead."""
    text = str(error)
    for kind in ("matrix: ", "weights: "):
        text = text.removeprefix(kind)
    return type(error)(f"{option} {path}: {text}")


def _matrix_and_weights(args: argparse.Namespace, caps: dict):
    """M and W from --matrix [--weights]: default weights as in the app (io.matrix_problem)."""
    from wlra_core import io as data

    loaded = []
    for option, path in (("--matrix", args.matrix), ("--weights", args.weights)):
        if path is None:
            loaded.append(None)
            continue
        try:
            loaded.append(data.load_matrix(path, duplicates=args.duplicates, **caps))
        except ValueError as exc:  # InputError: name the file
            raise _named(path, option, exc) from None
    names = (f"--matrix {args.matrix}", f"--weights {args.weights}")
    return data.matrix_problem(*loaded, names=names)


def load_problem(args: argparse.Namespace) -> _Problem:
    from wlra_core import io as data
    from wlra_core import synthetic

    caps = {"max_bytes": args.max_file_size, "max_entries": args.max_entries}
    if args.planted is not None:
        n, m, k_true = args.planted
        M, W, _truth, U, V = synthetic.planted(n, m, k_true, noise=args.noise, pattern=args.pattern,
                                          p=args.p, seed=args.seed, sparse=args.sparse,
                                          max_entries=args.max_entries)
        k = args.rank if args.rank is not None else k_true
        return _Problem(M, W, k, f"planted {n} x {m}, rank {k_true}, pattern {args.pattern} "
                        f"p={args.p:g}, noise {args.noise:g}", truth=(U, V))
    if args.matrix is not None:
        M, W = _matrix_and_weights(args, caps)
        return _Problem(M, W, args.rank, f"matrix {args.matrix}")
    if args.ratings is not None:
        M, W, users, items, duplicates = data.load_ratings(args.ratings, duplicates=args.duplicates, **caps)
        note = (f", {duplicates} repeated (user, item) pairs resolved by {args.duplicates!r}"
                if duplicates else "")
        return _Problem(M, W, args.rank,
                        f"ratings {args.ratings}: {len(users)} users x {len(items)} items{note}")
    image = data.load_image(args.image, max_side=args.max_side, max_bytes=args.max_file_size)
    mask = None if args.mask is None else data.load_mask(args.mask, image.shape, max_bytes=args.max_file_size)
    M, W = data.image_problem(image, mask)       # as the app builds it
    return _Problem(M, W, args.rank, f"image {args.image} {image.shape}", image_shape=image.shape)


def _nnz(W) -> int:
    return int(W.nnz) if sp.issparse(W) else int(np.count_nonzero(W))


def _fmt(value, spec: str) -> str:
    if value is None:
        return "-"
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _line(row: dict) -> str:
    return (f"{row['iteration']:>5d}  {_fmt(row['objective'], '13.6e')}  "
            f"{_fmt(row['relative_objective'], '12.4e')}  {_fmt(row['seconds'], '9.3f')}  "
            f"{_fmt(row['inner_iterations'], '7.1f')}")


_HEADER = f"{'iter':>5s}  {'objective':>13s}  {'rel.obj':>12s}  {'seconds':>9s}  {'inner':>7s}"


def _print_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import wlra_core as wc

    check_outputs(args)
    if args.lift is not None:
        return run_inpaint(args)
    problem = load_problem(args)
    n, m = problem.M.shape
    options = dict(solver=args.solver, eps=args.eps, max_iter=args.max_iter, init=args.init,
                   ridge=args.ridge, clip=args.clip, seed=args.seed, inner=args.inner,
                   max_inner=args.max_inner, memory_budget=args.memory_budget,
                   max_entries=args.max_entries,
                   diagnostics=not args.no_diagnostics and args.solver != "em",   # EM has no regressions
                   inner_eps=args.inner_eps)
    if args.solver == "sketched":
        options.update(sketch=args.sketch, sketch_size=args.sketch_size)
    options.update(_model_options(args))
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    density = _nnz(problem.W) / max(n * m, 1)
    say(f"{problem.description}: n={n} m={m} nnz(W)={_nnz(problem.W)} ({100 * density:.3g}%), "
        f"k={problem.k}, solver={args.solver}"
        + (f" sketch={args.sketch or 'default'} inner={args.inner}" if args.solver == "sketched" else "")
        + f" eps={args.eps:g}")
    wc.cost.announce(say, problem.M, problem.W, problem.k, options)      # above a few seconds per iteration
    say(_HEADER)

    rows: list[dict] = []
    last = best = None
    interrupted = False
    started = time.perf_counter()
    steps = wc.iterate(problem.M, problem.W, problem.k, **options)
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration:
                break
            last = step
            best = step if step.is_best else best
            rows.append(wc.step_row(step))
            say(_line(rows[-1]))
    except KeyboardInterrupt:
        interrupted = True
        steps.close()
    wall = time.perf_counter() - started

    if last is None:
        print("error: the solver returned no iteration" + (" (interrupted)" if interrupted else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_INPUT
    reason = wc.StopReason.INTERRUPTED if interrupted else last.stop_reason
    converged = reason.converged
    print(f"stop: {reason} after {last.iteration} iteration(s), objective {last.objective:.6e}, "
          f"relative {last.relative_objective:.4e}, {wall:.2f} s"
          + ("" if converged else " (not converged)"), flush=True)
    _model_report(args, last, best)
    if problem.truth is not None:
        error = wc.metrics.factor_error(*last.model_factors(), *problem.truth)
        print(f"relative error vs truth ||XY^T - M*||_F / ||M*||_F = {error:.4e}", flush=True)
    if args.out is not None:
        full = last.low_rank() if last.row_offsets is not None and problem.image_shape is not None else None
        written = _save_outputs(args.out, last.X, last.Y, rows, problem, full) + _save_offsets(args.out, last)
        say("wrote " + ", ".join(written))
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


# ---- inpainting (--image with --lift): wlra_core.inpaint_steps ----

def _add_inpaint_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inpainting (--image with --lift: wlra_core.inpaint, best step on "
                                      "held-out pixels; -k optional)")
    group.add_argument("--lift", choices=("pixels", "patches", "groups"), default=None,
                       help="inpaint the image through this matrix: 'patches' (overlapping windows, the "
                            "library default), 'pixels' (the image matrix), 'groups' (patches, then "
                            "clustered rounds); the masked pixels are filled, the known ones kept")
    group.add_argument("--patch", type=_positive_int, default=None, metavar="P",
                       help="side of the windows of --lift patches/groups (default 8)")
    group.add_argument("--stride", type=_positive_int, default=None, metavar="S",
                       help="pixels between windows of --lift patches/groups (default 2)")


def run_inpaint(args: argparse.Namespace) -> int:
    """--image --lift: one line per step (holdout RMSE, * at a new best), then a summary; --out
    saves PREFIX.png (the best step's image) and PREFIX_history.csv."""
    import wlra_core as wc
    from wlra_core import data

    image = data.load_image(args.image, max_side=args.max_side, max_bytes=args.max_file_size)
    weights = (np.ones(image.shape[:2]) if args.mask is None
               else data.load_mask(args.mask, image.shape, max_bytes=args.max_file_size))
    given = [name for name, on in (("--bias", getattr(args, "bias", False)),
                                   ("--ridge-scaling", getattr(args, "ridge_scaling", "none") != "none")) if on]
    if given:
        raise wc.InputError(f"{', '.join(given)}: found with --lift; inpainting fits no offsets and a plain "
                            "ridge; leave them out")
    geometry = {name: value for name, value in (("patch", args.patch), ("stride", args.stride)) if value is not None}
    if getattr(args, "holdout", 0.0):   # --holdout F: inpaint's share of held-out known pixels (default 5 %)
        geometry["holdout"] = args.holdout
    steps = wc.inpaint_steps(image, weights, args.rank, lift=args.lift, solver=args.solver, eps=args.eps,
                             max_iter=args.max_iter, init=args.init, ridge=args.ridge, seed=args.seed,
                             **geometry)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    say(f"inpaint {args.image} {image.shape}, lift={args.lift}, solver={args.solver}, "
        f"{int(np.sum(weights < 1))} pixels to fill")
    say(f"{'step':>5s}  {'stage':>8s}  {'objective':>13s}  {'holdout RMSE':>12s}  {'seconds':>9s}")
    rows, best, last = [], None, None
    for step in steps:
        last = step
        best = step if step.is_best else best
        rows.append({"iteration": step.iteration, "stage": step.stage, "objective": step.objective,
                     "holdout_rmse": step.holdout_rmse, "is_best": step.is_best, "seconds": step.seconds})
        say(f"{step.iteration:>5d}  {step.stage:>8s}  {_fmt(step.objective, '13.6e')}  "
            f"{_fmt(step.holdout_rmse, '12.5f')}  {_fmt(step.seconds, '9.3f')}" + ("  *" if step.is_best else ""))
    print(f"stop: {last.stop_reason} after {last.iteration} step(s), best step {best.iteration} "
          f"(holdout RMSE {_fmt(best.holdout_rmse, '.5f')}), {last.elapsed:.2f} s", flush=True)
    if args.out is not None:
        from PIL import Image

        directory = os.path.dirname(args.out)
        if directory:
            os.makedirs(directory, exist_ok=True)
        Image.fromarray(np.rint(best.image * 255).astype(np.uint8)).save(f"{args.out}.png", format="PNG")
        with open(f"{args.out}_history.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        say(f"wrote {args.out}.png, {args.out}_history.csv")
    return EXIT_OK


# ---- the recommender model and early stopping: --bias, --ridge-scaling, --holdout ----

def _add_model_arguments(group) -> None:
    group.add_argument("--bias", action="store_true",
                       help="fit mu + b_i + c_j + x_i^T y_j: a global mean and row and column offsets "
                            "beside the rank-k part (saved with --out as PREFIX_offsets.npz)")
    group.add_argument("--ridge-scaling", choices=("none", "count"), default="none",
                       help="'count': the ridge of each row is lambda times its number of weighted "
                            "entries (ALS-WR, Spark's ALS); needs --ridge > 0")
    group.add_argument("--holdout", type=float, default=0.0, metavar="F",
                       help="hold out this fraction in [0, 1) of the weighted entries (seeded by "
                            "--seed) and report the iteration with the lowest error on them")


def _model_options(args) -> dict:
    """The model keywords of wlra_core.iterate; only those given, so the defaults stay the library's."""
    options = {}
    if args.bias:
        options["bias"] = True
    if args.ridge_scaling != "none":
        options["ridge_scaling"] = args.ridge_scaling
    if args.holdout:
        options["holdout"] = args.holdout
    return options


def _model_report(args, last, best) -> None:
    if args.holdout and best is not None:
        print(f"best iteration on the held-out entries: {best.iteration}, held-out RMSE "
              f"{best.holdout_rmse:.6g} (last iteration {last.holdout_rmse:.6g})", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        import wlra_core as wc
    except ImportError as exc:  # a broken install is not the user's input, but say it in one line
        print(f"error: cannot import wlra_core: {exc}", file=sys.stderr)
        return EXIT_INPUT
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check_source_options(parser, args)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code or 0)
    previous = warnings.showwarning
    warnings.showwarning = _print_warning
    try:
        return run(args)
    except (wc.InputError, _CliError) as exc:
        print(f"error: {cli_words(str(exc))}", file=sys.stderr)
    except OSError as exc:
        name = getattr(exc, "filename", None)
        reason = exc.strerror or str(exc)
        print(f"error: {name}: {reason}" if name else f"error: {reason}", file=sys.stderr)
    except ImportError as exc:  # an optional dependency (pandas, Pillow) the input needs is missing
        print(f"error: {exc}", file=sys.stderr)
    except (ValueError, MemoryError) as exc:  # e.g. an unparsable file from the loaders
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        warnings.showwarning = previous
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
