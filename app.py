"""WLRA Explorer: the entry point. Page config and the navigation over views/, nothing else.

The pages live in views/, not pages/: Streamlit treats a pages/ folder beside the main script as
its older multipage mode, which would bypass this navigation on a fresh server.

    streamlit run app.py
"""
import os

# One BLAS thread: on a small shared machine the browser, the server and a multi-threaded BLAS
# fight for the cores. Set before numpy is first imported; an explicit environment value wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas  # noqa: E402,F401  imported first: plotly imports pandas lazily, racing the first figure
import streamlit as st  # noqa: E402

st.set_page_config(page_title="WLRA Explorer", page_icon=":material/grid_on:", layout="wide")

pages = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/inpainting.py", title="Image inpainting", icon=":material/brush:", url_path="inpainting"),
    st.Page("views/ratings.py", title="Rating matrices", icon=":material/star:", url_path="ratings"),
    st.Page("views/solver_lab.py", title="Solver lab", icon=":material/science:", url_path="solver_lab"),
    st.Page("views/how_it_works.py", title="How it works", icon=":material/school:", url_path="how_it_works"),
]
st.navigation(pages).run()
