"""Solver lab: exact vs sketched vs cg vs em on planted problems, measured on this machine.

Measurements live in ui.models.lab, live runs in the shared controller (ui.runs); this page holds widgets
and plots.
"""
import pandas as pd
import streamlit as st

import wlra_core as wc
from ui import controls, figures, matrix_upload, state, uploads
from ui.models import lab
from ui.runs import View
from ui.runs.controller import RunController

P = state.LAB  # key prefix; widget keys double as URL query parameters
BIND = {"bind": "query-params", "persist_state": "session"}
DEFAULTS = controls.SolverSettings(k=5, eps=1e-6, solvers=tuple(wc.SOLVERS), max_iter=40)
K_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128)
EPS_CHOICES = (1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10)


@st.cache_data(max_entries=4, show_spinner="Drawing the planted problem…")
def planted(n: int, m: int, rank: int, noise: float, pattern: str, p: float, seed: int):
    return wc.data.planted(n, m, rank, noise=noise, pattern=pattern, p=p, seed=seed, sparse=True,
                           max_entries=state.APP_MAX_ENTRIES)


def explain(cost_table: pd.DataFrame, W, k: int) -> None:
    """The comparison explained: the bypassed-sketch note, the one-line reading, where the work goes."""
    if (note := lab.bypass_note(cost_table)) is not None:
        st.warning(note, icon=":material/info:")
    if (line := lab.reading(cost_table, W, k)) is not None:
        st.markdown(f"**Reading.** {line}")
    if cost_table.empty:
        return
    st.markdown("**Where the work goes**: each solver's operations per iteration by part (the cost model of "
                "`wlra_core.cost` with the inner iterations it actually took, %), the milliseconds its own "
                "timers measured in each part (ms, mean per iteration; the rest of an iteration is right-hand "
                "sides, copies and the objective), the rows it solved exactly because they are no longer "
                "than the sketch (sketched) or shorter than k (cg), and the share of sketched's rows whose "
                "preconditioner was kept from an earlier iteration (no sketch, no factorisation). No breakdown for auto (it picks a method "
                "per half-step) or em (no row regressions: an SVD-like sweep).")
    columns = ["solver", "rows solved exactly %", "inner iterations", "sketch size s", "preconditioners reused %",
               *[f"{part} %" for part in lab.PARTS], *[f"{part} ms" for part in lab.PARTS]]
    st.dataframe(cost_table[columns], hide_index=True, key=f"{P}_cost_table", column_config={
        column: st.column_config.NumberColumn(format="%.0f") for column in columns[1:] if column.endswith("%")
    } | {column: st.column_config.NumberColumn(format="%.2f") for column in columns if column.endswith(" ms")}
      | {"inner iterations": st.column_config.NumberColumn(format="%.1f"),
         "sketch size s": st.column_config.NumberColumn(format="%d")})


def render(view: View) -> None:
    if view.runs is None:
        st.info("Press **Play** to run the selected solvers side by side from the same start "
                "(or **Step** for one iteration at a time).")
        return
    if view.stale:
        st.warning("The problem or settings changed since these runs started: press **Play** or **Step** "
                   "to start over.")
    histories = view.runs.histories()
    c1, c2 = st.columns(2)
    with c1:
        figures.live_chart(figures.stamp(figures.history_figure(
            histories, y="relative_objective", log_y=True, y_title="relative objective",
            title="Objective by iteration", marker_at=view.iteration)), key=f"{P}_fig_iter")
    with c2:
        figures.live_chart(figures.stamp(figures.history_figure(
            histories, y="relative_objective", x="cumulative_seconds", x_title=figures.SECONDS_TITLE, log_y=True,
            y_title="relative objective", title="Objective by time")), key=f"{P}_fig_time")
    if view.runs.context is not None:  # a planted problem: its truth is known
        figures.live_chart(figures.stamp(figures.history_figure(
            histories, y="truth_error", log_y=True, y_title="‖XYᵀ − M*‖<sub>F</sub> / ‖M*‖<sub>F</sub>",
            title="Error against the planted truth", marker_at=view.iteration)), key=f"{P}_fig_truth", height=300)
    controller.replay_slider(view)
    table = lab.summary(histories, {name: run.stop_reason for name, run in view.runs.runs.items()})
    if view.runs.context is None:
        table = table.drop(columns=["relative error vs truth"], errors="ignore")
    st.markdown("**Iterations to converge** (stopping rule: objective below eps² relative, or its relative "
                "decrease below eps; `max_iter reached` means it did not converge)")
    st.dataframe(table, hide_index=True, column_config={
        "median s / iteration": st.column_config.NumberColumn(format="%.4f"),
        "fastest s": st.column_config.NumberColumn(format="%.4f"),
        "slowest s": st.column_config.NumberColumn(format="%.4f"),
        "total s": st.column_config.NumberColumn(format="%.3f"),
        "final relative objective": st.column_config.NumberColumn(format="%.3e"),
        "relative error vs truth": st.column_config.NumberColumn(format="%.3e"),
    })
    st.caption(lab.measured_label() + " Times are wall-clock on a machine possibly shared with other work; "
               "the spread is the fastest and the slowest iteration of each run.")
    explain(lab.breakdown(histories, problem.W, settings.k, SKETCH["sketch_size"]), problem.W, settings.k)
    if not view.playing:
        st.download_button("History (CSV)", pd.DataFrame(view.runs.history_rows()).to_csv(index=False),
                           "solver_lab_history.csv", "text/csv", key=f"{P}_dl_history")


