"""How it works: one alternating step and the sketch preconditioner, with pictures.

Every number comes from ui.models.walkthrough (the sketch and the Gram matrix behind R are wlra_core's
own); the last figure runs the real wlra_core solvers on the same example. This page only draws.
"""
import streamlit as st

import wlra_core as wc
from ui import figures, loaders, state
from ui.models import lab
from ui.models import walkthrough as wt

P = state.HOW_IT_WORKS + "_"  # widget keys double as URL query parameters (bind="query-params")
BIND = {"bind": "query-params", "persist_state": "session"}


@st.cache_data(max_entries=16)
def build(seed: int, k: int, spread: float):
    ex = wt.example(k=k, spread=spread, seed=seed)
    return ex, wt.init_Y(ex.M, ex.W, k)


@st.cache_data(max_entries=4)
def lifted(name: str, patch: int):
    return wt.lifted_example(loaders.sample_path(name), patch=patch)


@st.cache_data(max_entries=16)
def animation(seed: int, k: int, spread: float):
    ex = wt.example(k=k, spread=spread, seed=seed)
    return wt.alternating_frames(ex.M, ex.W, k, iterations=3)


@st.cache_data(max_entries=32)
def kappa_curve(seed: int, k: int, spread: float, row: int, kind: str):
    ex = wt.example(k=k, spread=spread, seed=seed)
    return wt.kappa_curve(ex.M, ex.W, wt.init_Y(ex.M, ex.W, k), row, kind, seed=seed)


@st.cache_data(max_entries=4)
def measured():
    return wt.measured_ratios()


@st.cache_data(max_entries=16)
def library_curves(seed: int, k: int, spread: float, solvers: tuple):
    ex = wt.example(k=k, spread=spread, seed=seed)
    return wt.library_curves(ex.M, ex.W, k, solvers, seed=seed)


st.title("How it works")
st.markdown(
    "Weighted low-rank approximation looks for a rank-k matrix **X Yᵀ** that fits **M** where the "
    "weights **W** say the data can be trusted. Each weight multiplies the *squared* residual:"
)
st.latex(r"f(X, Y) \;=\; \sum_{i,j} W_{ij}\,\bigl(M_{ij} - \langle X_i, Y_j\rangle\bigr)^2")
st.caption(
    "W = 0 means missing, large W means trusted. (If you think of weights as multiplying the "
    "residual itself, ‖W∘(M − XYᵀ)‖², pass W² instead.) This page walks through one step of the "
    "alternating minimisation of Song, Ye, Yin, Zhang (arXiv 2306.04169) on a 12 × 60 example. "
    "Each control sits beside the pictures it changes; every picture below follows it."
)

# 1. the data -----------------------------------------------------------------------------
st.header("1. The data: M and W")
c1, c2, c3 = st.columns(3)
seed = c1.number_input("seed", 0, 10_000, 0, step=1, key=P + "seed", **BIND)
k = c2.slider("rank k", 1, 6, 3, key=P + "k", **BIND)
spread = c3.slider("weight spread (log-normal σ)", 0.0, 5.0, 3.0, step=0.5, key=P + "spread",
                   help="W_ij = exp(σ·g), g standard normal: larger σ, wilder weights", **BIND)
ex, Y = build(int(seed), int(k), float(spread))
decades, missing = wt.weight_summary(ex.W)
c1, c2 = st.columns(2)
c1.plotly_chart(figures.heatmap(wt.log_weights(ex.W), "log₁₀ W (blank = missing)", color_continuous_scale="Viridis"),
                width="stretch")
c2.plotly_chart(figures.signed(wt.observed(ex.M, ex.W), "M where observed"), width="stretch")
st.markdown(f"M is a planted rank-{k} matrix plus noise; weights span {decades:.0f} orders of magnitude "
            f"and {missing:.0%} of entries are missing.")

# 2. alternate ----------------------------------------------------------------------------
st.header("2. Alternate: fix Y, solve for X; fix X, solve for Y")
st.markdown("With Y fixed, f splits into **n independent weighted least-squares problems**, one per row:")
st.latex(r"x_i \;=\; \arg\min_x \sum_j W_{ij}\,(M_{ij} - \langle x, Y_j\rangle)^2"
         r"\;=\; \arg\min_x \bigl\| A_i x - b_i \bigr\|^2")
