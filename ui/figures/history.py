"""Figures over solver histories shared by every page: one line per run, the weight heatmap.

Histories are plain lists of dicts, one per iteration (ui/runs/runset.py: `Run.records`), keyed by a
run name, so every page can chart its own runs with the same builders.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

# One colour per solver name, stable across pages and reruns; other run names cycle through EXTRA.
SOLVER_COLORS = {
    "exact": "#1f77b4",
    "sketched": "#d62728",
    "cg": "#2ca02c",
    "em": "#9467bd",
}
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def color_for(name: str, index: int = 0) -> str:
    return SOLVER_COLORS.get(name, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def _finite(values: Sequence[float]) -> list[float | None]:
    """Plotly draws None as a gap; NaN and inf would break JSON or the log axis."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
# The x axis "by seconds" of every page: each run's own compute time (ui/runs/runset.py, "cumulative_seconds").
SECONDS_TITLE = "seconds computing (this solver's own iterations)"


def history_dict(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    *,
    y: str,
    x: str = "iteration",
    y_title: str,
    x_title: str | None = None,
    log_y: bool = False,
    title: str | None = None,
    marker_at: int | None = None,
    reference: tuple[str, float] | None = None,
    uirevision: str = "keep",
    markers_up_to: int | None = None,
) -> dict[str, Any]:
    """One line per named run, `y` against `x` over its records, as a plain plotly figure dict.

    Runs that coincide stay visible: each has its own colour and dash, and earlier ones are drawn
    wider. With `markers_up_to`, a run with more records than that is drawn as a line without a
    marker per point (every point is still on the line; a marker per point costs the browser an
    SVG element each, redrawn on every live update). `marker_at` circles
    each run's record with that iteration (the replayed one); `reference` = (label, value)
    draws a dashed horizontal line (e.g. a baseline RMSE).
    """
    data: list[dict[str, Any]] = []
    count = len(histories)
    for index, (name, records) in enumerate(histories.items()):
        xs = [r.get(x) for r in records]
        ys = _finite([r.get(y, float("nan")) for r in records])
        if log_y:
            ys = [v if v is not None and v > 0 else None for v in ys]
        color = color_for(name, index)
        markers = markers_up_to is None or len(records) <= markers_up_to
        data.append({
            "type": "scatter", "mode": "lines+markers" if markers else "lines", "name": name, "x": xs, "y": ys,
            # Earlier runs draw wider, so runs that coincide (same iterates) stay visible.
            "line": {"color": color, "width": 2 + 1.5 * (count - 1 - index), "dash": DASHES[index % len(DASHES)]},
            "marker": {"size": 5, "color": color},
            "hovertemplate": f"{name}<br>{x_title or x}: %{{x:.4g}}<br>{y_title}: %{{y:.4g}}<extra></extra>",
        })
        if marker_at is not None:
            hit = [r for r in records if r.get("iteration") == marker_at]
            value = hit[0].get(y) if hit else None
            if value is not None and math.isfinite(value) and (value > 0 or not log_y):
                data.append({
                    "type": "scatter", "mode": "markers", "x": [hit[0].get(x)], "y": [value],
                    "showlegend": False, "hoverinfo": "skip",
                    "marker": {"size": 12, "color": "rgba(0,0,0,0)", "line": {"color": color, "width": 2}},
                })
    layout: dict[str, Any] = {
        "margin": {"l": 60, "r": 10, "t": 40 if title else 10, "b": 45},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
        "xaxis": {"title": {"text": x_title or x}, "gridcolor": "#eee", "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eee", "zeroline": False},
        "uirevision": uirevision,
        "plot_bgcolor": "white", "paper_bgcolor": "white",
        "hovermode": "closest",
    }
    if x == "iteration":  # whole iterations only: no "1.5" between two Steps
        layout["xaxis"]["tickformat"] = "d"
        if max((len(records) for records in histories.values()), default=0) <= 10:
            layout["xaxis"]["dtick"] = 1
    if title:
        layout["title"] = {"text": title, "x": 0.0, "xanchor": "left"}
    if log_y:
        layout["yaxis"].update(type="log", exponentformat="power")
    if reference is not None:
        label, value = reference
        layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value,
                             "y1": value, "line": {"dash": "dash", "color": "#555", "width": 1.5}}]
        layout["annotations"] = [{"xref": "paper", "x": 1, "yref": "y", "y": value, "text": label,
                                  "showarrow": False, "xanchor": "right", "yanchor": "bottom"}]
    return {"data": data, "layout": layout}


def history_figure(histories: Mapping[str, Sequence[Mapping[str, float]]], *, height: int | None = None,
                   **kwargs: Any) -> go.Figure:
    """`history_dict` as a go.Figure, for callers that add to the figure (annotations, …)."""
    fig = history_dict(histories, **kwargs)
    if height is not None:
        fig["layout"]["height"] = height
    return go.Figure(data=fig["data"], layout=fig["layout"])


def weights_heatmap(weights: np.ndarray, colorscale: list, *, title: str | None = None,
                    uirevision: str = "keep") -> go.Figure:
    """The weight matrix W as the solver sees it, pixel (row, column) → weight in [0, 1]."""
    fig = go.Figure(go.Heatmap(
        z=np.round(weights, 3), zmin=0.0, zmax=1.0, colorscale=colorscale,
        colorbar={"title": {"text": "weight"}, "thickness": 12},
        hovertemplate="row %{y}, column %{x}<br>weight %{z}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False)
    fig.update_xaxes(constrain="domain", showgrid=False)
    fig.update_layout(
        title={"text": title, "x": 0.0} if title else None,
        margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        uirevision=uirevision, template="plotly_white",
    )
    return fig


def figure_payload(fig: go.Figure) -> dict:
    """The figure as plain JSON data (for tests and for callers that compare figures)."""
    return json.loads(fig.to_json())
