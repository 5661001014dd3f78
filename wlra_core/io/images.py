"""An image as a matrix (colour channels side by side), a mask as its weights, and the problem
(M, W) of an image and a mask: the one meaning of an image everywhere (the command line, the app
and the tests all call :func:`image_problem`)."""
from __future__ import annotations

import numpy as np

from ..problem import InputError


def _check_image_array(img: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(img)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise InputError(f"{name}: found an array of shape {arr.shape}, need (h, w) for grey or "
                         "(h, w, 3) for colour")
    return arr


def image_to_matrix(img: np.ndarray) -> np.ndarray:
    """The matrix of an image: grey (h, w) is copied; colour (h, w, 3) becomes (h, 3w) = [R | G | B]."""
    arr = _check_image_array(img, "img")
    if arr.ndim == 2:
        return np.array(arr, dtype=np.float64, copy=True)
    return np.concatenate([arr[..., c] for c in range(3)], axis=1).astype(np.float64, copy=False)


def matrix_to_image(mat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`image_to_matrix`, clipped to [0, 1]: (h, w) or (h, 3w) -> ``shape``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise InputError(f"shape: found {shape}, need (h, w) for grey or (h, w, 3) for colour")
    mat = np.asarray(mat, dtype=np.float64)
    h, w = shape[:2]
    need = (h, w) if len(shape) == 2 else (h, 3 * w)
    if mat.shape != need:
        raise InputError(f"mat: found shape {mat.shape}, need {need} for an image of shape {shape}")
    if len(shape) == 2:
        out = mat.copy()
    else:
        out = np.stack([mat[:, c * w:(c + 1) * w] for c in range(3)], axis=2)
    return np.clip(out, 0.0, 1.0)


def mask_to_weights(mask: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Weights in the matrix layout of :func:`image_to_matrix`: the (h, w) mask, tiled ×3 for colour."""
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) not in (2, 3) or (len(image_shape) == 3 and image_shape[2] != 3):
        raise InputError(f"image_shape: found {image_shape}, need (h, w) or (h, w, 3)")
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != image_shape[:2]:
        raise InputError(f"mask: found shape {mask.shape}, need the image's shape {image_shape[:2]}")
    if len(image_shape) == 2:
        return mask.copy()
    return np.tile(mask, (1, 3))


def image_problem(image: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(M, W) for :func:`wlra_core.solve` from an image in [0, 1] and an optional (h, w) mask of
    weights: W = :func:`mask_to_weights` (mask), weight 1 at every pixel without a mask, and
    M = :func:`image_to_matrix` (image) with 0 where W = 0 (a hidden pixel's value is no part of
    the problem, so it cannot leak into it). Neither input is modified."""
    image = _check_image_array(image, "image")
    M = image_to_matrix(image)
    if mask is None:
        return M, np.ones(M.shape)
    W = mask_to_weights(mask, image.shape)
    return np.where(W > 0, M, 0.0), W


def to_pixels(estimate: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """8-bit pixels of a matrix in the layout of :func:`image_to_matrix`, clipped to [0, 1] and
    rounded: (h, w) for grey, (h, w, 3) for colour."""
    image = matrix_to_image(estimate, shape)
    return np.rint(image * 255).astype(np.uint8)


def save_png(estimate: np.ndarray, shape: tuple[int, ...], path) -> None:
    """Write a matrix in the layout of :func:`image_to_matrix` as a PNG image (needs Pillow)."""
    pixels = to_pixels(estimate, shape)
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("writing a PNG needs Pillow: pip install 'wlra_core[app]' (or pip install pillow)") from exc
    Image.fromarray(pixels).save(path, format="PNG")