state.init(P)
st.title("Solver lab")
st.markdown(
    "Planted problems with a known truth M*, or your own matrix: compare the exact solver (LLR16), "
    "the sketched solver (SYYZ), unpreconditioned conjugate gradients and EM. Every number on this "
    "page is **measured here, on this machine**, when you press a button; nothing is copied from "
    "the paper."
)
messages = st.container()
matrix_upload.accept_pending()
if (message := state.pop_error(P)) is not None:
    messages.error(message, icon=":material/error:")

with st.sidebar:
    source = st.radio("Problem", ["planted", "upload"], horizontal=True, key=f"{P}_source", **BIND,
                      help="planted: a random low-rank matrix with a known truth; upload: your own "
                           "matrix and, optionally, its weights")
    if source == "upload":
        st.subheader("Your matrix")
        st.file_uploader(
            "Matrix M (.npy, CSV/TSV, Matrix Market .mtx)", type=matrix_upload.MATRIX_TYPES,
            key=f"{P}_matrix_file", on_change=uploads.queue_upload, args=(P, f"{P}_matrix_file", "pending_matrix"),
            help="Dense: one row per line (or a 2-D .npy); an empty cell or NaN marks a missing entry. "
                 "Matrix Market: the stored entries are the observed ones.")
        st.file_uploader(
            "Weights W (optional, same shape, ≥ 0)", type=matrix_upload.MATRIX_TYPES, key=f"{P}_weights_file",
            on_change=uploads.queue_upload, args=(P, f"{P}_weights_file", "pending_weights"),
            help="Without W every observed entry of M has weight 1.")
        if state.get(P, "weights") is not None:
            st.button("Use no weights file", key=f"{P}_clear_weights", on_click=matrix_upload.clear_weights)
    st.subheader("Planted problem" if source == "planted" else "Planted problem (not used)")
    n = st.number_input("rows n", 10, 5000, 300, step=50, key=f"{P}_n", **BIND)
    m = st.number_input("columns m", 10, 5000, 200, step=50, key=f"{P}_m", **BIND)
    rank = st.slider("true rank", 1, 50, 5, key=f"{P}_rank", **BIND)
    noise = st.number_input("noise σ", 0.0, 10.0, 0.01, step=0.01, format="%.3f", key=f"{P}_noise", **BIND)
    pattern = st.selectbox("weight pattern", list(wc.data.PATTERNS),
                           index=list(wc.data.PATTERNS).index("heavy_tailed"), key=f"{P}_pattern", **BIND,
                           help="bernoulli: 0/1 at random; graded: random weights in (0, 1]; blocks: "
                                "rectangular holes; heavy_tailed: heavy-tailed row degrees and "
                                "confidence weights (like ratings); full: all ones")
    p = st.slider("observed fraction p", 0.05, 1.0, 0.3, step=0.05, key=f"{P}_p", **BIND)
    problem_seed = st.number_input("problem seed", 0, 10_000, 0, step=1, key=f"{P}_pseed", **BIND)
    st.subheader("Solvers")
uploaded = matrix_upload.current() if source == "upload" else None
if uploaded is not None:
    n, m = uploaded.shape
settings = controls.solver_settings(P, defaults=DEFAULTS, k_max=int(min(128, n, m)))
with st.sidebar:
    st.subheader("Sketched solver")
    sketch = st.selectbox("sketch", ["default", *wc.SKETCHES], key=f"{P}_sketch", **BIND,
                          help="the random sketch S that builds the preconditioner R (default: the library's choice)")
    sketch_rows = st.number_input("sketch rows s (0 = 4k)", 0, 4096, 0, step=1, key=f"{P}_s", **BIND,
                                  help="rows of S·A_i; at least k. Larger s: a better preconditioner, a costlier QR")
