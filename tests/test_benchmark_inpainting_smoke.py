"""Smoke test: ``benchmarks/inpainting.py --quick`` runs every case and reports finite numbers.

The peers (scikit-image, OpenCV) live in .venv-bench only, by design: in a venv without them their
rows must say "not installed"; where they are importable their rows must hold finite numbers."""
from __future__ import annotations

import csv
import importlib.util
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_PACKAGE = {"biharmonic": "skimage", "telea": "cv2", "navier-stokes": "cv2"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_inpainting_benchmark_runs_every_case(tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "inpainting.py"), "--quick", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    markdown = (tmp_path / "inpainting_quick.md").read_text()
    for header in ("date:", "machine:", "load average", "command:", "| image | px | mask | contender |"):
        assert header in markdown
    with open(tmp_path / "inpainting_quick.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    cases = {(r["image"], r["size"], r["mask"]) for r in rows}
    assert cases == {("camera", "64", "dropout50"), ("camera", "64", "text")}
    ours = [r for r in rows if r["contender"].startswith("wlra")]
    expected = {f"wlra {lift} {solver}" for lift, solver in
                (("pixels", "exact"), ("pixels", "auto"), ("patches", "exact"), ("patches", "auto"), ("groups", "auto"))}
    for case in cases:
        assert {r["contender"] for r in ours if (r["image"], r["size"], r["mask"]) == case} == expected
    for r in ours:
        for column in ("psnr_hidden", "best_psnr_hidden", "seconds", "seconds_to_best"):
            assert math.isfinite(float(r[column])), (r["contender"], column)
        assert 0 <= float(r["best_gap_db"]) and int(r["best_step"]) <= int(r["steps"])
        assert 5 < float(r["psnr_hidden"]) < 60
    for r in rows:
        package = PEER_PACKAGE.get(r["contender"])
        if package is None:
            continue
        if importlib.util.find_spec(package) is None:
            assert r["note"].startswith("not installed"), r
        else:
            assert math.isfinite(float(r["psnr_hidden"])) and float(r["seconds"]) >= 0, r
    assert {r["contender"] for r in rows} >= set(PEER_PACKAGE)
