"""Cached loaders: sample images from assets/, uploaded images and masks; and the pages' uploads of
images, masks and rating files, accepted through the one upload path (ui/uploads.py). A bad file
leaves the previous image, mask or ratings in place and a message for the page."""
from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

import wlra_core as wc
from ui import state, uploads
from ui.models import ratings as rm

ASSETS = Path(__file__).resolve().parent.parent / "assets"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "webp"]  # a GIF or APNG is read at its first frame
UPLOAD_CHOICE = "upload"  # the image selector's value for the uploaded image


def sample_names() -> list[str]:
    """Stems of the sample images in assets/, the default ("camera") first."""
    names = sorted(p.stem for p in ASSETS.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return sorted(names, key=lambda n: (n != "camera", n))


def sample_path(name: str) -> Path:
    for path in ASSETS.iterdir():
        if path.stem == name and path.suffix.lower() in IMAGE_EXTENSIONS:
            return path
    raise wc.InputError(f"image: no sample named {name!r}; the samples are {', '.join(sample_names())}.")


@st.cache_data(max_entries=16, show_spinner=False)
def load_sample(name: str, max_side: int | None) -> np.ndarray:
    """A sample as float [0, 1], (h, w) grey or (h, w, 3) colour, long side at most max_side."""
    return wc.data.load_image(str(sample_path(name)), max_side=max_side)


@st.cache_data(max_entries=8, show_spinner=False)
def decode_image(data: bytes, max_side: int | None) -> np.ndarray:
    """Uploaded bytes (PNG, JPEG, WebP; EXIF orientation honoured by the loader) as an image."""
    return wc.data.load_image(io.BytesIO(data), max_side=max_side)


@st.cache_data(max_entries=8, show_spinner=False)
def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """A mask image as weights in [0, 1] on an (h, w) image grid.

    A mask of another size with the image's aspect ratio (within 2 %; e.g. made for the original
    image while the page works at a lower resolution) is area-averaged onto the grid.
    """
    h, w = shape
    native_h, native_w = wc.data.image_size(data)  # as the loader sees it; from the header only
    native = (native_w, native_h)
    weights = wc.data.load_mask(io.BytesIO(data), (native_h, native_w))
    if weights.shape == (h, w):
        return weights
    if abs(native[0] / native[1] - w / h) > 0.02 * (w / h):
        raise wc.InputError(
            f"mask: found {native[0]}×{native[1]} px, need the image's aspect ratio "
            f"({w}×{h} px at this resolution); resize the mask to the image."
        )
    resized = Image.fromarray(weights.astype(np.float32)).resize((w, h), Image.BOX)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def accept_image_bytes(prefix: str, name: str, data: bytes, max_side: int) -> None:
    """Validate an uploaded image and make it the current one; raises wc.InputError if bad."""
    uploads.read(name, data, lambda b: decode_image(b, max_side), uploads.IMAGE)
    state.put(prefix, "upload", uploads.upload_entry(name, data))


def accept_mask_bytes(prefix: str, name: str, data: bytes, shape: tuple[int, int]) -> None:
    """Validate an uploaded mask PNG and make it the current base layer; raises wc.InputError."""
    uploads.read(name, data, lambda b: decode_mask(b, shape), uploads.MASK)
    state.put(prefix, "mask_upload", uploads.upload_entry(name, data))


def accept_pending_image(prefix: str, *, max_side: int, image_choice_key: str) -> None:
    """Validate a queued image upload; on success select it, on failure keep everything and flash."""
    pending = uploads.take_pending(prefix, "pending_upload")
    if pending is None:
        return
    try:
        accept_image_bytes(prefix, *pending, max_side)
    except wc.InputError as exc:
        state.flash_error(prefix, str(exc))
    else:
        st.session_state[image_choice_key] = UPLOAD_CHOICE


def accept_pending_ratings(prefix: str, *, max_entries: int) -> None:
    """Validate a queued ratings upload: on success it becomes the page's data (`<prefix>_data`),
    on failure the previous data stays and the reason is kept in `<prefix>_upload_error`."""
    pending = uploads.take_pending(prefix, "pending_upload")
    if pending is None:
        return
    name, data = pending
    loader = functools.partial(wc.data.load_ratings, max_bytes=uploads.MAX_UPLOAD_BYTES, max_entries=max_entries)
    try:
        ratings = uploads.read(name, data, lambda b: rm.load_upload(b, name, loader), uploads.RATINGS)
    except wc.InputError as exc:
        state.put(prefix, "upload_error", uploads.for_the_page(str(exc)))
        return
    state.put(prefix, "data", {"name": name, "ratings": ratings, "digest": hashlib.md5(data).hexdigest()})
    state.put(prefix, "upload_error", None)


def accept_pending_mask(prefix: str, shape: tuple[int, int]) -> None:
    """Validate a queued mask upload against the current image grid (same rules as above)."""
    pending = uploads.take_pending(prefix, "pending_mask")
    if pending is None:
        return
    try:
        accept_mask_bytes(prefix, *pending, shape)
    except wc.InputError as exc:
        state.flash_error(prefix, str(exc))


def current_image(prefix: str, choice: str, max_side: int) -> tuple[np.ndarray, tuple[int, int], str]:
    """(working image, original (height, width), identity) for the selector's choice."""
    if choice == UPLOAD_CHOICE and state.get(prefix, "upload"):
        upload = state.get(prefix, "upload")
        image = decode_image(upload["bytes"], max_side)
        return image, original_size(upload["bytes"]), f"upload:{upload['digest']}"
    name = choice if choice in sample_names() else sample_names()[0]
    return load_sample(name, max_side), original_size(sample_path(name).read_bytes()), f"sample:{name}"


@st.cache_data(max_entries=16, show_spinner=False)
def original_size(data: bytes) -> tuple[int, int]:
    """(height, width) of an image file from its header: a large original is never decoded whole."""
    return wc.data.image_size(data)