SKETCH = {"sketch": None if sketch == "default" else sketch,
          "sketch_size": None if sketch_rows == 0 else int(sketch_rows)}

if source == "upload":
    if uploaded is None:
        st.info("Upload a matrix M in the sidebar (.npy, CSV/TSV or Matrix Market), and optionally its "
                "weights W, to run the solvers on it.")
        st.stop()
    problem = wc.data.Planted(uploaded.M, uploaded.W, None, None, None)
    problem_id = ("upload", uploaded.identity)
    st.caption(f"**{uploaded.name}**: M is {n} × {m} with {uploaded.observed:,} weighted entries "
               f"({uploaded.observed / (n * m):.1%}), no known truth; fitting rank k = {settings.k}.")
else:
    try:
        problem = planted(int(n), int(m), int(rank), float(noise), pattern, float(p), int(problem_seed))
    except wc.InputError as exc:
        st.error(f"Cannot build this planted problem: {exc}")
        st.stop()
    problem_id = (int(n), int(m), int(rank), float(noise), pattern, float(p), int(problem_seed))
    st.caption(f"M is {n} × {m} with {problem.W.nnz:,} weighted entries ({problem.W.nnz / (n * m):.0%}), "
               f"truth of rank {rank}, noise σ = {noise:g}; fitting rank k = {settings.k}.")

conv, sweep_tab, preset_tab, diag_tab = st.tabs(["Convergence", "Time per iteration vs k", "The paper's regime",
                                                 "Regression accuracy"])

# convergence (live) -----------------------------------------------------------------------
signature = (problem_id, settings.problem_signature(), tuple(SKETCH.values()))


cost = lab.step_cost(problem.M, problem.W, settings.k, settings.solvers, {**SKETCH, **settings.iterate_kwargs()},
                     key=(signature, tuple(settings.solvers)))


def start(name: str, problem=problem, settings=settings, cost=cost):
    if cost.refused:                  # shown by sync as the reason no run started
        raise wc.InputError(cost.message)
    sketch = {key: v for key, v in SKETCH.items() if name in wc.OPTION_SOLVERS[key]}   # others refuse them
    return wc.iterate(problem.M, problem.W, settings.k, solver=name, diagnostics=False,
                      **sketch, **settings.iterate_kwargs())


def measure(step, truth=problem.truth):
    return {"truth_error": lab.relative_truth_error(step.X, step.Y, truth)}


with conv:
    controller = RunController(P)
    controller.buttons()
    # the context says whether the runs' problem has a truth (planted) or not (uploaded)
    message = controller.sync(signature, settings.solvers, start, measure=None if uploaded else measure,
                              context=None if uploaded else "planted")
    if message:
        st.error(message)
    elif cost.message:
        st.warning(cost.message)
    controller.live(render, signature)

