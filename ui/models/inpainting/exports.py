"""The inpainting page's downloads: a reconstruction as PNG, the factors, the history."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

import wlra_core as wc
from ui import images
from ui.controls import SolverSettings
from ui.models.inpainting.live import picture
from ui.models.inpainting.problem import Problem, SHOW
from ui.runs import RunSet


def reconstruction_png(problem: Problem, runs: RunSet, name: str, iteration: int, show: str = "raw") -> bytes:
    """The picture the page shows for `name` (``show`` as in image_items): the inpainted image of the
    best iteration so far, the inpainted image, or X Yᵀ itself."""
    if show not in SHOW:
        raise wc.InputError(f"show: found {show!r}, need one of {', '.join(SHOW)}.")
    _, estimate = picture(problem, runs.runs[name], iteration, show)
    return images.png_bytes(estimate)


def factors_npz(problem: Problem, runs: RunSet, settings: SolverSettings, iteration: int) -> bytes:
    """X and Y of every solver at the shown iteration (M̂ = X Yᵀ, M the lifted image: see "lifting")."""
    arrays: dict[str, np.ndarray] = {}
    for name, run in runs.runs.items():
        kept = run.factors_at(iteration)
        if kept is None:
            continue
        shown, X, Y = kept
        arrays[f"{name}_X"], arrays[f"{name}_Y"] = X, Y
        arrays[f"{name}_iteration"] = np.asarray(shown)
    arrays["image_shape"] = np.asarray(problem.shape)
    lf = problem.lifting
    arrays["lifting"] = np.asarray(json.dumps({"lift": "pixels" if lf is None else lf.kind,
                                               "patch": None if lf is None else lf.patch,
                                               "stride": None if lf is None else lf.stride,
                                               "colour": None if lf is None else lf.colour}))
    arrays["settings"] = np.asarray(json.dumps(settings.as_dict()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def history_csv(runs: RunSet) -> bytes:
    return pd.DataFrame(runs.history_rows()).to_csv(index=False).encode("utf-8")
