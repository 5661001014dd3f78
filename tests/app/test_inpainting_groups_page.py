"""The inpainting page's third Matrix choice, "groups" (wc.inpaint's block-matched model, one small
exact WLRA per group, in rounds): one run named groups, live on the same stage, and the RunSet
extension it needs (a run that keeps each step's image: it has no global X, Y)."""
import re
from pathlib import Path

import numpy as np
import pytest
from _apptest import html_bodies, run_page, step_inpainting as step

import wlra_core as wc
from ui import images
from ui.models import inpainting
from ui.runs import RunSet

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "inpainting.py")
# 96 px camera, 50 % dropout: a mask where the two models differ clearly, small enough for AppTest
MASK = {"inp_res": "96", "inp_dropout": "0.5", "inp_text": ""}


def page(**query):
    return run_page(PAGE, 180, **query)


def psnr_hidden_cell(at, name: str) -> float:
    match = re.search(rf'data-testid="psnr-hidden-{name}"[^>]*>([0-9.]+) dB<', html_bodies(at))
    assert match, f"no PSNR cell for {name}"
    return float(match.group(1))


def test_groups_runs_one_run_live_and_beats_the_patch_matrix_at_the_same_mask_and_steps():
    patches = step(page(**MASK), 2)
    assert not patches.exception and not patches.error
    patch_psnr = patches.session_state["inp_runs"].runs["exact"].records[-1]["psnr_hidden"]

    at = page(**MASK)
    at.segmented_control(key="inp_lift").set_value("groups").run()
    assert not at.exception
    # the solver selection is said not to apply, in the sidebar beside it
    assert any("solver selection below does not apply" in w.value for w in at.sidebar.warning)
    assert at.multiselect(key="inp_solvers").disabled               # and drawn greyed out
    assert at.slider(key="inp_k").value == wc.inpainting.DEFAULTS["k"]["groups"]   # each group's rank
    assert "one rank-k WLRA each" in " ".join(c.value for c in at.caption)
    step(at, 2)
    assert not at.exception and not at.error
    rs = at.session_state["inp_runs"]
    assert list(rs.runs) == [inpainting.GROUPS]   # the selected solvers (exact, sketched) do not run
    run = rs.runs["groups"]
    assert run.iterations == 2 and not run.has_factors and run.factors == []
    body = html_bodies(at)
    assert 'alt="groups · iteration 2"' in body
    # the table's PSNR is computed from the picture kept, and beats the patch matrix's
    shown = psnr_hidden_cell(at, "groups")
    _, kept = run.image_at(2)
    assert shown == pytest.approx(wc.metrics.psnr(rs.context.image, kept, mask=rs.context.hidden), abs=0.006)
    assert shown > patch_psnr + 0.5, (shown, patch_psnr)
    assert re.search(r'data-testid="best-iteration-groups"[^>]*>[12]<', body)
    # no difference or cost lines for a run without factors
    assert 'data-testid="solver-difference"' not in body and 'data-testid="cost"' not in body


def test_groups_png_export_is_the_picture_shown_and_factors_are_not_offered():
    at = page(**MASK, inp_lift="groups")
    step(at, 2)
    rs = at.session_state["inp_runs"]
    _, picture = inpainting.picture(rs.context, rs.runs["groups"], 2, "best")
    png = inpainting.reconstruction_png(rs.context, rs, "groups", 2, show="best")
    assert png == images.png_bytes(picture)
    assert at.get("download_button")   # the exports are drawn once paused
    npz = [b for b in at.get("download_button") if "Factors" in b.proto.label]
    assert npz and npz[0].proto.disabled


def test_groups_says_it_has_no_x_y_picture_and_the_patches_come_back():
    at = step(page(**MASK, inp_lift="groups"), 1)
    at.segmented_control(key="inp_pictures").set_value("X Yᵀ").run()
    assert any("Groups has no single X Yᵀ" in i.value for i in at.info)
    at.segmented_control(key="inp_lift").set_value("patches").run()
    assert at.slider(key="inp_k").value == 12   # the page's k for the patch matrix again
    assert not at.multiselect(key="inp_solvers").disabled
    step(at, 1)
    assert not at.exception and list(at.session_state["inp_runs"].runs) == ["exact", "sketched"]
    assert not any("Groups has no single X Yᵀ" in i.value for i in at.info)


