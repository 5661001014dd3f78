"""Weight masks for images: presets, painting on a canvas, and how the layers combine.

A mask is a weight per image pixel in [0, 1]: 0 = missing, 1 = trusted. It is built from layers,
in this order, each over the previous:

1. the uploaded mask PNG (or all ones),
2. presets (random dropout, a text overlay, scratches, a centre block) set their pixels to 0,
3. painting on the canvas replaces the weight under each stroke by the brush's weight, so a
   weight-1 brush restores pixels that a preset hid.

The brush weight is carried by the stroke colour, on the linear colour scale MISSING_RGB → TRUSTED_RGB
that the weight heatmap also uses; strokes are opaque so the newest stroke wins. Reading the
canvas back: colour → weight by projection on that scale, alpha → coverage, then area-resampled
onto the image grid through the canvas's background fit, so the mask maps exactly
onto image pixels whatever the canvas size.
"""
from __future__ import annotations

import base64
import hashlib
import io
import lzma
import struct
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

import wlra_core as wc

from ui import state

MISSING_RGB = (230, 75, 25)   # weight 0
TRUSTED_RGB = (25, 120, 225)  # weight 1
CANVAS_LONG_SIDE = 384        # CSS pixels of the painting canvas along the image's long side
                              # (fits the page's left column from a 1280 px wide window)
HIDDEN_BELOW = 0.5            # pixels with weight below this count as hidden (for PSNR and counts)

TOOLS = {"Brush": "freedraw", "Rectangle": "rect", "Polygon": "polygon"}


# --- the colour scale -------------------------------------------------------------------------

def weight_rgb(weight: float) -> tuple[int, int, int]:
    w = float(np.clip(weight, 0.0, 1.0))
    return tuple(int(round((1 - w) * a + w * b)) for a, b in zip(MISSING_RGB, TRUSTED_RGB))


def weight_css(weight: float) -> str:
    r, g, b = weight_rgb(weight)
    return f"rgb({r}, {g}, {b})"


def colorscale() -> list[list[Any]]:
    """The same scale for plotly heatmaps."""
    return [[0.0, weight_css(0.0)], [1.0, weight_css(1.0)]]


def rgb_to_weight(rgb: np.ndarray) -> np.ndarray:
    """Inverse of weight_rgb for (..., 3) arrays: the projection onto the colour segment, snapped
    to hundredths. 8-bit colours carry the weight only to about ±0.002, and without the snap a
    brush of weight 0.5 came back as 0.499 and counted as hidden (below HIDDEN_BELOW)."""
    c0 = np.asarray(MISSING_RGB, dtype=np.float64)
    d = np.asarray(TRUSTED_RGB, dtype=np.float64) - c0
    t = (np.asarray(rgb, dtype=np.float64) - c0) @ d / float(d @ d)
    return np.clip(np.round(t, 2), 0.0, 1.0)


def scale_legend_html(weight: float) -> str:
    """A horizontal colour bar 0 … 1 with a marker at the brush's weight."""
    left = 100.0 * float(np.clip(weight, 0.0, 1.0))
    return (
        '<div data-testid="brush-scale" style="margin:2px 0 10px 0">'
        f'<div style="position:relative;height:14px;border-radius:3px;'
        f'background:linear-gradient(to right,{weight_css(0)},{weight_css(1)})">'
        f'<div style="position:absolute;left:calc({left:.1f}% - 2px);top:-3px;width:4px;height:20px;'
        'background:#111;border-radius:2px"></div></div>'
        '<div style="display:flex;justify-content:space-between;font-size:0.75rem;opacity:0.8">'
        "<span>0 = missing</span><span>0.5</span><span>1 = trusted</span></div></div>"
    )


# --- presets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Presets:
    """Preset holes, all combinable. Sizes are fractions of the image's short side."""

    dropout: float = 0.0   # probability that a pixel is hidden
    text: str = ""         # typed text drawn over the image centre
    text_size: float = 0.3
    scratches: int = 0     # number of random scratches
    block: float = 0.0     # side of the centred square block
    seed: int = 0          # seed of dropout and scratches

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@st.cache_data(max_entries=32, show_spinner=False)
def preset_hidden(shape: tuple[int, int], presets: Presets) -> np.ndarray:
    """Boolean (h, w): True where a preset hides the pixel (wlra_core.masks). Deterministic for a seed."""
    return wc.masks.preset_hidden(shape, **presets.as_dict())


# --- the painted layer ------------------------------------------------------------------------

def canvas_size(image_shape: tuple[int, ...], long_side: int = CANVAS_LONG_SIDE) -> tuple[int, int]:
    """(width, height) of the painting canvas, in CSS pixels, with the image's aspect ratio."""
    h, w = image_shape[:2]
    scale = long_side / max(h, w)
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


