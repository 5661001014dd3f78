"""The solver lab's figures: the k-sweep with its spread, a preset's convergence by time, and the
regression-accuracy diagnostics; every one stamped with where and when it was measured."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from ui.controls import fmt_eps
from ui.figures.history import SECONDS_TITLE, color_for
from ui.models.lab import condition_frame, inner_summary, measured_label


def stamp(fig: go.Figure) -> go.Figure:
    """Every lab figure says where and when it was measured."""
    fig.add_annotation(text=measured_label(), xref="paper", yref="paper", x=0, y=0, yshift=-50,
                       showarrow=False, font={"size": 10, "color": "#666"}, xanchor="left", yanchor="top")
    fig.update_layout(margin={"l": 60, "r": 10, "t": 40, "b": 75}, template="plotly_white")
    return fig


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


def forward_error_figure(rows) -> go.Figure:
    """The relative forward error of each sampled regression against eps, with the line error = eps."""
    fe = rows.assign(forward_error=rows["forward_error"].clip(lower=1e-17))  # a log axis has no 0
    fig = px.box(fe, x="eps", y="forward_error", log_x=True, log_y=True, points="outliers",
                 labels={"forward_error": "relative forward error", "eps": "eps"},
                 title="Forward error per regression")
    grid = np.array(sorted(fe["eps"].unique()))
    fig.update_xaxes(tickvals=grid, ticktext=[fmt_eps(e) for e in grid])
    fig.add_scatter(x=grid, y=grid, mode="lines", name="error = eps", line={"dash": "dash", "color": "#555"})
    fig.update_yaxes(exponentformat="power")  # 10⁻⁶, not "1μ"
    return stamp(fig)


def condition_figure(rows) -> go.Figure:
    """Condition numbers of the sampled rows before and after preconditioning."""
    fig = px.histogram(condition_frame(rows), x="log10 κ", color="matrix", barmode="overlay", nbins=40, opacity=0.6,
                       title="Condition numbers over the sampled rows",
                       color_discrete_map={"A_i (before)": "#7f7f7f", "A_i R⁻¹ (after)": "#d62728"},
                       labels={"log10 κ": "log₁₀ κ"})
    return stamp(fig)


def inner_iterations_figure(inner) -> go.Figure:
    """Inner iterations per regression against eps (mean and max over rows)."""
    fig = px.line(inner_summary(inner), x="eps", y="inner iterations", color="statistic",
                  markers=True, log_x=True,
                  title="Inner iterations per regression (mean and max over rows)")
    grid = sorted(inner["eps"].unique())
    fig.update_xaxes(tickvals=grid, ticktext=[fmt_eps(e) for e in grid])
    return stamp(fig)
