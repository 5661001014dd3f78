"""The one upload path (ui/uploads.py): every kind of file is refused the same way before and after
the library's loader, with a message that names the file, what was found and what is needed."""
import io

import numpy as np
import pytest
from PIL import Image

import wlra_core as wc
from ui import uploads


def png(shape=(4, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_loader_gets_the_bytes_and_its_result_comes_back():
    seen = []
    assert uploads.read("a.png", b"abc", lambda b: seen.append(b) or 7, uploads.IMAGE) == 7
    assert seen == [b"abc"]


@pytest.mark.parametrize("kind, start", [(uploads.IMAGE, "Image 'f': found an empty file (0 bytes), need a PNG"),
                                         (uploads.MASK, "Mask 'f': found an empty file (0 bytes), need a PNG")])
def test_an_empty_file_is_refused_before_the_loader(kind, start):
    with pytest.raises(wc.InputError) as caught:
        uploads.read("f", b"", lambda b: pytest.fail("the loader ran"), kind)
    assert str(caught.value).startswith(start)


@pytest.mark.parametrize("kind", [uploads.IMAGE, uploads.MASK, uploads.RATINGS])
def test_a_file_over_the_upload_limit_is_refused_before_the_loader(monkeypatch, kind):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 3)
    with pytest.raises(wc.InputError) as caught:
        uploads.read("big.bin", b"abcd", lambda b: pytest.fail("the loader ran"), kind)
    assert str(caught.value) == (f"{kind.what} 'big.bin': found 4 bytes (0.0 MB), need at most 3 bytes "
                                 "(2.86102e-06 MB, the upload limit); use a smaller file.")


def test_a_matrix_leaves_the_cap_to_its_loader_which_is_given_it():
    with pytest.raises(wc.InputError) as caught:
        uploads.read("M.npy", b"\x93NUMPY" + b"x" * 100,
                     lambda b: wc.io.load_matrix(io.BytesIO(b), name="M.npy", max_bytes=10), uploads.MATRIX)
    assert str(caught.value).startswith("Matrix file 'M.npy': matrix: found a file of more than")


def test_the_library_message_names_the_file_instead_of_the_input():
    with pytest.raises(wc.InputError) as caught:
        uploads.read("m.png", png(), lambda b: wc.io.load_mask(io.BytesIO(b), (5, 5)), uploads.MASK)
    message = str(caught.value)
    assert message.startswith("Mask 'm.png': ") and "mask: " not in message


def test_any_other_failure_becomes_a_message_never_a_traceback():
    def broken(data):
        raise KeyError("deep inside")
    with pytest.raises(wc.InputError) as caught:
        uploads.read("x.png", b"123", broken, uploads.IMAGE)
    assert str(caught.value) == ("Image 'x.png': could not be read (KeyError: 'deep inside'); "
                                 f"need {uploads.IMAGE_FORMATS}.")


def test_a_loader_that_words_its_messages_for_the_page_is_passed_through():
    def ratings(data):
        raise ValueError("r.csv: no ratings found.")
    with pytest.raises(wc.InputError, match=r"^r\.csv: no ratings found\.$"):
        uploads.read("r.csv", b"123", ratings, uploads.RATINGS)
