"""The rating page's figure: a window of users × items with the training and held-out ratings."""
from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go


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
