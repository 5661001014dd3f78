"""wlra_core.data: loaders on good and bad files made in memory, and the synthetic generators."""
from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from wlra_core.data import (
    PATTERNS,
    image_size,
    image_to_matrix,
    load_image,
    load_mask,
    load_matrix,
    load_ratings,
    make_ratings,
    matrix_problem,
    mask_to_weights,
    matrix_to_image,
    planted,
)
from wlra_core.problem import InputError


# ------------------------------------------------------------------------------------------------
# helpers: images made in memory

def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def grey_levels(h: int = 3, w: int = 4) -> np.ndarray:
    return (np.arange(h * w, dtype=np.uint8).reshape(h, w) * 20)


def noise_png(size: int = 64) -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)))


def noise_jpeg(size: int = 64) -> bytes:
    rng = np.random.default_rng(1)
    return encode(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "JPEG")


# ------------------------------------------------------------------------------------------------
# load_image

@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file"])
def test_load_image_grey_png_from_every_kind_of_source(tmp_path, kind):
    levels = grey_levels()
    data = encode(Image.fromarray(levels))
    path = tmp_path / "grey.png"
    path.write_bytes(data)
    src = {"path": path, "str": str(path), "bytes": data, "file": io.BytesIO(data)}[kind]
    img = load_image(src)
    assert img.dtype == np.float64 and img.shape == (3, 4)
    np.testing.assert_array_equal(img, levels / 255.0)


def test_load_image_colour_png_keeps_three_channels():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (0, 0, 255)
    img = load_image(encode(Image.fromarray(rgb)))
    assert img.shape == (2, 3, 3)
    np.testing.assert_array_equal(img, rgb / 255.0)


def test_load_image_16_bit_is_scaled_by_65535():
    levels = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    img16 = Image.fromarray(levels)
    assert img16.mode == "I;16"
    img = load_image(encode(img16))
    np.testing.assert_allclose(img, levels / 65535.0)


def test_load_image_32_bit_integer_mode_i_is_scaled_by_65535():
    levels = np.array([[0, 300], [65535, 7]], dtype=np.int32)
    img = load_image(encode(Image.fromarray(levels), "TIFF"))
    np.testing.assert_allclose(img, levels / 65535.0)


def test_load_image_palette_colour_becomes_rgb():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (200, 10, 10)
    rgb[2:] = (10, 10, 200)
    pal = Image.fromarray(rgb).quantize(colors=4)
    assert pal.mode == "P"
    img = load_image(encode(pal))
    assert img.shape == (4, 4, 3)
    np.testing.assert_allclose(img[0, 0], np.array([200, 10, 10]) / 255.0)


def test_load_image_palette_of_greys_becomes_grey():
    pal = Image.fromarray(grey_levels()).convert("P")
    assert pal.mode == "P"
    img = load_image(encode(pal))
    np.testing.assert_array_equal(img, grey_levels() / 255.0)


def test_load_image_palette_with_a_transparent_colour_is_composited_on_white():
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    img = load_image(encode(pal, "PNG", transparency=0))
    np.testing.assert_allclose(img[0], [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def test_load_image_la_is_composited_on_white():
    grey = np.array([[100, 100]], dtype=np.uint8)
    alpha = np.array([[255, 0]], dtype=np.uint8)
    la = Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)])
    img = load_image(encode(la))
    assert img.shape == (1, 2)
    np.testing.assert_allclose(img, [[100 / 255.0, 1.0]])


