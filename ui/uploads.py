"""The one path from an uploaded file to the library, for images, masks, ratings and matrices.

The uploader's on_change callback (or a test, by writing `<prefix>_pending_…` into session state)
queues (file name, bytes) with `queue_upload`; on the next run the page takes it (`take_pending`)
and `read`s it: within the upload limit, the bytes go to the library's loader (never pickle), and
any failure becomes a wc.InputError that names the file, what was found in it and what is needed.
The page then keeps the previous data and shows the message.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

import wlra_core as wc
from ui import state

# One file: the library's cap, which .streamlit/config.toml's server.maxUploadSize repeats in MB.
MAX_UPLOAD_BYTES = wc.limits.MAX_FILE_BYTES

T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """How one kind of upload is named in messages and which checks the app makes before the loader."""

    what: str                 # "Image" → "Image 'x.png': …"
    need: str                 # what a good file is
    # How the library's messages name the input ("image: "): the file's name replaces it. None: the
    # loader words its messages for the page itself, naming the file; they pass unchanged.
    library_names: tuple[str, ...] | None = ()
    empty: bool = True        # refuse an empty file before the loader (False: the loader words it)
    app_cap: bool = True      # False: the loader is handed the cap (max_bytes) and words it itself


IMAGE_FORMATS = "a PNG, JPEG, GIF or WebP image"
MASK_FORMAT = "a PNG image of the image's size or aspect ratio (white = trusted, black = missing)"
# A mask is read with the image loaders too, so either name may start a message.
IMAGE = Kind("Image", IMAGE_FORMATS, ("image: ", "mask: "))
MASK = Kind("Mask", MASK_FORMAT, ("image: ", "mask: "))
RATINGS = Kind("Ratings", "lines 'user, item, rating[, timestamp]'", None, empty=False)
MATRIX = Kind("Matrix file", "a .npy, CSV/TSV or Matrix Market .mtx matrix", empty=False, app_cap=False)


def for_the_page(message: str) -> str:
    """A library message without the names of the library's cap parameters, which a user of the
    app cannot set (the cap itself is still stated)."""
    return message.replace(", max_entries)", ")").replace(", max_bytes)", ")")


def check_upload_size(label: str, data: bytes) -> None:
    """Refuse an upload above the upload limit (also Streamlit's, for uploads from a browser)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise wc.InputError(
            f"{label}: found {len(data):,} bytes ({len(data) / 2**20:.1f} MB), need at most "
            f"{MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES / 2**20:g} MB, the upload limit); use a smaller file."
        )


def read(name: str, data: bytes, load: Callable[[bytes], T], kind: Kind) -> T:
    """`load(data)` (the library's loader) for an uploaded file, within the upload limit; raises
    wc.InputError naming the file for an empty or oversized file and for any failure of the loader."""
    label = f"{kind.what} {name!r}"
    if kind.empty and not data:
        raise wc.InputError(f"{label}: found an empty file (0 bytes), need {kind.need}.")
    if kind.app_cap:
        check_upload_size(label, data)
    try:
        return load(data)
    except ValueError as exc:  # wc.InputError is a ValueError
        if kind.library_names is None:  # the loader's message is the page's already
            raise wc.InputError(str(exc)) from None
        if not isinstance(exc, wc.InputError):
            raise wc.InputError(f"{label}: could not be read ({type(exc).__name__}: {exc}); need {kind.need}.") from None
        text = for_the_page(str(exc))
        for library_name in kind.library_names:
            text = text.removeprefix(library_name)
        raise wc.InputError(f"{label}: {text}") from None
    except Exception as exc:  # any parser failure becomes a message, never a traceback
        raise wc.InputError(f"{label}: could not be read ({type(exc).__name__}: {exc}); need {kind.need}.") from None


def upload_entry(name: str, data: bytes) -> dict:
    """How an accepted upload is kept: its name, its bytes and their digest (the data's identity)."""
    return {"name": name, "bytes": data, "digest": hashlib.md5(data).hexdigest()}


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
