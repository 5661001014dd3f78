"""wlra_core.io.images: an image as a matrix (channels side by side) and a mask as its weights."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlra_core.io.images import image_to_matrix, mask_to_weights, matrix_to_image
from wlra_core.problem import InputError


# ------------------------------------------------------------------------------------------------
# image <-> matrix layout

def test_image_to_matrix_puts_channels_side_by_side():
    img = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    mat = image_to_matrix(img)
    assert mat.shape == (2, 9)
    np.testing.assert_array_equal(mat[:, :3], img[..., 0])
    np.testing.assert_array_equal(mat[:, 3:6], img[..., 1])
    np.testing.assert_array_equal(mat[:, 6:], img[..., 2])


def test_image_to_matrix_grey_is_a_copy():
    img = np.full((2, 2), 0.5)
    mat = image_to_matrix(img)
    mat[0, 0] = 0.0
    assert img[0, 0] == 0.5


def test_matrix_to_image_clips_to_unit_interval():
    out = matrix_to_image(np.array([[-0.5, 0.5, 1.5]]), (1, 3))
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.booleans(), st.integers(0, 2**31 - 1))
def test_image_matrix_round_trip(h, w, colour, seed):
    shape = (h, w, 3) if colour else (h, w)
    img = np.random.default_rng(seed).random(shape)
    np.testing.assert_array_equal(matrix_to_image(image_to_matrix(img), shape), img)


def test_mask_to_weights_tiles_for_colour():
    mask = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(mask_to_weights(mask, (1, 2)), mask)
    np.testing.assert_array_equal(mask_to_weights(mask, (1, 2, 3)), [[0, 1, 0, 1, 0, 1]])


@pytest.mark.parametrize("call, match", [
    (lambda: image_to_matrix(np.zeros((2, 2, 4))), "img: found an array of shape"),
    (lambda: image_to_matrix(np.zeros(3)), "img"),
    (lambda: matrix_to_image(np.zeros((2, 5)), (2, 2, 3)), r"need \(2, 6\)"),
    (lambda: matrix_to_image(np.zeros((2, 2)), (2, 2, 4)), "shape"),
    (lambda: mask_to_weights(np.zeros((2, 3)), (3, 2)), r"mask: found shape \(2, 3\)"),
])
def test_layout_functions_refuse_bad_shapes(call, match):
    with pytest.raises(InputError, match=match):
        call()
