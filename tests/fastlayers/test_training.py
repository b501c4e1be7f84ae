"""Training end to end: SGD with momentum on a synthetic regression."""

import numpy as np
import pytest

import fastlayers as fl


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgd_with_momentum_trains_the_lazy_model(seed):
    fl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    w_true = rng.standard_normal((8, 1)).astype(np.float32)
    target = np.sin(x @ w_true) + 0.5 * (x[:, :1] ** 2)  # nonlinear: the hidden layer has work to do

    net = fl.Sequential(fl.LazyLinear(64, activation="relu"), fl.Centered(axis=0), fl.LazyLinear(1))
    opt = fl.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)  # built before the lazy init
    losses = []
    for _ in range(300):
        y = net(x)
        residual = y - target
        losses.append(float(np.mean(residual**2)))
        opt.zero_grad()
        net.backward(2 * residual / residual.size)  # d mean((y - t)^2) / dy
        opt.step()
    assert losses[-1] * 10 <= losses[0], f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"


def test_sgd_step_matches_the_formula():
    p = fl.Parameter(np.array([1.0, -2.0]))
    opt = fl.optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.01)
    p.grad = np.array([0.5, 0.5])
    opt.step()  # buf = g + wd p
    buf = np.array([0.5, 0.5]) + 0.01 * np.array([1.0, -2.0])
    expected = np.array([1.0, -2.0]) - 0.1 * buf
    np.testing.assert_allclose(p.data, expected)
    p.grad = np.array([1.0, 1.0])
    opt.step()  # buf = m buf + g + wd p
    buf = 0.5 * buf + np.array([1.0, 1.0]) + 0.01 * expected
    np.testing.assert_allclose(p.data, expected - 0.1 * buf)


def test_sgd_rejects_bad_settings():
    p = fl.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="lr"):
        fl.optim.SGD([p], lr=0)
    with pytest.raises(ValueError, match="empty"):
        fl.optim.SGD([], lr=0.1)