st.latex(r"A_i = D_{\sqrt{W_i}}\,Y, \qquad b_i = D_{\sqrt{W_i}}\,M_i^\top")
st.markdown(
    "Only the columns with W_ij > 0 take part, so A_i has N_i = nnz(W_i) rows and k columns. "
    "Y starts as the top-k right singular vectors of W∘M. Then the roles swap: with X fixed, every "
    "column of M is its own regression for a row of Y. Press **▶ Play** (or drag the slider) to watch "
    "three iterations, half-step by half-step:"
)
frames = animation(int(seed), int(k), float(spread))
st.plotly_chart(figures.alternating_animation(frames, wt.observed(ex.M, ex.W)), width="stretch",
                key=P + "fig_animation")
st.caption(f"f falls from {frames[0].objective:.4g} (X = 0) to {frames[1].objective:.4g} after the first X "
           f"half-step and {frames[-1].objective:.4g} after three iterations. Every half-step solves its "
           "regressions exactly here (the readable per-row reference of wlra_core); the sketched solver "
           "replaces each of them by the three moves below.")

# 3. one row ------------------------------------------------------------------------------
st.header("3. One row as a regression")
r1, r2 = st.columns([1, 2])
row = r1.slider("row i to solve", 0, 11, 2, key=P + "row", **BIND)
N = wt.row_problem(ex.M, ex.W, Y, row).N
r2.markdown(f"Row {row} has **N_i = {N}** observed entries out of 60.")
if N < k:
    st.warning(f"Row {row} has only {N} observed entries, fewer than k = {k}: its regression is "
               "under-determined (the solvers add a small ridge). Pick another row or a smaller k.")
    st.stop()
fit_box = st.container()  # drawn once the sketch below is chosen (its rough fit is one of the lines)

# 4. sketch -------------------------------------------------------------------------------
st.header("4. Sketch: compress A_i to s rows")
c1, c2 = st.columns([1, 2])
kind = c1.selectbox("sketch S", list(wt.DRAWABLE_SKETCHES), key=P + "sketch", **BIND,
                    help="the random matrix that compresses A_i (wlra_core's own sketches; rownorm is the "
                         "solvers' default, srht the paper's)")
s = c2.slider("sketch size s", int(k), 60, 24, key=P + "s",
              help="rows of S·A_i, from k (the fewest that can precondition); the solvers use s = 4k", **BIND)
s = max(int(s), int(k))  # a value kept from a smaller k may lie below the slider's new minimum
s_eff = wt.sketch_size(s, k, N)
if s_eff != s:
    st.info(f"Sketch size clamped to {s_eff} = N_i: a sketch cannot have more rows than A_i.")
if s_eff >= N:
    st.info(f"With s ≥ N_i = {N} the sketch can keep every row of A_i: R is then A_i's own R factor and "
            "κ(A_i R⁻¹) = 1 trivially, but computing it costs as much as the exact solve. The sketch only "
            "pays when s ≪ N_i.")
w = wt.walk(ex.M, ex.W, Y, row, s_eff, kind=kind, seed=int(seed))
p = w.problem

with fit_box:
    st.plotly_chart(figures.row_fit_figure(ex.M, w, wt.fit_frame(w, Y), row), width="stretch")
    st.caption("Big dots pull hard (large weight): the fit ⟨x_i, Y_j⟩ bends towards them and ignores "
               "the light ones; where a weight is tiny the fit may leave the picture. Columns with "
               "W_ij = 0 are simply absent. The rough and iterated fits use the sketch of section 4.")
    c1, c2, c3 = st.columns([1, 0.5, 2])
    c1.plotly_chart(figures.signed(p.A, f"A_i ({N} × {k})", scale=False), width="stretch")
    c2.plotly_chart(figures.signed(p.b[:, None], "b_i", scale=False, hide_x=True), width="stretch")
    c3.markdown(
        f"Solving exactly costs O(N_i k² + k³) per row through the normal equations "
        f"(Aᵀ A) x = Aᵀ b: all n rows together cost **O(nnz(W)·k² + n·k³)**.\n\n"
        f"Iterative methods cost only O(N_i k) per step, but their speed depends on "
        f"the condition number κ(A_i) = σ_max/σ_min, here **{w.kappa_before:.1f}**: "
        f"heavy-tailed weights make rows ill-conditioned."
    )

# 4. sketch, continued ---------------------------------------------------------------------
formula, note = wt.SKETCH_NOTES[kind]
st.latex(formula)
st.markdown(note)
c1, c2, c3 = st.columns([2.2, 0.9, 0.9])
c1.plotly_chart(figures.signed(w.sketch.S, f"S ({s_eff} × {N})", scale=False), width="stretch")
c2.plotly_chart(figures.signed(p.A, f"A_i ({N} × {k})", scale=False), width="stretch", key="hiw_fig_A_sketch")
c3.plotly_chart(figures.signed(w.sketch.SA, f"S·A_i ({s_eff} × {k})", scale=False), width="stretch")
st.caption("Red positive, blue negative; colours clipped at the 95th percentile of |entry| so one heavy "
           "weight does not wash out the rest. S·A_i is computed by wlra_core's own sketch "
           f"(`{kind}`); S is drawn here only to look at.")
st.markdown("A good sketch keeps the geometry: ‖S A_i x‖ ≈ ‖A_i x‖ for **every** x, with only s rows "
            "(a *subspace embedding*). Here is that claim for 300 random directions x:")
check = wt.norm_check(w, seed=int(seed))
c1, c2 = st.columns([2, 1])
c1.plotly_chart(figures.norm_preservation_figure(check.frame, wt.NORM_COLUMNS), width="stretch",
                key=P + "fig_norms")
c2.metric("largest distortion |‖S A_i x‖/‖A_i x‖ − 1|", f"{max(1 - check.low, check.high - 1):.3f}")
if kind == "rownorm" and check.high - check.low < 0.01:
    c2.info("Row-norm sampling keeps the heaviest rows of A_i for sure; on these heavy-tailed weights they "
            "carry nearly all of ‖A_i‖², so S·A_i is almost A_i itself. Pick `srht` or a smaller s to see a "
            "sketch at work.", icon=":material/info:")
c2.caption(f"Every ratio lies in [{check.low:.3f}, {check.high:.3f}]. The narrower this range, the closer the singular values of A_i R⁻¹ are to 1 (section 5). "
           "Lower s and watch the cloud spread.")

# 5. precondition -------------------------------------------------------------------------
st.header("5. Precondition: S·A_i = QR, then use A_i R⁻¹")
c1, c2 = st.columns([2, 1])
c1.plotly_chart(figures.singular_values_figure(wt.singular_value_frame(w)), width="stretch")
c2.metric("κ(A_i) before", f"{w.kappa_before:.1f}")
c2.metric("κ(A_i R⁻¹) after", f"{w.kappa_after:.2f}")
c2.caption("R costs one QR (or a Cholesky of (S A_i)ᵀ S A_i, as wlra_core does) of an s × k matrix: "
           "O(s k²).")
st.markdown(f"**κ against s.** How large must the sketch be? Below, κ(A_i R⁻¹) for every s from k = {k} "
            f"to N_i = {N}, five sketches each (`{kind}`): it falls steeply just above k and is 1 from "
            f"s = N_i on, where the sketch is no compression at all.")
st.plotly_chart(figures.kappa_vs_s_figure(kappa_curve(int(seed), int(k), float(spread), int(row), kind), s_eff, N),
                width="stretch", key=P + "fig_kappa_s")

# 6. iterate ------------------------------------------------------------------------------
st.header("6. Iterate on the well-conditioned problem")
st.latex(r"z \leftarrow z + R^{-\top} A_i^\top\,(b_i - A_i R^{-1} z), \qquad x_i = R^{-1} z")
st.markdown("Starting from the sketch-and-solve answer, each step costs O(N_i k); "
            "with κ(A_i R⁻¹) close to 1 the error shrinks by a large constant factor every step, "
            "so O(log 1/ε) steps reach accuracy ε. For comparison, the same row solved without a sketch: "
            "by **conjugate gradients** (what the `cg` solver does) and by plain gradient descent.")
st.plotly_chart(figures.inner_error_figure(wt.inner_frame(w)), width="stretch")
st.caption(f"Plain gradient descent, even with its best step, shrinks the error only by a factor "
           f"(κ² − 1)/(κ² + 1) = {wt.plain_rate(w.kappa_before):.4f} per step here (κ = {w.kappa_before:.1f}). "
           f"Conjugate gradients' bound contracts by (κ − 1)/(κ + 1) = {wt.cg_rate(w.kappa_before):.4f} per step, "
           f"and in exact arithmetic it finishes in k = {k} steps; it took {w.cg.forward_error.size - 1} here. "
           f"Preconditioned, {w.trace.forward_error.size - 1} steps reach {w.trace.forward_error[-1]:.0e}. "
           "With k this small, CG needs no sketch; with k in the hundreds and κ large, its steps add up, "
           "and the sketch's fixed handful of steps wins.")
if not w.converged:
    st.warning("The preconditioned iteration did not converge here: with a very small sketch, "
               "A_i R⁻¹ can have σ_max > √2 and step 1 overshoots. Increase s (s ≈ 4k–8k).")

# 7. the objective ------------------------------------------------------------------------
st.header("7. Repeat: the objective drops")
st.markdown("Every row of X is solved this way (all at once, vectorised), X is orthonormalised, "
            "then the same for every column with X fixed: one alternating iteration. "
            "Below, wlra_core itself on this example.")
solvers = tuple(sv for sv in ("exact", "sketched", "cg") if sv in wc.SOLVERS)
fig = figures.history_figure(library_curves(int(seed), int(k), float(spread), solvers), y="relative_objective",
                            log_y=True, y_title="relative objective f / Σ W M²", height=320)
st.plotly_chart(fig, width="stretch")
st.caption(f"{lab.measured_label()} Relative objective f / Σ W_ij M_ij². It levels off at the "
           "noise floor, not at 0. Where the lines overlap, the sketched solver and cg reached the same "
           "iterates as the exact one: their regressions are solved to accuracy 1e-10 here.")
st.markdown(f":material/science: [Open this example in the Solver lab]({wt.lab_url(int(k), int(seed), kind, int(s_eff))})")
st.caption("The lab draws its own planted problem of the same shape (12 × 60, rank k, noise 0.1, heavy-tailed "
           "weights, 80 % observed, this seed) and runs every solver on it with this sketch and s.")

# 8. honest notes -------------------------------------------------------------------------
st.header("8. When does sketching pay off?")
st.markdown(
    "| | per half-step |\n|---|---|\n"
    "| exact (normal equations) | O(nnz(W)·k² + n·k³) |\n"
    "| sketch, precondition, iterate | O((nnz(W)·k + n·k³) · log 1/ε) |\n"
    "| conjugate gradients, no sketch | O(nnz(W)·k · √κ · log 1/ε) |\n\n"
    "- The gain is about a **factor k on the nnz(W) term**, paid for with inner iterations and "
    "the sketch's own Gram (s·k² per row).\n"
    "- For **short rows** (N_i ≤ s) the sketch buys nothing; such rows are solved exactly.\n"
    "- The n·k³ term (one small Cholesky per row) is the same for both.\n"
    "- wlra_core's sketched solver uses **row-norm sampling** by default (`rownorm`, section 4); the "
    "paper's SRHT is an option (`sketch=\"srht\"`).\n\n"
    "**Calculator.** The engine's own cost model (`wlra_core.cost`, the one behind `wc.estimate`) for "
    "one alternating iteration on a dense n × m problem:"
)
c1, c2, c3, c4, c5, c6 = st.columns(6)
cn = c1.number_input("n", 10, 100_000, 3072, step=256, key=P + "calc_n", **BIND)
cm = c2.number_input("m", 10, 100_000, 3072, step=256, key=P + "calc_m", **BIND)
ck = c3.number_input("k", 1, 2048, 128, step=8, key=P + "calc_k", **BIND)
cs = c4.number_input("s (sketch rows)", 1, 100_000, 512, step=32, key=P + "calc_s", **BIND,
                     help="the solvers use s = 4k")
