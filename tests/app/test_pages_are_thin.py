"""Pages hold widgets and plots only (DESIGN.md, issue 3): no linear algebra in views/ or app.py.

A source check, so that arithmetic creeping back into a page fails a test instead of waiting for
a review: the computations belong in ui/ (pure, unit-tested) or in wlra_core.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "views").glob("*.py")) + [ROOT / "app.py"]
LINEAR_ALGEBRA = {"linalg", "svd", "qr", "cholesky", "lstsq", "solve", "inv", "pinv", "cond", "eig", "eigh",
                  "dot", "matmul", "einsum", "outer", "tensordot", "kron", "norm"}


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.append(f"line {node.lineno}: matrix product @")
        elif isinstance(node, ast.Attribute) and node.attr in LINEAR_ALGEBRA:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
            found.append(f"line {node.lineno}: transpose .T")
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_hold_no_linear_algebra(path):
    assert offences(path) == []


def test_how_it_works_gets_every_number_from_ui_walkthrough():
    source = (ROOT / "views" / "how_it_works.py").read_text(encoding="utf-8")
    assert "import numpy" not in source and "np." not in source


def test_the_checker_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nS = np.eye(2)\nSA = S @ S\nk = np.linalg.cond(SA)\nx = SA.T\n")
    assert len(offences(bad)) == 4  # @, .linalg, .cond, .T


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
