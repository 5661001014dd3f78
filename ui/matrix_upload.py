"""The solver lab's own matrix: an uploaded M (.npy, CSV/TSV, Matrix Market) and optional weights W.

Uploads take the one upload path (ui/uploads.py): the uploader's on_change callback queues
(file name, bytes) under `lab_pending_matrix` / `lab_pending_weights`; `accept_pending` reads them
on the next run. A bad file, or weights that do not fit the matrix, leave the
previous matrix and weights in place and flash a message naming the file, what was found and what
is needed. Files are parsed by wlra_core.data.load_matrix (never with pickle) under the app's
per-problem cap, and the pair is checked by wlra_core.data.matrix_problem.
"""
from __future__ import annotations

import dataclasses
import io
import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import streamlit as st

import wlra_core as wc
from ui import state, uploads

P = state.LAB
MATRIX_TYPES = ["npy", "csv", "tsv", "txt", "mtx"]


class Uploaded(NamedTuple):
    """The lab's problem from uploads: what the solvers and the page need."""

    M: Any
    W: Any
    name: str            # for captions: "ratings.mtx" or "M.npy, weights W.npy"
    identity: str        # digests of the files: the run signature's data part
    observed: int        # entries with positive weight
    shape: tuple[int, int]
    notes: tuple[str, ...] = ()  # what the loader said about the files (e.g. duplicates averaged)


@st.cache_data(max_entries=4, show_spinner="Reading the matrix…")
def _load(data: bytes, name: str):
    """(matrix, the loader's warnings): kept with the cached matrix, so they outlive the first read."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matrix = wc.data.load_matrix(io.BytesIO(data), name=name, max_bytes=uploads.MAX_UPLOAD_BYTES,
                                     max_entries=state.APP_MAX_ENTRIES)
    return matrix, tuple(f"{name}: {str(w.message).removeprefix('matrix: ')}" for w in caught)


def _build(matrix: dict | None, weights: dict | None) -> Uploaded | None:
    if matrix is None:
        if weights is not None:   # weights before their matrix: the file must still read on its own
            _load(weights["bytes"], weights["name"])
        return None
    M, notes = _load(matrix["bytes"], matrix["name"])
    W = None
    if weights is not None:
        W, weight_notes = _load(weights["bytes"], weights["name"])
        notes += weight_notes
    # the one meaning of a matrix file (default weights), shared with the command line
    names = (f"matrix {matrix['name']}", f"weights {weights['name']}" if weights else "weights")
    M, W = wc.data.matrix_problem(M, W, names=names)
    observed = int((W.data > 0).sum()) if sp.issparse(W) else int(np.count_nonzero(W > 0))
    name = matrix["name"] + (f", weights {weights['name']}" if weights is not None else "")
    identity = matrix["digest"] + (f"+{weights['digest']}" if weights is not None else "")
    return Uploaded(M, W, name, identity, observed, tuple(M.shape), notes)


def accept_pending() -> None:
    """Validate queued uploads; accept a file only if it reads and fits the other one."""
    kind = {"Matrix": uploads.MATRIX, "Weights": dataclasses.replace(uploads.MATRIX, what="Weights file")}
    for key, slot, what in (("pending_matrix", "matrix", "Matrix"), ("pending_weights", "weights", "Weights")):
        pending = uploads.take_pending(P, key)
        if pending is None:
            continue
        name, data = pending
        candidate = {"matrix": state.get(P, "matrix"), "weights": state.get(P, "weights")}
        candidate[slot] = uploads.upload_entry(name, data)
        try:  # the pair must read and fit together: the library checks it when building the problem
            uploads.read(name, data, lambda _: _build(candidate["matrix"], candidate["weights"]), kind[what])
        except wc.InputError as exc:
            state.flash_error(P, f"{str(exc).rstrip('.')}. The previous data is kept.")
        else:
            state.put(P, slot, candidate[slot])


def clear_weights() -> None:
    state.put(P, "weights", None)


def current() -> Uploaded | None:
    """The accepted matrix and weights as a problem (None before a matrix is uploaded)."""
    return _build(state.get(P, "matrix"), state.get(P, "weights"))
