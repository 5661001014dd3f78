"""wlra_core.outputs: the files --out PREFIX names, and check_outputs, which refuses an --out that
would overwrite an input or cannot be written, before anything is read. (The command line's use of
them, end to end, is in tests/test_cli.py.)"""
from __future__ import annotations

import argparse
import os

import pytest

from wlra_core.outputs import OutputError, check_outputs, output_paths


def args(out, **inputs) -> argparse.Namespace:
    given = dict(matrix=None, weights=None, ratings=None, image=None, mask=None, bias=False)
    return argparse.Namespace(out=out, **{**given, **inputs})


@pytest.mark.parametrize("image, bias, names", [
    (False, False, {"X": "r_X.npy", "Y": "r_Y.npy", "history": "r_history.csv"}),
    (True, False, {"X": "r_X.npy", "Y": "r_Y.npy", "history": "r_history.csv", "png": "r.png"}),
    (False, True, {"X": "r_X.npy", "Y": "r_Y.npy", "history": "r_history.csv", "offsets": "r_offsets.npz"}),
])
def test_output_paths_name_the_files_of_each_kind_of_run(image, bias, names):
    assert output_paths("r", image, bias) == names


def test_no_out_and_a_free_prefix_in_a_new_directory_pass(tmp_path):
    check_outputs(args(None, matrix="anything.npy"))
    check_outputs(args(str(tmp_path / "new" / "deeper" / "run"), matrix=str(tmp_path / "m.npy")))


@pytest.mark.parametrize("bad, message", [
    ("", "names a directory"),
    ("results/", "names a directory"),
    ("results/..", "names a directory"),
    (".", "names a directory"),
])
def test_an_out_that_names_a_directory_is_refused(bad, message):
    with pytest.raises(OutputError, match=message):
        check_outputs(args(bad))


@pytest.mark.parametrize("option, name, image", [
    ("matrix", "run_X.npy", False), ("weights", "run_Y.npy", False), ("ratings", "run_history.csv", False),
    ("image", "run.png", True), ("mask", "run.png", True),
])
def test_an_out_that_would_overwrite_an_input_is_refused_naming_it(tmp_path, monkeypatch, option, name, image):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(b"input")
    inputs = {option: name}
    if image and option == "mask":
        inputs["image"] = "other.png"
    with pytest.raises(OutputError, match=f"which is the input --{option} {name}"):
        check_outputs(args("run", **inputs))
    assert (tmp_path / name).read_bytes() == b"input"


def test_the_same_input_through_a_link_or_another_spelling_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "run_X.npy").write_bytes(b"input")
    os.symlink(tmp_path / "run_X.npy", tmp_path / "link.npy")
    for spelling in ("./sub/../run", str(tmp_path / "run")):
        with pytest.raises(OutputError, match="which is the input --matrix"):
            check_outputs(args(spelling, matrix="link.npy"))


def test_an_output_path_that_is_a_directory_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "run_history.csv").mkdir()
    with pytest.raises(OutputError, match="run_history.csv is a directory"):
        check_outputs(args(str(tmp_path / "run")))
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        check_outputs(args(str(tmp_path / "plain" / "run")))
