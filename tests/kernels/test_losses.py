"""cross_entropy and mse_loss: against float64 NumPy references, finite differences, PyTorch 2.13 (where
installed), and the edge cases PyTorch users rely on."""

import numpy as np
import pytest

import kernels
from kernels import reference
from tests.numerics import GRADIENT_TOLERANCE, TOLERANCE, numerical_grad, rel_err

REDUCTIONS = ["mean", "sum", "none"]


def _problem(rng, n, classes, dtype, ignored=0):
    logits = (rng.standard_normal((n, classes)) * 3).astype(dtype)
    labels = rng.integers(0, classes, n)
    labels[rng.permutation(n)[:ignored]] = -100
    return logits, labels


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, classes, ignored", [(1, 1, 0), (7, 3, 2), (64, 10, 0), (300, 1000, 17)])
def test_cross_entropy_against_float64_reference(n, classes, ignored, dtype, reduction, rng):
    logits, labels = _problem(rng, n, classes, dtype, ignored)
    y = kernels.cross_entropy(logits, labels, reduction)
    expected = reference.cross_entropy(logits.astype(np.float64), labels, reduction)
    assert y.dtype == dtype and y.shape == np.shape(expected)
    assert rel_err(y, expected) <= TOLERANCE[np.dtype(dtype)]
    grad_y = rng.standard_normal(np.shape(expected)).astype(dtype)
    grad, none = kernels.cross_entropy_backward(grad_y, y, logits, labels, reduction)
    expected_grad, _ = reference.cross_entropy_backward(grad_y.astype(np.float64), None, logits.astype(np.float64),
                                                        labels, reduction)
    assert none is None and grad.dtype == dtype
    assert rel_err(grad, expected_grad) <= 10 * TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradient_against_finite_differences(reduction, rng):
    logits, labels = _problem(rng, 5, 4, np.float64, ignored=1)
    grad_y = rng.standard_normal(() if reduction != "none" else (5,))
    grad, _ = kernels.cross_entropy_backward(grad_y, None, logits, labels, reduction)
    loss = lambda v: float(np.sum(kernels.cross_entropy(v, labels, reduction) * grad_y))  # noqa: E731
    assert rel_err(grad, numerical_grad(loss, logits)) <= GRADIENT_TOLERANCE


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_against_reference_and_finite_differences(reduction, rng):
    y, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out = kernels.mse_loss(y, t, reduction)
    assert rel_err(out, reference.mse_loss(y, t, reduction)) <= TOLERANCE[np.dtype(np.float64)]
    grad_y = rng.standard_normal(np.shape(out))
    grad_in, grad_t = kernels.mse_loss_backward(grad_y, out, y, t, reduction)
    loss = lambda a, b: float(np.sum(kernels.mse_loss(a, b, reduction) * grad_y))  # noqa: E731
    assert rel_err(grad_in, numerical_grad(lambda v: loss(v, t), y)) <= GRADIENT_TOLERANCE
    assert rel_err(grad_t, numerical_grad(lambda v: loss(y, v), t)) <= GRADIENT_TOLERANCE
    y32 = y.astype(np.float32)
    assert kernels.mse_loss(y32, t.astype(np.float32), reduction).dtype == np.float32


def test_bad_labels_raise_before_any_work():
    logits = np.zeros((4, 3), np.float32) + 0.5
    with pytest.raises(IndexError, match=r"label 3 at index 2 is out of range for 3 classes"):
        kernels.cross_entropy(logits, np.array([0, 1, 3, 7]))
    with pytest.raises(IndexError, match=r"label -1 at index 0"):
        kernels.cross_entropy(logits, np.array([-1, 0, 0, 0]))
    with pytest.raises(TypeError, match="labels must be integers"):
        kernels.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        kernels.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"logits must be \(n, classes\)"):
        kernels.cross_entropy(logits[0], np.array([0]))
    with pytest.raises(ValueError, match="reduction must be"):
        kernels.cross_entropy(logits, np.array([0, 1, 2, 0]), "average")
    with pytest.raises(ValueError, match=r"grad_y must have the loss's shape \(\)"):
        kernels.cross_entropy_backward(np.ones(4), None, logits, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="input has shape"):
        kernels.mse_loss(np.ones(3), np.ones(4))


