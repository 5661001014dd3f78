"""wlra_core.lifting (pixel and patch matrices of images) and wlra_core.inpaint."""
from __future__ import annotations

import numpy as np
import pytest

import wlra_core as wc
from wlra_core.lifting import lifting
from wlra_core.problem import InputError


def dyadic_image(shape, seed=0):
    """Values k/256: sums of a few of them are exact, so averaging back must give them exactly."""
    return np.random.default_rng(seed).integers(0, 257, size=shape) / 256.0


# ------------------------------------------------------------------------------------------------
# lifting

# windows larger than the image are refused (test_bad_options_are_refused), so not listed here
@pytest.mark.parametrize("shape, patch, stride", [
    (shape, patch, stride)
    for shape in [(20, 17), (20, 17, 3), (9, 9), (13, 30, 3)]
    for patch, stride in [(4, 1), (4, 2), (5, 3), (8, 8), (3, 2)]
    if patch <= min(shape[:2])])
@pytest.mark.parametrize("colour", ["vector", "rows"])
def test_patches_average_back_to_the_image_exactly(shape, patch, stride, colour):
    img = dyadic_image(shape)
    lf = lifting(shape, "patches", patch=patch, stride=stride, colour=colour)
    mat = lf.lift(img)
    assert mat.shape == lf.matrix_shape
    np.testing.assert_array_equal(lf.average(mat), img)


def test_general_floats_average_back_to_rounding():
    img = np.random.default_rng(3).random((31, 26, 3))
    lf = lifting(img.shape, patch=7, stride=3)
    np.testing.assert_allclose(lf.average(lf.lift(img)), img, rtol=0, atol=1e-15)


@pytest.mark.parametrize("shape, patch, stride", [((23, 19), 8, 2), ((10, 10), 4, 3), ((17, 40), 6, 5)])
def test_every_pixel_covered_when_the_stride_does_not_divide(shape, patch, stride):
    lf = lifting(shape, patch=patch, stride=stride)
    assert lf.tops[-1] == shape[0] - patch and lf.lefts[-1] == shape[1] - patch
    assert np.all(np.diff(lf.tops) > 0) and np.all(np.diff(lf.lefts) > 0)
    ones = lf.average(lf.lift(np.ones(shape)), clip=False)
    np.testing.assert_array_equal(ones, np.ones(shape))


def test_rows_hold_the_windows():
    img = dyadic_image((12, 10, 3), seed=1)
    lf = lifting(img.shape, patch=4, stride=3, colour="vector")
    mat = lf.lift(img)
    # window (top 3, left 6) is the 2nd top and 3rd left: row 1 * len(lefts) + 2
    r = 1 * len(lf.lefts) + 2
    np.testing.assert_array_equal(mat[r], img[3:7, 6:10, :].transpose(2, 0, 1).ravel())
    rows = lifting(img.shape, patch=4, stride=3, colour="rows")
    stacked = rows.lift(img)
    assert stacked.shape == (3 * lf.windows, 16)
    np.testing.assert_array_equal(stacked[lf.windows + r], img[3:7, 6:10, 1].ravel())   # the G window