cT = c5.number_input("T sketched", 1, 100, 5, key=P + "calc_T", **BIND,
                     help="inner iterations per regression, sketched (κ ≈ 1: a handful)")
cTcg = c6.number_input("T cg", 1, 1000, 10, key=P + "calc_Tcg", **BIND,
                       help="inner iterations per regression, cg (grows like √κ of the rows)")
table = wt.complexity(int(cn), int(cm), int(ck), max(int(cs), int(ck)), float(cT), float(cTcg))
st.dataframe(table, hide_index=True, key=P + "calc_table", column_config={
    name: st.column_config.NumberColumn(f"{name} (flops)", format="%.2e") for name in ("gram", "factor", "inner", "total")} | {
    "seconds": st.column_config.NumberColumn("seconds (model)", format="%.3g")})
curve = wt.complexity_curve(int(cn), int(cm), max(int(cs), int(ck)) / int(ck), float(cT), float(cTcg))
ran = measured()
st.plotly_chart(figures.complexity_figure(curve, ran, k=int(ck), n=int(cn), m=int(cm), window=wt.model_crossover(curve),
                                           crossovers=wt.measured_crossovers(ran)),
                width="stretch",
                key=P + "fig_calc")
st.caption(wt.complexity_reading(table, curve, ran))
st.markdown(f"The Solver lab page measures where the crossover lies on this machine, for any problem: "
            f":material/science: [open it on this page's example]({wt.lab_url(int(k), int(seed), kind, int(s_eff))}); "
            "its *Time per iteration vs k* tab sweeps k.")

# 9. which matrix -------------------------------------------------------------------------
st.header("9. Which matrix? Pixels or patches")
st.markdown(
    "WLRA fits whatever matrix it is given. An image can be that matrix itself (one row per image "
    "row, the paper's setting), or it can be **lifted**: every overlapping p×p window becomes one row, "
    "and a fitted matrix goes back to an image by averaging each pixel over the windows that hold it. "
    "Windows of a natural image repeat a few shapes (edges, flat areas, textures) wherever they occur, "
    "so the patch matrix is close to low rank; the pixel matrix is low rank only for images aligned "
    "with its rows and columns. The inpainting page uses patches by default.")
p_col, r_col, _ = st.columns([1, 1, 2])
patch = p_col.select_slider("window p", [2, 3, 4, 6, 8], value=4, key=P + "patch", **BIND)
rank = r_col.slider("rank r", 1, 16, 4, key=P + "rank", **BIND)
ex9 = lifted("camera", int(patch))
pictures = wt.rank_pictures(ex9, int(rank))
c1, c2 = st.columns([1, 2])
c1.plotly_chart(figures.heatmap(ex9.image, "a 32×32 crop of camera", color_continuous_scale="gray", scale=False),
                width="stretch")
c2.plotly_chart(figures.heatmap(ex9.patches, f"its patch matrix: {ex9.patches.shape[0]} windows × {patch}² pixels "
                        f"(stride {ex9.lifting.stride})", color_continuous_scale="gray", scale=False), width="stretch")
c3, c4 = st.columns(2)
c3.plotly_chart(figures.heatmap(pictures.pixels, f"rank {rank} from the pixel matrix: {pictures.psnr_pixels:.1f} dB",
                        color_continuous_scale="gray", range_color=(0, 1), scale=False), width="stretch")
c4.plotly_chart(figures.heatmap(pictures.patches, f"rank {rank} from the patch matrix, averaged: "
                        f"{pictures.psnr_patches:.1f} dB", color_continuous_scale="gray", range_color=(0, 1),
                        scale=False), width="stretch")
st.caption("With every pixel known, WLRA is the truncated SVD: the pictures show what rank r can hold. "
           "Small windows hold more at the same rank; the larger gain is for missing pixels, each predicted "
           "from every window that holds it. On the sample images with half the pixels hidden, WLRA of the 8×8 "
           "patch matrix is 4–5 dB above the pixel matrix (benchmarks/results/inpainting.md).")
