"""Training end to end: SGD with momentum on a synthetic regression."""

import gc
import weakref

import numpy as np
import pytest

import fastlayers as fl
import kernels


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


# --- losses in the layer API, and the loop a PyTorch user writes ---

from tests.fastlayers.gradcheck import check_backward  # noqa: E402


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_loss_inside_a_forward_against_finite_differences(reduction, rng):
    labels = rng.integers(0, 3, 4)
    target = rng.standard_normal((4, 3))

    class WithLosses(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(5, 3, dtype=np.float64)

        def forward(self, x):
            y = self.lin(x)
            return fl.functional.cross_entropy(y, labels, reduction=reduction) + fl.MSELoss(reduction)(y, target).sum()

    check_backward(WithLosses(), rng.standard_normal((4, 5)), rng)


@pytest.mark.parametrize("spelling", ["fl.backward(F)", "loss.backward()", "criterion module", "net.backward"])
def test_every_spelling_of_the_loop_gives_the_same_gradients(spelling, rng):
    x, t = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)
    fl.manual_seed(0)
    net = fl.Sequential(fl.Linear(5, 6, activation="relu"), fl.Linear(6, 3))
    import kernels

    y = kernels.linear(kernels.linear_relu(x, net[0].weight.data, net[0].bias.data), net[1].weight.data,
                       net[1].bias.data)
    grad_y, _ = kernels.cross_entropy_backward(np.float32(1), None, y, t)
    net(x)
    net.backward(grad_y)
    expected = [p.grad for p in net.parameters()]
    net.zero_grad()
    if spelling == "fl.backward(F)":
        loss = fl.functional.cross_entropy(net(x), t)
        fl.backward(loss)
    elif spelling == "loss.backward()":
        loss = fl.functional.cross_entropy(net(x), t)
        loss.backward()
    elif spelling == "criterion module":
        loss = fl.CrossEntropyLoss()(net(x), t)
        assert isinstance(loss, np.ndarray) and loss.shape == ()
        fl.backward(loss)
    else:
        y = net(x)
        loss = fl.functional.cross_entropy(y, t)
        net.backward(grad_y)
    assert float(loss) == pytest.approx(float(kernels.cross_entropy(y, t)), rel=1e-6)
    for p, e in zip(net.parameters(), expected):
        np.testing.assert_allclose(p.grad, e, rtol=1e-6, atol=1e-7)


def test_a_model_called_on_a_models_output_records_one_tape(rng):
    first = fl.Linear(3, 4, dtype=np.float64)
    second = fl.Sequential(fl.ReLU(), fl.Linear(4, 2, dtype=np.float64))
    x = rng.standard_normal((5, 3))
    y = second(first(x))
    g = rng.standard_normal(y.shape)
    grad_h = second.backward(g)
    assert first.weight.grad is not None  # the backward went on through first
    first(x)  # a new recording: first's own backward takes grad_h
    first.zero_grad()
    w_grad = first.weight.grad
    first.backward(grad_h)
    assert w_grad is None and first.weight.grad is not None


def test_labels_changed_after_the_forward_are_checked_again_by_the_backward(rng):
    """The tape's backward gets the labels as the forward was given them: one written out of range since raises
    (it would index outside the gradient), and a list or int32 labels give the int64 array's gradients."""
    net = fl.Linear(5, 3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    loss = fl.functional.cross_entropy(net(x), labels)
    labels[1] = 3
    with pytest.raises(IndexError, match="label 3 at index 1 is out of range for 3 classes"):
        fl.backward(loss)
    assert net.weight.grad is None
    grads = []
    for given in (np.array([0, 2, 1, 2]), [0, 2, 1, 2], np.array([0, 2, 1, 2], np.int32)):
        net.zero_grad()
        fl.backward(fl.functional.cross_entropy(net(x), given))
        grads.append(net.weight.grad)
    np.testing.assert_array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[2], grads[0])


def test_backward_errors_of_the_loop(rng):
    net = fl.Linear(3, 2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"pass grad .* for a loss that is not a single value"):
        fl.backward(fl.functional.cross_entropy(net(x), np.zeros(4, int), reduction="none"))
    loss = fl.functional.cross_entropy(net(x), np.zeros(4, int))
    fl.backward(loss)
    with pytest.raises(RuntimeError, match="already used by a backward"):
        fl.backward(loss)
    with pytest.raises(RuntimeError, match="already used by a backward"):
        net.backward(np.ones((4, 2)))
    with fl.no_grad():
        plain = fl.functional.cross_entropy(net(x), np.zeros(4, int))
    with pytest.raises(RuntimeError, match="not the output of a recorded forward"):
        fl.backward(plain)


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


