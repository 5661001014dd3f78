"""Make sure a page runs under app.py's st.navigation, even when a link opens it first.

Streamlit 1.67 decides once per server process, when the first session starts, whether the app
uses the old `pages/` directory mode: it does if a `pages/` folder sits beside the main script,
until some run calls st.navigation. So on a fresh server a shared link such as
`/inpainting?inp_k=8` runs pages/inpainting.py directly, without app.py: no wide layout, pages
listed by file name, and every later session stays in that mode. Measured here: a freshly
started server opened at /inpainting showed the navigation "app, home, how it works, …".

Call `ensure_app_router()` first thing in a page: in that mode it switches the flag off and
reruns, and the rerun goes through app.py, whose st.navigation resolves the same URL.
"""
from __future__ import annotations

import streamlit as st


def ensure_app_router() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without this class: nothing to fix
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
