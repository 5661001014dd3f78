"""wlra_core.io.image_files: image and mask files read with Pillow, on good and bad files made in
memory, under the byte and pixel caps."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from wlra_core.io.image_files import image_size, load_image, load_mask
from wlra_core.problem import InputError

from tests.files import _write, encode, grey_levels, noise_jpeg, noise_png


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
# size caps (wlra_core.limits): refused before decoding or allocating

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
# Issue 12: what an outside tester broke (files, loaders, messages)

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
