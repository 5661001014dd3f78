"""Cached loaders: sample images from assets/, uploaded images, masks and rating files.

Uploads go through one path that takes bytes, so it can be tested without a browser:
the uploader's on_change callback (or a test, by writing `<prefix>_pending_upload` into session
state) queues (file name, bytes); `accept_pending_image`, `accept_pending_mask` and
`accept_pending_ratings` validate them on the next run. A bad file leaves the previous image, mask
or ratings in place and leaves a message for the page that names the file, what was found in it
and what is needed.
"""
from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

import wlra_core as wc
from ui.models import ratings as rm
from ui import state

ASSETS = Path(__file__).resolve().parent.parent / "assets"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "webp"]  # a GIF or APNG is read at its first frame
IMAGE_FORMATS = "a PNG, JPEG, GIF or WebP image"
MASK_FORMAT = "a PNG image of the image's size or aspect ratio (white = trusted, black = missing)"
# One file: the library's cap, which .streamlit/config.toml's server.maxUploadSize repeats in MB.
MAX_UPLOAD_BYTES = wc.limits.MAX_FILE_BYTES
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


def check_upload_size(name: str, data: bytes, what: str) -> None:
    """Refuse an upload above the upload limit (also Streamlit's, for uploads from a browser)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise wc.InputError(
            f"{what} {name!r}: found {len(data):,} bytes ({len(data) / 2**20:.1f} MB), need at most "
            f"{MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES / 2**20:g} MB, the upload limit); use a smaller file."
        )


def _check_bytes(name: str, data: bytes, what: str, need: str) -> None:
    if not data:
        raise wc.InputError(f"{what} {name!r}: found an empty file (0 bytes), need {need}.")
    check_upload_size(name, data, what)


def for_the_page(message: str) -> str:
    """A library message without the names of the library's cap parameters, which a user of the
    app cannot set (the cap itself is still stated)."""
    return message.replace(", max_entries)", ")").replace(", max_bytes)", ")")


def _as_input_error(exc: Exception, name: str, what: str, need: str) -> wc.InputError:
    """A loader's failure as a message that names the uploaded file: "Image 'x.png': found …"."""
    if isinstance(exc, wc.InputError):
        # The loaders name the input by its kind ("image: found …", "mask: found …"); the user
        # knows it by its file name.
        text = for_the_page(str(exc))
        for kind in ("image: ", "mask: "):
            text = text.removeprefix(kind)
        return wc.InputError(f"{what} {name!r}: {text}")
    return wc.InputError(f"{what} {name!r}: could not be read ({type(exc).__name__}: {exc}); need {need}.")


def upload_entry(name: str, data: bytes) -> dict:
    """How an accepted upload is kept: its name, its bytes and their digest (the data's identity)."""
    return {"name": name, "bytes": data, "digest": hashlib.md5(data).hexdigest()}


def accept_image_bytes(prefix: str, name: str, data: bytes, max_side: int) -> None:
    """Validate an uploaded image and make it the current one; raises wc.InputError if bad."""
    _check_bytes(name, data, "Image", IMAGE_FORMATS)
    try:
        decode_image(data, max_side)
    except Exception as exc:  # any decoder failure becomes a message, never a traceback
        raise _as_input_error(exc, name, "Image", IMAGE_FORMATS) from None
    state.put(prefix, "upload", upload_entry(name, data))


def accept_mask_bytes(prefix: str, name: str, data: bytes, shape: tuple[int, int]) -> None:
    """Validate an uploaded mask PNG and make it the current base layer; raises wc.InputError."""
    _check_bytes(name, data, "Mask", MASK_FORMAT)
    try:
        decode_mask(data, shape)
    except Exception as exc:
        raise _as_input_error(exc, name, "Mask", MASK_FORMAT) from None
    state.put(prefix, "mask_upload", upload_entry(name, data))


def queue_upload(prefix: str, widget_key: str, pending: str) -> None:
    """on_change callback of a file uploader: queue (name, bytes) once per uploaded file."""
    file = st.session_state.get(widget_key)
    if file is None:
        return
    seen = state.get(prefix, "seen_uploads", ())
    if file.file_id in seen:
        return
    state.put(prefix, "seen_uploads", (*seen, file.file_id)[-20:])
    state.put(prefix, pending, (file.name, file.getvalue()))


def take_pending(prefix: str, key: str):
    """The queued (name, bytes) upload under `key`, removed from the queue; None if there is none."""
    pending = state.get(prefix, key)
    if pending is not None:
        state.put(prefix, key, None)
    return pending


def accept_pending_image(prefix: str, *, max_side: int, image_choice_key: str) -> None:
    """Validate a queued image upload; on success select it, on failure keep everything and flash."""
    pending = take_pending(prefix, "pending_upload")
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
    pending = take_pending(prefix, "pending_upload")
    if pending is None:
        return
    name, data = pending
    loader = functools.partial(wc.data.load_ratings, max_bytes=MAX_UPLOAD_BYTES, max_entries=max_entries)
    try:
        check_upload_size(name, data, "Ratings")
        ratings = rm.load_upload(data, name, loader)
    except ValueError as exc:  # wc.InputError is a ValueError
        state.put(prefix, "upload_error", for_the_page(str(exc)))
        return
    state.put(prefix, "data", {"name": name, "ratings": ratings, "digest": hashlib.md5(data).hexdigest()})
    state.put(prefix, "upload_error", None)


def accept_pending_mask(prefix: str, shape: tuple[int, int]) -> None:
    """Validate a queued mask upload against the current image grid (same rules as above)."""
    pending = take_pending(prefix, "pending_mask")
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
