"""Images for display: inline data-URI <img> rows (steadier than st.image during live
updates, whose media URLs change each tick), PNG encoding for downloads, and the one place a
reconstruction is formed from the factors (M̂ = X Yᵀ, reshaped back to an image by wlra_core.data).
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

import wlra_core as wc


def reconstruct(X: np.ndarray, Y: np.ndarray, image_shape: tuple[int, ...],
                lifting: wc.lifting.Lifting | None = None) -> np.ndarray:
    """The image of the rank-k matrix M̂ = X Yᵀ, clipped to [0, 1] for display and metrics:
    the pixel matrix (wlra_core.data), or the average of the overlapping patches of ``lifting``."""
    matrix = np.asarray(X, dtype=np.float64) @ np.asarray(Y, dtype=np.float64).T
    if lifting is not None:
        return lifting.average(matrix)
    return np.clip(wc.data.matrix_to_image(matrix, image_shape), 0.0, 1.0)


def fill_in(image: np.ndarray, estimate: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The inpainted picture: each pixel blends the original and the estimate by its weight
    (weight 1 keeps the original, weight 0 takes the estimate)."""
    return wc.inpainting.fill_in(image, np.clip(np.asarray(weights, dtype=np.float64), 0.0, 1.0), estimate)


def to_uint8(image: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """A float image in [0, 1], (h, w) grey or (h, w, 3) colour, as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def overlay_missing(image: np.ndarray, weights: np.ndarray, color: Sequence[int]) -> np.ndarray:
    """The masked input as the solver sees it: each pixel faded towards `color` by (1 − weight)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, 1.0)[..., None]
    tint = np.asarray(color, dtype=np.float64)[None, None, :] / 255.0
    return w * img + (1.0 - w) * tint


def image_row(items: Sequence[tuple], *, width: int, test_id: str = "image-row") -> str:
    """HTML for captioned images side by side, each `width` CSS pixels wide (pixelated when enlarged).

    An item is (caption, image), (caption, image, slug) or (caption, image, slug, alt); its image is
    an array or an already encoded data URI (for pictures that do not change between live updates).
    Figures carry data-testid attributes for browser tests: test_id-slug, the slug made from the
    caption unless given. The alt text is the caption unless given.
    """
    figures = []
    for caption, image, *given in items:
        slug = given[0] if given else re.sub(r"[^a-z0-9]+", "-", caption.lower()).strip("-")
        alt = given[1] if len(given) > 1 else caption
        figures.append(
            f'<figure data-testid="{test_id}-{slug}" style="margin:0;flex:0 0 auto;width:{width}px">'
            f'<img src="{image if isinstance(image, str) else data_uri(image)}" alt="{html.escape(alt)}" '
            f'style="width:{width}px;height:auto;image-rendering:pixelated;display:block;'
            f'border:1px solid rgba(49,51,63,0.2);border-radius:4px"/>'
            f'<figcaption style="font-size:0.85rem;text-align:center;margin-top:4px">'
            f"{html.escape(caption)}</figcaption></figure>"
        )
    return (
        f'<div data-testid="{test_id}" style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">'
        + "".join(figures) + "</div>"
    )