def test_the_best_round_is_the_librarys_mark_not_the_strict_lowest():
    """A later round within GROUP_TIE of the lowest held-out error is still wc's best (is_best):
    the page shows it, where the strict lowest would be round 1."""
    from ui.runs import Run
    run = Run(name="groups", steps=None, records=[
        {"iteration": 1, "holdout_rmse": 0.0500, "is_best": 1.0},
        {"iteration": 2, "holdout_rmse": 0.0502, "is_best": 1.0},
        {"iteration": 3, "holdout_rmse": 0.0600, "is_best": 0.0}])
    assert inpainting.best_index(run, 3) == 1 and inpainting.best_index(run, 1) == 0
    del run.records[1]["is_best"], run.records[0]["is_best"], run.records[2]["is_best"]
    assert inpainting.best_index(run, 3) == 0


@pytest.mark.parametrize("query, said", [({"inp_ridge": "0.5"}, "ridge = 0.5"), ({"inp_init": "random"},
                                                                              "init = 'random'"),
                                         ({"inp_seed": "5"}, "seed = 5")])
def test_groups_refuses_the_settings_its_group_fits_do_not_have(query, said):
    at = page(**MASK, inp_lift="groups", **query)
    step(at, 1)
    assert not at.exception
    assert at.session_state["inp_runs"] is None
    assert any(f"{said} with Matrix = groups" in e.value for e in at.error), [e.value for e in at.error]


def test_k_and_max_iter_follow_the_matrix_only_when_groups_is_entered_or_left():
    at = page(**MASK)
    at.slider(key="inp_k").set_value(20).run()
    at.segmented_control(key="inp_lift").set_value("pixels").run()
    assert at.slider(key="inp_k").value == 20                      # patches ↔ pixels keeps the user's k
    at.segmented_control(key="inp_lift").set_value("groups").run()
    assert (at.slider(key="inp_k").value, at.number_input(key="inp_max_iter").value) == (
        wc.inpainting.DEFAULTS["k"]["groups"], wc.inpainting.DEFAULTS["rounds"])
    at.segmented_control(key="inp_lift").set_value("patches").run()
    assert (at.slider(key="inp_k").value, at.number_input(key="inp_max_iter").value) == (12, 60)


def test_the_default_matrix_is_still_patches():
    at = page(inp_res="64")
    assert at.segmented_control(key="inp_lift").value == "patches"
    assert list(inpainting.LIFTS) == ["patches", "pixels", "groups"]


class ImageStep:
    """What wlra_core.inpaint_steps yields for a group round: an image, no X, Y."""

    def __init__(self, iteration, image, stop_reason=None):
        self.iteration, self.image, self.stop_reason = iteration, image, stop_reason
        self.objective, self.seconds, self.elapsed = 1.0 / iteration, 0.01, 0.01 * iteration


def test_a_run_keeps_each_image_step_and_thins_the_images_within_the_budget(monkeypatch):
    monkeypatch.setattr("ui.runs.runset.FACTOR_BUDGET_BYTES", 3 * 4 * 10 * 10)   # three float32 images

    def start(name):
        return (ImageStep(t, np.full((10, 10), t / 10.0), "max_iter reached" if t == 6 else None)
                for t in range(1, 7))

    rs = RunSet.build("sig", ["groups"], start)
    for _ in range(6):
        rs.advance()
    run = rs.runs["groups"]
    assert run.done and run.stop_reason == "max_iter reached" and run.iterations == 6
    assert run.factors == [] and not run.has_factors and run.factors_at(6) is None
    assert "relative_objective" not in run.records[0] and run.records[2]["objective"] == pytest.approx(1 / 3)
    shown, image = run.image_at(6)
    assert shown == 6 and image.dtype == np.float32 and np.all(image == np.float32(0.6))
    assert rs.factor_bytes <= 3 * 4 * 10 * 10 and run.images[-1] is not None
    kept = [i for i, a in enumerate(run.images) if a is not None]
    assert len(kept) < 6 and kept[0] == 0
    # a dropped image: replay shows the nearest earlier kept one
    dropped = next(i for i in range(6) if run.images[i] is None)
    assert run.image_at(dropped + 1)[0] == max(i for i in kept if i < dropped) + 1


def test_a_run_of_factors_has_no_images():
    rng = np.random.default_rng(0)
    M, W = rng.random((12, 9)), np.ones((12, 9))
    rs = RunSet.build("sig", ["exact"], lambda name: wc.iterate(M, W, 2, solver=name, max_iter=2))
    rs.advance()
    run = rs.runs["exact"]
    assert run.has_factors and run.image_at(1) is None and run.factors_at(1)[1].shape == (12, 2)
    assert "relative_objective" in run.records[0]
