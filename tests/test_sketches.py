"""wlra_core.sketches: the sketched Gram matrices (S A_i)ᵀ(S A_i) of each row's weighted design."""
import numpy as np
import pytest

from wlra_core.sketches import SKETCHES, _inclusion_probabilities, gram, sketch_gram, sketch_rows


def design(b=6, N=40, k=4, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((N, k))
    w = rng.uniform(0.1, 2.0, (b, N))
    return Y, w


def exact_grams(Y, w):
    return np.einsum("bn,ni,nj->bij", w, Y, Y)


@pytest.mark.parametrize("k", [3, 40])         # below and from 32 on: einsum and BLAS syrk
def test_gram_agrees_with_its_numpy_reference(k):
    SA = np.random.default_rng(1).standard_normal((5, 50, k))
    assert np.allclose(gram(SA), np.einsum("bsi,bsj->bij", SA, SA), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", SKETCHES)
def test_sketched_grams_are_symmetric_positive_semidefinite(kind):
    Y, w = design()
    G = sketch_gram(kind, 16, Y, None, w, np.random.default_rng(2))
    assert G.shape == (6, 4, 4)
    assert np.allclose(G, G.transpose(0, 2, 1))
    assert np.linalg.eigvalsh(G).min() > -1e-10


@pytest.mark.parametrize("kind", SKETCHES)
def test_sketched_grams_are_unbiased(kind):
    """E[(SA)ᵀ(SA)] = AᵀA for every sketch: the mean of 400 draws is within 10 % of it."""
    Y, w = design(b=2, N=32, k=3, seed=3)
    rng = np.random.default_rng(4)
    mean = np.mean([sketch_gram(kind, 12, Y, None, w, rng) for _ in range(400)], axis=0)
    exact = exact_grams(Y, w)
    assert np.linalg.norm(mean - exact) < 0.1 * np.linalg.norm(exact)


@pytest.mark.parametrize("kind", SKETCHES)
def test_the_same_stream_gives_the_same_sketches_however_rows_are_batched(kind):
    Y, w = design(b=7)
    whole = sketch_gram(kind, 16, Y, None, w, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    parts = np.concatenate([sketch_gram(kind, 16, Y, None, w[:3], rng), sketch_gram(kind, 16, Y, None, w[3:], rng)])
    assert np.array_equal(whole, parts)


@pytest.mark.parametrize("kind", SKETCHES)
def test_padding_a_sparse_row_changes_nothing(kind):
    """A ragged row padded to the batch's longest (weight 0) sketches as the row alone."""
    Y, _ = design(N=30)
    idx = np.array([[2, 5, 7, 11, 13, 17, 19, 23, 29, 0, 0, 0]])
    w = np.array([[1.0, 0.5, 2.0, 1.0, 1.5, 0.3, 0.7, 1.0, 2.0, 0.0, 0.0, 0.0]])
    padded = sketch_gram(kind, 8, Y, idx, w, np.random.default_rng(6))
    alone = sketch_gram(kind, 8, Y, idx[:, :9], w[:, :9], np.random.default_rng(6))
    assert np.array_equal(padded, alone)


def test_rownorm_keeps_the_heavy_rows_for_sure():
    q = np.array([[100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    pi = _inclusion_probabilities(q, 4)
    assert pi[0, 0] == 1.0 and np.all((0 < pi) & (pi <= 1))
    assert pi.sum() == pytest.approx(4, rel=1e-6)


def test_an_unknown_sketch_is_refused():
    Y, w = design()
    with pytest.raises(ValueError, match="unknown sketch 'fourier'"):
        sketch_rows("fourier", 8, Y, None, w, slice(0, 2), np.random.default_rng(0))
