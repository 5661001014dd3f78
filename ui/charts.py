"""Plotly figure builders over solver histories, and a chart that updates in place.

`st.plotly_chart` remounts whenever the figure changes (blank frames, the zoom lost on
every tick), so live charts go through `live_chart`: a small Components v2 component that keeps
one plotly div and calls `Plotly.react` on it with each new figure. plotly.js itself is read from
the installed plotly wheel (`plotly/package_data/plotly.min.js`) and sent to the browser once per
session; the browser keeps it in `window.Plotly` across reruns and page switches.

Histories are plain lists of dicts, one per iteration (see ui/run.py: `Run.records`), keyed by a
run name, so every page can chart its own runs with the same builders.
"""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

# One colour per solver name, stable across pages and reruns; other run names cycle through EXTRA.
SOLVER_COLORS = {
    "exact": "#1f77b4",
    "sketched": "#d62728",
    "cg": "#2ca02c",
    "em": "#9467bd",
}
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

_LOADED_KEY = "_ui_charts_plotly_js_loaded"

_JS = """
const LOADING = "__wlraPlotlyLoading";

function loadPlotly(source) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (window[LOADING]) return window[LOADING];
  if (!source) return null;
  window[LOADING] = new Promise((resolve) => {
    const script = document.createElement("script");
    script.textContent = source;
    document.head.appendChild(script);
    resolve(window.Plotly);
  });
  return window[LOADING];
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !data.figure) return;
  let div = parentElement.querySelector("div.wlra-live-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "wlra-live-chart";
    div.style.width = "100%";
    parentElement.appendChild(div);
  }
  div.style.height = data.height + "px";
  div.dataset.revision = String(data.revision);
  const figure = JSON.parse(data.figure);
  const draw = () => {
    window.Plotly.react(div, figure.data, figure.layout, data.config);
    div.dataset.drawn = String(data.revision);
  };
  // Acknowledge only when Python sent the source (then it stops sending it): a state change
  // triggers a rerun, so it must not happen on every update.
  const ack = () => { if (data.plotly_js) setStateValue("plotly_ready", true); };
  if (window.Plotly) {
    draw();
    ack();
    return;
  }
  const loading = loadPlotly(data.plotly_js);
  if (loading) loading.then(() => { draw(); ack(); });
}
"""

_CSS = """
.wlra-live-chart { width: 100%; }
"""