@st.cache_data(max_entries=16, show_spinner=False)
def paint_layer(
    png: bytes, fit: dict | None, canvas: tuple[int, int], image_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, weighted) on the image grid from the canvas's stroke PNG.

    coverage ∈ [0, 1] is how much of each image pixel is painted; weighted is coverage × the
    painted weight, so the combined weight is (1 − coverage) · below + weighted.
    The canvas → image map is image_x = (canvas_x − offset_x) / scale_x (the canvas's
    background fit); before the canvas reports its fit, the canvas/image size ratio.
    """
    h, w = image_shape
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=np.float64)
    px_h, px_w = rgba.shape[:2]
    density_x, density_y = px_w / canvas[0], px_h / canvas[1]  # device pixels per CSS pixel
    if fit:
        sx, sy = fit["scale_x"], fit["scale_y"]
        ox, oy = fit["offset_x"], fit["offset_y"]
    else:
        sx, sy, ox, oy = canvas[0] / w, canvas[1] / h, 0.0, 0.0
    box = (ox * density_x, oy * density_y, (ox + w * sx) * density_x, (oy + h * sy) * density_y)
    alpha = rgba[..., 3] / 255.0
    weight = rgb_to_weight(rgba[..., :3])

    def area_resample(values: np.ndarray) -> np.ndarray:
        img = Image.fromarray(values.astype(np.float32))  # mode "F"
        return np.asarray(img.resize((w, h), Image.BOX, box=box), dtype=np.float64)

    coverage = np.clip(area_resample(alpha), 0.0, 1.0)
    weighted = np.clip(area_resample(alpha * weight), 0.0, 1.0)
    return coverage, np.minimum(weighted, coverage)


def combine(
    shape: tuple[int, int],
    *,
    uploaded: np.ndarray | None = None,
    hidden: np.ndarray | None = None,
    painted: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The weights the solver sees, (h, w) in [0, 1]: uploaded mask, then presets, then paint."""
    weights = np.ones(shape) if uploaded is None else np.clip(np.asarray(uploaded, dtype=np.float64), 0, 1)
    if hidden is not None:
        weights = np.where(hidden, 0.0, weights)
    if painted is not None:
        coverage, weighted = painted
        weights = (1.0 - coverage) * weights + weighted
    return np.clip(weights, 0.0, 1.0)


def hidden_pixels(weights: np.ndarray) -> np.ndarray:
    return np.asarray(weights) < HIDDEN_BELOW


def mask_png(weights: np.ndarray) -> bytes:
    """Grey PNG, 255 = weight 1; the format the mask upload reads back."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(weights, 0, 1) * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


# --- the canvas widget ------------------------------------------------------------------------

def clear_painting(prefix: str) -> None:
    """Forget the strokes (those restored from a shared URL too); the canvas remounts empty under a new key."""
    st.session_state[state.key(prefix, "restored")] = None
    st.query_params.pop(STROKES_PARAM, None)
    st.session_state[state.key(prefix, "canvas_json")] = None
    st.session_state[state.key(prefix, "paint")] = None
    epoch_key = state.key(prefix, "canvas_epoch")
    st.session_state[epoch_key] = st.session_state.get(epoch_key, 0) + 1


def painting_canvas(
    prefix: str,
    background_png: bytes,
    image_shape: tuple[int, ...],
    *,
    tool: str,
    brush_size: int,
    brush_weight: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Draw the canvas over the image and return the painted layer on the image grid (or None).

    The drawing survives page switches: its json is kept under a non-widget key and passed back
    as initial_drawing when the canvas remounts (and unchanged on every run of that mount); the
    last stroke PNG is kept too, because after a remount no image_data comes until the next
    stroke. A new aspect ratio clears the painting.
    """
    size = canvas_size(image_shape)
    json_key, paint_key = state.key(prefix, "canvas_json"), state.key(prefix, "paint")
    paint = st.session_state.get(paint_key)
    if paint is not None and tuple(paint["canvas"]) != size:
        clear_painting(prefix)
        paint = None
    widget_key = f"{state.key(prefix, 'canvas')}_{st.session_state.get(state.key(prefix, 'canvas_epoch'), 0)}_{size[0]}x{size[1]}"
    # The drawing a mount starts from stays the same for the whole mount: the canvas reloads
    # (and forgets its undo history) whenever initial_drawing changes, and None would clear it.
    mount_key = state.key(prefix, "canvas_mount")
    mount = st.session_state.get(mount_key)
    if widget_key not in st.session_state or not mount or mount["key"] != widget_key:
        mount = {"key": widget_key, "initial": st.session_state.get(json_key)}
        st.session_state[mount_key] = mount
    initial = mount["initial"]

    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component could not register (e.g. a bare python shell)
        st.info(f"The painting canvas is unavailable here ({type(exc).__name__}); presets and mask upload still work.")
        return _stored_layer(paint, image_shape)

    color = weight_css(brush_weight)
    result = st_canvas(
        fill_color=color,
        stroke_width=int(brush_size),
        stroke_color=color,
        background_image=background_png,
        background_image_fit="stretch",
        update_streamlit=True,
        width=size[0],
        height=size[1],
        drawing_mode=TOOLS.get(tool, "freedraw"),
        initial_drawing=initial,
        return_image_data=True,
        key=widget_key,
    )
    if result.json_data is not None:
        # The background travels separately (it changes with the presets); keep the strokes only.
        st.session_state[json_key] = {k: v for k, v in result.json_data.items()
                                      if k not in ("backgroundImage", "background")}
    png = result.image_bytes
    if png is not None:
        objects = (result.json_data or {}).get("objects") or []
        if objects:
            paint = {"png": png, "fit": result.background_fit, "canvas": size,
                     "digest": hashlib.md5(png).hexdigest()}
        else:
            paint = None
        st.session_state[paint_key] = paint
    return _stored_layer(paint, image_shape)