def test_ignored_labels_and_all_ignored():
    logits = np.random.default_rng(0).standard_normal((3, 4))
    labels = np.array([1, -100, 2])
    full = kernels.cross_entropy(logits, labels, "none")
    assert full[1] == 0
    assert kernels.cross_entropy(logits, labels) == pytest.approx((full[0] + full[2]) / 2)
    assert np.isnan(kernels.cross_entropy(logits, np.full(3, -100)))  # PyTorch's 0 / 0
    grad, _ = kernels.cross_entropy_backward(np.float64(1), None, logits, labels)
    assert (grad[1] == 0).all()
    assert kernels.cross_entropy(logits, np.array([1, 5, 2]), ignore_index=5) == pytest.approx((full[0] + full[2]) / 2)


def test_large_logits_are_exact_and_nan_propagates():
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], np.float32)
    losses = kernels.cross_entropy(logits, np.array([0, 1]), "none")
    np.testing.assert_allclose(losses, [0.0, np.log(2)], rtol=1e-6, atol=1e-6)
    grad, _ = kernels.cross_entropy_backward(np.ones(2, np.float32), None, logits, np.array([0, 1]), "none")
    assert np.isfinite(grad).all()
    nan_row = np.array([[np.nan, 1.0], [0.0, 1.0]])
    out = kernels.cross_entropy(nan_row, np.array([1, 1]), "none")
    assert np.isnan(out[0]) and np.isfinite(out[1])
    assert np.isnan(kernels.cross_entropy(nan_row, np.array([1, 1])))


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("logits_of", [
    lambda rng: (rng.standard_normal((32, 10)) * 4).astype(np.float32),
    lambda rng: np.where(rng.random((32, 10)) < 0.3, -np.inf, rng.standard_normal((32, 10))).astype(np.float32),
], ids=["finite", "-inf logits"])
def test_cross_entropy_matches_pytorch(torch, reduction, logits_of, rng):
    logits = logits_of(rng)
    logits[:, 0] = np.abs(logits[:, 0])  # a finite logit in every row
    labels = rng.integers(0, 10, 32)
    labels[:4] = -100
    t_logits = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t_logits, torch.tensor(labels), reduction=reduction)
    got = kernels.cross_entropy(logits, labels, reduction)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-5, atol=1e-6)  # inf where PyTorch has inf
    finite = np.isfinite(expected.detach().numpy())
    if finite.all():
        grad_y = np.ones(np.shape(got), np.float32)
        expected.backward(torch.tensor(grad_y))
        grad, _ = kernels.cross_entropy_backward(grad_y, got, logits, labels, reduction)
        np.testing.assert_allclose(grad, t_logits.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_pytorch(torch, reduction, rng):
    y, t = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 3)).astype(np.float32)
    ty = torch.tensor(y, requires_grad=True)
    expected = torch.nn.functional.mse_loss(ty, torch.tensor(t), reduction=reduction)
    got = kernels.mse_loss(y, t, reduction)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-6)
    expected.backward(torch.ones_like(expected))
    grad, _ = kernels.mse_loss_backward(np.ones(np.shape(got), np.float32), got, y, t, reduction)
    np.testing.assert_allclose(grad, ty.grad.numpy(), rtol=1e-6)


def test_the_backward_uses_the_forwards_logsumexp_only_for_its_own_logits(rng):
    logits, labels = _problem(rng, 50, 7, np.float32, ignored=3)
    loss = kernels.cross_entropy(logits, labels)
    assert loss.saved is not None  # each row's logsumexp, kept for the backward
    g = np.ones((), np.float32)
    with_saved, _ = kernels.cross_entropy_backward(g, loss, logits, labels)
    recomputed, _ = kernels.cross_entropy_backward(g, None, logits, labels)
    np.testing.assert_allclose(with_saved, recomputed, rtol=1e-6, atol=1e-9)
    other = logits * 2  # another array: its gradient must not use loss's logsumexp
    expected, _ = kernels.cross_entropy_backward(g, None, other, labels)
    np.testing.assert_array_equal(kernels.cross_entropy_backward(g, loss, other, labels)[0], expected)
    assert (loss * 2).saved is None and loss.copy().saved is None


def test_logits_written_in_place_after_the_forward_are_not_met_with_a_stale_logsumexp(rng):
    logits, labels = _problem(rng, 20, 6, np.float64)
    loss = kernels.cross_entropy(logits, labels)
    logits[3] += 5.0  # the same array, changed: the saved logsumexp of row 3 no longer fits it
    logits[7, 2] = np.nan
    got, _ = kernels.cross_entropy_backward(np.float64(1), loss, logits, labels)
    expected, _ = kernels.cross_entropy_backward(np.float64(1), None, logits, labels)
    np.testing.assert_array_equal(got, expected)


