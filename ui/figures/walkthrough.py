"""The How it works page's figures: heatmaps of the example, one row's fit, the sketch seen from
outside, the preconditioner, the inner iterations and the cost model."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from ui.figures.history import SOLVER_COLORS
from ui.models.walkthrough import ERROR_COLUMN, FITS, colour_limit, data_range, marker_sizes


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


def complexity_figure(curve, measured, *, k: int, n: int, m: int, window=None, crossovers=()) -> go.Figure:
    """Predicted flops of sketched and cg over exact's against k (the engine's cost model), with
    the chosen k, the k range where the model favours the sketch (`window`), the ratios measured
    on this machine (benchmarks/results) as points and the measured crossovers (n, m, k below,
    k above) as bands."""
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
    for n_, m_, k0, k1 in crossovers:
        fig.add_vrect(x0=k0, x1=k1, fillcolor="rgba(44,160,44,0.12)", line_width=0,
                      annotation_text=f"measured crossover, {n_}×{m_}", annotation_position="bottom left")
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


def heatmap(z, title, *, height=260, scale=True, **kw) -> go.Figure:
    fig = px.imshow(z, aspect="auto", title=title, **kw)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=scale)
    return fig


def signed(z, title, *, hide_x=False, **kw) -> go.Figure:
    """Diverging colours around 0 (red positive, blue negative), clipped by colour_limit."""
    lim = colour_limit(z)
    fig = heatmap(z, title, color_continuous_scale="RdBu_r", range_color=(-lim, lim), **kw)
    if hide_x:
        fig.update_xaxes(showticklabels=False)
    return fig


def row_fit_figure(M, w, fits, row: int) -> go.Figure:
    """One row's data (dot size by weight) and its three fits: exact, sketch-and-solve, iterated."""
    p = w.problem
    fig = go.Figure()
    fig.add_scatter(x=p.cols, y=M[row, p.cols], mode="markers", name="M_ij (size ∝ √W_ij)",
                    marker=dict(size=marker_sizes(w), color="#444", opacity=0.6))
    for label, dash in zip(FITS, ("solid", "dot", "dash")):
        d = fits[fits["fit"] == label]
        fig.add_scatter(x=d["column j"], y=d["value"], mode="lines", name=label, line=dict(dash=dash))
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=50, b=10), xaxis_title="column j",
                      yaxis_title="value", legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    fig.update_yaxes(range=data_range(M, w))
    return fig


def singular_values_figure(frame) -> go.Figure:
    """Singular values of A_i before and of A_i R⁻¹ after preconditioning."""
    fig = px.bar(frame, x="index", y="singular value", color="matrix", barmode="group",
                 log_y=True, color_discrete_sequence=["#7f7f7f", "#d62728"])
    fig.update_yaxes(dtick=1)  # label decades only
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(dtick=1))
    return fig


def inner_error_figure(frame) -> go.Figure:
    """The error of one row's regression per inner iteration, for each method."""
    fig = px.line(frame, x="inner iteration", y=ERROR_COLUMN, color="method", log_y=True,
                  markers=True, color_discrete_sequence=["#d62728", "#2ca02c", "#7f7f7f"])
    fig.update_yaxes(exponentformat="power")
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", title=None))
    return fig
