"""A chart that updates in place: `st.plotly_chart` remounts whenever the figure changes (blank
frames, the zoom lost on every tick), so live charts go through a Components v2 element that keeps
one plotly div and calls `Plotly.react` on it with each new figure (ui/figures/live_chart.js).

plotly.js is read from the installed plotly wheel and sent to the browser once per session; the
browser keeps it in `window.Plotly` across reruns and page switches.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.js import component_js

_LOADED_KEY = "_ui_charts_plotly_js_loaded"

_CSS = """
.wlra-live-chart { width: 100%; }
"""

_component = st.components.v2.component(
    "wlra_explorer.live_chart",
    js=component_js(__file__, "live_chart.js"),
    css=_CSS,
    html="",
    isolate_styles=False,  # plotly injects its CSS into document.head; a shadow root would hide it
)


@functools.lru_cache(maxsize=1)
def plotly_js_source() -> str:
    """plotly.min.js from the installed plotly wheel (the same version as the Python package)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def _mark_loaded() -> None:
    st.session_state[_LOADED_KEY] = True


def _to_json(fig: go.Figure | Mapping, height: int) -> str:
    if isinstance(fig, go.Figure):
        fig.update_layout(height=height)
        return fig.to_json()
    layout = {**fig.get("layout", {}), "height": height}
    return json.dumps({"data": list(fig.get("data", [])), "layout": layout}, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def live_chart(fig: go.Figure | Mapping, *, key: str, height: int = 320) -> None:
    """Show a figure in a div that is updated in place (Plotly.react): no blank frames, zoom kept.

    `fig` is a go.Figure or, faster for live updates (no validation), a plain figure dict
    {"data": [...], "layout": {...}} such as `history_dict` returns. Keep `key` fixed for one
    chart; give the layout a `uirevision` that changes only when the user's zoom should be
    dropped (the builders here take it as an argument).
    """
    figure_json = _to_json(fig, height)
    loaded = bool(st.session_state.get(_LOADED_KEY))
    data = {
        "figure": figure_json,
        "height": height,
        "revision": hash(figure_json) & 0xFFFFFFFF,
        "config": {"displaylogo": False, "responsive": True},
        "plotly_js": None if loaded else plotly_js_source(),
    }
    result = _component(
        data=data,
        key=key,
        default={"plotly_ready": False},
        on_plotly_ready_change=_mark_loaded,
        height=height,
    )
    if getattr(result, "plotly_ready", False):
        st.session_state[_LOADED_KEY] = True