_component = st.components.v2.component(
    "wlra_explorer.live_chart",
    js=_JS,
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


def color_for(name: str, index: int = 0) -> str:
    return SOLVER_COLORS.get(name, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def _finite(values: Sequence[float]) -> list[float | None]:
    """Plotly draws None as a gap; NaN and inf would break JSON or the log axis."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
# The x axis "by seconds" of every page: each run's own compute time (ui/run.py, "cumulative_seconds").
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


def history_figure(histories: Mapping[str, Sequence[Mapping[str, float]]], **kwargs: Any) -> go.Figure:
    """`history_dict` as a go.Figure, for callers that add to the figure (annotations, …)."""
    fig = history_dict(histories, **kwargs)
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


# ----------------------------------------------------------------------------------------------
# Solver lab (views/solver_lab.py): the k-sweep with its spread, a preset's convergence by time

def lab_sweep_figure(table, k_cross=None) -> go.Figure:
    """Median seconds per iteration against k, one line per solver, bars from the fastest to the
    slowest repeat; a dashed line at the crossover when there is one."""
    fig = go.Figure()
    for i, (solver, rows) in enumerate(table.groupby("solver", sort=False)):
        rows = rows.sort_values("k")
        error = None
        if {"seconds_min", "seconds_max"} <= set(rows.columns):
            error = {"type": "data", "symmetric": False,
                     "array": (rows["seconds_max"] - rows["seconds_per_iteration"]).tolist(),
                     "arrayminus": (rows["seconds_per_iteration"] - rows["seconds_min"]).tolist()}
        fig.add_scatter(x=rows["k"].tolist(), y=rows["seconds_per_iteration"].tolist(), mode="lines+markers",
                        name=solver, error_y=error, line={"color": color_for(solver, i)})
    fig.update_xaxes(type="log", tickvals=sorted(table["k"].unique().tolist()), title="k")
    fig.update_yaxes(type="log", minorloglabels="complete", title="seconds per iteration")
    fig.update_layout(title="Time per iteration (median of the repeats, bars: fastest to slowest)")
    if k_cross is not None:
        fig.add_vline(x=k_cross, line_dash="dash", line_color="#555",
                      annotation_text=f"sketched faster from k = {k_cross}")
    return fig


def lab_preset_figure(histories) -> go.Figure:
    """A preset's relative objective against each solver's own compute time."""
    fig = go.Figure()
    for i, (solver, records) in enumerate(histories.items()):
        fig.add_scatter(x=[r["cumulative_seconds"] for r in records], y=[r["relative_objective"] for r in records],
                        mode="lines+markers", name=solver, line={"color": color_for(solver, i)})
    fig.update_xaxes(title=SECONDS_TITLE)
    fig.update_yaxes(type="log", title="relative objective", exponentformat="power")
    fig.update_layout(title="Objective by time")
    return fig


# ----------------------------------------------------------------------------------------------
# Rating matrices (views/ratings.py): a window of users × items with the training and the
# held-out ratings marked

def ratings_heatmap(Z, user_ids, item_ids, cells: Mapping, *, clip, predicted: bool) -> go.Figure:
    """Z (predicted ratings, or the observed ones with NaN where unrated) over the window, white
    dots on the training ratings and red crosses on the held-out ones; hovering a mark shows the
    rating given (and the prediction when Z is predicted)."""
    fig = go.Figure(go.Heatmap(
        z=Z, x=item_ids, y=user_ids, colorscale="Viridis", zmin=clip[0], zmax=clip[1],
        colorbar={"title": {"text": "rating"}, "thickness": 12},
        hovertemplate="user %{y}, item %{x}<br>" + ("predicted" if predicted else "rated") + " %{z:.2f}<extra></extra>",
    ))
    marks = {"train": ("rated (training)", {"size": 5, "color": "white", "line": {"width": 1, "color": "black"}}),
             "test": ("held out (test)", {"size": 8, "color": "#d62728", "symbol": "x-thin",
                                          "line": {"width": 2, "color": "#d62728"}})}
    for kind, (label, marker) in marks.items():
        rows, cols, values = cells[kind]
        text = [f"user {user_ids[r]}, item {item_ids[c]}: rated {v:g}"
                + (f", predicted {Z[r][c]:.2f}" if predicted else "") for r, c, v in zip(rows, cols, values)]
        fig.add_scatter(x=[item_ids[c] for c in cols], y=[user_ids[r] for r in rows], mode="markers", name=label,
                        marker=marker, text=text, hovertemplate="%{text}<extra>" + label + "</extra>")
    fig.update_yaxes(autorange="reversed", title="user", type="category")
    fig.update_xaxes(title="item", type="category")
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 10, "b": 10}, template="plotly_white",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


# --- How it works (views/how_it_works.py) ----------------------------------------------------------

def kappa_vs_s_figure(curve, s: int, N: int) -> go.Figure:
    """κ(A_i R⁻¹) against the sketch size: median and the range over repeated sketches, the chosen s
    and N_i (from there on κ = 1 trivially) marked."""
    fig = go.Figure()
    fig.add_scatter(x=curve["s"], y=curve["high"], mode="lines", line={"width": 0}, showlegend=False,
                    hoverinfo="skip")
    fig.add_scatter(x=curve["s"], y=curve["low"], mode="lines", line={"width": 0}, fill="tonexty",
                    fillcolor="rgba(214,39,40,0.15)", name="range over 5 sketches")
    fig.add_scatter(x=curve["s"], y=curve["median"], mode="lines+markers", name="median κ(A_i R⁻¹)",
                    line={"color": SOLVER_COLORS["sketched"]})
    fig.add_vline(x=s, line_dash="dot", annotation_text=f"s = {s}", annotation_position="top")
    fig.add_vline(x=N, line_dash="dash", line_color="#7f7f7f", annotation_text="s = N_i",
                  annotation_position="bottom left")
    fig.update_yaxes(type="log", title="κ after preconditioning")
    fig.update_xaxes(title="sketch size s")
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def norm_preservation_figure(frame, columns: Sequence[str]) -> go.Figure:
    """‖S A_i x‖ against ‖A_i x‖ for random x, with the diagonal (perfect preservation)."""
    x, y = frame[columns[0]], frame[columns[1]]
    top = float(max(x.max(), y.max())) * 1.05
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dash", "color": "#7f7f7f"},
                    name="‖S A_i x‖ = ‖A_i x‖")
    fig.add_scatter(x=x, y=y, mode="markers", marker={"size": 5, "opacity": 0.6,
                    "color": SOLVER_COLORS["sketched"]}, name="a random x")
    fig.update_xaxes(title=columns[0], range=[0, top])
    fig.update_yaxes(title=columns[1], range=[0, top], scaleanchor="x")
    fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def alternating_animation(frames, observed) -> go.Figure:
    """The alternating step as a plotly animation: M where observed, beside X Yᵀ after each
    half-step (X solved, then Y), with Play and a step slider; the title gives f."""
    from plotly.subplots import make_subplots

    lim = float(np.nanpercentile(np.abs(observed), 95)) or 1.0
    style = {"colorscale": "RdBu_r", "zmin": -lim, "zmax": lim, "showscale": False}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("M where observed", "X Yᵀ"), horizontal_spacing=0.04)
    fig.add_trace(go.Heatmap(z=observed, **style), row=1, col=1)
    fig.add_trace(go.Heatmap(z=frames[0].fit, **style), row=1, col=2)

    def title(f):
        return f"{f.label}: f = {f.objective:.4g}"

    fig.frames = [go.Frame(data=[go.Heatmap(z=f.fit, **style)], traces=[1], name=str(i),
                           layout={"title": {"text": title(f)}}) for i, f in enumerate(frames)]
    steps = [{"args": [[str(i)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": ("start" if f.side == "start" else f"{(i + 1) // 2}{f.side}"), "method": "animate"}
             for i, f in enumerate(frames)]
    fig.update_layout(
        title={"text": title(frames[0])}, height=360, template="plotly_white",
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        updatemenus=[{"type": "buttons", "x": 0, "y": -0.08, "xanchor": "left", "yanchor": "top",
                      "buttons": [{"label": "▶ Play", "method": "animate",
                                   "args": [None, {"frame": {"duration": 900, "redraw": True},
                                                   "fromcurrent": True, "transition": {"duration": 0}}]}]}],
        sliders=[{"steps": steps, "x": 0.1, "len": 0.9, "y": -0.08, "yanchor": "top",
                  "currentvalue": {"prefix": "half-step "}}],
    )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return fig


def complexity_figure(curve, measured, *, k: int, n: int, m: int, window=None) -> go.Figure:
    """Predicted flops of sketched and cg over exact's against k (the engine's cost model), with
    the chosen k, the k range where the model favours the sketch (`window`) and the ratios
    measured on this machine (benchmarks/results) as points."""
    fig = go.Figure()
    ks = curve["k"]
    if window is not None:
        fig.add_vrect(x0=window[0], x1=window[1], fillcolor="rgba(214,39,40,0.08)", line_width=0,
                      annotation_text="model: sketched cheaper", annotation_position="top left")
    for solver in ("sketched", "cg"):
        d = curve[curve["solver"] == solver]
        fig.add_scatter(x=d["k"], y=d["ratio"], mode="lines", name=f"{solver} / exact, predicted ({n}×{m})",
                        line={"color": SOLVER_COLORS[solver]})
    fig.add_hline(y=1.0, line_dash="dash", line_color="#7f7f7f")
    fig.add_vline(x=k, line_dash="dot")
    if len(measured):
        fig.add_scatter(x=measured["k"], y=measured["ratio"], mode="markers", name="sketched / exact, measured here",
                        hovertext=[f"{r.n}×{r.m}, k = {r.k}: {r.ratio:.2f}× ({r.source})" for r in measured.itertuples()],
                        hoverinfo="text",
                        marker={"symbol": "diamond", "size": 11, "color": SOLVER_COLORS["sketched"],
                                "line": {"color": "black", "width": 1}})
    lo, hi = float(min(ks.min(), k)), float(max(ks.max(), k))
    fig.update_xaxes(type="log", title=f"rank k (s = the chosen s/k; dotted: k = {k})",
                     range=[math.log10(max(lo, 1.0)) - 0.05, math.log10(hi) + 0.05])
    fig.update_yaxes(type="log", title="cost of one iteration / exact's (dashed: equal)")
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig
