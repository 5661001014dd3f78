"""The loaders and generators under their former module name: ``wlra_core.data.load_matrix`` and
the rest still work. New code imports from :mod:`wlra_core.io` (files) and
:mod:`wlra_core.synthetic` (planted problems); each name is imported on first use, so this module
loads neither pandas nor Pillow until a loader needs them.
"""
from __future__ import annotations

import importlib

from . import io as _io

_SYNTHETIC = ("Planted", "PATTERNS", "planted", "make_ratings")

__all__ = ["Planted", "Ratings", "PATTERNS", "DUPLICATE_POLICIES", "load_image", "image_size", "load_mask",
           "load_ratings", "load_matrix", "matrix_problem", "image_problem", "image_to_matrix",
           "matrix_to_image", "mask_to_weights", "planted", "make_ratings"]


def __getattr__(name: str):
    if name in _SYNTHETIC:
        value = getattr(importlib.import_module(".synthetic", __package__), name)
    elif name in __all__ or name == "Source":
        value = getattr(_io, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