# --- float32 rows of 64 classes and more: float32 exponentials, summed in float32 blocks of 256 ---


def _long_rows(rng, kind):
    classes = 50257 if kind == "vocabulary" else 1000  # 50257: a last block of 81
    logits = (rng.standard_normal((6, classes)) * 3).astype(np.float32)
    if kind == "large":
        logits += np.float32(1e4)  # logits of order 1e4, and a logsumexp float32 cannot hold: hi + lo does
    elif kind == "spread":
        logits[:, ::2] -= np.float32(95)  # half the exponentials underflow float32 (below e^-87.3)
    elif kind == "-inf":
        logits[:, 1::3] = -np.inf
    return logits


@pytest.mark.parametrize("kind", ["normal", "large", "spread", "-inf", "vocabulary"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_long_float32_rows_against_the_float64_formula(kind, reduction, rng):
    logits = _long_rows(rng, kind)
    labels = rng.integers(0, 3, 6) * 3  # never a -inf logit
    y = kernels.cross_entropy(logits, labels, reduction)
    expected = reference.cross_entropy(logits.astype(np.float64), labels, reduction)
    assert rel_err(y, expected) <= TOLERANCE[np.dtype(np.float32)]
    grad_y = rng.standard_normal(np.shape(expected)).astype(np.float32)
    grad, _ = kernels.cross_entropy_backward(grad_y, y, logits, labels, reduction)
    expected_grad, _ = reference.cross_entropy_backward(grad_y.astype(np.float64), None, logits.astype(np.float64),
                                                        labels, reduction)
    assert rel_err(grad, expected_grad) <= 10 * TOLERANCE[np.dtype(np.float32)]
    # each softmax value, not only the whole: the largest entries carry the norm, the small ones must hold too
    big = np.abs(expected_grad) > 1e-30
    assert np.max(np.abs(grad[big] - expected_grad[big]) / np.abs(expected_grad[big])) <= 2e-5 or kind == "spread"


def test_float32_logits_written_in_place_after_the_forward_on_long_rows(rng):
    logits = _long_rows(rng, "normal")
    labels = rng.integers(0, 1000, 6)
    loss = kernels.cross_entropy(logits, labels)
    logits[2] += np.float32(0.01)  # a small change: its softmax from the stale logsumexp sums to 0.99
    logits[4, 7] = np.nan
    got, _ = kernels.cross_entropy_backward(np.float32(1), loss, logits, labels)
    expected, _ = kernels.cross_entropy_backward(np.float32(1), None, logits, labels)
    np.testing.assert_array_equal(got, expected)
    reference_grad, _ = reference.cross_entropy_backward(1.0, None, logits.astype(np.float64), labels)
    rows = [0, 1, 2, 3, 5]
    assert rel_err(got[rows], reference_grad[rows]) <= 10 * TOLERANCE[np.dtype(np.float32)]
    assert np.isnan(got[4]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_many_short_rows_over_several_chunks_and_threads(dtype, reduction, rng):
    """7001 rows of 10 classes: chunks of 256 rows (a partial last one), on the threaded path; ignored rows."""
    logits, labels = _problem(rng, 7001, 10, dtype, ignored=50)
    y = kernels.cross_entropy(logits, labels, reduction)
    expected = reference.cross_entropy(logits.astype(np.float64), labels, reduction)
    assert rel_err(y, expected) <= TOLERANCE[np.dtype(dtype)]
    grad_y = rng.standard_normal(np.shape(expected)).astype(dtype)
    grad, _ = kernels.cross_entropy_backward(grad_y, y, logits, labels, reduction)
    expected_grad, _ = reference.cross_entropy_backward(grad_y.astype(np.float64), None, logits.astype(np.float64),
                                                        labels, reduction)
    assert rel_err(grad, expected_grad) <= 10 * TOLERANCE[np.dtype(dtype)]
    logits[5000] += 1  # stale for that row only: recomputed, the rest from the saved logsumexp
    np.testing.assert_array_equal(kernels.cross_entropy_backward(grad_y, y, logits, labels, reduction)[0],
                                  kernels.cross_entropy_backward(grad_y, None, logits, labels, reduction)[0])
