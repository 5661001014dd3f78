"""The numbers of the How it works page (numpy, scipy, pandas, wlra_core; no Streamlit): the basics
of one row's regression, the row followed through, and the cost of an iteration; names gathered here."""
from ui.models.walkthrough.rows import (  # noqa: F401
    DRAWABLE_SKETCHES, SKETCH_NOTES, Example, example, log_weights, observed, weight_summary,
    colour_limit, init_Y, RowProblem, row_problem, sketch_size, exact_solution, Sketch, sketch,
    preconditioner, sketch_and_solve, singular_values, condition_number, InnerTrace,
    precondition_and_iterate, plain_gradient_descent, conjugate_gradients, cg_rate, plain_rate,
)
from ui.models.walkthrough.walk import (  # noqa: F401
    FITS, Walk, walk, fit_frame, data_range, marker_sizes, singular_value_frame, ERROR_COLUMN,
    inner_frame, library_curves, Lifted, lifted_example, truncated, RankPictures, rank_pictures,
    kappa_curve, NormCheck, NORM_COLUMNS, norm_check, HalfStep, alternating_frames, objective,
)
from ui.models.walkthrough.costs import (  # noqa: F401
    CALC_SOLVERS, complexity, complexity_curve, model_crossover, RESULTS, MEASURED_SOURCES,
    measured_ratios, measured_crossovers, lab_query, lab_url, complexity_reading,
)
