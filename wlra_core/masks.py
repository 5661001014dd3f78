"""Preset masks for images: random dropout, typed text, scratches and a centre block.

The inpainting page's presets and benchmarks/inpainting.py draw their holes here, so a benchmark
case is the mask a user gets in the app with the same settings. Sizes are fractions of the
image's short side; the same seed gives the same mask.
"""
from __future__ import annotations

import numpy as np

from .problem import InputError, check_float, check_int

__all__ = ["preset_hidden", "text_hidden", "scratch_hidden"]


def text_hidden(shape: tuple[int, int], text: str, size_frac: float) -> np.ndarray:
    """Boolean (h, w): the pixels at least half covered by ``text`` (up to 4 lines) drawn centred,
    its font ``size_frac`` of the short side high."""
    from PIL import Image, ImageDraw, ImageFont   # here, so that `import wlra_core` loads no Pillow
    h, w = shape
    if not text.strip():
        return np.zeros(shape, dtype=bool)
    supersample = 4
    canvas = Image.new("L", (w * supersample, h * supersample), 0)
    draw = ImageDraw.Draw(canvas)
    font_px = max(4, int(size_frac * min(h, w) * supersample))
    font = ImageFont.load_default(size=font_px)
    lines = text.strip().splitlines()[:4]
    line_height = font_px * 1.15
    top = h * supersample / 2 - line_height * (len(lines) - 1) / 2
    for i, line in enumerate(lines):
        draw.text((w * supersample / 2, top + i * line_height), line, fill=255, font=font, anchor="mm")
    coverage = np.asarray(canvas.resize((w, h), Image.BOX), dtype=np.float64) / 255.0
    return coverage >= 0.5


def scratch_hidden(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean (h, w): ``count`` random curved strokes, 0.8–2 % of the short side wide."""
    from PIL import Image, ImageDraw   # here, so that `import wlra_core` loads no Pillow
    h, w = shape
    if count <= 0:
        return np.zeros(shape, dtype=bool)
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    short = min(h, w)
    for _ in range(count):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.uniform(0, 2 * np.pi)
        points = [(x, y)]
        for _ in range(int(rng.integers(3, 7))):
            angle += rng.normal(0, 0.35)
            step = rng.uniform(0.05, 0.15) * short
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            points.append((x, y))
        width = max(1, int(round(rng.uniform(0.008, 0.02) * short)))
        draw.line(points, fill=255, width=width, joint="curve")
    return np.asarray(img) > 127


def preset_hidden(shape, *, dropout: float = 0.0, text: str = "", text_size: float = 0.3, scratches: int = 0,
                  block: float = 0.0, seed: int = 0) -> np.ndarray:
    """Boolean (h, w): True where a preset hides the pixel (all presets combined).

    ``dropout``: probability that a pixel is hidden; ``text``: typed text over the centre,
    ``text_size`` high; ``scratches``: how many strokes; ``block``: side of the centred square;
    ``seed`` draws the dropout and the scratches (default_rng(seed), dropout first)."""
    try:
        h, w = (int(s) for s in tuple(shape)[:2])
    except (TypeError, ValueError):
        raise InputError(f"shape: found {shape!r}, need (h, w)") from None
    if h < 1 or w < 1:
        raise InputError(f"shape: found {shape!r}, need positive (h, w)")
    dropout = check_float("dropout", dropout, low=0.0, high=1.0)
    text_size = check_float("text_size", text_size, low=0.0, high=1.0, low_open=True)
    scratches = check_int("scratches", scratches, low=0)
    block = check_float("block", block, low=0.0, high=1.0)
    seed = check_int("seed", seed, low=0)
    if not isinstance(text, str):
        raise InputError(f"text: found {type(text).__name__}, need a string")
    hidden = np.zeros((h, w), dtype=bool)
    rng = np.random.default_rng(seed)
    if dropout > 0:
        hidden |= rng.random((h, w)) < dropout
    hidden |= text_hidden((h, w), text, text_size)
    hidden |= scratch_hidden((h, w), scratches, rng)
    if block > 0:
        side = block * min(h, w)
        top, left = int(round((h - side) / 2)), int(round((w - side) / 2))
        hidden[top:top + int(round(side)), left:left + int(round(side))] = True
    return hidden
