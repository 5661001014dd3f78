"""wlra_core is an installable library (issue 9, item 6).

* `import wlra_core` loads neither pandas, Pillow, Streamlit nor Plotly: they are optional (the
  `app` extra), imported when a text or image loader first needs them.
* `pip install .` into a fresh venv that holds only the core dependencies (numpy, scipy, numba,
  llvmlite, threadpoolctl, linked in from this interpreter's site-packages, so nothing is
  downloaded for them) gives a working `import wlra_core` and `python -m wlra_core`, and
  `pip check` finds the package's declared dependencies satisfied by exactly those.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ("pandas", "PIL", "streamlit", "plotly")
CORE = ("numpy", "scipy", "numba", "llvmlite", "threadpoolctl")


def _loaded(code: str, python=sys.executable, cwd=REPO, env=None) -> dict:
    """Run `code` then report which optional modules the process had imported."""
    probe = code + f"\nimport json, sys; print(json.dumps({{m: m in sys.modules for m in {OPTIONAL!r}}}))"
    done = subprocess.run([str(python), "-c", probe], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_wlra_core_loads_no_optional_dependency():
    assert _loaded("import wlra_core") == dict.fromkeys(OPTIONAL, False)


def test_import_wlra_core_loads_no_numba_until_a_kernel_is_needed():
    code = ("import sys, wlra_core as wc\nassert 'numba' not in sys.modules, 'numba at import'\n"
            "wc.inpainting.DEFAULTS; wc.lifting.LIFTS\nassert 'numba' not in sys.modules, 'numba by inpainting'")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_compatibility_names_and_the_matrix_loaders_stay_light():
    # reading a .npy matrix and drawing a planted problem need neither pandas nor Pillow
    code = ("import io, numpy as np, wlra_core as wc\n"
            "b = io.BytesIO(); np.save(b, np.eye(3)); wc.data.load_matrix(b.getvalue(), name='m.npy')\n"
            "wc.data.planted(20, 10, 2, seed=0); wc.io.image_problem(np.zeros((4, 5)), np.ones((4, 5)))")
    assert _loaded(code) == dict.fromkeys(OPTIONAL, False)


def test_a_text_loader_imports_pandas_when_it_needs_it():
    loaded = _loaded("import wlra_core as wc; wc.data.load_matrix(b'1,2\\n3,4\\n', name='m.csv')")
    assert loaded["pandas"] and not loaded["PIL"] and not loaded["streamlit"]


def _core_only_site(target: Path) -> Path:
    """A directory of links to the core dependencies (packages and their dist-info) of this
    interpreter, for a .pth file of the fresh venv."""
    site = Path(sysconfig.get_paths()["purelib"])
    target.mkdir()
    for dist_name in CORE:
        dist = importlib.metadata.distribution(dist_name)
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        for top in tops:                  # its packages, shared libraries and .dist-info (in RECORD)
            if top not in ("..", "__pycache__") and (site / top).exists() and not (target / top).exists():
                (target / top).symlink_to(site / top)
    return target


def _build_args(python: str) -> list[str]:
    """Offline when this interpreter can build a wheel itself (setuptools with bdist_wheel);
    otherwise pip's isolated build, which fetches setuptools from the configured index."""
    probe = subprocess.run([python, "-c", "import setuptools.command.bdist_wheel"], capture_output=True)
    return ["--no-build-isolation"] if probe.returncode == 0 else []


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_gives_the_library_and_the_cli(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv*", ".git", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", "build", "tests",
        "benchmarks", "assets", "docs", "pages", "ui", "scripts"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    venv_site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    (venv_site / "core-deps.pth").write_text(str(_core_only_site(tmp_path / "core")) + "\n")

    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", *_build_args(python),
                              str(source)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr       # core deps declared and satisfied

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env["NUMBA_DISABLE_JIT"] = "1"     # the kernels as plain Python: no minute of compiling in a test
    where = _loaded("import wlra_core; print(wlra_core.__file__)", python=python, cwd=tmp_path, env=env)
    assert where == dict.fromkeys(OPTIONAL, False)
    for missing in OPTIONAL:            # the venv really is without the app's dependencies
        probe = subprocess.run([python, "-c", f"import {missing}"], capture_output=True, cwd=tmp_path, env=env)
        assert probe.returncode != 0, f"{missing} is importable in the core-only venv"
    placed = subprocess.run([python, "-c", "import wlra_core; print(wlra_core.__file__)"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, check=True).stdout
    assert str(venv) in placed and str(REPO) not in placed

    run = subprocess.run([python, "-m", "wlra_core", "--planted", "30", "20", "2", "--solver", "exact",
                          "--max-iter", "3", "--no-diagnostics", "-q"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)
    assert run.returncode == 0, run.stderr
    assert "stop:" in run.stdout and "relative error vs truth" in run.stdout
    # an image needs Pillow, which the core install lacks: one line saying what to install
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    image = subprocess.run([python, "-m", "wlra_core", "--image", str(tmp_path / "x.png"), "-k", "1"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert image.returncode == 2 and "wlra_core[app]" in image.stderr, image.stderr
