"""The solver lab's model: measurements (timing, sweeps, diagnostics), the cost guard, the
breakdown of where the work goes, and the presets; one module each, their names gathered here."""
from ui.models.lab.measurements import (  # noqa: F401
    measured_label, relative_truth_error, summary, iteration_seconds, time_per_iteration, warm_up,
    k_sweep, crossover, faster_at, sweep_reading, diagnostics_frame, diagnostics_vs_eps,
    CONDITION_LABELS, condition_frame, INNER_LABELS, inner_summary, sweep_wide,
)
from ui.models.lab.cost_guard import (  # noqa: F401
    REFUSE_SECONDS, WARN_SECONDS, StepCost, step_cost, SWEEP_REFUSE_SECONDS, sweep_cost,
)
from ui.models.lab.breakdown import (  # noqa: F401
    PARTS, PART_KEYS, BYPASS_SHARE, row_counts, cost_parts, breakdown, bypass_note, reading,
)
from ui.models.lab.presets import (  # noqa: F401
    Preset, PRESETS, preset_problem, run_preset, ACCURACY_SLACK, to_accuracy, preset_table,
    preset_reading,
)
