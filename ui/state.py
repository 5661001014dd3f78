"""Session-state keys and their initialisation, in one place.

Keys are `<prefix>_<name>`: each page has a prefix ("inp" for inpainting, "rat", "lab", "hiw"), so
pages never share a
value by accident. Widget keys double as URL query parameters (widgets bound with
bind="query-params"), which is why they are short.

Two kinds of keys:
- widget keys (settings): owned by their widget, kept across page switches by
  persist_state="session" and mirrored in the URL;
- plain keys (data and results: the image, the uploaded mask, the canvas drawing, the runs),
  listed in PLAIN below with their initial values, written only by ui/ code.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

# The size cap of one problem in one session (n·m dense, nnz sparse, (n + m)·k factors; see
# wlra_core.limits): stricter than the library's default of 2**25 because a classroom server holds
# many sessions in one process. 2**22 (4.2 M) entries is a sparse layout of 168 MB.
APP_MAX_ENTRIES = 2**22

INPAINTING = "inp"
RATINGS = "rat"
LAB = "lab"
HOW_IT_WORKS = "hiw"

# Plain (non-widget) keys per page prefix, with their initial values.
PLAIN: dict[str, dict[str, Any]] = {
    INPAINTING: {
        "upload": None,          # {"name", "bytes", "digest"} of the accepted image upload
        "mask_upload": None,     # {"name", "bytes", "digest"} of the accepted mask PNG
        "pending_upload": None,  # (file name, bytes) waiting to be read (see ui/uploads.py)
        "pending_mask": None,    # (file name, bytes) waiting to be validated
        "seen_uploads": (),      # uploader file ids already handled (an upload is handled once)
        "error": None,           # a message for the user, shown once (st.error) then dropped
        "canvas_json": None,     # the canvas drawing (fabric json), restored on remount
        "canvas_epoch": 0,       # bumped by "Clear painting": the canvas remounts empty
        "canvas_mount": None,    # {"key", "initial"}: the drawing the mounted canvas started from
        "paint": None,           # {"png", "fit", "canvas", "digest"}: the last stroke image
        # "restored" is not made here: mask.restored_layer creates it on the first run, from the
        # URL's strokes ({"code", "layer"} or None); its absence means the URL is not read yet.
    },
    RATINGS: {
        "data": None,            # {"name", "ratings", "digest"} of the accepted upload; None = the sample
        "pending_upload": None,  # (file name, bytes) waiting to be read (see ui/uploads.py)
        "seen_uploads": (),      # uploader file ids already handled (an upload is handled once)
        "upload_error": None,    # why the last upload was refused (shown until the next good one)
    },
    LAB: {
        "matrix": None,          # {"name", "bytes", "digest"} of the accepted matrix upload (ui/matrix_upload.py)
        "weights": None,         # the same for the optional weights
        "pending_matrix": None,  # (file name, bytes) waiting to be validated
        "pending_weights": None,
        "seen_uploads": (),
        "error": None,           # a message for the user, shown once
        "sweep_result": None,    # {"signature", "table"} of the last k-sweep
        "diag_result": None,     # {"signature", "rows", "inner"} of the last regression diagnostics
    },
}


def key(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


def init(prefix: str) -> None:
    """Create the page's plain keys once per session (later runs keep their values)."""
    for name, value in PLAIN.get(prefix, {}).items():
        st.session_state.setdefault(key(prefix, name), value)


def get(prefix: str, name: str, default: Any = None) -> Any:
    return st.session_state.get(key(prefix, name), default)


def put(prefix: str, name: str, value: Any) -> None:
    st.session_state[key(prefix, name)] = value


def flash_error(prefix: str, message: str) -> None:
    """Queue a message for the next render of the page (shown once)."""
    put(prefix, "error", message)


def pop_error(prefix: str) -> str | None:
    message = get(prefix, "error")
    put(prefix, "error", None)
    return message
