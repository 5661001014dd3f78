"""The command line's inpainting block: --image with --lift, --patch, --stride."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import wlra_core as wc
from wlra_core.__main__ import main


@pytest.fixture()
def image_and_mask(tmp_path):
    y, x = np.mgrid[0:40, 0:40] / 40
    img = 0.5 + 0.4 * np.sin(6 * x + 3 * y)
    pixels = np.rint(img * 255).astype(np.uint8)
    hidden = wc.masks.preset_hidden((40, 40), dropout=0.4, seed=3)
    Image.fromarray(pixels).save(tmp_path / "img.png")
    Image.fromarray(np.where(hidden, 0, 255).astype(np.uint8)).save(tmp_path / "mask.png")
    return tmp_path, pixels, hidden


@pytest.mark.parametrize("lift", ["patches", "pixels"])
def test_lift_inpaints_and_saves_the_best_image(image_and_mask, capsys, lift):
    tmp_path, pixels, hidden = image_and_mask
    args = ["--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--lift", lift,
            "--solver", "exact", "--max-iter", "6", "--out", str(tmp_path / "out")]
    if lift == "patches":
        args += ["--patch", "5", "--stride", "3"]
    else:
        args += ["-k", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "holdout RMSE" in out and "best step" in out
    result = np.asarray(Image.open(tmp_path / "out.png"))
    assert result.shape == pixels.shape
    np.testing.assert_array_equal(result[~hidden], pixels[~hidden])     # known pixels kept
    assert (tmp_path / "out_history.csv").read_text().startswith("iteration,stage,objective,holdout_rmse")


@pytest.mark.parametrize("extra, message", [
    (["--patch", "4"], "--patch"),
    (["--lift", "pixels", "--stride", "2", "-k", "2"], "--patch and --stride"),
    (["--lift", "blocks"], "--lift"),
])
def test_inpaint_options_are_checked(image_and_mask, capsys, extra, message):
    tmp_path, _, _ = image_and_mask
    assert main(["--image", str(tmp_path / "img.png"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_lift_goes_with_image_only(capsys):
    assert main(["--planted", "20", "10", "2", "--lift", "patches"]) == 2
    assert "--lift goes with --image" in capsys.readouterr().err


def test_patch_larger_than_the_image_is_an_input_error(image_and_mask, capsys):
    tmp_path, _, _ = image_and_mask
    assert main(["--image", str(tmp_path / "img.png"), "--lift", "patches", "--patch", "50"]) == 2
    assert "patch: found 50" in capsys.readouterr().err


def test_model_options_are_refused_and_holdout_passes_through(image_and_mask, capsys):
    tmp_path, _, _ = image_and_mask
    image = ["--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--lift", "patches",
             "--patch", "5", "--solver", "exact", "--max-iter", "3"]
    assert main(image + ["--bias"]) == 2
    assert "--bias: found with --lift" in capsys.readouterr().err
    assert main(image + ["--holdout", "0.5"]) == 0   # half the known pixels held out: still runs
    capsys.readouterr()
    assert main(image + ["--holdout", "1.5"]) == 2
    assert "holdout" in capsys.readouterr().err


@pytest.mark.parametrize("extra, option", [
    (["--clip"], "--clip"), (["--inner-eps", "0.1"], "--inner-eps"), (["--inner", "gd"], "--inner"),
    (["--max-inner", "5"], "--max-inner"), (["--memory-budget", "2G"], "--memory-budget"),
    (["--no-diagnostics"], "--no-diagnostics"), (["--sketch", "srht"], "--sketch"),
    (["--sketch-size", "40"], "--sketch-size"),
])
def test_solver_options_inpaint_does_not_take_are_refused_with_lift_not_ignored(image_and_mask, capsys, extra,
                                                                                option):
    tmp_path, _, _ = image_and_mask
    assert main(["--image", str(tmp_path / "img.png"), "--lift", "patches", "--max-iter", "2", *extra]) == 2
    err = capsys.readouterr().err
    assert f"{option}: found with --lift" in err and "leave them out" in err


def test_lift_groups_runs_on_inpaints_own_defaults_when_no_solver_is_given(image_and_mask, capsys):
    tmp_path, pixels, hidden = image_and_mask
    # groups takes only exact or auto: the plain run's default solver (sketched) must not reach it
    assert main(["--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--lift", "groups",
                 "--max-iter", "2", "--out", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "lift=groups, solver=auto" in out and "best step" in out
    result = np.asarray(Image.open(tmp_path / "g.png"))
    np.testing.assert_array_equal(result[~hidden], pixels[~hidden])
    assert main(["--image", str(tmp_path / "img.png"), "--lift", "groups", "--solver", "sketched"]) == 2
    assert "solver" in capsys.readouterr().err


def test_holdout_zero_with_lift_is_passed_not_taken_for_the_default(image_and_mask, capsys, monkeypatch):
    tmp_path, _, _ = image_and_mask
    seen = []
    original = wc.inpaint_steps

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(wc, "inpaint_steps", spy)
    args = ["--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--lift", "patches",
            "--solver", "exact", "--max-iter", "2"]
    assert main(args + ["--holdout", "0"]) == 0
    assert main(args) == 0
    assert seen[0]["holdout"] == 0.0 and "holdout" not in seen[1]     # not given: inpaint's own default


@pytest.mark.parametrize("extra, option", [(["--bias"], "--bias"), (["--ridge-scaling", "count", "--ridge", "1"],
                                                                    "--ridge-scaling"),
                                           (["--max-entries", "1000"], "--max-entries")])
def test_model_and_cap_options_are_refused_with_lift_before_the_image_is_read(tmp_path, capsys, extra, option):
    # no image file at all: the refusal comes from the arguments, before anything is read
    assert main(["--image", str(tmp_path / "missing.png"), "--lift", "patches", *extra]) == 2
    err = capsys.readouterr().err
    assert f"{option}" in err and "found with --lift" in err and "no file" not in err
