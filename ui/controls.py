"""Solver settings widgets, shared by the pages; they return a plain SolverSettings.

Every widget has a key `<prefix>_<name>`, keeps its value across page switches
(persist_state="session") and is bound to the URL query parameter of the same name
(bind="query-params"), so a link reproduces the settings; Streamlit ignores and drops URL values
a widget cannot take (a k of "abc", an unknown solver).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import streamlit as st

import wlra_core as wc
from ui import state

EPS_CHOICES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10)
INIT_CHOICES = ("svd", "random")

SOLVER_HELP = {
    "exact": "LLR16: each row's weighted least squares solved exactly (normal equations).",
    "sketched": "SYYZ: sketch each row's regression to precondition it, then iterate (the paper's solver).",
    "cg": "Each row's regression by conjugate gradients, no sketch.",
    "em": "Srebro–Jaakkola EM: fill the missing part with the current estimate, then truncated SVD.",
}


@dataclass(frozen=True)
class SolverSettings:
    """What wlra_core.iterate needs besides M and W; `solvers` are run side by side."""

    k: int = 20
    eps: float = 1e-5
    solvers: tuple[str, ...] = ("exact", "sketched")
    init: str = "svd"
    ridge: float = 0.0
    max_iter: int = 60
    seed: int = 0
    clip: bool = False

    def iterate_kwargs(self) -> dict[str, Any]:
        """Keywords for wlra_core.iterate, one solver excluded (pass solver= yourself); with the
        app's per-problem size cap."""
        return {"eps": self.eps, "max_iter": self.max_iter, "init": self.init,
                "ridge": self.ridge, "clip": self.clip, "seed": self.seed,
                "max_entries": state.APP_MAX_ENTRIES}

    def problem_signature(self) -> tuple:
        """Everything that changes the iterates, except which solvers run."""
        return (self.k, self.eps, self.init, self.ridge, self.max_iter, self.seed, self.clip)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt_eps(value: float) -> str:
    """A tolerance as the controls and the figures show it: 1e-04."""
    return f"{value:.0e}"


def solver_settings(
    prefix: str,
    *,
    defaults: SolverSettings = SolverSettings(),
    k_max: int = 128,
    solver_choices: tuple[str, ...] | None = None,
    container: Any = None,
    solvers_apply: bool = True,
) -> SolverSettings:
    """Render the solver settings (in `container`, default the sidebar) and return them.
    `solvers_apply` False draws the solver selection disabled (the page runs something else)."""
    box = container if container is not None else st.sidebar
    choices = tuple(solver_choices or wc.SOLVERS)
    common = {"bind": "query-params", "persist_state": "session"}
    with box:
        solvers = st.multiselect(
            "Solvers (run side by side)", list(choices), default=[s for s in defaults.solvers if s in choices],
            key=state.key(prefix, "solvers"), help="\n\n".join(f"**{s}**: {SOLVER_HELP.get(s, '')}" for s in choices),
            disabled=not solvers_apply, **common,
        )
        k_key = state.key(prefix, "k")
        slider_max = max(2, int(k_max))  # Streamlit's slider needs two values; k = 2 > k_max is capped below
        if st.session_state.get(k_key, 1) > slider_max:
            # a smaller matrix than the k kept from before (or from the URL): the largest k it takes
            st.session_state[k_key] = slider_max
        # the default only for a slider not yet in the session (else Streamlit warns about both)
        default = {} if k_key in st.session_state else {"value": min(defaults.k, slider_max)}
        k = st.slider("Rank k", 1, slider_max, key=k_key, **default,
                      help="Number of columns of X and Y: M̂ = X Yᵀ has rank k.", **common)
        if k > k_max:
            st.caption(f"Rank k = {k} is more than this matrix allows: k = {k_max} is used.")
            k = int(k_max)
        eps = st.select_slider(
            "Tolerance eps", options=list(EPS_CHOICES), value=defaults.eps, format_func=fmt_eps,
            key=state.key(prefix, "eps"),
            help="Stop when the objective decreases by less than eps (relative) in one iteration; "
                 "also the accuracy asked of each approximate regression.",
            **common,
        )
        max_iter = st.number_input("max_iter", 1, 500, defaults.max_iter, step=10,
                                   key=state.key(prefix, "max_iter"), **common)
        with st.expander("More solver settings"):
            init = st.segmented_control(
                "Initialisation", list(INIT_CHOICES), default=defaults.init, required=True,
                key=state.key(prefix, "init"),
                help="svd: top-k singular vectors of W∘M; random: a random orthonormal basis. "
                     "Every solver starts from the same one.",
                **common,
            )
            ridge = st.number_input("Ridge λ", 0.0, 1e3, float(defaults.ridge), step=0.01, format="%.4g",
                                    key=state.key(prefix, "ridge"),
                                    help="Adds λ‖x‖² to each row's regression (0 = the paper's problem).",
                                    **common)
            seed = st.number_input("Seed", 0, 2**31 - 1, defaults.seed, step=1, key=state.key(prefix, "seed"),
                                   help="Same seed, same inputs: the same iterates, bit for bit.", **common)
            clip = st.checkbox("Clip rows (LLR16)", value=defaults.clip, key=state.key(prefix, "clip"),
                               help="Zero rows of the orthonormal factor with too large a norm, "
                                    "keeping the factors incoherent.", **common)
    return SolverSettings(
        k=int(k), eps=float(eps), solvers=tuple(solvers), init=str(init or defaults.init),
        ridge=float(ridge), max_iter=int(max_iter), seed=int(seed), clip=bool(clip),
    )