def test_load_image_rgba_is_composited_on_white():
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 0, 0], [0, 0, 0, 51]]], dtype=np.uint8)
    img = load_image(encode(Image.fromarray(rgba)))
    assert img.shape == (1, 3, 3)
    np.testing.assert_allclose(img[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(img[0, 1], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(img[0, 2], [0.8, 0.8, 0.8])


def test_load_image_cmyk_becomes_rgb():
    cmyk = Image.new("CMYK", (2, 2), (255, 0, 0, 0))  # pure cyan
    img = load_image(encode(cmyk, "TIFF"))
    assert img.shape == (2, 2, 3)
    np.testing.assert_allclose(img[0, 0], [0.0, 1.0, 1.0])


def test_load_image_animated_gif_gives_the_first_frame():
    frames = [Image.new("L", (5, 4), value) for value in (40, 200, 120)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    img = load_image(data)
    assert img.shape == (4, 5)
    np.testing.assert_allclose(img, 40 / 255.0)


def test_load_image_applies_exif_orientation_to_shape_and_pixels():
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)
    rgb[:, :20] = (255, 0, 0)  # left half red
    rgb[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(Image.fromarray(rgb), "JPEG", exif=exif, quality=95)
    img = load_image(data)
    assert img.shape == (40, 20, 3)  # portrait now
    # rotating clockwise brings the left half to the top
    np.testing.assert_allclose(img[5, 10], [1.0, 0.0, 0.0], atol=0.06)
    np.testing.assert_allclose(img[35, 10], [0.0, 0.0, 1.0], atol=0.06)


def test_load_image_one_pixel():
    img = load_image(encode(Image.new("L", (1, 1), 255)), max_side=1)
    assert img.shape == (1, 1) and img[0, 0] == 1.0


@pytest.mark.parametrize("mode, size, max_side, shape", [
    ("L", (40, 20), 10, (5, 10)),
    ("RGB", (40, 20), 10, (5, 10, 3)),
    ("RGB", (20, 40), 8, (8, 4, 3)),
    ("I;16", (30, 12), 15, (6, 15)),
    ("RGBA", (40, 20), 10, (5, 10, 3)),
    ("L", (40, 20), 100, (20, 40)),  # never enlarged
])
def test_load_image_max_side_downsizes_keeping_aspect(mode, size, max_side, shape):
    img = load_image(encode(Image.new(mode, size, 1000 if mode == "I;16" else 128 if mode == "L"
                                      else (10, 20, 30, 255)[:len(mode)])), max_side=max_side)
    assert img.shape == shape
    assert 0.0 <= img.min() and img.max() <= 1.0


def test_load_image_downsizing_preserves_a_constant_colour():
    img = load_image(encode(Image.new("RGB", (64, 48), (51, 102, 204))), max_side=16)
    np.testing.assert_allclose(img, np.broadcast_to([0.2, 0.4, 0.8], img.shape), atol=1e-12)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_IMAGES = [
    (lambda tmp: b"", "empty file"),
    (lambda tmp: _write(tmp, "empty.png", b""), "empty file"),
    (lambda tmp: _write(tmp, "notes.png", b"just some text, renamed .png\n"), "not an image"),
    (lambda tmp: noise_png()[: len(noise_png()) // 2], "damaged or truncated"),
    (lambda tmp: noise_jpeg()[: len(noise_jpeg()) // 2], "damaged or truncated"),
    (lambda tmp: tmp / "missing.png", "found no file"),
    (lambda tmp: tmp, "found a directory"),
    (lambda tmp: 12345, "need a path, bytes or a binary file"),
    (lambda tmp: io.StringIO("text"), "binary one"),
    (lambda tmp: encode(Image.fromarray(np.array([[70000, 0]], dtype=np.int32)), "TIFF"), "0..65535"),
]


@pytest.mark.parametrize("make_bad, match", BAD_IMAGES)
def test_load_image_refuses_bad_input(tmp_path, make_bad, match):
    with pytest.raises(InputError, match=match):
        load_image(make_bad(tmp_path))


@pytest.mark.parametrize("max_side", [0, -3, 2.5, "10", True])
def test_load_image_refuses_bad_max_side(max_side):
    with pytest.raises(InputError, match="max_side"):
        load_image(encode(Image.new("L", (4, 4))), max_side=max_side)


@pytest.mark.parametrize("side", [12, 20])  # above the limit (warning level) and above twice it (error)
def test_load_image_refuses_a_decompression_bomb(monkeypatch, side):
    data = encode(Image.new("L", (side, side)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputError, match="too large to decode safely"):
        load_image(data)
    with pytest.raises(InputError, match="too large"):
        load_mask(data, (side, side))


def test_load_image_checks_the_limit_itself_when_pillow_does_not_warn(monkeypatch):
    # the warnings filter is process-wide; another thread may reset it while an image loads
    data = encode(Image.new("L", (12, 12)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(Image, "_decompression_bomb_check", lambda size: None)
    with pytest.raises(InputError, match=r"^image: found an image too large .* \(found 12×12\)$"):
        load_image(data)


# ------------------------------------------------------------------------------------------------
# load_mask

def test_load_mask_grey_levels_are_graded_weights():
    levels = np.array([[0, 64], [128, 255]], dtype=np.uint8)
    mask = load_mask(encode(Image.fromarray(levels)), (2, 2))
    np.testing.assert_array_equal(mask, levels / 255.0)


def test_load_mask_accepts_a_colour_image_shape():
    mask = load_mask(encode(Image.new("L", (5, 3), 255)), (3, 5, 3))
    assert mask.shape == (3, 5)
    np.testing.assert_array_equal(mask, 1.0)


def test_load_mask_16_bit():
    levels = np.array([[0, 65535, 32768]], dtype=np.uint16)
    mask = load_mask(encode(Image.fromarray(levels)), (1, 3))
    np.testing.assert_allclose(mask, levels / 65535.0)


def test_load_mask_alpha_only_la_uses_alpha():
    alpha = np.array([[0, 51], [255, 102]], dtype=np.uint8)
    la = Image.merge("LA", [Image.new("L", (2, 2), 0), Image.fromarray(alpha)])
    mask = load_mask(encode(la), (2, 2))
    np.testing.assert_allclose(mask, alpha / 255.0)


def test_load_mask_alpha_only_rgba_with_constant_colour_uses_alpha():
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., :3] = (30, 60, 90)
    rgba[..., 3] = [[0, 255, 128], [255, 0, 25]]
    mask = load_mask(encode(Image.fromarray(rgba)), (2, 3))
    np.testing.assert_allclose(mask, rgba[..., 3] / 255.0)


def test_load_mask_opaque_rgba_uses_grey_level():
    rgba = np.full((1, 2, 4), 255, dtype=np.uint8)
    rgba[0, 0, :3] = 0
    mask = load_mask(encode(Image.fromarray(rgba)), (1, 2))
    np.testing.assert_allclose(mask, [[0.0, 1.0]])


def test_load_mask_varying_grey_and_alpha_multiply():
    grey = np.array([[255, 102]], dtype=np.uint8)
    alpha = np.array([[51, 255]], dtype=np.uint8)
    la = Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)])
    mask = load_mask(encode(la), (1, 2))
    np.testing.assert_allclose(mask, [[0.2, 0.4]])


BAD_MASKS = [
    (lambda tmp: (encode(Image.new("L", (12, 10))), (64, 64)),
     r"mask: found shape \(10, 12\), need the image's shape \(64, 64\)"),
    (lambda tmp: (b"", (2, 2)), "empty file"),
    (lambda tmp: (_write(tmp, "m.png", b"not a png"), (2, 2)), "not an image"),
    (lambda tmp: (encode(Image.new("L", (2, 2))), (2,)), "shape: found"),
    (lambda tmp: (encode(Image.new("L", (2, 2))), "2x2"), "shape: found"),
]


@pytest.mark.parametrize("make_bad, match", BAD_MASKS)
def test_load_mask_refuses_bad_input(tmp_path, make_bad, match):
    src, shape = make_bad(tmp_path)
    with pytest.raises(InputError, match=match):
        load_mask(src, shape)


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


# ------------------------------------------------------------------------------------------------
# load_ratings

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4.5\t1\n"
RATINGS_CSV = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,4.0,1\n"
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"


def dense(r):
    return r.M.toarray()


def test_load_ratings_movielens_u_data():
    r = load_ratings(U_DATA.encode())
    np.testing.assert_array_equal(r.users, [22, 186, 196])
    np.testing.assert_array_equal(r.items, [242, 302, 377])
    expected = np.array([[0, 0, 1], [0, 3, 0], [3, 0, 4.5]])
    np.testing.assert_array_equal(dense(r), expected)
    np.testing.assert_array_equal(r.W.toarray(), expected != 0)
    assert r.duplicates == 0
    assert isinstance(r.M, sp.csr_matrix) and isinstance(r.W, sp.csr_matrix)
    assert r.M.dtype == np.float64 and r.W.dtype == np.float64


def test_load_ratings_movielens_ratings_csv_with_header(tmp_path):
    path = _write(tmp_path, "ratings.csv", RATINGS_CSV.encode())
    r = load_ratings(path)
    np.testing.assert_array_equal(r.users, [1, 7])
    np.testing.assert_array_equal(r.items, [31, 1029])
    np.testing.assert_array_equal(dense(r), [[2.5, 3.0], [4.0, 0.0]])


def test_load_ratings_movielens_ratings_dat_double_colon():
    with io.BytesIO(RATINGS_DAT.encode()) as f:
        r = load_ratings(f)
    np.testing.assert_array_equal(r.items, [661, 1193])
    np.testing.assert_array_equal(dense(r), [[3, 5], [0, 4]])


@pytest.mark.parametrize("text", [
    "1,10,4\n2,20,3.5\n",                          # CSV triplets, no header
    "user,item,rating\n1,10,4\n2,20,3.5\n",         # CSV with header
    "user\titem\trating\n1\t10\t4\n2\t20\t3.5\n",  # TSV with header
    "1;10;4\n2;20;3.5\n",                          # semicolons
    "1 10 4\n\n2   20 3.5\n",                      # whitespace, a blank line
    "\ufeffu,i,r\r\n1, 10, 4\r\n2, 20, 3.5\r\n",    # BOM, CRLF, spaces after commas
    "rating,item_id,user_id\n4,10,1\n3.5,20,2\n",  # named columns in another order
])
def test_load_ratings_generic_triplets(text):
    r = load_ratings(text.encode())
    np.testing.assert_array_equal(r.users, [1, 2])
    np.testing.assert_array_equal(r.items, [10, 20])
    np.testing.assert_array_equal(dense(r), [[4, 0], [0, 3.5]])


def test_load_ratings_quoted_semicolon_file_with_named_columns():
    text = '"User-ID";"ISBN";"Book-Rating"\n"276725";"034545104X";"0"\n"276726";"0155061224";"5"\n'
    r = load_ratings(text.encode())
    np.testing.assert_array_equal(r.users, [276725, 276726])
    assert list(r.items) == ["0155061224", "034545104X"]
    np.testing.assert_array_equal(dense(r), [[0, 0], [5, 0]])
    assert r.M.nnz == 2


def test_load_ratings_string_ids_sorted_as_strings():
    r = load_ratings(b"user,item,rating\nbob,Heat,4\nalice,Alien,5\nalice,Heat,2\ncarol,007,1\n")
    assert list(r.users) == ["alice", "bob", "carol"]
    assert list(r.items) == ["007", "Alien", "Heat"]
    np.testing.assert_array_equal(dense(r), [[0, 5, 2], [0, 0, 4], [1, 0, 0]])


def test_load_ratings_ids_with_leading_zeros_stay_strings():
    r = load_ratings(b"007,1,3\n7,1,4\n")
    assert list(r.users) == ["007", "7"]


def test_load_ratings_stores_a_zero_rating_explicitly():
    r = load_ratings(b"1,1,0\n1,2,3\n")
    assert r.M.nnz == 2 and r.W.nnz == 2
    np.testing.assert_array_equal(r.M.indices, r.W.indices)
    np.testing.assert_array_equal(r.M.indptr, r.W.indptr)
    np.testing.assert_array_equal(r.W.data, [1.0, 1.0])


DUPLICATED = b"u,i,r\n1,1,1\n1,1,3\n2,1,5\n1,2,2\n1,1,5\n2,1,4\n"  # (1,1) three times, (2,1) twice


@pytest.mark.parametrize("policy, expected", [
    ("mean", [[3.0, 2.0], [4.5, 0.0]]),
    ("last", [[5.0, 2.0], [4.0, 0.0]]),
])
def test_load_ratings_duplicates(policy, expected):
    r = load_ratings(DUPLICATED, duplicates=policy)
    np.testing.assert_array_equal(dense(r), expected)
    assert r.duplicates == 2
    assert r.M.nnz == 3


def test_load_ratings_duplicates_error_names_a_pair():
    with pytest.raises(InputError, match=r"found 2 \(user, item\) pair\(s\).*user 1 and item 1 \(3 times\)"):
        load_ratings(DUPLICATED, duplicates="error")


BAD_RATINGS = [
    (lambda tmp: b"", "empty file"),
    (lambda tmp: _write(tmp, "r.csv", b"\n  \n"), "empty file"),
    (lambda tmp: b"userId,movieId,rating,timestamp\n", "only a header"),
    (lambda tmp: b"1,2\n3,4\n", r"found 2 column\(s\) on line 1, need 3"),
    (lambda tmp: b"1,2,3,4,5\n", r"found 5 column\(s\)"),
    (lambda tmp: b"1,2,3\n1,3,4\n2,2,5,6\n", "same number of"),
    (lambda tmp: b"1,2,3\n1,3\n", "empty rating on line 2"),
    (lambda tmp: b"1,2,3\n1,3,good\n", "non-numeric rating 'good' on line 2"),
    (lambda tmp: b"user,item,rating\n1,2,3\n\n1,3,inf\n", "non-finite rating 'inf' on line 4"),
    (lambda tmp: b"1,2,3\n1,3,nan\n", "non-finite rating 'nan'"),
    (lambda tmp: b"a,b,c,d\n1,2,x,4\n", "non-numeric rating 'x'"),
    (lambda tmp: b"\x89PNG\r\n\x1a\n\x00\x00", r"found an image \(PNG\), need a text file"),
    (lambda tmp: b"\x00\x01\x02\x03binary", "binary data"),
    (lambda tmp: tmp / "nope.csv", "found no file"),
]


@pytest.mark.parametrize("make_bad, match", BAD_RATINGS)
def test_load_ratings_refuses_bad_input(tmp_path, make_bad, match):
    with pytest.raises(InputError, match=match):
        load_ratings(make_bad(tmp_path))


def test_load_ratings_refuses_an_unknown_duplicate_policy():
    with pytest.raises(InputError, match="duplicates: found 'first'"):
        load_ratings(b"1,1,1\n", duplicates="first")


def test_make_ratings_round_trips_through_load_ratings():
    frame = make_ratings(40, 30, 2, density=0.2, seed=3)
    r = load_ratings(frame.to_csv(index=False).encode())
    assert r.M.shape == (40, 30) and r.M.nnz == len(frame) and r.duplicates == 0
    row = np.searchsorted(r.users, frame.user.to_numpy())
    col = np.searchsorted(r.items, frame.item.to_numpy())
    np.testing.assert_array_equal(r.M.toarray()[row, col], frame.rating.to_numpy())


# ------------------------------------------------------------------------------------------------
# load_matrix

def npy_bytes(arr, **options) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr, **options)
    return buffer.getvalue()


def test_load_matrix_npy_from_path_bytes_and_file(tmp_path):
    arr = np.arange(6).reshape(2, 3)
    path = _write(tmp_path, "m.npy", npy_bytes(arr))
    for src in (path, npy_bytes(arr), io.BytesIO(npy_bytes(arr))):
        mat = load_matrix(src)
        assert mat.dtype == np.float64
        np.testing.assert_array_equal(mat, arr)


def test_load_matrix_npy_keeps_nan_as_missing():
    arr = np.array([[1.0, np.nan], [3.0, 4.0]])
    np.testing.assert_array_equal(load_matrix(npy_bytes(arr), name="x.npy"), arr)


class _LeavesAMark:
    """Unpickling this object creates a directory: proof that pickled code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_load_matrix_refuses_object_npy_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    arr = np.empty((1, 1), dtype=object)
    arr[0, 0] = _LeavesAMark(str(marker))
    # the bytes np.save writes for an object array: a header saying '|O', then the pickle
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(arr))
    buffer.write(pickle.dumps(arr, protocol=3))
    data = buffer.getvalue()
    pickle.loads(pickle.dumps(_LeavesAMark(str(tmp_path / "check"))))  # the mark really works
    assert (tmp_path / "check").is_dir()
    with pytest.raises(InputError, match="object array"):
        load_matrix(data, name="evil.npy")
    assert not marker.exists()


@pytest.mark.parametrize("text, expected", [
    ("1,2,3\n4,5,6\n", [[1, 2, 3], [4, 5, 6]]),
    ("a,b,c\n1,2,3\n", [[1, 2, 3]]),                  # header skipped
    ("1\t2\n3\t4\n", [[1, 2], [3, 4]]),
    ("1 2\n3   4\n\n", [[1, 2], [3, 4]]),
    ("1,,3\n4,NaN,6\n", [[1, np.nan, 3], [4, np.nan, 6]]),  # missing entries
    ("1;2\n3;4\n", [[1, 2], [3, 4]]),
    ("0.5\n1e-3\n", [[0.5], [0.001]]),
])
def test_load_matrix_dense_text(text, expected):
    mat = load_matrix(text.encode(), name="m.csv")
    np.testing.assert_array_equal(mat, expected)
    np.testing.assert_array_equal(load_matrix(text.encode()), expected)  # sniffed


def test_load_matrix_matrix_market_gives_csr(tmp_path):
    A = sp.random(5, 4, density=0.4, random_state=np.random.default_rng(0), format="csr")
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, A)
    path = _write(tmp_path, "a.mtx", buffer.getvalue())
    for src, name in ((path, None), (buffer.getvalue(), None), (buffer.getvalue(), "a.mtx")):
        mat = load_matrix(src, name=name)
        assert isinstance(mat, sp.csr_matrix) and mat.dtype == np.float64
        np.testing.assert_allclose(mat.toarray(), A.toarray())


BAD_MATRICES = [
    (lambda tmp: (b"", None), "empty file"),
    (lambda tmp: (npy_bytes(np.zeros((2, 2, 2))), None), r"3-D array of shape \(2, 2, 2\)"),
    (lambda tmp: (npy_bytes(np.zeros(3)), "v.npy"), "1-D array"),
    (lambda tmp: (npy_bytes(np.zeros((2, 2), dtype=complex)), None), "need a real numeric array"),
    (lambda tmp: (npy_bytes(np.array([["a", "b"]])), None), "need a real numeric array"),
    (lambda tmp: (npy_bytes(np.array([[1.0, np.inf]])), None), "infinite"),
    (lambda tmp: (npy_bytes(np.zeros((20, 20)))[:-50], None), "damaged or truncated"),
    (lambda tmp: (b"1,2,3\n", "m.npy"), "not a valid .npy"),
    (lambda tmp: (b"1,2,3\n4,5\n", "m.csv"), "found 2 values on data row 2 but 3"),
    (lambda tmp: (b"1,2\n3,x\n", "m.csv"), "non-numeric value 'x' at data row 2, column 2"),
    (lambda tmp: (b"1,2\n3,inf\n", "m.csv"), "infinite"),
    (lambda tmp: (b"a,b\n", "m.csv"), "only a header"),
    (lambda tmp: (b"\xff\x01garbage", "m.csv"), "not UTF-8"),
    (lambda tmp: (b"\xff\xfe1,2", "m.csv"), "nor complete UTF-16"),  # a UTF-16 BOM, then 3 bytes
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n", None),
     "found 1 entry lines where the header declares 2"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n", "a.mtx"), "malformed"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 inf\n", "a.mtx"), "infinite"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 2\n", None), "complex"),
    (lambda tmp: (b"%%MatrixMarket matrix coordinate real general\n1000000000 2 0\n", None),
     "declared size of 1,000,000,000×2"),
    (lambda tmp: (tmp / "gone.npy", None), "found no file"),
]


@pytest.mark.parametrize("make_bad, match", BAD_MATRICES)
def test_load_matrix_refuses_bad_input(tmp_path, make_bad, match):
    src, name = make_bad(tmp_path)
    with pytest.raises(InputError, match=match):
        load_matrix(src, name=name)


# ------------------------------------------------------------------------------------------------
# planted

@pytest.mark.parametrize("sparse", [False, True])
def test_planted_shapes_and_truth(sparse):
    P = planted(30, 20, 3, noise=0.0, seed=1, sparse=sparse)
    assert P.U.shape == (30, 3) and P.V.shape == (20, 3)
    assert P.M.shape == P.W.shape == P.truth.shape == (30, 20)
    np.testing.assert_allclose(P.truth, P.U @ P.V.T)
    assert sp.issparse(P.M) == sparse and sp.issparse(P.W) == sparse
    M = P.M.toarray() if sparse else P.M
    observed = (P.W.toarray() if sparse else P.W) > 0
    np.testing.assert_allclose(M[observed], P.truth[observed])


def test_planted_truth_entries_are_order_one():
    P = planted(200, 150, 8, pattern="full", seed=0)
    assert 0.7 < P.truth.std() < 1.3


def test_planted_noise_level():
    P = planted(200, 100, 2, noise=0.1, pattern="full", seed=0)
    assert 0.09 < np.std(P.M - P.truth) < 0.11


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("sparse", [False, True])
def test_planted_is_deterministic_for_a_seed(pattern, sparse):
    a = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=7, sparse=sparse)
    b = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=7, sparse=sparse)
    c = planted(25, 18, 2, noise=0.3, pattern=pattern, seed=8, sparse=sparse)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.toarray() if sp.issparse(x) else x, y.toarray() if sp.issparse(y) else y)
    assert not np.array_equal(a.U, c.U)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_planted_sparse_equals_dense_at_stored_entries(pattern):
    d = planted(40, 30, 3, noise=0.2, pattern=pattern, p=0.3, seed=5)
    s = planted(40, 30, 3, noise=0.2, pattern=pattern, p=0.3, seed=5, sparse=True)
    np.testing.assert_array_equal(s.W.toarray(), d.W)
    rows, cols = s.W.nonzero()
    assert s.W.nnz == np.count_nonzero(d.W)
    np.testing.assert_array_equal(s.M.indices, s.W.indices)
    np.testing.assert_allclose(s.M.toarray()[rows, cols], d.M[rows, cols], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s.U, d.U)


@pytest.mark.parametrize("pattern, low, high, tolerance", [
    ("bernoulli", 1.0, 1.0, 0.02),
    ("graded", 0.0, 1.0, 0.02),
    ("blocks", 1.0, 1.0, 0.02),
    ("heavy_tailed", 1.0 + np.log(2.0), np.inf, 0.04),
    ("full", 1.0, 1.0, None),
])
def test_planted_pattern_properties(pattern, low, high, tolerance):
    p = 0.3
    P = planted(200, 150, 2, pattern=pattern, p=p, seed=2)
    observed = P.W > 0
    fraction = observed.mean()
    if tolerance is None:
        assert fraction == 1.0
    else:
        assert abs(fraction - p) < tolerance
    w = P.W[observed]
    assert w.min() >= low - 1e-12 and w.max() <= high
    assert (observed.sum(axis=1) > 0).all() and (observed.sum(axis=0) > 0).all()
    if pattern in ("bernoulli", "blocks", "full"):
        assert set(np.unique(P.W)) <= {0.0, 1.0}
    if pattern == "graded":
        assert w.min() > 0 and np.unique(w).size > 100


def test_planted_heavy_tailed_rows_have_heavy_tailed_degrees():
    P = planted(400, 300, 2, pattern="heavy_tailed", p=0.1, seed=0, sparse=True)
    degrees = np.diff(P.W.indptr)
    assert degrees.max() > 5 * np.median(degrees)


def test_planted_blocks_are_rectangular_holes():
    P = planted(60, 60, 2, pattern="blocks", p=0.7, seed=4)
    holes = P.W == 0
    # a hole pixel's 4-neighbourhood is mostly holes too (rectangles, not scattered dropout)
    interior = holes[1:-1, 1:-1] & holes[:-2, 1:-1] & holes[2:, 1:-1] & holes[1:-1, :-2] & holes[1:-1, 2:]
    assert interior.sum() > 0.6 * holes[1:-1, 1:-1].sum()


@pytest.mark.parametrize("pattern", ["bernoulli", "heavy_tailed", "blocks"])
def test_planted_covers_every_row_and_column_even_for_tiny_p(pattern):
    P = planted(50, 40, 1, pattern=pattern, p=0.001, seed=0, sparse=True)
    W = P.W.toarray()
    assert (W.sum(axis=1) > 0).all() and (W.sum(axis=0) > 0).all()


def test_planted_sparse_large_problem_is_cheap_and_has_no_dense_truth():
    P = planted(5000, 4000, 2, p=1e-4, seed=0, sparse=True)
    assert P.truth is None
    assert P.W.nnz < 12_000
    np.testing.assert_allclose(P.M.data, np.einsum("ij,ij->i", P.U[P.M.nonzero()[0]], P.V[P.M.indices]))


def test_planted_does_not_touch_global_random_state():
    before = np.random.get_state()
    planted(10, 10, 2, seed=0)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0, m=5, k=1), "n: found 0"),
    (dict(n=5, m=2.5, k=1), "m: found 2.5"),
    (dict(n=5, m=5, k=True), "k: found True"),
    (dict(n=5, m=3, k=4), r"k: found 4, need 1 ≤ k ≤ min\(n, m\) = 3"),
    (dict(n=5, m=5, k=1, noise=-1.0), "noise"),
    (dict(n=5, m=5, k=1, noise=float("inf")), "noise"),
    (dict(n=5, m=5, k=1, pattern="stripes"), "pattern: found 'stripes'"),
    (dict(n=5, m=5, k=1, p=0.0), r"p: found 0.0, need a number in \(0, 1\]"),
    (dict(n=5, m=5, k=1, p=1.5), "p: found 1.5"),
    (dict(n=5, m=5, k=1, p="half"), "p: found 'half'"),
    (dict(n=5, m=5, k=1, seed=-1), "seed"),
    (dict(n=5, m=5, k=1, sparse="yes"), "sparse"),
])
def test_planted_validates_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        planted(**kwargs)


# ------------------------------------------------------------------------------------------------
# make_ratings

def test_make_ratings_looks_like_a_rating_set():
    frame = make_ratings(300, 200, 3, density=0.05, seed=0)
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert "SYNTHETIC" in frame.attrs["source"]
    assert abs(len(frame) / (300 * 200) - 0.05) < 0.01
    assert frame.rating.between(1, 5).all()
    np.testing.assert_array_equal(frame.rating * 2, np.round(frame.rating * 2))
    assert set(frame.user) == set(range(1, 301)) and set(frame.item) == set(range(1, 201))
    assert not frame.duplicated(["user", "item"]).any()
    per_user = frame.groupby("user").size()
    assert per_user.max() > 4 * per_user.median()  # heavy-tailed activity
    assert frame.rating.nunique() >= 7


def test_make_ratings_has_low_rank_signal_beyond_biases():
    frame = make_ratings(60, 50, 2, density=0.7, seed=1)
    table = frame.pivot(index="user", columns="item", values="rating").to_numpy()
    centred = table - np.nanmean(table, axis=1, keepdims=True)
    centred -= np.nanmean(centred, axis=0, keepdims=True)
    filled = np.nan_to_num(centred)
    s = np.linalg.svd(filled, compute_uv=False)
    assert s[0] > 2 * s[4]


def test_make_ratings_is_deterministic_and_scalable():
    a = make_ratings(30, 20, 2, density=0.3, seed=9)
    b = make_ratings(30, 20, 2, density=0.3, seed=9)
    pd.testing.assert_frame_equal(a, b)
    c = make_ratings(30, 20, 2, density=0.3, seed=9, scale=(0, 10))
    assert c.rating.between(0, 10).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=0, n_items=5, k=1, density=0.1, seed=0), "n_users"),
    (dict(n_users=5, n_items=5, k=6, density=0.1, seed=0), "k: found 6"),
    (dict(n_users=5, n_items=5, k=1, density=0.0, seed=0), "density"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=-2), "seed"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=0, scale=(5, 1)), "scale"),
    (dict(n_users=5, n_items=5, k=1, density=0.1, seed=0, scale=5), "scale"),
])
def test_make_ratings_validates_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_ratings(**kwargs)


# ------------------------------------------------------------------------------------------------
# size caps (wlra_core.limits): refused before decoding or allocating

@pytest.mark.parametrize("kind", ["bytes", "path", "file"])
def test_every_loader_refuses_a_file_above_max_bytes(tmp_path, kind):
    data = noise_png(64)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    source = {"bytes": data, "path": path, "file": io.BytesIO(data)}[kind]
    cap = len(data) - 1
    with pytest.raises(InputError, match=rf"image: found a file of (more than )?0\.0 MB, need at most .* MB \(the size cap"):
        load_image(source, max_bytes=cap)
    for loader, what in ((lambda s: load_mask(s, (64, 64), max_bytes=cap), "mask"),
                         (lambda s: load_ratings(s, max_bytes=cap), "ratings"),
                         (lambda s: load_matrix(s, max_bytes=cap), "matrix")):
        source = {"bytes": data, "path": path, "file": io.BytesIO(data)}[kind]
        with pytest.raises(InputError, match=rf"^{what}: found a file of .* MB, need at most"):
            loader(source)
    assert load_image(data, max_bytes=len(data)).shape == (64, 64, 3)  # at the cap: read


def test_a_file_object_above_the_cap_is_not_read_whole():
    class Counting(io.BytesIO):
        asked: list = []

        def read(self, size=-1):
            self.asked.append(size)
            return super().read(size)

    stream = Counting(b"1,2,3\n" * 1000)
    with pytest.raises(InputError, match="ratings: found a file"):
        load_ratings(stream, max_bytes=100)
    assert stream.asked == [101]


def test_load_image_refuses_more_pixels_than_max_pixels_from_the_header(monkeypatch):
    data = noise_png(100)
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    with pytest.raises(InputError, match=r"image: found a 100×100 image \(10,000 pixels\), need at most "
                                         r"9,999 pixels \(the size cap of one image"):
        load_image(data, max_pixels=9_999)
    with pytest.raises(InputError, match=r"mask: found a 100×100 image .* need at most 9,999 pixels"):
        load_mask(data, (100, 100), max_pixels=9_999)
    assert decoded == []  # refused from the header, nothing decoded
    with pytest.raises(InputError, match="max_pixels: found 0"):
        load_image(data, max_pixels=0)


def test_load_ratings_refuses_more_lines_than_max_entries_before_parsing():
    text = "".join(f"{u},{u % 7},{u % 5 + 1}\n" for u in range(50)).encode()
    with pytest.raises(InputError, match=r"ratings: found 50 lines \(up to one rating each\), need at most 40 entries"):
        load_ratings(text, max_entries=40)
    assert load_ratings(text, max_entries=50).W.nnz == 50
    assert load_ratings(text.rstrip(b"\n"), max_entries=50).W.nnz == 50


def test_load_matrix_npy_refuses_a_declared_shape_above_max_entries_without_reading_the_data():
    # a header declaring 100 000 × 100 000 float64 (80 GB) followed by 8 bytes: judged by the header
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (100_000, 100_000)})
    data = buffer.getvalue() + b"\x00" * 8
    with pytest.raises(InputError, match=r"matrix: found a 100,000×100,000 array \(10,000,000,000 entries\), "
                                         r"need at most 33,554,432 entries"):
        load_matrix(data)


def test_load_matrix_mtx_and_text_refuse_more_entries_than_max_entries():
    coordinate = b"%%MatrixMarket matrix coordinate real general\n2 2 4\n1 1 1\n1 2 2\n2 1 3\n2 2 4\n"
    with pytest.raises(InputError, match=r"matrix: found a Matrix Market file declaring 4 entries \(2×2\), "
                                         "need at most 3"):
        load_matrix(coordinate, max_entries=3)
    assert load_matrix(coordinate, max_entries=4).nnz == 4
    array = b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n"
    with pytest.raises(InputError, match=r"found a dense 2×2 Matrix Market array \(4 entries\), need at most 3"):
        load_matrix(array, max_entries=3)
    with pytest.raises(InputError, match=r"found 2 rows of 3 values \(6 entries\), need at most 5"):
        load_matrix(b"1,2,3\n4,5,6\n", name="m.csv", max_entries=5)


def test_planted_refuses_more_entries_than_max_entries_before_drawing():
    with pytest.raises(InputError, match=r"planted: found 100×100 = 10,000 entries, need at most 9,999"):
        planted(100, 100, 2, max_entries=9_999)
    with pytest.raises(InputError, match=r"planted: found about 1,200 entries \(0.1 of 100×100\), need at most 1,000"):
        planted(100, 100, 2, p=0.1, sparse=True, max_entries=1_000)
    assert planted(100, 100, 2, p=0.1, sparse=True, max_entries=1_200).W.nnz <= 1_200


def test_image_size_reads_the_header_only_and_applies_exif_orientation(monkeypatch):
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = encode(Image.fromarray(np.zeros((20, 40, 3), dtype=np.uint8)), "JPEG", exif=exif)
    plain = encode(Image.fromarray(np.zeros((20, 40), dtype=np.uint8)))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded pixels"))
    assert image_size(rotated) == (40, 20) and image_size(plain) == (20, 40)
    with pytest.raises(InputError, match="image: found 5 bytes that are not an image"):
        image_size(b"hello")
    with pytest.raises(InputError, match="image: found an empty file"):
        image_size(b"")


# ------------------------------------------------------------------------------------------------
# matrix_problem: a loaded matrix (and weights) as (M, W) for the solvers

def test_matrix_problem_weights_the_observed_entries_and_leaves_the_inputs_alone():
    M = np.array([[1.0, np.nan], [3.0, 4.0]])
    original = M.copy()
    Mp, W = matrix_problem(M)
    np.testing.assert_array_equal(W, [[1, 0], [1, 1]])
    np.testing.assert_array_equal(Mp, [[1, 0], [3, 4]])
    np.testing.assert_array_equal(M, original)  # NaN still there: a copy was filled
    S = sp.csr_matrix(np.array([[0.0, 2.0], [0.0, 0.0]]))
    S_data = S.data.copy()
    Ms, Ws = matrix_problem(S)
    assert sp.issparse(Ws) and Ws.nnz == 1 and Ws[0, 1] == 1  # unstored entries are missing
    np.testing.assert_array_equal(S.data, S_data)


@pytest.mark.parametrize("W, match", [
    (np.ones((3, 2)), r"weights: found shape 3×2, need the shape of the matrix, 2×2"),
    (np.array([[1.0, 0.0], [-1.0, 1.0]]), r"weights: found a negative weight \(-1\), need weights ≥ 0"),
    (np.array([[1.0, 0.0], [np.inf, 1.0]]), r"weights: found NaN or infinite weights"),
    (np.ones((2, 2)), r"matrix: found a missing value \(NaN\) at row 1, column 2 where the weight is 1"),
])
def test_matrix_problem_refuses_weights_that_do_not_fit(W, match):
    with pytest.raises(InputError, match=match):
        matrix_problem(np.array([[1.0, np.nan], [3.0, 4.0]]), W)


def test_matrix_problem_accepts_zero_weight_where_m_is_missing():
    M, W = matrix_problem(np.array([[1.0, np.nan]]), np.array([[2.0, 0.0]]))
    np.testing.assert_array_equal(M, [[1.0, 0.0]])
    np.testing.assert_array_equal(W, [[2.0, 0.0]])


def test_load_ratings_of_a_single_user_gives_one_row_that_solves_at_rank_one():
    ratings = load_ratings(b"alice,1,4\nalice,2,3\nalice,3,5\n")
    assert ratings.M.shape == (1, 3) and list(ratings.users) == ["alice"]
    import wlra_core as wc
    with pytest.raises(InputError, match=r"k: found 2, need an integer ≤ 1"):
        wc.solve(ratings.M, ratings.W, 2)
    result = wc.solve(ratings.M, ratings.W, 1, solver="exact", max_iter=3)
    np.testing.assert_allclose(result.low_rank(), [[4, 3, 5]], atol=1e-8)


# ------------------------------------------------------------------------------------------------
# Issue 12: what an outside tester broke (files, loaders, messages)

TINY_HUGE_MTX = b"%%MatrixMarket matrix coordinate real general\n100000000 100000000 1\n1 1 1.0\n"


@pytest.mark.parametrize("max_entries", [2**25, 2**22])  # the library's cap and the app's
def test_a_76_byte_mtx_declaring_a_10_8_square_matrix_is_refused_before_allocating(max_entries):
    import tracemalloc

    assert len(TINY_HUGE_MTX) < 80
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            load_matrix(TINY_HUGE_MTX, name="huge.mtx", max_entries=max_entries)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing proportional to n or m was allocated (it was 1.44 GB)
    message = str(caught.value)
    assert message.startswith("matrix: found a Matrix Market header declaring a 100,000,000×100,000,000 "
                              "matrix with 1 entry, whose rows and columns alone take n + m = "
                              f"200,000,000 entries of memory, need at most {max_entries:,} entries")
    assert "larger" not in message and "raise" not in message  # no advice to lift a cap


def test_an_mtx_whose_rows_and_columns_fit_the_cap_is_read():
    data = b"%%MatrixMarket matrix coordinate real general\n1000 2000 1\n5 7 2.5\n"
    with pytest.raises(InputError, match=r"n \+ m = 3,000 entries"):
        load_matrix(data, max_entries=2999)
    mat = load_matrix(data, max_entries=3000)
    assert mat.shape == (1000, 2000) and mat.nnz == 1 and mat[4, 6] == 2.5


def test_the_default_caps_never_advise_raising_a_limit():
    with pytest.raises(InputError) as caught:
        load_matrix(npy_bytes(np.zeros((30, 20))), max_bytes=100)
    assert "larger" not in str(caught.value)
    with pytest.raises(InputError) as caught:
        load_matrix(npy_bytes(np.zeros((30, 20))), max_entries=10)
    assert "larger" not in str(caught.value)


def _fifo(tmp_path):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("make, kind", [
    (_fifo, r"a named pipe \(FIFO\)"),
    (lambda tmp: "/dev/zero", "a character device"),
    (lambda tmp: "/dev/null", "a character device"),
])
def test_a_device_or_pipe_is_refused_by_path_without_reading_or_blocking(tmp_path, make, kind):
    path = make(tmp_path)
    for loader, what in ((load_matrix, "matrix"), (load_ratings, "ratings"), (load_image, "image"),
                         (lambda p: load_mask(p, (2, 2)), "mask"), (image_size, "image")):
        with pytest.raises(InputError, match=rf"^{what}: found {kind} at .*, need a regular file"):
            loader(str(path))


def test_a_regular_file_reporting_size_0_is_still_read_under_the_cap():
    # /proc files report st_size 0 whatever they hold: the read itself is capped.
    with pytest.raises(InputError, match=r"found a file of more than 0.0 MB, need at most"):
        load_ratings("/proc/self/maps", max_bytes=64)


@pytest.mark.parametrize("data, match", [
    (npy_bytes(np.zeros((2000, 2000)))[:200], r"declaring a 2,000×2,000 float64 array \(32,000,000 bytes of "
                                               r"data\) followed by 72 bytes"),
    (npy_bytes(np.zeros((2, 2))) + b"\x00" * 8, r"\(32 bytes of data\) followed by 40 bytes"),
    (b"%%MatrixMarket matrix coordinate real general\n10 10 30\n1 1 1\n", r"declaring 30 values in a file "
                                                                         r"of \d+ bytes, which holds at most"),
    (b"%%MatrixMarket matrix array real general\n100 100\n1\n", r"declaring 10,000 values"),
])
def test_a_header_declaring_more_or_less_data_than_the_file_holds_is_refused(data, match):
    with pytest.raises(InputError, match=match):
        load_matrix(data)


def test_default_weights_of_a_matrix_file_are_decided_by_matrix_problem():
    """The one meaning of a matrix file (the CLI and the app both call matrix_problem)."""
    array = load_matrix(b"%%MatrixMarket matrix array real general\n2 2\n1\n0\n0\n2\n")
    assert isinstance(array, np.ndarray)  # every entry of an array file is stored, zeros included
    M, W = matrix_problem(array)
    np.testing.assert_array_equal(W, np.ones((2, 2)))
    pattern = load_matrix(b"%%MatrixMarket matrix coordinate pattern general\n2 3 2\n1 1\n2 3\n")
    M, W = matrix_problem(pattern)
    np.testing.assert_array_equal(W.toarray(), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(M.toarray(), [[1, 0, 0], [0, 0, 1]])
    zeros = load_matrix(b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 0\n2 2 3\n")
    M, W = matrix_problem(zeros)
    assert W.nnz == 2 and M.nnz == 2  # an explicit zero is an observed 0
    np.testing.assert_array_equal(W.toarray(), [[1, 0], [0, 1]])


def test_duplicate_mtx_entries_follow_the_same_rule_as_duplicate_ratings():
    triplets = [(1, 1, 1.0), (1, 1, 3.0), (2, 1, 5.0), (1, 2, 2.0), (1, 1, 5.0), (2, 1, 4.0)]
    mtx = ("%%MatrixMarket matrix coordinate real general\n2 2 6\n"
           + "".join(f"{i} {j} {v}\n" for i, j, v in triplets)).encode()
    csv_text = "".join(f"{i},{j},{v}\n" for i, j, v in triplets).encode()
    for policy in ("mean", "last"):
        with pytest.warns(UserWarning, match=r"found 2 entries given more than once"):
            from_mtx = load_matrix(mtx, duplicates=policy)
        np.testing.assert_array_equal(from_mtx.toarray(), load_ratings(csv_text, duplicates=policy).M.toarray())
    with pytest.warns(UserWarning, match=r"each holds the mean of its values \(duplicates='mean'\)"):
        np.testing.assert_array_equal(load_matrix(mtx).toarray(), [[3.0, 2.0], [4.5, 0.0]])
    with pytest.raises(InputError, match=r"found 2 entry position\(s\) given more than once, e.g. row 1, "
                                         r"column 1 \(3 times\)"):
        load_matrix(mtx, duplicates="error")


@pytest.mark.parametrize("text, expected", [
    ("NA,2\n3,4\n", [[np.nan, 2], [3, 4]]),
    ("NaN;2\n3;4\n", [[np.nan, 2], [3, 4]]),
    (",2\n3,4\n", [[np.nan, 2], [3, 4]]),
    ("a,b\nNA,2\n", [[np.nan, 2]]),        # a header of names, then a row with a missing entry
])
def test_a_first_row_of_na_is_data_not_a_header(text, expected):
    np.testing.assert_array_equal(load_matrix(text.encode(), name="m.csv"), expected)


def test_a_first_row_that_mixes_numbers_and_a_word_is_refused_not_dropped():
    with pytest.raises(InputError, match=r"non-numeric value 'x' at data row 1, column 1 \(a header line "
                                         r"holds names only\)"):
        load_matrix(b"x,2\n3,4\n", name="m.csv")


@pytest.mark.parametrize("text, match", [
    (b"1,2,NA\n1,3,4\n", "non-numeric rating 'NA' on line 1"),
    (b"1,2,good\n1,3,4\n", "non-numeric rating 'good' on line 1"),
    (b"1,2,nan\n1,3,4\n", "non-finite rating 'nan' on line 1"),
])
def test_a_first_rating_of_na_is_refused_not_taken_for_a_header(text, match):
    with pytest.raises(InputError, match=match):
        load_ratings(text)


def test_quoted_ids_with_commas_are_one_field():
    r = load_ratings(b'"Smith, J","Book, The",4\n"Doe, A","Book, The",2\n')
    assert list(r.users) == ["Doe, A", "Smith, J"] and list(r.items) == ["Book, The"]
    np.testing.assert_array_equal(dense(r), [[2.0], [4.0]])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_read(encoding):
    np.testing.assert_array_equal(load_matrix("1,2\n3,NA\n".encode(encoding), name="m.csv"),
                                  [[1, 2], [3, np.nan]])
    assert load_ratings("user,item,rating\nzoë,1,4\n".encode(encoding)).users.tolist() == ["zoë"]


def test_decimal_commas_with_semicolons_are_read():
    np.testing.assert_array_equal(load_matrix(b"a;b\n1,5;2\n-0,25;3e2\n", name="m.csv"), [[1.5, 2], [-0.25, 300]])
    np.testing.assert_array_equal(dense(load_ratings(b"user;item;rating\n1;1;4,5\n1;2;3\n")), [[4.5, 3.0]])


@pytest.mark.parametrize("data, match", [
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n",
     r"found an image in EPS format, which this loader does not read; need an image file \(PNG"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', r"found an SVG or XML file"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40),
     r"found an HEIC/HEIF image \(as phones save photos\), need an image file \(PNG.*convert it to JPEG"),
    (b"PK\x03\x04" + bytes(40), r"found a ZIP archive \(an .npz, .xlsx or .zip file\), need an image file"),
])
def test_an_eps_or_svg_image_is_named_not_sent_to_ghostscript(data, match):
    """Also an iPhone's HEIC photo and a file that is no image at all: each named, with what to do."""
    for load in (load_image, image_size, lambda d: load_mask(d, (10, 10))):
        with pytest.raises(InputError, match=match):
            load(data)


def test_a_stored_nan_in_mtx_is_a_missing_entry_and_refused_where_weighted():
    M = load_matrix(b"%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 1\n1 2 nan\n2 2 4\n")
    M2, W = matrix_problem(M)
    assert W.nnz == 2 and np.isfinite(M2.data).all()  # the NaN is missing, as in a dense file
    with pytest.raises(InputError, match=r"^ratings.mtx: found a missing value \(NaN\) at row 1, column 2 "
                                         r"where the weight is 1"):
        matrix_problem(M, sp.csr_matrix(np.ones((2, 2))), names=("ratings.mtx", "w.mtx"))
    M3, W3 = matrix_problem(M, sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]])))
    assert np.isfinite(M3.data).all() and M3.nnz == 2


CUT_EXPONENT_MTX = b"%%MatrixMarket matrix coordinate real general\n1 1 1\n1 1 1.5E-"


def test_an_mtx_value_cut_off_in_its_exponent_is_refused_without_crashing_the_process():
    """SciPy 1.17's Matrix Market reader dies with SIGSEGV on this file; the loader reads .mtx
    itself. In a child process, so that a crash fails this test instead of ending the run."""
    import subprocess
    import sys

    code = ("import sys; from wlra_core.data import load_matrix\n"
            "try:\n    load_matrix(sys.stdin.buffer.read(), name='cut.mtx')\n"
            "except ValueError as exc:\n    print(exc)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], input=CUT_EXPONENT_MTX, capture_output=True, cwd=root,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.decode().startswith("matrix: found a malformed Matrix Market file (could not convert "
                                           "string '1.5E-' to float64")
    with pytest.raises(InputError, match="1.5E-"):
        load_matrix(CUT_EXPONENT_MTX + b"\n")  # with a final newline SciPy read 1.5 silently


@pytest.mark.parametrize("data, match", [
    (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1\n", r"entry \(3, 1\) outside the declared 2×2"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1.5 1\n", r"entry \(1, 1.5\) outside"),
    (b"%%MatrixMarket matrix coordinate real symmetric\n2 3 1\n1 1 1\n", r"symmetric 2×3 matrix, need a square"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2\n1 1 1\n", r"size line '2 2', need 'rows columns entries'"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n2 2\n", r"number of columns changed from 3 to 2"),
    (b"%%MatrixMarket matrix coordinate real general\n2 2 0\n1 1 5\n", r"found 1 entry lines where the header "
                                                                      r"declares 0"),
    (b"%%MatrixMarket tensor coordinate real general\n2 2 1\n1 1 1\n", r"malformed Matrix Market header"),
    (b"%%MatrixMarket matrix coordinate quaternion general\n1 1 1\n1 1 1\n", r"field 'quaternion'"),
])
def test_a_damaged_matrix_market_body_or_header_is_refused_naming_what_was_found(data, match):
    with pytest.raises(InputError, match=match):
        load_matrix(data, name="d.mtx")


@pytest.mark.parametrize("make, kind", [
    (lambda: _npz(), r"a ZIP archive \(an .npz, .xlsx or .zip file\)"),
    (lambda: b"\x1f\x8b\x08\x00\x00\x00", "a gzip-compressed file"),
    (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), r"an Excel 97-2003 workbook \(.xls\)"),
    (lambda: b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + bytes(100), r"a MATLAB .mat file"),
    (lambda: b"\x89HDF\r\n\x1a\n" + bytes(50), "an HDF5 file"),
    (lambda: b"%PDF-1.7\n" + bytes(10), "a PDF document"),
])
def test_a_file_of_another_kind_is_named_with_what_to_do_instead(make, kind):
    data = make()
    with pytest.raises(InputError, match=rf"^matrix: found {kind}, need a .npy, CSV/TSV or .mtx matrix; "):
        load_matrix(data, name="m.csv")
    with pytest.raises(InputError, match=rf"^ratings: found {kind}, need a text file of lines"):
        load_ratings(data)


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, M=np.ones((2, 2)))
    return buffer.getvalue()


def test_text_that_starts_like_a_magic_number_is_still_text():
    assert load_ratings(b"BZh1,x,4\nPAR1,y,3\n%PDF,z,2\nGIF8,q,1\n").users.tolist() == ["%PDF", "BZh1", "GIF8", "PAR1"]


def _png_declaring(width: int, height: int) -> bytes:
    """A 2×2 PNG whose header (IHDR, CRC fixed) declares another size."""
    import struct
    import zlib

    data = bytearray(encode(Image.fromarray(np.zeros((2, 2), dtype=np.uint8))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    return bytes(data)


def test_a_png_header_declaring_more_pixels_than_its_file_can_hold_is_refused_before_decoding():
    data = _png_declaring(5000, 5000)
    assert len(data) < 100
    for load in (load_image, lambda d: load_mask(d, (5000, 5000))):
        with pytest.raises(InputError, match=rf"found a PNG header declaring 5,000×5,000 pixels in a file of "
                                             rf"{len(data)} bytes, which cannot hold them"):
            load(data)
    with pytest.raises(InputError, match="damaged or truncated"):  # under the bound: Pillow finds it
        load_image(_png_declaring(40, 40))


def test_the_png_size_bound_holds_for_the_most_compressible_image():
    flat = Image.fromarray(np.zeros((3000, 3000), dtype=np.uint8)).convert("1")  # 1 bit, all black
    data = encode(flat, optimize=True)
    assert load_image(data).shape == (3000, 3000)