def _stored_layer(paint: dict | None, image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    if not paint:
        return None
    return paint_layer(paint["png"], paint["fit"], tuple(paint["canvas"]), tuple(image_shape[:2]))


# --- painted strokes in a shared URL ----------------------------------------------------------

STROKES_PARAM = "inp_strokes"   # query parameter holding the painted layer's code


def layer_code(layer: tuple[np.ndarray, np.ndarray]) -> str:
    """The painted layer (coverage, weighted) on the image grid as a URL-safe code: both arrays as
    float32, the precision paint_layer makes them in (rounded to 16 bits, a coverage of exactly
    0.5 became 0.500008 and its pixel hidden), lzma-compressed (strokes are mostly flat: a stroke
    across a 256 px image is about 2 kB), base64url."""
    coverage, weighted = (np.asarray(a, dtype=np.float64) for a in layer)
    h, w = coverage.shape
    q = np.clip(np.stack([coverage, weighted]), 0.0, 1.0).astype("<f4")
    body = lzma.compress(struct.pack("<HH", h, w) + q.tobytes(), preset=6)
    return base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")


def decode_layer(code: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The painted layer of `layer_code`, for an image of `shape`; InputError if it is not one."""
    try:
        raw = lzma.decompress(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)),
                              memlimit=64 * 2**20)
        h, w = struct.unpack("<HH", raw[:4])
    except (ValueError, lzma.LZMAError, struct.error) as exc:
        raise wc.InputError(f"strokes in the URL: found a code that does not decode ({type(exc).__name__}); "
                            "need one made by this page's URL") from None
    if (h, w) != tuple(shape):
        raise wc.InputError(f"strokes in the URL: found strokes for a {w}×{h} px image, need {shape[1]}×{shape[0]} px "
                            "(the same image and working resolution)")
    if len(raw) != 4 + 2 * 4 * h * w:
        raise wc.InputError(f"strokes in the URL: found {len(raw) - 4} bytes of strokes, need {8 * h * w}")
    q = np.clip(np.frombuffer(raw[4:], dtype="<f4").reshape(2, h, w).astype(np.float64), 0.0, 1.0)
    if not np.isfinite(q).all():
        raise wc.InputError("strokes in the URL: found values that are not numbers, need weights in [0, 1]")
    return q[0], np.minimum(q[1], q[0])


def compose_layers(first: tuple[np.ndarray, np.ndarray] | None,
                   second: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """One layer with the effect of `first` then `second` painted over it (as `combine` applies them)."""
    if first is None or second is None:
        return second if first is None else first
    (c1, v1), (c2, v2) = first, second
    return 1.0 - (1.0 - c1) * (1.0 - c2), (1.0 - c2) * v1 + v2


def restored_layer(prefix: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The painted layer restored from the URL's STROKES_PARAM, once per session (then kept in
    session state: the code in the URL is rewritten from it and any new strokes). Raises
    InputError, after dropping the parameter, for a code that is not one for this image."""
    key = state.key(prefix, "restored")
    if key not in st.session_state:
        st.session_state[key] = None
        if (code := st.query_params.get(STROKES_PARAM)):
            try:
                st.session_state[key] = {"code": code, "layer": decode_layer(code, shape)}
            except wc.InputError:
                st.query_params.pop(STROKES_PARAM, None)
                raise
    kept = st.session_state[key]
    if kept is None or kept["layer"][0].shape != tuple(shape):
        return None
    return kept["layer"]


def share_strokes(layer: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Keep the URL's STROKES_PARAM equal to the painted layer shown (removed when there is none)."""
    if layer is None or not np.any(layer[0] > 0):
        st.query_params.pop(STROKES_PARAM, None)
        return
    code = layer_code(layer)
    if st.query_params.get(STROKES_PARAM) != code:
        st.query_params[STROKES_PARAM] = code