# k-sweep ----------------------------------------------------------------------------------
with sweep_tab:
    st.markdown(
        "Time of one alternating iteration as the rank k grows, on the problem above. The exact "
        "solver costs O(nnz(W)·k² + n·k³) per half-step, the sketched one O((nnz(W)·k + n·k³)·log 1/ε): "
        "the sketched solver should win from some k on, if at all. Where is the crossover here?"
    )
    s1, s2, s3, s4 = st.columns([2, 2, 1, 1])
    ks = s1.multiselect("k values", [k for k in K_CHOICES if k <= min(n, m)],
                        default=[k for k in (2, 4, 8, 16, 32) if k <= min(n, m)], key=f"{P}_ks", **BIND)
    sweep_solvers = s2.multiselect("solvers", list(wc.SOLVERS), default=["exact", "sketched"],
                                   key=f"{P}_sweep_solvers", **BIND)
    n_iter = s3.number_input("iterations each", 1, 10, 3, key=f"{P}_sweep_iters", **BIND,
                             help="a run's time per iteration is the median over these")
    repeats = s4.number_input("repeats", 1, 7, 3, key=f"{P}_sweep_repeats", **BIND,
                              help="runs per point: the point is their median, the bar their spread")
    sweep_sig = (problem_id, tuple(sorted(ks)), tuple(sweep_solvers), int(n_iter), int(repeats), settings.eps,
                 settings.seed, SKETCH["sketch"])
    # the warm-up iteration of every solver counts as one more iteration each
    sweep_cost = lab.sweep_cost(problem.M, problem.W, sorted(ks), sweep_solvers, int(n_iter) * int(repeats) + 1,
                                {"eps": settings.eps, "seed": settings.seed, "sketch": SKETCH["sketch"]}, key=sweep_sig)
    if sweep_cost.refused:
        st.error(sweep_cost.message)
    if st.button("Measure the sweep", type="primary", key=f"{P}_sweep_run",
                 disabled=not (ks and sweep_solvers) or sweep_cost.refused):
        bar = st.progress(0.0, text="warming up (one untimed iteration of each solver)…")
        rows = []
        for fraction, row in lab.k_sweep(wc.iterate, problem.M, problem.W, sorted(ks), sweep_solvers,
                                         n_iter=int(n_iter), repeats=int(repeats), eps=settings.eps,
                                         seed=settings.seed, sketch=SKETCH["sketch"]):
            rows.append(row)
            bar.progress(fraction, text=f"k = {row['k']}, {row['solver']}: "
                                        f"{row['seconds_per_iteration'] * 1e3:.1f} ms per iteration")
        bar.empty()
        state.put(P, "sweep_result", {"signature": sweep_sig, "table": pd.DataFrame(rows)})
    result = state.get(P, "sweep_result")
    if result is not None:
        if result["signature"] != sweep_sig:
            st.warning("Measured with other settings than those shown: press **Measure the sweep** again.")
        table = result["table"]
        k_cross = lab.crossover(table)
        st.plotly_chart(figures.stamp(figures.lab_sweep_figure(table, k_cross)), key=f"{P}_fig_sweep")
        kind, text = lab.sweep_reading(table)
        if kind == "crossover":
            st.success(text)
        elif kind:
            st.info(text + (" The gain of sketching is about a factor k on the nnz·k² term, and batched exact "
                            "solves are very efficient: the presets tab shows where the sketch pays." if kind == "never" else ""))
        st.dataframe(lab.sweep_wide(table), key=f"{P}_sweep_table")
        st.caption("Each point: the median over the repeats of each run's median time per iteration, after one "
                   "untimed warm-up iteration of every solver; the bars and the min/max columns are the fastest "
                   "and the slowest repeat.")
        st.download_button("Sweep (CSV)", table.to_csv(index=False), "solver_lab_k_sweep.csv", "text/csv",
                           key=f"{P}_dl_sweep")

# the paper's regime as presets -----------------------------------------------------------
PRESET_SIZES = {"full": 1.0, "half": 0.5, "quarter": 0.25}

with preset_tab:
    st.markdown(
        "Two settings chosen with the engine benchmark (`benchmarks/solvers.py`) where the paper's method "
        "should win: the sketched solver against the exact one on a wide dense matrix at large k, and the "
        "sketch preconditioner against plain conjugate gradients on heavy-tailed weights. Each is its own "
        "dense problem (not the one in the sidebar); every solver runs a few iterations from the same start "
        "after an untimed warm-up. The reading below is computed from the table, whatever it shows."
    )
    q1, q2 = st.columns([3, 1])
    preset_key = q1.selectbox("preset", list(lab.PRESETS), format_func=lambda key: lab.PRESETS[key].title,
                              key=f"{P}_preset", **BIND)
    size = q2.selectbox("size", list(PRESET_SIZES), key=f"{P}_preset_size", **BIND,
                        help="half or quarter of the rows, columns and k: faster, but away from the regime "
                             "where the sketch pays")
    scale = PRESET_SIZES[size]
    preset = lab.PRESETS[preset_key]
    pn, pm, pk = preset.size(scale)
    st.caption(f"{preset.about} At this size: {pn} × {pm}, k = {pk}, {preset.max_iter} iterations of "
               f"{', '.join(preset.solvers)}. At full size a run took under a minute here (measured 2026-12-06 "
               "with the machine 3–6 deep in work on 2 cores); the page does not respond until it ends.")
    if st.button("Run the preset", type="primary", key=f"{P}_preset_run"):
        bar = st.progress(0.0, text="warming up (one untimed iteration of each solver)…")
        histories, W_preset, k_preset = lab.run_preset(
            wc.iterate, preset, scale, on_done=lambda f, name: bar.progress(f, text=f"{name} done"))
        bar.empty()
        table = lab.preset_table(histories, W_preset, k_preset)
        state.put(P, "preset_result", {"key": preset_key, "scale": scale, "histories": histories, "table": table,
                                       "line": lab.reading(table, W_preset, k_preset, preset.fast, preset.reference),
                                       "note": lab.bypass_note(table)})
    result = state.get(P, "preset_result")
    if result is not None and (result["key"], result["scale"]) == (preset_key, scale):
        table = result["table"]
        won, text = lab.preset_reading(table, preset)
        (st.success if won else st.warning)(text)
        if result["note"]:
            st.warning(result["note"], icon=":material/info:")
        if result["line"]:
            st.markdown(f"**Why.** {result['line']}")
        st.plotly_chart(figures.stamp(figures.lab_preset_figure(result["histories"])), key=f"{P}_fig_preset")
        shown = ["solver", "iterations", "median s / iteration", "fastest s", "slowest s", "s to accuracy",
                 "final relative objective", "inner iterations", "rows solved exactly %",
                 *[f"{part} %" for part in lab.PARTS]]
        st.dataframe(table[shown], hide_index=True, key=f"{P}_preset_table", column_config={
            "final relative objective": st.column_config.NumberColumn(format="%.4e"),
            "inner iterations": st.column_config.NumberColumn(format="%.1f"),
        } | {c: st.column_config.NumberColumn(format="%.0f") for c in shown if c.endswith("%")})
        st.caption(f"s to accuracy: each solver's own compute time until its relative objective was within "
                   f"{lab.ACCURACY_SLACK:.1%} of {table.attrs['target']:.4e}, the worst final value among the "
                   "solvers (an accuracy all of them reached). " + lab.measured_label())

