"""One meaning of a file everywhere (issue 9): the command line and the app build the same M and W
from the same matrix file (.npy, CSV, Matrix Market coordinate, array and pattern), with and
without a weights file, and the same problem from an image and a mask (io.image_problem)."""
import hashlib
import io

import numpy as np
import pytest
import scipy.sparse as sp

import wlra_core as wc
from wlra_core import __main__ as cli


def _npy(A):
    buffer = io.BytesIO()
    np.save(buffer, A, allow_pickle=False)
    return buffer.getvalue()


MATRICES = {
    "dense.npy": _npy(np.array([[1.0, np.nan, 3.0], [0.0, 5.0, 6.0]])),
    "dense.csv": b"1,,3\n0,5,NaN\n",
    "coordinate.mtx": b"%%MatrixMarket matrix coordinate real general\n2 3 4\n1 1 1\n1 3 0\n2 2 5\n2 3 nan\n",
    "array.mtx": b"%%MatrixMarket matrix array real general\n2 3\n1\n0\n2\n5\n3\n6\n",
    "pattern.mtx": b"%%MatrixMarket matrix coordinate pattern general\n2 3 3\n1 1\n2 2\n2 3\n",
}
WEIGHTS = {
    "weights.npy": _npy(np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]])),
    "weights.mtx": b"%%MatrixMarket matrix coordinate real general\n2 3 2\n1 1 2\n2 2 0.5\n",
}


def _same(A, B):
    assert sp.issparse(A) == sp.issparse(B), (type(A), type(B))
    if sp.issparse(A):
        A, B = A.tocsr(), B.tocsr()
        assert A.shape == B.shape
        assert np.array_equal(A.indptr, B.indptr) and np.array_equal(A.indices, B.indices)
        assert np.array_equal(A.data, B.data, equal_nan=True)
    else:
        assert np.array_equal(np.asarray(A), np.asarray(B), equal_nan=True)


def _cli_problem(tmp_path, matrix, weights=None):
    (tmp_path / matrix).write_bytes(MATRICES[matrix])
    argv = ["--matrix", str(tmp_path / matrix), "-k", "1"]
    if weights is not None:
        (tmp_path / weights).write_bytes(WEIGHTS[weights])
        argv += ["--weights", str(tmp_path / weights)]
    problem = cli.load_problem(cli.build_parser().parse_args(argv))
    return problem.M, problem.W


def _app_problem(matrix, weights=None):
    from ui import matrix_upload

    def upload(name, data):
        return {"name": name, "bytes": data, "digest": hashlib.sha256(data).hexdigest()}

    uploaded = matrix_upload._build(upload(matrix, MATRICES[matrix]),
                                    None if weights is None else upload(weights, WEIGHTS[weights]))
    return uploaded.M, uploaded.W


@pytest.mark.parametrize("weights", [None, *WEIGHTS])
@pytest.mark.parametrize("matrix", list(MATRICES))
def test_the_cli_and_the_app_read_a_matrix_file_as_the_same_problem(tmp_path, matrix, weights):
    M_cli, W_cli = _cli_problem(tmp_path, matrix, weights)
    M_app, W_app = _app_problem(matrix, weights)
    _same(M_cli, M_app)
    _same(W_cli, W_app)
    # and the problem is what the library says a matrix file means
    loaded = [wc.io.load_matrix(MATRICES[matrix], name=matrix)]
    if weights is not None:
        loaded.append(wc.io.load_matrix(WEIGHTS[weights], name=weights))
    M_lib, W_lib = wc.io.matrix_problem(*loaded)
    _same(M_cli, M_lib)
    _same(W_cli, W_lib)


def test_the_cli_builds_an_image_problem_with_image_problem(tmp_path):
    from PIL import Image as pil
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    mask = np.where(rng.random((6, 5)) < 0.5, 255, 0).astype(np.uint8)
    pil.fromarray(pixels).save(tmp_path / "img.png")
    pil.fromarray(mask).save(tmp_path / "mask.png")
    args = cli.build_parser().parse_args(["--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"),
                                          "-k", "2"])
    problem = cli.load_problem(args)
    image = wc.io.load_image(str(tmp_path / "img.png"))
    M, W = wc.io.image_problem(image, wc.io.load_mask(str(tmp_path / "mask.png"), image.shape))
    _same(problem.M, M)
    _same(problem.W, W)
    assert M.shape == (6, 15) and set(np.unique(W)) == {0.0, 1.0}
    assert np.all(M[W == 0] == 0) and np.array_equal(M[W > 0], wc.io.image_to_matrix(image)[W > 0])
    from ui.models import inpainting  # the app's page, on the pixel matrix, builds the same problem

    weights = wc.io.load_mask(str(tmp_path / "mask.png"), image.shape)
    app = inpainting.build_problem(image, weights, "img", lift="pixels")
    # ... less the pixels it holds out of the fit to pick its best iteration
    M_fit, W_fit = wc.io.image_problem(image, np.where(app.held, 0.0, weights))
    _same(app.M, M_fit)
    _same(app.W, W_fit)
    assert app.held.any() and np.all(weights[app.held] > 0)