@pytest.mark.parametrize("shape", [(11, 14), (11, 14, 3)])
@pytest.mark.parametrize("colour", ["vector", "rows"])
def test_weights_lift_like_the_image(shape, colour):
    weights = np.random.default_rng(2).random(shape[:2])
    lf = lifting(shape, patch=5, stride=2, colour=colour)
    lifted = lf.lift_weights(weights)
    image_of_weights = weights if len(shape) == 2 else np.repeat(weights[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(lifted, lf.lift(image_of_weights))


def test_pixels_lifting_is_the_apps_matrix():
    img = dyadic_image((8, 6, 3))
    weights = np.random.default_rng(0).random((8, 6))
    lf = lifting(img.shape, "pixels")
    np.testing.assert_array_equal(lf.lift(img), wc.data.image_to_matrix(img))
    np.testing.assert_array_equal(lf.lift_weights(weights), wc.data.mask_to_weights(weights, img.shape))
    np.testing.assert_array_equal(lf.average(lf.lift(img)), img)


def test_lifting_leaves_its_input_alone():
    img = dyadic_image((10, 10, 3))
    before = img.copy()
    lf = lifting(img.shape, patch=4, stride=2)
    mat = lf.lift(img)
    mat[:] = 0.5
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("args, kwargs, match", [
    (((10, 10), "blocks"), {}, "lift"),
    (((10, 10),), {"patch": 11}, "patch"),
    (((10, 10),), {"patch": 1}, "patch"),
    (((10, 10),), {"patch": 4, "stride": 5}, "stride"),
    (((10, 10),), {"stride": 0}, "stride"),
    (((10, 10),), {"patch": 2.5}, "patch"),
    (((10, 10),), {"colour": "side"}, "colour"),
    (((10, 10), "pixels"), {"patch": 4}, "patch"),
    (((10, 10), "pixels"), {"colour": "rows"}, "colour"),
    (((10, 10, 4),), {}, "shape"),
    (((10,),), {}, "shape"),
])
def test_bad_options_are_refused(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        lifting(*args, **kwargs)


@pytest.mark.parametrize("method, bad, message", [
    ("lift", np.zeros((10, 11)), "image"),
    ("lift_weights", np.zeros((10, 10, 3)), "weights"),
    ("average", np.zeros((3, 3)), "matrix"),
])
def test_wrong_shapes_are_refused(method, bad, message):
    lf = lifting((10, 10), patch=4)
    with pytest.raises(InputError, match=message):
        getattr(lf, method)(bad)


# ------------------------------------------------------------------------------------------------
# inpaint

def smooth_image(shape, seed=0):
    """A smooth random image in [0, 1]: a sum of a few low-frequency waves (low rank in patches)."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    planes = []
    for _ in range(1 if len(shape) == 2 else 3):
        f = rng.uniform(1, 3, size=(3, 2))
        p = sum(np.sin(2 * np.pi * (a * x + b * y) + c) for (a, b), c in zip(f, rng.uniform(0, 6, 3)))
        planes.append(0.5 + p / 7)
    return planes[0] if len(shape) == 2 else np.stack(planes, axis=2)


@pytest.fixture(scope="module")
def problem():
    img = smooth_image((40, 36, 3))
    weights = (np.random.default_rng(5).random((40, 36)) > 0.4).astype(float)
    return img, weights


@pytest.mark.parametrize("lift, kwargs, floor", [
    ("patches", {"patch": 6}, 25.0),
    ("groups", {"patch": 6, "group_size": 8, "window": 4}, 25.0),
    ("pixels", {"k": 4}, 15.0),   # the rank-k image matrix: a far weaker prior (benchmarks/inpainting.py)
])
def test_inpaint_keeps_known_pixels_and_fills_the_rest(problem, lift, kwargs, floor):
    img, weights = problem
    res = wc.inpaint(img, weights, lift=lift, solver="exact", max_iter=8, **kwargs)
    for out in (res.image, res.final_image):
        assert out.shape == img.shape and np.all(np.isfinite(out))
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_array_equal(out[weights == 1], img[weights == 1])
    assert wc.metrics.psnr(img, res.image, mask=weights == 0) > floor
    assert res.best.is_best and res.best.image is res.image
    assert res.history[-1].stop_reason is not None
    assert all(s.stop_reason is None for s in res.history[:-1])
    assert {s.stage for s in res.history} == {lift}


def test_the_best_step_has_the_lowest_holdout_error(problem):
    img, weights = problem
    res = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=10, patience=None, holdout=0.1)
    errors = np.array([s.holdout_rmse for s in res.history])
    # best so far: within STEP_TIE of the lowest error before it (later steps win near-ties)
    before = np.r_[np.inf, np.minimum.accumulate(errors)[:-1]]
    tie = wc.inpainting.STEP_TIE
    assert [s.is_best for s in res.history] == list(errors < before * (1 + tie))
    assert res.best is [s for s in res.history if s.is_best][-1]
    assert res.best.holdout_rmse <= errors.min() * (1 + tie)


def test_patience_stops_after_steps_without_a_new_best(problem):
    img, weights = problem
    res = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=30, patience=2, eps=1e-12)
    errors = [s.holdout_rmse for s in res.history]
    assert res.stop_reason == "holdout stalled" and len(res.history) < 30
    # the last two steps gained less than PROGRESS over the best before them; the one before did
    mark = min(errors[:-2])
    assert all(e >= mark * (1 - wc.inpainting.PROGRESS) for e in errors[-2:])
    assert errors[-3] < min(errors[:-3]) * (1 - wc.inpainting.PROGRESS)


def test_steps_match_the_result_and_seed_decides(problem):
    img, weights = problem
    kwargs = dict(lift="patches", solver="exact", patch=6, max_iter=6, seed=3)
    steps = list(wc.inpaint_steps(img, weights, **kwargs))
    res = wc.inpaint(img, weights, **kwargs)
    assert [s.holdout_rmse for s in steps] == [s.holdout_rmse for s in res.history]
    np.testing.assert_array_equal(steps[-1].image, res.final_image)
    other = wc.inpaint(img, weights, **{**kwargs, "seed": 4})
    assert other.history[0].holdout_rmse != res.history[0].holdout_rmse


def test_hidden_values_never_reach_the_solver(problem):
    img, weights = problem
    scrambled = np.where((weights == 0)[:, :, None], np.random.default_rng(9).random(img.shape), img)
    a = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=4)
    b = wc.inpaint(scrambled, weights, lift="patches", solver="exact", patch=6, max_iter=4)
    np.testing.assert_array_equal(a.image[weights == 0], b.image[weights == 0])


def test_inpaint_leaves_inputs_alone(problem):
    img, weights = problem
    i0, w0 = img.copy(), weights.copy()
    wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=3)
    np.testing.assert_array_equal(img, i0)
    np.testing.assert_array_equal(weights, w0)


def test_grey_images_inpaint_too():
    img = smooth_image((30, 30))
    weights = (np.random.default_rng(1).random((30, 30)) > 0.3).astype(float)
    res = wc.inpaint(img, weights, lift="patches", solver="exact", patch=5, stride=1, max_iter=5)
    assert res.image.shape == img.shape
    assert wc.metrics.psnr(img, res.image, mask=weights == 0) > 25


def test_holdout_zero_marks_the_lowest_objective(problem):
    img, weights = problem
    res = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=5, holdout=0, patience=None)
    assert all(s.holdout_rmse is None for s in res.history)
    objectives = [s.objective for s in res.history]
    assert res.best.objective == min(objectives)


@pytest.mark.parametrize("kwargs, match", [
    ({"lift": "blocks"}, "lift"),
    ({"solver": "fast"}, "solver"),
    ({"k": 0}, "k"),
    ({"k": 10_000}, "k"),
    ({"holdout": 1.0}, "holdout"),
    ({"holdout": -0.1}, "holdout"),
    ({"holdout": 0.0, "patience": 3}, "patience"),
    ({"patience": 0}, "patience"),
    ({"lift": "pixels", "patch": 4}, "patch"),
    ({"lift": "pixels", "stride": 2}, "stride"),
    ({"groups": 4}, "groups"),
    ({"group_size": 20, "lift": "patches"}, "group_size"),
    ({"window": 5, "lift": "pixels"}, "window"),
    ({"ridge": -1.0}, "ridge"),
    ({"max_iter": 0}, "max_iter"),
    ({"tolerance": 1e-3}, "tolerance"),
    ({"seed": -1}, "seed"),
])
def test_inpaint_refuses_bad_options(problem, kwargs, match):
    img, weights = problem
    with pytest.raises(InputError, match=match):
        wc.inpaint_steps(img, weights, **kwargs)


@pytest.mark.parametrize("image, weights, match", [
    (np.full((10, 10), 1.5), np.ones((10, 10)), "image"),
    (np.zeros((10, 10, 2)), np.ones((10, 10)), "image"),
    (np.zeros((10, 10)), np.ones((10, 9)), "weights"),
    (np.zeros((10, 10)), np.full((10, 10), 2.0), "weights"),
    (np.zeros((10, 10)), np.zeros((10, 10)), "weights"),
])
def test_inpaint_refuses_bad_images_and_weights(image, weights, match):
    with pytest.raises(InputError, match=match):
        wc.inpaint(image, weights, patch=4)


def test_a_hole_wider_than_the_patch_is_filled_from_its_surroundings():
    """Windows inside a hole wider than the patch have no known pixel: without the smooth prior
    their rows get no weight and the hole came back black (camera, text mask: 11.6 dB)."""
    img = smooth_image((40, 40))
    weights = np.ones((40, 40))
    weights[12:28, 12:28] = 0.0                       # 16 px wide, the windows 6 px
    hole = weights == 0
    with_prior = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=10)
    without = wc.inpaint(img, weights, lift="patches", solver="exact", patch=6, max_iter=10, prior=0.0)
    assert without.image[20, 20] == 0.0                # no window reaches the centre
    gain = wc.metrics.psnr(img, with_prior.image, mask=hole) - wc.metrics.psnr(img, without.image, mask=hole)
    assert gain > 5, gain
    assert with_prior.image[20, 20] > 0.1


def test_smooth_fill_keeps_nothing_hidden_and_reaches_every_pixel():
    img = smooth_image((30, 20, 3))
    weights = np.zeros((30, 20))
    weights[0, 0] = 1.0                               # one known pixel: every pixel gets its colour
    fill = wc.inpainting.smooth_fill(img, weights)
    np.testing.assert_allclose(fill, np.broadcast_to(img[0, 0], img.shape), rtol=1e-12)
    scrambled = np.where((weights == 0)[:, :, None], 0.5, img)
    np.testing.assert_array_equal(wc.inpainting.smooth_fill(scrambled, weights), fill)
