"""fastlayers.dask.fit / Trainer on a LocalCluster: the same parameters as the one-process loop."""

import pytest

pytest.importorskip("distributed", reason="fastlayers[dask] is not installed (pip install -e '.[test]')")

import copy  # noqa: E402

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

import fastlayers as fl  # noqa: E402
import fastlayers.dask as fld  # noqa: E402
from tests.scale_out import layers  # noqa: E402
from tests.scale_out.conftest import relative_error  # noqa: E402

pytestmark = pytest.mark.timeout(240)


def one_process_fit(model, x, t, loss, optimizer, epochs, batch_size, seed):
    """The loop fit() stands for, written as a user writes it."""
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        for xb, tb in fl.data.batches(x, t, batch_size=batch_size, shuffle=True, seed=rng):
            optimizer.zero_grad()
            value = loss(model(xb), tb)
            fl.backward(value)
            optimizer.step()
            losses.append(float(fl.detach(value)))
    return losses


def assert_same_parameters(a, b, tol=1e-5):
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert relative_error(p.data, q.data) <= tol, name


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: fl.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: fl.optim.Adam(ps, lr=1e-2),
    lambda ps: fl.optim.AdamW(ps, lr=1e-2, amsgrad=True),
], ids=["sgd-momentum", "adam", "adamw-amsgrad"])
def test_five_steps_on_two_workers_equal_five_steps_in_one_process(client, rng, make_optimizer):
    """In float64: the two loops sum a batch's gradient in different orders (by block, then across blocks),
    and in float32 Adam's normalisation carried that rounding to 3.4e-5 relative in a weight for one seed of
    six (with BLAS's GEMM as with ours); in float64 it was below 8e-16 for each of six seeds."""
    x = rng.standard_normal((640, 64))
    t = rng.integers(0, 10, 640)
    net = layers.mlp(dtype=np.float64)
    ref = copy.deepcopy(net)
    X, T = da.from_array(x, chunks=(90, 64)), da.from_array(t, chunks=90)  # batches span blocks unevenly
    losses = fld.fit(net, X, T, fl.CrossEntropyLoss(), make_optimizer(net.parameters()), epochs=1, batch_size=128,
                     seed=5)
    expected = one_process_fit(ref, x, t, fl.CrossEntropyLoss(), make_optimizer(ref.parameters()), 1, 128, 5)
    assert len(losses) == 5
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    assert_same_parameters(net, ref, tol=1e-12)


def test_a_users_numpy_layer_and_mse_train_the_same_way(client, rng):
    x = rng.standard_normal((300, 8), dtype=np.float32)
    target = np.sin(x[:, :2]).astype(np.float32)
    net = fl.Sequential(layers.MyLinear(8, 16, seed=3), fl.Linear(16, 2))
    ref = copy.deepcopy(net)
    X, T = da.from_array(x, chunks=(64, 8)), da.from_array(target, chunks=(64, 2))
    fld.fit(net, X, T, fl.MSELoss(), fl.optim.SGD(net.parameters(), lr=0.05), epochs=2, batch_size=100, seed=1)
    one_process_fit(ref, x, target, fl.MSELoss(), fl.optim.SGD(ref.parameters(), lr=0.05), 2, 100, 1)
    assert_same_parameters(net, ref)


@pytest.mark.parametrize("loss", [fl.CrossEntropyLoss(ignore_index=3), fl.CrossEntropyLoss(reduction="sum")],
                         ids=["mean-ignoring-a-class", "sum"])
def test_a_mean_over_kept_labels_and_a_sum_are_each_the_one_process_loss(client, rng, loss):
    x = rng.standard_normal((200, 6), dtype=np.float32)
    t = rng.integers(0, 4, 200)
    t[:60] = 3  # the first block has no label kept at all under ignore_index=3
    net = layers.mlp(6, 12, 4)
    ref = copy.deepcopy(net)
    trainer = fld.Trainer(net, da.from_array(x, chunks=50), da.from_array(t, chunks=50), loss,
                          fl.optim.SGD(net.parameters(), lr=0.1))
    rows = rng.permutation(200)[:120]
    got = trainer.step(rows)
    opt = fl.optim.SGD(ref.parameters(), lr=0.1)
    value = loss(ref(x[rows]), t[rows])
    fl.backward(value)
    opt.step()
    assert got == pytest.approx(float(fl.detach(value)), rel=1e-5)
    assert_same_parameters(net, ref)


def test_the_digits_classifier_trained_through_fit_reaches_the_one_process_accuracy(client):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install -e '.[test]')")
    from tests.fastlayers.test_training import _digits_split

    x, t, x_test, t_test = _digits_split(0)
    accuracies = []
    for distributed in (True, False):
        net = layers.mlp(64, 128, 10, seed=0)
        opt = fl.optim.Adam(net.parameters(), lr=1e-3)
        if distributed:
            X, T = da.from_array(x, chunks=(360, 64)), da.from_array(t, chunks=360)
            fld.fit(net, X, T, fl.CrossEntropyLoss(), opt, epochs=15, batch_size=64, seed=0)
        else:
            one_process_fit(net, x, t, fl.CrossEntropyLoss(), opt, 15, 64, 0)
        with fl.no_grad():
            accuracies.append(float((net(x_test).argmax(axis=1) == t_test).mean()))
    assert accuracies[0] >= 0.95 and abs(accuracies[0] - accuracies[1]) <= 1 / len(t_test), accuracies


def test_an_error_in_a_users_layer_reaches_the_caller_and_the_model_is_untouched(client, rng):
    x = rng.standard_normal((200, 4), dtype=np.float32)
    x[170, 0] = 500.0
    net = layers.RefusesLargeValues(4, 3)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    trainer = fld.Trainer(net, da.from_array(x, chunks=50), da.from_array(rng.integers(0, 3, 200), chunks=50),
                          fl.CrossEntropyLoss(), fl.optim.Adam(net.parameters()))
    trainer.step(np.arange(0, 100))
    after_one = {k: v.copy() for k, v in net.state_dict().items()}
    assert any(not np.array_equal(before[k], after_one[k]) for k in before)
    with pytest.raises(ValueError, match="RefusesLargeValues: an input above 100"):
        trainer.step(np.arange(100, 200))
    state = net.state_dict()
    assert all(np.array_equal(state[k], after_one[k]) for k in before)
    layers.RefusesLargeValues(4, 3).load_state_dict(state)


def test_fit_refuses_what_it_cannot_train(client, rng):
    x = rng.standard_normal((64, 8), dtype=np.float32)
    X, T = da.from_array(x, chunks=32), da.from_array(rng.integers(0, 2, 64), chunks=32)
    net, other = layers.mlp(8, 4, 2), layers.mlp(8, 4, 2)
    with pytest.raises(ValueError, match="optimizer must update this model's parameters"):
        fld.fit(net, X, T, fl.CrossEntropyLoss(), fl.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="reduction='none'"):
        fld.fit(net, X, T, fl.CrossEntropyLoss(reduction="none"), fl.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="same, known number of rows"):
        fld.fit(net, X, T[:10], fl.CrossEntropyLoss(), fl.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="batch_size"):
        fld.fit(net, X, T, fl.CrossEntropyLoss(), fl.optim.SGD(net.parameters(), lr=0.1), batch_size=0)
    with pytest.raises(IndexError, match=r"in \[0, 64\)"):
        fld.Trainer(net, X, T, fl.CrossEntropyLoss(), fl.optim.SGD(net.parameters(), lr=0.1)).step([3, 64])
