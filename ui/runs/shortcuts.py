"""Keyboard shortcuts for a page's Play/Pause, Step and Reset buttons (a hidden component)."""
from __future__ import annotations

import streamlit as st

from ui.js import component_js

# Keys P, N and X: Streamlit itself listens for R (rerun) and C (clear caches), and the browser for
# Space and Enter on the focused control. Ignored while typing in a field or with a modifier held.
SHORTCUTS = {"p": "play", "n": "step", "x": "reset"}
SHORTCUTS_HELP = "Keys: **P** Play/Pause · **N** Step · **X** Reset"

_shortcut_keys = st.components.v2.component(
    "wlra_explorer.run_shortcuts", js=component_js(__file__, "shortcuts.js"),
    html='<div class="wlra-run-shortcuts"></div>',
    css=".stElementContainer:has(.wlra-run-shortcuts) { display: none; }", isolate_styles=False)


def shortcuts(prefix: str, *, canvas_label: str | None = None, canvas_key: str | None = None) -> str:
    """Listen for the shortcut keys on this page (buttons keyed `<prefix>_play`, `_step`, `_reset`)
    and give the drawing canvas of the widget whose key starts with `canvas_key` an ARIA label;
    returns the help text naming the keys."""
    _shortcut_keys(key=f"{prefix}_shortcuts", data={"prefix": prefix, "keys": SHORTCUTS,
                                                     "canvas_label": canvas_label, "canvas_key": canvas_key},
                   height=0)
    return SHORTCUTS_HELP
