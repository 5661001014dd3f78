"""The command line ``python -m wlra_core``: options, outputs, and bad input as exit code 2."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.__main__ import main
from tests.problems import low_rank

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
    # no --weights: the stored entries of the .mtx are the observed ones, as in the app
    status = main(["--matrix", str(tmp_path / "m.mtx"), "-k", "2", "--max-iter", "10"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert f"nnz(W)={M.nnz} (50%)" in printed.out


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
    assert err.startswith("error: --weights ") and "w.npy: found shape 5×6" in err and "m.npy, 6×5" in err


def test_the_size_caps_apply_to_files_and_can_be_raised(tmp_path, capsys):
    path = tmp_path / "m.npy"
    np.save(path, low_rank(30, 20, 2, seed=3))
    assert main(["--matrix", str(path), "-k", "2", "--max-file-size", "100", "-q"]) == 2
    assert "m.npy: found a file of 0.0 MB, need at most" in capsys.readouterr().err
    assert main(["--matrix", str(path), "-k", "2", "--max-entries", "599", "-q"]) == 2
    assert ("found a 30×20 array (600 entries), need at most 599 entries (the size cap of one problem, "
            "--max-entries)") in capsys.readouterr().err
    assert main(["--matrix", str(path), "-k", "2", "--max-entries", "600", "--max-file-size", "1M", "-q",
                 "--solver", "exact"]) == 0


# ------------------------------------------------------------------------------------------------
# Output paths (issue 12, finding 3): checked before anything is read or solved

def _write_inputs(tmp_path):
    X = low_rank(12, 10, 2, seed=4)
    np.save(tmp_path / "run_X.npy", X)
    return X


def test_out_that_would_overwrite_the_input_matrix_is_refused_before_solving(tmp_path, monkeypatch, capsys):
    X = _write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "run_X.npy").read_bytes()
    assert main(["--matrix", "run_X.npy", "-k", "2", "--out", "run"]) == 2
    printed = capsys.readouterr()
    assert printed.err == ("error: --out run: would write run_X.npy, which is the input --matrix run_X.npy; "
                           "choose another prefix\n")
    assert printed.out == ""  # nothing solved
    assert (tmp_path / "run_X.npy").read_bytes() == before
    np.testing.assert_array_equal(np.load(tmp_path / "run_X.npy"), X)


@pytest.mark.parametrize("spell", ["./sub/../run", "link/run", "hard"])
def test_out_reaching_an_input_through_another_spelling_or_a_link_is_refused(tmp_path, monkeypatch, capsys, spell):
    _write_inputs(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path)
    os.link(tmp_path / "run_X.npy", tmp_path / "hard_Y.npy")  # the same file under an output's name
    monkeypatch.chdir(tmp_path)
    assert main(["--matrix", "run_X.npy", "-k", "2", "--out", spell]) == 2
    assert "which is the input --matrix run_X.npy" in capsys.readouterr().err


def test_out_png_of_an_image_run_never_overwrites_the_image(tmp_path, monkeypatch, capsys):
    from PIL import Image

    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "photo.png").read_bytes()
    assert main(["--image", "photo.png", "-k", "1", "--out", "photo"]) == 2
    assert "would write photo.png, which is the input --image photo.png" in capsys.readouterr().err
    assert (tmp_path / "photo.png").read_bytes() == before


@pytest.mark.parametrize("out, match", [
    ("notes.txt/run", r"notes.txt is a file, not a directory"),
    ("notes.txt/deeper/run", r"notes.txt is a file, not a directory"),
    ("results/", r"names a directory, need a file name prefix"),
    ("taken", r"taken_X.npy is a directory"),
])
def test_out_that_cannot_be_written_fails_before_solving(tmp_path, monkeypatch, capsys, out, match):
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "taken_X.npy").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["--planted", "20", "15", "2", "--out", out]) == 2
    printed = capsys.readouterr()
    assert re.search(match, printed.err), printed.err
    assert printed.out == ""  # refused before the problem was drawn or solved
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_out_in_a_new_directory_is_created_and_written(tmp_path, monkeypatch, capsys):
    _write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["--matrix", "run_X.npy", "-k", "2", "--max-iter", "2", "-q", "--out", "new/dir/run"]) == 0
    assert np.load(tmp_path / "new" / "dir" / "run_X.npy").shape == (12, 2)


# ------------------------------------------------------------------------------------------------
# One meaning for a matrix file (issue 12, finding 4), non-regular files (finding 2)

MTX_CASES = {
    "array-with-zeros": b"%%MatrixMarket matrix array real general\n3 2\n1\n0\n2\n0\n3\n4\n",
    "pattern": b"%%MatrixMarket matrix coordinate pattern general\n3 2 3\n1 1\n2 2\n3 1\n",
    "explicit-zeros": b"%%MatrixMarket matrix coordinate real general\n3 2 3\n1 1 0\n2 2 5\n3 1 0\n",
    "stored-nan": b"%%MatrixMarket matrix coordinate real general\n3 2 4\n1 1 1\n2 2 nan\n3 1 2\n3 2 4\n",
}


@pytest.mark.parametrize("case", list(MTX_CASES))
def test_the_cli_weights_a_matrix_file_as_the_app_does(tmp_path, capsys, case):
    path = tmp_path / "m.mtx"
    path.write_bytes(MTX_CASES[case])
    _, W = wc.data.matrix_problem(wc.data.load_matrix(str(path)))  # what the app uses (ui/matrix_upload.py)
    observed = int(W.nnz if hasattr(W, "nnz") else np.count_nonzero(W))
    assert observed == {"array-with-zeros": 6, "pattern": 3, "explicit-zeros": 3, "stored-nan": 3}[case]
    assert main(["--matrix", str(path), "-k", "1", "--max-iter", "1"]) == 0
    assert f"nnz(W)={observed} " in capsys.readouterr().out


def test_duplicates_applies_to_a_matrix_market_file(tmp_path, capsys):
    path = tmp_path / "d.mtx"
    path.write_bytes(b"%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 1\n1 1 3\n2 2 5\n")
    assert main(["--matrix", str(path), "-k", "1", "--duplicates", "error"]) == 2
    assert "row 1, column 1 (2 times)" in capsys.readouterr().err
    assert main(["--matrix", str(path), "-k", "1", "--max-iter", "1", "-q"]) == 0
    assert "each holds the mean of its values" in capsys.readouterr().err  # a warning, not silence


def test_a_named_pipe_given_as_input_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    done = run_cli("--matrix", str(fifo), "-k", "1")  # run_cli's timeout guards a hang
    assert done.returncode == 2
    assert "found a named pipe (FIFO)" in done.stderr and "need a regular file" in done.stderr


def test_cap_messages_name_the_cli_options_that_set_them(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("1,1,4\n1,2,3\n2,1,5\n")
    assert main(["--ratings", str(path), "-k", "1", "--max-entries", "2"]) == 2
    assert "need at most 2 entries (the size cap of one problem, --max-entries)" in capsys.readouterr().err
    assert main(["--ratings", str(path), "-k", "1", "--max-file-size", "10"]) == 2
    assert "(the size cap of one file, --max-file-size)" in capsys.readouterr().err
