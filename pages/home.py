"""Landing page: what weighted low-rank approximation is, one picture, and where to go next."""
import streamlit as st

from ui import images, landing

st.title("WLRA Explorer")
st.markdown(
    "**Weighted low-rank approximation** fits a rank-k matrix X Yᵀ to a matrix M where every entry "
    "has its own weight: W<sub>ij</sub> = 0 means *missing*, 1 means *trusted*, anything between "
    "means *trusted that much*. It minimises",
    unsafe_allow_html=True,
)
st.latex(r"f(X, Y) \;=\; \sum_{i,j} W_{ij}\,\bigl(M_{ij} - \langle X_i, Y_j\rangle\bigr)^2 .")
st.markdown(
    "The weight multiplies the **squared** residual (the convention of Srebro–Jaakkola and of Li, "
    "Liang and Risteski); for 0/1 weights this is matrix completion. The solvers alternate: fix Y "
    "and solve one small weighted least-squares problem per row of X, then swap. The sketched "
    "solver of Song, Ye, Yin and Zhang (arXiv 2306.04169) solves each of those problems "
    "approximately, with a random sketch as preconditioner, and keeps the convergence."
)

example = landing.example()
st.html(images.image_row(
    [("Original", example.image), ("Masked input (weight 0 in orange)", example.masked),
     (f"Rank-{example.k} reconstruction X Yᵀ", example.reconstruction),
     ("Inpainted: hidden pixels from X Yᵀ", example.filled)],
    width=200, test_id="landing-example",
))
st.caption(f"The camera sample at {example.image.shape[1]}×{example.image.shape[0]} px with "
           f"{100 * example.hidden_fraction:.0f} % of its pixels hidden; {example.iterations} iterations "
           f"of the exact solver (ridge {example.ridge:g}), PSNR on the hidden pixels "
           f"{example.psnr_hidden:.1f} dB. Computed here on first view, then cached.")

st.subheader("Explore")
cols = st.columns(2)
with cols[0]:
    st.page_link("pages/inpainting.py", label="Image inpainting", icon=":material/brush:")
    st.caption("Paint a mask over a photo, press Play, watch exact and sketched solvers fill it in.")
    st.page_link("pages/ratings.py", label="Rating matrices", icon=":material/star:")
    st.caption("Predict held-out ratings; compare test RMSE with the mean predictor.")
with cols[1]:
    st.page_link("pages/solver_lab.py", label="Solver lab", icon=":material/science:")
    st.caption("Exact against sketched on planted problems: time per iteration, crossover in k.")
    st.page_link("pages/how_it_works.py", label="How it works", icon=":material/school:")
    st.caption("One alternating step, the sketch and its preconditioner, drawn out.")
