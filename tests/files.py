"""Files made in memory that the loader tests share: encoded images, .npy bytes, files written
under tmp_path, and a ratings set's dense matrix."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def grey_levels(h: int = 3, w: int = 4) -> np.ndarray:
    return (np.arange(h * w, dtype=np.uint8).reshape(h, w) * 20)


def noise_png(size: int = 64) -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)))


def noise_jpeg(size: int = 64) -> bytes:
    rng = np.random.default_rng(1)
    return encode(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "JPEG")


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def dense(r):
    return r.M.toarray()


def npy_bytes(arr, **options) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr, **options)
    return buffer.getvalue()
