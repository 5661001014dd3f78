"""Reading user files: sources under the size caps (sources), images and masks (image_files, with
Pillow; images for their layout as a matrix), rating files (ratings) and matrix files (matrices).

Every loader takes a path (``str`` or ``os.PathLike``), ``bytes`` or a binary file-like object
(anything with ``.read()`` returning bytes, such as Streamlit's ``UploadedFile``; it is read from
its current position). Bad content raises :class:`~wlra_core.problem.InputError` whose message
names the input, what was found and what is needed; raw Pillow, NumPy or pandas exceptions never
escape a loader.

Conventions: images are float64 arrays in [0, 1], ``(h, w)`` for grey and ``(h, w, 3)`` for
colour, whose matrix is ``(h, 3w)`` = ``[R | G | B]``; rating files become sparse CSR M (ratings)
and W (1.0 at every observed pair) with the same sparsity structure.

The names below are imported on first use, so ``import wlra_core`` loads neither pandas nor
Pillow: the text loaders import pandas, the image loaders Pillow, when first called.
"""
from __future__ import annotations

import importlib

# public name -> the submodule that defines it
_WHERE = {
    "Source": "sources", "DUPLICATE_POLICIES": "sources",
    "load_image": "image_files", "image_size": "image_files", "load_mask": "image_files",
    "image_to_matrix": "images", "matrix_to_image": "images", "mask_to_weights": "images",
    "image_problem": "images", "to_pixels": "images", "save_png": "images",
    "Ratings": "ratings", "load_ratings": "ratings",
    "load_matrix": "matrices", "matrix_problem": "matrices",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
