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
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

from wlra_core.cli_parser import (EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, RUN_DEFAULTS,  # noqa: F401
                                   build_parser, not_for_inpainting, parse_size)
from wlra_core.outputs import OutputError as _CliError  # noqa: F401 (the name the tests use)
from wlra_core.outputs import _save_offsets, _save_outputs, check_outputs, output_paths  # noqa: F401

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
    if args.lift is not None:
        if refused := not_for_inpainting(args):
            parser.error(f"{', '.join(refused)}: found with --lift; wlra_core.inpaint fits no offsets and takes "
                         "--solver, --eps, --max-iter, --init, --ridge, --seed, --holdout, --patch and --stride; "
                         "leave them out")
        return   # the run options not given stay None: wlra_core.inpaint's defaults apply
    for name, value in RUN_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
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

def run_inpaint(args: argparse.Namespace) -> int:
    """--image --lift: one line per step (holdout RMSE, * at a new best), then a summary; --out
    saves PREFIX.png (the best step's image) and PREFIX_history.csv."""
    import wlra_core as wc
    from wlra_core import data

    image = data.load_image(args.image, max_side=args.max_side, max_bytes=args.max_file_size)
    weights = (np.ones(image.shape[:2]) if args.mask is None
               else data.load_mask(args.mask, image.shape, max_bytes=args.max_file_size))
    geometry = {name: value for name, value in (("patch", args.patch), ("stride", args.stride)) if value is not None}
    if args.holdout is not None:   # --holdout F: inpaint's share of held-out known pixels (default 5 %)
        geometry["holdout"] = args.holdout
    given = {name: getattr(args, name) for name in RUN_DEFAULTS if getattr(args, name) is not None}
    steps = wc.inpaint_steps(image, weights, args.rank, lift=args.lift, seed=args.seed, **given, **geometry)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    say(f"inpaint {args.image} {image.shape}, lift={args.lift}, solver={args.solver or 'auto'}, "
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
