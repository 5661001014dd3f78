"""lift="groups" of wlra_core.inpainting: rounds of block-matched groups, one small WLRA each (the
block matching and the batched solver themselves are tested in tests/test_blockmatch.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.problem import InputError

from test_lifting import smooth_image


@pytest.fixture(scope="module")
def problem():
    img = smooth_image((40, 36, 3))
    weights = (np.random.default_rng(5).random((40, 36)) > 0.4).astype(float)
    return img, weights


GROUPS = dict(lift="groups", patch=6, group_size=8, window=4)


def test_groups_rounds_are_steps_with_a_held_out_error(problem):
    img, weights = problem
    res = wc.inpaint(img, weights, **GROUPS, max_iter=5, patience=None)
    assert len(res.history) == 5 and res.stop_reason == "max_iter reached"
    errors = np.array([s.holdout_rmse for s in res.history])
    # best so far: within GROUP_TIE of the lowest error before it (later rounds win near-ties)
    before = np.r_[np.inf, np.minimum.accumulate(errors)[:-1]]
    tie = wc.inpainting.GROUP_TIE
    assert [s.is_best for s in res.history] == list(errors < before * (1 + tie))
    assert res.best is [s for s in res.history if s.is_best][-1] and res.best.image is res.image
    assert res.best.holdout_rmse <= errors.min() * (1 + tie)
    assert all(s.stage == "groups" and s.objective > 0 for s in res.history)
    # the rounds refine the smooth guess: the second round is better than the first on the hidden pixels
    assert wc.metrics.psnr(img, res.image, mask=weights == 0) > 28


def test_groups_never_read_hidden_or_held_out_values(problem):
    img, weights = problem
    held = wc.inpainting.held_out(weights, wc.inpainting.DEFAULTS["holdout"], 0)
    unseen = (weights == 0) | held
    scrambled = np.where(unseen[:, :, None], np.random.default_rng(9).random(img.shape), img)
    a = wc.inpaint(img, weights, **GROUPS, max_iter=3, patience=None)
    b = wc.inpaint(scrambled, weights, **GROUPS, max_iter=3, patience=None)
    for sa, sb in zip(a.history, b.history):
        assert sa.objective == sb.objective
    np.testing.assert_array_equal(a.final_image[weights == 0], b.final_image[weights == 0])


def test_groups_grey_and_inputs_unchanged():
    img = smooth_image((30, 30))
    weights = (np.random.default_rng(1).random((30, 30)) > 0.3).astype(float)
    i0, w0 = img.copy(), weights.copy()
    res = wc.inpaint(img, weights, **GROUPS, max_iter=3)
    np.testing.assert_array_equal(img, i0)
    np.testing.assert_array_equal(weights, w0)
    assert res.image.shape == img.shape
    np.testing.assert_array_equal(res.image[weights == 1], img[weights == 1])
    assert wc.metrics.psnr(img, res.image, mask=weights == 0) > 28


@pytest.mark.parametrize("kwargs, match", [
    ({"solver": "cg"}, "solver"),
    ({"ridge": 0.5}, "ridge"),
    ({"init": "random"}, "init"),
    ({"colour": "vector"}, "colour"),
    ({"prior": 0.0}, "prior"),
    ({"group_size": 200}, "group_size"),
    ({"group_size": 26}, "group_size"),                     # a corner has 5² = 25 windows within ±4 px
    ({"window": -1}, "window"),
    ({"group_iter": 0}, "group_iter"),
    ({"k": 37}, "k"),
    ({"max_iter": 0}, "max_iter"),
])
def test_groups_refuse_what_does_not_apply(problem, kwargs, match):
    img, weights = problem
    with pytest.raises(InputError, match=match):
        wc.inpaint_steps(img, weights, **{**GROUPS, **kwargs})


def test_the_default_is_the_grouped_model(problem):
    img, weights = problem
    res = wc.inpaint(img, weights)
    settings = wc.inpainting.DEFAULTS
    assert res.settings["lift"] == "groups" and res.settings["k"] == settings["k"]["groups"]
    assert res.settings["max_iter"] == settings["rounds"] and res.settings["stride"] == settings["step"]
    assert res.settings["group_size"] == settings["group_size"] and res.settings["window"] == settings["window"]
    assert {s.stage for s in res.history} == {"groups"} and len(res.history) <= settings["rounds"]


def test_groups_fill_a_hole_wider_than_the_window_from_its_surroundings():
    img = smooth_image((40, 40))
    weights = np.ones((40, 40))
    weights[12:28, 12:28] = 0.0                       # 16 px wide, the windows 6 px
    res = wc.inpaint(img, weights, **GROUPS, max_iter=3)
    smooth = wc.inpainting.smooth_fill(img, weights)
    hole = weights == 0
    assert wc.metrics.psnr(img, res.image, mask=hole) > wc.metrics.psnr(img, smooth, mask=hole)


def test_a_search_window_beyond_the_image_is_refused_and_the_default_fits_a_small_image():
    rng = np.random.default_rng(0)
    image, weights = rng.random((20, 20)), (rng.random((20, 20)) < 0.7).astype(float)
    with pytest.raises(wc.InputError, match=r"window: found 1000, need an integer ≤ 20"):
        wc.inpaint_steps(image, weights, window=1000)
    assert wc.inpaint(image, weights, max_iter=1).settings["window"] == 12
    assert wc.inpaint(image[:10, :10], weights[:10, :10], patch=4, max_iter=1).settings["window"] == 10


@pytest.mark.parametrize("eps", [0.0, 1.0, 2.0])
def test_groups_eps_is_in_the_open_unit_interval_like_every_lifting(eps):
    image = np.random.default_rng(0).random((20, 20))
    with pytest.raises(wc.InputError, match="eps: found"):
        wc.inpaint_steps(image, np.ones((20, 20)), eps=eps)
