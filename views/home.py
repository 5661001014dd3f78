"""Landing page: one picture, one "Start here", the other pages; the formula and citations below."""
import streamlit as st

from ui import images
from ui.models import landing

st.title("WLRA Explorer")
st.markdown("Hide part of a picture, and a low-rank model fitted to the rest fills it in. "
            "Watch it happen, step by step, and see how the solvers behind it work.")

with st.container(key="start_here", border=True):
    st.page_link("views/inpainting.py", label="Start here: watch a photo being inpainted",
                 icon=":material/play_circle:", query_params=landing.AUTOPLAY)
    st.caption("Opens the inpainting page and presses Play: the exact and sketched solvers fill in "
               "the hidden pixels live. Paint your own mask there afterwards.")
st.html(landing.START_HERE_CSS)

hero = landing.hero()
st.html(images.image_row(
    [("Masked input (hidden in orange)", hero.masked), ("Inpainted by wlra_core", hero.inpainted),
     ("Original", hero.image)],
    width=240, test_id="landing-example",
))
st.caption(f"The camera sample at {hero.image.shape[1]}×{hero.image.shape[0]} px with "
           f"{100 * hero.hidden_fraction:.0f} % of its pixels hidden (the inpainting page's default mask). "
           f"`wc.inpaint` with its defaults: {landing.method(hero)}, "
           f"shown at its best step ({hero.best_iteration} of {hero.iterations}, chosen on held-out known "
           f"pixels). PSNR on the hidden pixels {hero.psnr_hidden:.1f} dB. Computed here on first view, then cached.")

st.subheader("Explore")
cols = st.columns(2)
with cols[0]:
    st.page_link("views/inpainting.py", label="Image inpainting", icon=":material/brush:")
    st.caption("Paint a mask over a photo, press Play, watch exact and sketched solvers fill it in.")
    st.page_link("views/ratings.py", label="Rating matrices", icon=":material/star:")
    st.caption("Predict held-out ratings; compare test RMSE with simple baselines.")
with cols[1]:
    st.page_link("views/solver_lab.py", label="Solver lab", icon=":material/science:")
    st.caption("Exact against sketched on planted problems: time per iteration, crossover in k.")
    st.page_link("views/how_it_works.py", label="How it works", icon=":material/school:")
    st.caption("One alternating step, the sketch and its preconditioner, drawn out.")

st.divider()
st.subheader("What it computes")
st.markdown(
    "**Weighted low-rank approximation** fits a rank-k matrix X Yᵀ to a matrix M where every entry "
    "has its own weight: W<sub>ij</sub> = 0 means *missing*, 1 means *trusted*, anything between "
    "means *trusted that much*. It minimises",
    unsafe_allow_html=True,
)
st.latex(r"f(X, Y) \;=\; \sum_{i,j} W_{ij}\,\bigl(M_{ij} - \langle X_i, Y_j\rangle\bigr)^2 .")
st.markdown(
    "The weight multiplies the **squared** residual (the convention of Srebro and Jaakkola, ICML 2003, "
    "and of Li, Liang and Risteski, ICML 2016); for 0/1 weights this is matrix completion. The solvers "
    "alternate: fix Y and solve one small weighted least-squares problem per row of X, then swap. The "
    "sketched solver of Song, Ye, Yin and Zhang (*Efficient Alternating Minimization with Applications "
    "to Weighted Low Rank Approximation*, arXiv 2306.04169) solves each of those problems approximately, "
    "with a random sketch as preconditioner, and keeps the convergence. For images the matrix is the "
    "picture's overlapping patches, one per row (a block-Hankel lifting), or, best, many small matrices: "
    "groups of similar patches found by block matching, each fitted at a low rank."
)
