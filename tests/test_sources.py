"""wlra_core.io.sources: what every loader shares, tested through the loaders: the size cap on
bytes, paths that are not regular files, the kind of a binary file, text encodings and separators."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

from wlra_core.io.image_files import image_size, load_image, load_mask
from wlra_core.io.matrices import load_matrix
from wlra_core.io.ratings import load_ratings
from wlra_core.problem import InputError

from tests.files import dense, noise_png, npy_bytes


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


# ------------------------------------------------------------------------------------------------
# Issue 12: what an outside tester broke (files, loaders, messages)

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


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_read(encoding):
    np.testing.assert_array_equal(load_matrix("1,2\n3,NA\n".encode(encoding), name="m.csv"),
                                  [[1, 2], [3, np.nan]])
    assert load_ratings("user,item,rating\nzoë,1,4\n".encode(encoding)).users.tolist() == ["zoë"]


def test_decimal_commas_with_semicolons_are_read():
    np.testing.assert_array_equal(load_matrix(b"a;b\n1,5;2\n-0,25;3e2\n", name="m.csv"), [[1.5, 2], [-0.25, 300]])
    np.testing.assert_array_equal(dense(load_ratings(b"user;item;rating\n1;1;4,5\n1;2;3\n")), [[4.5, 3.0]])


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