@pytest.mark.parametrize("name, options", [
    ("Adam", {}), ("Adam", {"weight_decay": 0.1, "betas": (0.8, 0.99)}), ("Adam", {"amsgrad": True}),
    ("AdamW", {}), ("AdamW", {"weight_decay": 0.1, "amsgrad": True, "eps": 1e-6}),
])
def test_adam_matches_pytorch_for_20_steps(torch, name, options, rng):
    w0 = rng.standard_normal((30, 20)).astype(np.float32)
    b0 = rng.standard_normal(7).astype(np.float32)
    ours = [fl.Parameter(w0.copy()), fl.Parameter(b0.copy())]
    theirs = [torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))]
    opt = getattr(fl.optim, name)(ours, lr=1e-2, **options)
    t_opt = getattr(torch.optim, name)(theirs, lr=1e-2, **options)
    for _ in range(20):
        for p, tp in zip(ours, theirs):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, tp.grad = g, torch.tensor(g)
        opt.step()
        t_opt.step()
    for p, tp in zip(ours, theirs):
        expected = tp.detach().numpy()
        assert p.dtype == np.float32
        assert np.linalg.norm(p.data - expected) <= 1e-6 * np.linalg.norm(expected)


def test_adam_first_step_matches_the_formula():
    p = fl.Parameter(np.array([1.0, -2.0, 3.0]))
    opt = fl.optim.Adam([p], lr=0.1, weight_decay=0.5)
    g = np.array([0.5, -0.25, 0.0])
    p.grad = g
    opt.step()
    g = g + 0.5 * np.array([1.0, -2.0, 3.0])
    m, v = 0.1 * g, 0.001 * g * g
    expected = np.array([1.0, -2.0, 3.0]) - 0.1 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)


@pytest.mark.parametrize("replaced", ["data", "exp_avg"])
def test_adam_updates_the_arrays_a_parameter_and_its_state_hold_now(replaced, rng):
    """Adam keeps a kernels.AdamStep for its parameters' arrays between steps: an array assigned anew since (a
    parameter's data, a moment) must be the one updated."""
    g = rng.standard_normal((6, 4)).astype(np.float32)
    p = fl.Parameter(rng.standard_normal((6, 4)).astype(np.float32))
    opt = fl.optim.Adam([p], lr=0.1)
    p.grad = g
    opt.step()
    state = opt.state[id(p)]
    if replaced == "data":
        p.data = p.data.copy()
    else:
        state["exp_avg"] = state["exp_avg"] * 2
    expected, m, v = p.data.copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()
    kernels.adam_update(expected, g, m, v, step=2, lr=0.1)
    opt.step()
    np.testing.assert_array_equal(p.data, expected)
    np.testing.assert_array_equal(state["exp_avg"], m)


def test_adam_lets_go_of_arrays_replaced_since_its_last_step(rng):
    p = fl.Parameter(rng.standard_normal((6, 4)).astype(np.float32))
    opt = fl.optim.Adam([p], lr=0.1)
    p.grad = rng.standard_normal((6, 4)).astype(np.float32)
    opt.step()
    old = weakref.ref(p.data)
    p.data = p.data.copy()
    opt.step()
    gc.collect()
    assert old() is None  # not held by the kernels.AdamStep of the step before


def test_optimizers_skip_parameters_without_gradients_and_check_settings():
    fl.manual_seed(0)
    net = fl.Sequential(fl.LazyLinear(3))
    opt = fl.optim.Adam(net.parameters())  # built before the lazy init
    net(np.ones((2, 4), np.float32))
    before = net[0].weight.data.copy()
    opt.step()  # no gradients yet: nothing moves
    np.testing.assert_array_equal(net[0].weight.data, before)
    with pytest.raises(ValueError, match="betas"):
        fl.optim.Adam(net.parameters(), betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="lr"):
        fl.optim.AdamW(net.parameters(), lr=-1)


def test_batches_pair_and_shuffle_reproducibly():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    plain = list(fl.data.batches(X, y, batch_size=4))
    assert [len(b[0]) for b in plain] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in plain]), y)
    shuffled = list(fl.data.batches(X, y, batch_size=4, shuffle=True, seed=3))
    again = list(fl.data.batches(X, y, batch_size=4, shuffle=True, seed=3))
    order = np.concatenate([b[1] for b in shuffled])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    assert all((a[1] == b[1]).all() for a, b in zip(shuffled, again))
    for xb, yb in shuffled:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # pairs stay pairs
    assert [len(b[0]) for b in fl.data.batches(X, y, batch_size=4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="same length"):
        list(fl.data.batches(X, y[:5], batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        list(fl.data.batches(X, batch_size=0))


def _digits_split(seed):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)  # pixels 0..16
    order = np.random.default_rng(seed).permutation(len(X))
    cut = int(0.8 * len(X))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


def train_digits(seed, epochs=30, batch_size=64):
    """The README's loop on scikit-learn's digits: (model, test accuracy after each epoch)."""
    X_train, y_train, X_test, y_test = _digits_split(seed)
    fl.manual_seed(seed)
    net = fl.Sequential(fl.Linear(64, 128, activation="relu"), fl.Linear(128, 10))
    opt = fl.optim.Adam(net.parameters(), lr=1e-3)
    accuracies = []
    for epoch in range(epochs):
        for x, t in fl.data.batches(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed * 1000 + epoch):
            opt.zero_grad()
            loss = fl.functional.cross_entropy(net(x), t)
            fl.backward(loss)
            opt.step()
        with fl.no_grad():
            accuracies.append(float((net(X_test).argmax(axis=1) == y_test).mean()))
    return net, accuracies


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_classifier_reaches_95_percent(seed):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install -e '.[test]')")
    _, accuracies = train_digits(seed)
    assert max(accuracies) >= 0.95 and accuracies[-1] >= 0.95, accuracies
