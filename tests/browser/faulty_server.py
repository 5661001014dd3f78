"""Start the real app with a solver that fails at one rank: for tests/browser/test_faults.py.

    python tests/browser/faulty_server.py run app.py --server.port 8600 ...

takes the arguments of `python -m streamlit`. Before Streamlit starts it replaces
`wlra_core.alternating.half_step` (the alternating loop calls each regression half-step through
that module-level name) by a wrapper that raises FaultInjected when the factor has FAULT_K
columns, i.e. in any session whose rank k is FAULT_K, and otherwise calls the real half-step.
Streamlit runs app.py in this same process, so every session imports the patched module; no
fault hook is added to the production code, and app.py stays the main script (st.navigation
resolves views/ beside it as usual).
"""
from __future__ import annotations

import os
import sys

FAULT_K = 7
MESSAGE = f"injected solver fault (a test server: every run with k = {FAULT_K} fails)"


class FaultInjected(RuntimeError):
    """The failure a session with k = FAULT_K meets in its first half-step."""


def patch_solver() -> None:
    from wlra_core import alternating

    real = alternating.half_step

    def half_step(side, Y, X0, o, rng, *rest):
        if Y.shape[1] == FAULT_K:
            raise FaultInjected(MESSAGE)
        return real(side, Y, X0, o, rng, *rest)

    alternating.half_step = half_step


def main() -> int:
    # Started from the app's root (start_app's cwd): wlra_core is imported from there, as app.py
    # would import it (Python put this file's folder on sys.path, not the working directory).
    sys.path.insert(0, os.getcwd())
    patch_solver()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
