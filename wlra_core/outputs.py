"""The files ``python -m wlra_core --out PREFIX`` writes (factors, history, reconstruction, offsets),
and the checks that refuse an --out that would overwrite an input or cannot be written."""
from __future__ import annotations

import argparse
import csv
import os

import numpy as np


class OutputError(Exception):
    """An --out the command line refuses (reported like wlra_core.InputError)."""


_INPUT_OPTIONS = ("matrix", "weights", "ratings", "image", "mask")


def output_paths(prefix: str, image: bool, bias: bool = False) -> dict[str, str]:
    """The files --out PREFIX writes: factors, history, for --image the reconstruction and for
    --bias the offsets."""
    paths = {"X": f"{prefix}_X.npy", "Y": f"{prefix}_Y.npy", "history": f"{prefix}_history.csv"}
    if image:
        paths["png"] = f"{prefix}.png"
    if bias:
        paths["offsets"] = f"{prefix}_offsets.npz"
    return paths


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through links, '..' or another spelling)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse an --out that would overwrite an input or cannot be written, before anything is
    read or solved (a solve can take minutes; an input lost to its own output is gone)."""
    if args.out is None:
        return
    prefix = args.out
    if not prefix or prefix.endswith(("/", os.sep)) or os.path.basename(prefix) in ("", ".", ".."):
        raise OutputError(f"--out: found {prefix!r}, which names a directory, need a file name prefix "
                        "such as results/run (the outputs are PREFIX_X.npy, PREFIX_Y.npy, ...)")
    inputs = {f"--{option}": getattr(args, option) for option in _INPUT_OPTIONS
              if getattr(args, option, None) is not None}
    for path in output_paths(prefix, args.image is not None, getattr(args, "bias", False)).values():
        for option, given in inputs.items():
            if _same_file(path, given):
                raise OutputError(f"--out {prefix}: would write {path}, which is the input {option} "
                                f"{given}; choose another prefix")
        if os.path.isdir(path):
            raise OutputError(f"--out {prefix}: {path} is a directory, need a file name that is free "
                            "or a file that may be overwritten")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise OutputError(f"--out {prefix}: {path} exists and is not writable; choose another prefix")
    # The nearest existing ancestor of the output directory must be a writable directory: the
    # missing ones are created there.
    directory = os.path.dirname(os.path.abspath(prefix))
    while not os.path.exists(directory):
        directory = os.path.dirname(directory)
    if not os.path.isdir(directory):
        raise OutputError(f"--out {prefix}: {directory} is a file, not a directory; choose a prefix "
                        "in a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"--out {prefix}: the directory {directory} is not writable; choose a "
                        "prefix in a writable directory")


def _save_outputs(prefix: str, X, Y, rows: list, problem, estimate=None) -> list[str]:
    from wlra_core import io as data
    from wlra_core.records import ROW_FIELDS

    directory = os.path.dirname(prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)
    paths = output_paths(prefix, problem.image_shape is not None)
    written = []
    for name, array in (("X", X), ("Y", Y)):
        path = paths[name]
        np.save(path, np.asarray(array), allow_pickle=False)
        written.append(path)
    path = paths["history"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: ("" if row[key] is None else row[key]) for key in ROW_FIELDS})
    written.append(path)
    if problem.image_shape is not None:
        estimate = np.asarray(X) @ np.asarray(Y).T if estimate is None else estimate   # offsets (--bias)
        path = paths["png"]
        data.save_png(estimate, problem.image_shape, path)
        written.append(path)
    return written


def _save_offsets(prefix, step) -> list:
    if step.row_offsets is None:
        return []
    path = output_paths(prefix, False, bias=True)["offsets"]
    np.savez(path, mean=np.array(step.mean), row_offsets=step.row_offsets, col_offsets=step.col_offsets)
    return [path]
