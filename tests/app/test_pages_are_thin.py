"""Pages hold widgets and layout only (issues 3 and 9, docs/ARCHITECTURE.md): no linear algebra and no figure
building in views/ or app.py.

A source check, so that arithmetic or a figure creeping back into a page fails a test instead of
waiting for a review: computations belong in ui/models (pure, unit-tested) or in wlra_core, figures
in ui/figures.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "views").glob("*.py")) + [ROOT / "app.py"]
LINEAR_ALGEBRA = {"linalg", "svd", "qr", "cholesky", "lstsq", "solve", "inv", "pinv", "cond", "eig", "eigh",
                  "dot", "matmul", "einsum", "outer", "tensordot", "kron", "norm"}


# Building or changing a figure: plotly's constructors and a figure's own methods.
FIGURE_NAMES = {"go", "px", "make_subplots", "graph_objects", "express"}
FIGURE_METHODS = {"update_layout", "update_xaxes", "update_yaxes", "update_traces", "add_trace", "add_scatter",
                  "add_annotation", "add_vline", "add_hline", "add_vrect", "add_shape"}


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(m == "plotly" or m.startswith("plotly.") for m in modules):
                found.append(f"line {node.lineno}: imports plotly")
            continue
        if isinstance(node, ast.Name) and node.id in FIGURE_NAMES:
            found.append(f"line {node.lineno}: figure building {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in FIGURE_METHODS:
            found.append(f"line {node.lineno}: figure building .{node.attr}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.append(f"line {node.lineno}: matrix product @")
        elif isinstance(node, ast.Attribute) and node.attr in LINEAR_ALGEBRA:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
            found.append(f"line {node.lineno}: transpose .T")
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_hold_no_linear_algebra_and_build_no_figure(path):
    assert offences(path) == []


def test_how_it_works_gets_every_number_from_ui_walkthrough():
    source = (ROOT / "views" / "how_it_works.py").read_text(encoding="utf-8")
    assert "import numpy" not in source and "np." not in source


def test_the_checker_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nS = np.eye(2)\nSA = S @ S\nk = np.linalg.cond(SA)\nx = SA.T\n")
    assert len(offences(bad)) == 4  # @, .linalg, .cond, .T


@pytest.mark.parametrize("source", [
    "import plotly.graph_objects as go\n",
    "from plotly.subplots import make_subplots\n",
    "import plotly.express\n",
    "fig = go.Figure()\n",
    "fig = px.line(frame)\n",
    "fig = make_subplots(rows=1, cols=2)\n",
    "st.plotly_chart(figures.heatmap(z, 't').update_layout(height=3))\n",
    "fig.add_scatter(x=[1], y=[2])\n",
])
def test_the_checker_finds_figure_building(tmp_path, source):
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    assert offences(bad), source


def test_placing_a_figure_from_ui_figures_is_fine(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("import streamlit as st\nfrom ui import figures\n"
                    "st.plotly_chart(figures.heatmap(z, 'title'), width='stretch')\n")
    assert offences(good) == []


def session_state_writes(path: Path) -> list[str]:
    """st.session_state[...] = …, del, .pop/.setdefault/.update/.clear on st.session_state."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else
            node.targets if isinstance(node, ast.Delete) else [])
        for target in targets:
            if isinstance(target, ast.Subscript) and ast.unparse(target.value).endswith("session_state"):
                found.append(f"line {node.lineno}: {ast.unparse(target)}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"pop", "setdefault", "update", "clear", "__setitem__"}
                and ast.unparse(node.func.value).endswith("session_state")):
            found.append(f"line {node.lineno}: {ast.unparse(node.func)}")
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_keep_their_session_state_through_ui_state(path):
    """Session-state keys and their initial values live in ui/state.py, once (issue 3, item 1)."""
    assert session_state_writes(path) == []


def test_the_session_state_checker_finds_writes(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import streamlit as st\nst.session_state['a'] = 1\nst.session_state.pop('b')\n"
                   "del st.session_state['c']\n")
    assert len(session_state_writes(bad)) == 3
