"""Per-session test images and who-is-shown checks, shared by test_isolation.py and benchmarks/load.py.

Each session uploads its own 256×256 grey image, and whose image a page shows is then decided from
the pixels of the pictures it shows (original, masked input, every reconstruction X Yᵀ):

- `session_image(i)`: for session i, a Walsh pattern (rows and columns of a Sylvester-Hadamard
  matrix of order 8: stripes, checks; a different pair of orders per session, so the patterns of
  any two sessions are exactly orthogonal), a seeded texture and pixel noise (so the image has
  full rank and the solvers keep working as on a photograph), and the digit i + 1 drawn large (for
  the human looking at a screenshot);
- `decode_data_uri`: a picture's `img` data URI as a grey array in [0, 1];
- `correlations`: Pearson correlation of a picture with each session's image; the picture is
  attributed to the session with the highest one (`attribute`).

Own pictures correlate at about 0.8 (masked input, a third of it tinted) to 1.0 (original);
another session's image at most at `max_cross_correlation(n)` (below 0.2 for 8 sessions).
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 256
_ORDER = 8
# (row order, column order) of the Walsh pattern per session: distinct pairs, so orthogonal; the
# first ones differ most to the eye (horizontal stripes, vertical stripes, checks, ...).
_PAIRS = [(1, 0), (0, 1), (1, 1), (3, 0), (0, 3), (2, 5), (5, 2), (7, 7)] + [
    (a, b) for a in range(_ORDER) for b in range(_ORDER)
    if (a, b) != (0, 0) and (a, b) not in {(1, 0), (0, 1), (1, 1), (3, 0), (0, 3), (2, 5), (5, 2), (7, 7)}]
MAX_SESSIONS = len(_PAIRS)


def _walsh(order: int) -> np.ndarray:
    """Rows of the Sylvester-Hadamard matrix of size `order` (a power of 2), entries ±1."""
    H = np.ones((1, 1))
    while H.shape[0] < order:
        H = np.block([[H, H], [H, -H]])
    return H


def session_image(index: int, size: int = SIZE) -> np.ndarray:
    """Session `index`'s image: (size, size) uint8 grey, the same for the same index."""
    if not 0 <= index < MAX_SESSIONS:
        raise ValueError(f"index: found {index}, need 0 ≤ index < {MAX_SESSIONS}")
    a, b = _PAIRS[index]
    H = _walsh(_ORDER)
    cell = size // _ORDER
    pattern = np.kron(np.outer(H[a], H[b]), np.ones((cell, cell)))
    rng = np.random.default_rng(np.random.SeedSequence(index, spawn_key=(0x4C4F4144,)))
    texture = np.kron(rng.uniform(-1.0, 1.0, (16, 16)), np.ones((size // 16, size // 16)))
    values = 0.5 + 0.28 * pattern + 0.08 * texture + 0.03 * rng.standard_normal((size, size))
    picture = Image.fromarray(np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=size // 3)
    draw.text((size / 2, size / 2), str(index + 1), fill=250, stroke_width=size // 64, stroke_fill=5,
              font=font, anchor="mm")
    return np.asarray(picture)


def write_session_images(n: int, folder: Path, stem: str = "session") -> list[Path]:
    """Save sessions 0 … n−1's images as `<stem>_<i + 1>.png` in `folder`; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{stem}_{i + 1}.png"
        Image.fromarray(session_image(i)).save(path)
        paths.append(path)
    return paths


def decode_data_uri(uri: str) -> np.ndarray:
    """A `data:image/png;base64,…` picture as a grey float array in [0, 1] (colour averaged)."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/") or ";base64" not in header:
        raise ValueError(f"not a base64 image data URI: {uri[:60]!r}")
    with Image.open(io.BytesIO(base64.b64decode(payload))) as img:
        return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def correlations(picture: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """Pearson correlation of `picture` with each reference (same shape); 0 for a flat picture."""
    x = picture.astype(np.float64).ravel()
    x = x - x.mean()
    out = np.zeros(len(references))
    for j, ref in enumerate(references):
        if ref.shape != picture.shape:
            continue
        y = ref.astype(np.float64).ravel()
        y = y - y.mean()
        denom = np.sqrt((x @ x) * (y @ y))
        out[j] = (x @ y) / denom if denom > 0 else 0.0
    return out


def attribute(picture: np.ndarray, references: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """(index of the reference the picture correlates with most, all correlations)."""
    c = correlations(picture, references)
    return int(np.argmax(c)), c


def max_cross_correlation(n: int) -> float:
    """The largest correlation between two different sessions' images among the first n."""
    refs = [session_image(i) for i in range(n)]
    return max((correlations(refs[i], [refs[j]])[0] for i in range(n) for j in range(n) if i != j),
               default=0.0)
