"""The landing page's picture: one small inpainting example, computed once per server and cached."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import streamlit as st

import wlra_core as wc
from ui import images, loaders, mask


@dataclass(frozen=True)
class Example:
    image: np.ndarray
    masked: np.ndarray
    reconstruction: np.ndarray
    filled: np.ndarray
    k: int
    ridge: float
    iterations: int
    hidden_fraction: float
    psnr_hidden: float


@st.cache_resource(show_spinner="Computing the example…")
def example(sample: str = "camera", max_side: int = 128, k: int = 8, ridge: float = 0.0,
            max_iter: int = 30) -> Example:
    """A sample with a text overlay and 25 % dropout, reconstructed by the exact solver."""
    image = loaders.load_sample(sample, max_side)
    presets = mask.Presets(dropout=0.25, text="WLRA", text_size=0.35, seed=0)
    weights = mask.combine(image.shape[:2], hidden=mask.preset_hidden(image.shape[:2], presets))
    M, W = wc.io.image_problem(image, weights)
    with warnings.catch_warnings():  # stopping at max_iter is expected here
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        result = wc.solve(M, W, k, solver="exact", eps=1e-5, max_iter=max_iter, ridge=ridge, seed=0)
    reconstruction = images.reconstruct(result.X, result.Y, image.shape)
    hidden = mask.hidden_pixels(weights)
    return Example(
        image=image,
        masked=images.overlay_missing(image, weights, mask.MISSING_RGB),
        reconstruction=reconstruction,
        filled=images.fill_in(image, reconstruction, weights),
        k=k,
        ridge=ridge,
        iterations=len(result.history),
        hidden_fraction=float(hidden.mean()),
        psnr_hidden=wc.metrics.psnr(image, reconstruction, mask=hidden),
    )