# regression accuracy and conditioning -----------------------------------------------------
with diag_tab:
    st.markdown(
        "Inside one sketched half-step every row's weighted regression is solved approximately. On a "
        "sample of rows the solver also solves them exactly, and reports the relative forward error "
        "‖x − x*‖/‖x*‖ and the condition number κ of A_i before and after preconditioning (A_i R⁻¹)."
    )
    e1, e2 = st.columns([3, 1])
    eps_values = e1.multiselect("eps values", list(EPS_CHOICES), default=[1e-2, 1e-4, 1e-6, 1e-8],
                                format_func=figures.fmt_eps, key=f"{P}_eps_values", **BIND)
    diag_iters = e2.number_input("iterations each", 1, 10, 2, key=f"{P}_diag_iters", **BIND)
    diag_sig = (problem_id, settings.k, tuple(sorted(eps_values)), int(diag_iters), settings.seed,
                tuple(SKETCH.values()))
    if st.button("Measure regression accuracy", type="primary", key=f"{P}_diag_run", disabled=not eps_values):
        bar = st.progress(0.0, text="measuring…")
        try:
            rows, inner = lab.diagnostics_vs_eps(
                wc.iterate, problem.M, problem.W, settings.k, sorted(eps_values, reverse=True),
                max_iter=int(diag_iters), seed=settings.seed, **SKETCH,
                on_done=lambda f: bar.progress(f, text=f"{f:.0%} of the eps values done"))
            state.put(P, "diag_result", {"signature": diag_sig, "rows": rows, "inner": inner})
        except wc.InputError as exc:
            st.error(str(exc))
        bar.empty()
    result = state.get(P, "diag_result")
    if result is not None:
        if result["signature"] != diag_sig:
            st.warning("Measured with other settings than those shown: press **Measure regression accuracy** again.")
        rows, inner = result["rows"], result["inner"]
        if rows.empty:
            st.info("No row was solved iteratively (every row has at most s = 4k weighted entries and is "
                    "solved exactly), so there is nothing to diagnose. Use more columns or a larger p.")
        else:
            c1, c2 = st.columns(2)
            c1.plotly_chart(figures.forward_error_figure(rows), key=f"{P}_fig_forward")
            c2.plotly_chart(figures.condition_figure(rows), key=f"{P}_fig_cond")
            st.plotly_chart(figures.inner_iterations_figure(inner), key=f"{P}_fig_inner")
            med = rows[["cond_before", "cond_after"]].median()
            st.caption(f"{len(rows)} sampled regressions. Median κ before {med['cond_before']:.2f}, after "
                       f"{med['cond_after']:.2f}. A preconditioner helps when κ(A_i) is large; on "
                       "well-conditioned rows (κ near 1) it has nothing to fix and can make κ slightly worse. "
                       "Inner iterations are capped by k when the inner solver is preconditioned CG "
                       "(inner=\"pcg\", the default): CG on a k-dimensional problem ends in at most k steps.")
            st.download_button("Diagnostics (CSV)", rows.to_csv(index=False), "solver_lab_diagnostics.csv",
                               "text/csv", key=f"{P}_dl_diag")
