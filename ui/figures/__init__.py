"""Every Plotly figure of the app (pages only place them): shared history charts, the live chart
that updates in place, and one module per page's own figures."""
from ui.figures.history import (DASHES, EXTRA_COLORS, SECONDS_TITLE, SOLVER_COLORS, color_for, figure_payload,
                                history_dict, history_figure, weights_heatmap)
from ui.figures.lab import (condition_figure, fmt_eps, forward_error_figure, inner_iterations_figure, lab_preset_figure,
                            lab_sweep_figure, stamp)
from ui.figures.live_chart import live_chart, plotly_js_source
from ui.figures.ratings import ratings_heatmap
from ui.figures.walkthrough import (alternating_animation, complexity_figure, heatmap, inner_error_figure,
                                    kappa_vs_s_figure, norm_preservation_figure, row_fit_figure, signed,
                                    singular_values_figure)
