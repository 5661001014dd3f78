"""Generate the synthetic sample images in assets/ (deterministic; run from the repository root).

    .venv/bin/python assets/make_samples.py

plaid.png is a colour image whose stacked matrix [R | G | B] has rank 4 before 8-bit rounding,
so a rank-4 reconstruction can recover the hidden pixels almost exactly: the one sample where
"low rank" is literally true. The photographs beside it are copied from scikit-image (see
assets/README.md), not generated here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

RANK = 4
HEIGHT, WIDTH = 256, 320


def plaid(height: int = HEIGHT, width: int = WIDTH, rank: int = RANK) -> np.ndarray:
    """A (height, width, 3) uint8 image; its [R | G | B] matrix has rank `rank` before rounding."""
    rows = np.linspace(0.0, 1.0, height)[:, None]
    cols = np.linspace(0.0, 1.0, width)[:, None]
    row_factors = np.hstack([np.ones_like(rows)] + [np.cos(np.pi * (2 * r + 1) * rows) for r in range(rank - 1)])
    col_factors = np.hstack([np.ones_like(cols)] + [np.sin(np.pi * (r + 1) * 1.5 * cols) for r in range(rank - 1)])
    # One weight per factor and channel, so the three channels share row factors (rank stays `rank`).
    weights = np.array([
        [0.55, 0.45, 0.35],
        [0.20, -0.10, 0.05],
        [-0.08, 0.15, 0.10],
        [0.10, 0.05, -0.15],
    ])[:rank]
    channels = [row_factors @ np.diag(weights[:, c]) @ col_factors.T for c in range(3)]
    image = np.stack(channels, axis=-1)
    image = (image - image.min()) / (image.max() - image.min())
    return np.round(image * 255).astype(np.uint8)


def main() -> None:
    out = Path(__file__).resolve().parent
    Image.fromarray(plaid()).save(out / "plaid.png", optimize=True)
    print(f"wrote {out / 'plaid.png'}")


if __name__ == "__main__":
    main()
