"""The inpainting page's model: the problem of an image and its mask, the comparison of its runs,
the live view's HTML and the downloads; names gathered here."""
from ui.models.inpainting.problem import (  # noqa: F401
    LIFTS, GROUPS, GROUP_REFUSED, PATCH_SIZES, HOLDOUT, SHOW, Problem, build_problem, describe_matrix, signature,
    starter, measurer, group_starter, group_measurer, masked_view,
)
from ui.models.inpainting.comparison import (  # noqa: F401
    BYPASSED_ABOVE, difference, Timing, timing, Cost, cost, bypassed, bypass_note, reading,
)
from ui.models.inpainting.live import (  # noqa: F401
    NUMBER, STOP_LABELS, row_status, status_html, status_header, status_table, difference_html,
    cost_line, cost_html, best_index, live_html, picture, image_items,
)
from ui.models.inpainting.exports import (  # noqa: F401
    reconstruction_png, factors_npz, history_csv,
)
