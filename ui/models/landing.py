"""The landing page's picture: the inpainting demo's own problem, solved once per server with the
library's best settings (wlra_core.inpaint's defaults: block-matched groups of windows, one small
WLRA per group; the held-out pixels pick the best round) and cached."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import streamlit as st

import wlra_core as wc
from ui import images, loaders, mask

# The inpainting page's query parameter that presses Play once (the "Start here" link).
AUTOPLAY = {"autoplay": "1"}
# The inpainting page's default problem: the first sample, 256 px, "WLRA" over 25 % dropout.
SAMPLE, MAX_SIDE = "camera", 256
PRESETS = mask.Presets(dropout=0.25, text="WLRA", text_size=0.3, seed=0)
# "Start here" drawn as the page's one primary button (it stays a link: shareable, keyboard-reachable).
START_HERE_CSS = """<style>
.st-key-start_here [data-testid="stPageLink-NavLink"] {
  background: #ff4b4b; border-radius: 0.5rem; padding: 0.55rem 1.1rem; display: inline-flex; }
.st-key-start_here [data-testid="stPageLink-NavLink"]:hover { background: #e03b3b; }
.st-key-start_here [data-testid="stPageLink-NavLink"] * {
  color: #fff !important; font-size: 1.15rem; font-weight: 600;
  white-space: normal; overflow: visible; text-overflow: clip; }
</style>"""


@dataclass(frozen=True)
class Hero:
    image: np.ndarray
    masked: np.ndarray
    inpainted: np.ndarray         # wc.inpaint's image at its best iteration
    k: int
    patch: int
    group_size: int | None        # windows per group (lift "groups"), None for one patch matrix
    lift: str
    best_iteration: int
    iterations: int
    hidden_fraction: float
    psnr_hidden: float


@st.cache_data(show_spinner="Inpainting the example (once per server)…")
def hero(sample: str = SAMPLE, max_side: int = MAX_SIDE, presets: mask.Presets = PRESETS) -> Hero:
    """The sample with the presets' holes, inpainted by wc.inpaint with its defaults."""
    image = loaders.load_sample(sample, max_side)
    weights = mask.combine(image.shape[:2], hidden=mask.preset_hidden(image.shape[:2], presets))
    with warnings.catch_warnings():  # stopping at max_iter is a stop reason here, not news
        warnings.simplefilter("ignore", wc.ConvergenceWarning)
        result = wc.inpaint(image, weights)
    hidden = mask.hidden_pixels(weights)
    return Hero(
        image=image,
        masked=images.overlay_missing(image, weights, mask.MISSING_RGB),
        inpainted=result.image,
        k=int(result.settings["k"]),
        patch=int(result.settings["patch"]),
        group_size=result.settings.get("group_size"),
        lift=str(result.settings["lift"]),
        best_iteration=int(result.best.iteration),
        iterations=len(result.history),
        hidden_fraction=float(hidden.mean()),
        psnr_hidden=wc.metrics.psnr(image, result.image, mask=hidden),
    )


def method(hero: Hero) -> str:
    """How the hero was made, in a few words: the lifting and its rank."""
    if hero.lift == "groups":
        return (f"groups of {hero.group_size} similar {hero.patch}×{hero.patch} windows found by block matching, "
                f"one rank-{hero.k} WLRA per group")
    if hero.lift == "patches":
        return f"rank {hero.k} on the {hero.patch}×{hero.patch} patch matrix"
    return f"rank {hero.k} on the pixel matrix"
