"""The command line ``python -m wlra_core``: options, outputs, and bad input as exit code 2."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.__main__ import main, parse_size

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EVERY_OPTION = (
    "--matrix", "--weights", "--ratings", "--image", "--mask", "--max-side", "--planted",
    "--duplicates", "--pattern", "--p", "--noise", "--sparse", "--rank", "--solver", "--eps", "--inner-eps",
    "--max-iter", "--init",
    "--ridge", "--clip", "--seed", "--sketch", "--sketch-size", "--inner", "--max-inner",
    "--memory-budget", "--max-file-size", "--max-entries", "--no-diagnostics", "--quiet", "--out",
)


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "wlra_core", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def low_rank(n: int, m: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)) @ rng.standard_normal((k, m))


def test_help_lists_every_option_with_defaults():
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    for option in EVERY_OPTION:
        assert option in done.stdout, option
    for default in ("default: sketched", "default: 1e-06", "default: 100", "default: svd",
                    "default: pcg", "default: 1G"):
        assert default in " ".join(done.stdout.split()), default
    for name in wc.SOLVERS:
        assert name in done.stdout


@pytest.mark.parametrize("text, expected", [
    ("1073741824", 2**30), ("512M", 512 * 2**20), ("1G", 2**30), ("1.5G", 3 * 2**29),
    ("64kb", 64 * 1024), ("2GiB", 2**31), (" 3 m ", 3 * 2**20),
])
def test_parse_size_accepts_bytes_and_binary_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "12X", "G", "-1M", "0", "1e9"])
def test_parse_size_rejects_other_text(text):
    with pytest.raises(Exception, match="size|byte"):
        parse_size(text)


def test_planted_run_converges_and_writes_outputs(tmp_path, capsys):
    prefix = tmp_path / "out" / "run"
    status = main(["--planted", "80", "60", "3", "--p", "0.6", "--solver", "exact", "--eps", "1e-10",
                   "--max-iter", "200", "--out", str(prefix)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    lines = printed.out.splitlines()
    assert any(line.split()[:1] == ["1"] for line in lines), "no per-iteration line"
    summary = next(line for line in lines if line.startswith("stop:"))
    assert "not converged" not in summary
    error_line = next(line for line in lines if "relative error vs truth" in line)
    assert float(error_line.split("=")[-1]) < 1e-4

    X = np.load(f"{prefix}_X.npy", allow_pickle=False)
    Y = np.load(f"{prefix}_Y.npy", allow_pickle=False)
    assert X.shape == (80, 3) and Y.shape == (60, 3)
    _M, _W, truth, _U, _V = wc.data.planted(80, 60, 3, noise=0.0, pattern="bernoulli", p=0.6, seed=0)
    truth = truth.toarray() if hasattr(truth, "toarray") else np.asarray(truth)
    assert np.linalg.norm(X @ Y.T - truth) <= 1e-4 * np.linalg.norm(truth)

    with open(f"{prefix}_history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    assert [int(row["iteration"]) for row in history] == list(range(1, len(history) + 1))
    objectives = [float(row["objective"]) for row in history]
    assert objectives[-1] <= objectives[0]
    assert {"objective", "relative_objective", "seconds", "inner_iterations"} <= set(history[0])


def test_every_solver_runs_from_the_command_line(capsys):
    for solver in wc.SOLVERS:
        status = main(["--planted", "40", "30", "2", "--p", "0.7", "--solver", solver,
                       "--max-iter", "5", "--quiet"])
        printed = capsys.readouterr()
        assert status == 0, (solver, printed.err)
        assert printed.out.startswith("stop:"), (solver, printed.out)


def test_matrix_file_with_nan_as_missing(tmp_path, capsys):
    M = low_rank(50, 40, 2, seed=1)
    observed = np.random.default_rng(2).random(M.shape) < 0.7
    path = tmp_path / "m.npy"
    np.save(path, np.where(observed, M, np.nan))
    prefix = tmp_path / "fit"
    status = main(["--matrix", str(path), "-k", "2", "--solver", "exact", "--eps", "1e-12",
                   "--max-iter", "300", "--out", str(prefix), "--quiet"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    fit = np.load(f"{prefix}_X.npy") @ np.load(f"{prefix}_Y.npy").T
    assert np.abs(fit - M)[observed].max() < 1e-5 * np.abs(M).max()


def test_matrix_and_weights_csv(tmp_path, capsys):
    M = low_rank(30, 20, 2, seed=3)
    W = (np.random.default_rng(4).random(M.shape) < 0.8).astype(float)
    np.savetxt(tmp_path / "m.csv", M, delimiter=",")
    np.savetxt(tmp_path / "w.csv", W, delimiter=",")
    status = main(["--matrix", str(tmp_path / "m.csv"), "--weights", str(tmp_path / "w.csv"),
                   "--rank", "2", "--solver", "exact", "--max-iter", "50"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "stop:" in printed.out


def test_image_and_mask_write_a_png(tmp_path, capsys):
    from PIL import Image

    rows, cols = np.meshgrid(np.linspace(0, 1, 48), np.linspace(0, 1, 64), indexing="ij")
    picture = (255 * (0.5 + 0.25 * np.sin(3 * rows) * np.cos(2 * cols))).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "picture.png")
    mask = np.full(picture.shape, 255, dtype=np.uint8)
    mask[10:20, 30:40] = 0  # hidden block
    Image.fromarray(mask).save(tmp_path / "mask.png")
    prefix = tmp_path / "inpainted"
    status = main(["--image", str(tmp_path / "picture.png"), "--mask", str(tmp_path / "mask.png"),
                   "-k", "3", "--solver", "exact", "--max-iter", "30", "--out", str(prefix)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    with Image.open(f"{prefix}.png") as written:
        assert written.format == "PNG"
        assert written.size == (64, 48)
    assert os.path.exists(f"{prefix}_history.csv")


def test_ratings_file(tmp_path, capsys):
    rng = np.random.default_rng(5)
    scores = low_rank(40, 25, 2, seed=6)
    lines = ["user,item,rating"]
    for user in range(40):
        for item in rng.choice(25, size=12, replace=False):
            lines.append(f"u{user},i{item},{scores[user, item]:.6f}")
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n")
    status = main(["--ratings", str(tmp_path / "ratings.csv"), "-k", "2", "--solver", "exact",
                   "--max-iter", "100"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "40 users x 25 items" in printed.out and "stop:" in printed.out


def test_sparse_planted_and_matrix_market(tmp_path, capsys):
    import scipy.io
    import scipy.sparse as sp

    status = main(["--planted", "300", "200", "3", "--sparse", "--p", "0.3", "--max-iter", "20",
                   "--quiet"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert float(printed.out.split("=")[-1]) < 1e-3  # the error vs truth
    M = sp.random(30, 20, density=0.5, random_state=7, format="csr")
    scipy.io.mmwrite(tmp_path / "m.mtx", M)
    scipy.io.mmwrite(tmp_path / "w.mtx", (M != 0).astype(float))
    status = main(["--matrix", str(tmp_path / "m.mtx"), "--weights", str(tmp_path / "w.mtx"),
                   "-k", "2", "--solver", "cg", "--max-iter", "10", "--quiet"])
    assert status == 0, capsys.readouterr().err
    # no --weights: every entry of the .mtx, stored or not, is a finite value with weight 1
    status = main(["--matrix", str(tmp_path / "m.mtx"), "-k", "2", "--max-iter", "10"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "nnz(W)=600 (100%)" in printed.out


def test_max_iter_is_a_stop_reason_not_an_error(capsys):
    status = main(["--planted", "60", "50", "4", "--p", "0.3", "--noise", "0.1", "--solver", "exact",
                   "--eps", "1e-15", "--max-iter", "2", "--quiet"])
    printed = capsys.readouterr()
    assert status == 0
    assert "after 2 iteration(s)" in printed.out and "not converged" in printed.out
    assert "Traceback" not in printed.err


@pytest.mark.parametrize("argv, match", [
    (["--matrix", "does/not/exist.npy", "-k", "2"], "exist.npy"),
    (["--planted", "20", "10", "2", "-k", "50"], "k"),
    (["--planted", "20", "10", "2", "--memory-budget", "12X"], "size"),
    (["--planted", "20", "10", "2", "--solver", "nope"], "nope"),
    (["--planted", "20", "10", "2", "--mask", "m.png"], "--mask goes with --image"),
    (["--matrix", "m.npy", "-k", "2", "--noise", "0.1"], "--noise goes with --planted"),
    (["--planted", "20", "10", "2", "--eps", "0"], "eps"),
    (["--planted", "20", "10", "2", "--pattern", "zebra"], "zebra"),
    (["--planted", "20", "10", "2", "--solver", "exact", "--sketch", "srht"], "sketched"),
    (["--matrix", "x.npy"], "--rank"),
    ([], "one of the arguments"),
    (["--planted", "20", "10", "2", "--max-entries", "199"], "planted: found 20×10 = 200 entries, need at most 199"),
    (["--planted", "20", "10", "2", "--max-entries", "0"], "must be a positive integer"),
])
def test_bad_input_exits_2_with_one_clear_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and match in err
    assert "Traceback" not in err


@pytest.mark.parametrize("make_argv", [
    lambda tmp: ["--matrix", str(tmp / "garbage.npy"), "-k", "2"],
    lambda tmp: ["--image", str(tmp / "garbage.npy"), "-k", "2"],
    lambda tmp: ["--planted", "10", "8", "2", "--memory-budget", "lots"],
])
def test_bad_input_in_a_subprocess_is_one_line_without_traceback(tmp_path, make_argv):
    (tmp_path / "garbage.npy").write_bytes(b"not a numpy file at all")
    done = run_cli(*make_argv(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr


def test_weights_of_another_shape_are_rejected(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.ones((6, 5)))
    np.save(tmp_path / "w.npy", np.ones((5, 6)))
    assert main(["--matrix", str(tmp_path / "m.npy"), "--weights", str(tmp_path / "w.npy"),
                 "-k", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "(5, 6)" in err and "(6, 5)" in err


def test_the_size_caps_apply_to_files_and_can_be_raised(tmp_path, capsys):
    path = tmp_path / "m.npy"
    np.save(path, low_rank(30, 20, 2, seed=3))
    assert main(["--matrix", str(path), "-k", "2", "--max-file-size", "100", "-q"]) == 2
    assert "matrix: found a file of 0.0 MB, need at most" in capsys.readouterr().err
    assert main(["--matrix", str(path), "-k", "2", "--max-entries", "599", "-q"]) == 2
    assert "found a 30×20 array (600 entries), need at most 599 entries" in capsys.readouterr().err
    assert main(["--matrix", str(path), "-k", "2", "--max-entries", "600", "--max-file-size", "1M", "-q",
                 "--solver", "exact"]) == 0
