"""fl.TrainStep: the compiled step leaves the model, the gradients and the optimizer's state as the loop it
replaces (zero_grad, forward, loss, fl.backward, step) does, and anything it does not take runs that loop."""

import numpy as np
import pytest

import fastlayers as fl
from tests.numerics import rel_err


def _digits_mlp():
    return fl.Sequential(fl.Linear(64, 128, activation="relu"), fl.Linear(128, 10))


def _relu_module_mlp():
    return fl.Sequential(fl.Linear(20, 32), fl.ReLU(), fl.Linear(32, 16, bias=False), fl.ReLU(), fl.Linear(16, 3))


def _twins(make, seed=3):
    fl.manual_seed(seed)
    a = make()
    fl.manual_seed(seed)
    return a, make()


def _eager_step(net, loss_fn, opt, x, t):
    opt.zero_grad()
    loss = loss_fn(net(x), t)
    fl.backward(loss)
    opt.step()
    return loss


CASES = [
    (_digits_mlp, lambda ps: fl.optim.Adam(ps, lr=1e-2), fl.functional.cross_entropy, 64),
    (_digits_mlp, lambda ps: fl.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), fl.CrossEntropyLoss(reduction="sum"), 64),
    (_relu_module_mlp, lambda ps: fl.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
     fl.CrossEntropyLoss(ignore_index=1), 20),
    (_relu_module_mlp, lambda ps: fl.optim.SGD(ps, lr=0.05), fl.functional.mse_loss, 20),
    (_relu_module_mlp, lambda ps: fl.optim.Adam(ps, lr=1e-2, weight_decay=0.1), fl.MSELoss(reduction="sum"), 20),
]


@pytest.mark.parametrize("make, make_opt, loss_fn, features", CASES)
def test_compiled_step_matches_the_eager_loop(make, make_opt, loss_fn, features, rng):
    compiled_net, eager_net = _twins(make)
    compiled_opt, eager_opt = make_opt(compiled_net.parameters()), make_opt(eager_net.parameters())
    step = fl.TrainStep(compiled_net, loss_fn, compiled_opt)
    classes = list(compiled_net.parameters())[-1].shape[-1]
    for _ in range(3):
        x = rng.standard_normal((24, features)).astype(np.float32)
        t = (rng.integers(0, classes, 24) if loss_fn not in (fl.functional.mse_loss,) and
             not isinstance(loss_fn, fl.MSELoss) else rng.standard_normal((24, classes)).astype(np.float32))
        got = step(x, t)
        assert step.compiled, step.why_eager
        expected = _eager_step(eager_net, loss_fn, eager_opt, x, t)
        assert rel_err(got, expected) < 1e-5
    for (name, p), q in zip(compiled_net.named_parameters(), eager_net.parameters()):
        assert rel_err(p.data, q.data) < 1e-5, name
        assert p.grad is not None and rel_err(p.grad, q.grad) < 1e-4, name
        mine, theirs = compiled_opt.state.get(id(p)), eager_opt.state.get(id(q))
        if isinstance(theirs, dict):
            assert mine["step"] == theirs["step"] == 3
            assert rel_err(mine["exp_avg_sq"], theirs["exp_avg_sq"]) < 1e-4
        elif theirs is not None:
            assert rel_err(mine, theirs) < 1e-4  # SGD's momentum buffer


def test_what_it_does_not_take_runs_the_loop(rng):
    net = fl.Sequential(fl.Linear(8, 16, activation="relu"), fl.Centered(), fl.Linear(16, 4))
    twin = fl.Sequential(fl.Linear(8, 16, activation="relu"), fl.Centered(), fl.Linear(16, 4))
    twin.load_state_dict(net.state_dict())
    step = fl.TrainStep(net, fl.functional.cross_entropy, fl.optim.Adam(net.parameters(), lr=1e-2))
    twin_opt = fl.optim.Adam(twin.parameters(), lr=1e-2)
    x, t = rng.standard_normal((5, 8)).astype(np.float32), rng.integers(0, 4, 5)
    got = step(x, t)
    assert not step.compiled and "Centered" in step.why_eager
    assert rel_err(got, _eager_step(twin, fl.functional.cross_entropy, twin_opt, x, t)) < 1e-6
    assert all(rel_err(p.data, q.data) < 1e-6 for p, q in zip(net.parameters(), twin.parameters()))


@pytest.mark.parametrize("opt_kind, why", [("amsgrad", "amsgrad"), ("partial", "not exactly the model's")])
def test_optimizers_it_does_not_take(opt_kind, why, rng):
    net = _digits_mlp()
    params = list(net.parameters())
    opt = (fl.optim.Adam(params, amsgrad=True) if opt_kind == "amsgrad" else fl.optim.Adam(params[2:]))
    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    step(rng.random((4, 64), dtype=np.float32), rng.integers(0, 10, 4))
    assert not step.compiled and why in step.why_eager


def test_a_lazy_model_compiles_once_it_has_its_parameters(rng):
    net = fl.Sequential(fl.LazyLinear(16, activation="relu"), fl.LazyLinear(3))
    opt = fl.optim.SGD(net.parameters(), lr=0.1)
    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    x, t = rng.random((6, 5), dtype=np.float32), rng.integers(0, 3, 6)
    step(x, t)
    assert not step.compiled and "lazy" in step.why_eager
    step(x, t)
    assert step.compiled, step.why_eager


def test_mixed_with_eager_steps_and_replaced_arrays(rng):
    net = _digits_mlp()
    opt = fl.optim.Adam(net.parameters(), lr=1e-2)
    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    x, t = rng.random((8, 64), dtype=np.float32), rng.integers(0, 10, 8)
    _eager_step(net, fl.functional.cross_entropy, opt, x, t)
    step(x, t)
    assert step.compiled and {s["step"] for s in opt.state.values()} == {2}
    weight = net[0].weight
    replaced = np.zeros_like(weight.data) + np.float32(0.01)  # a loaded checkpoint: new arrays
    weight.data = loaded = replaced.copy()
    step(x.astype(np.float64), t.astype(np.int32))  # cast as the model's own call casts
    assert step.compiled and weight.data is loaded
    assert not np.array_equal(loaded, replaced)  # the new array was trained, in place
    assert {s["step"] for s in opt.state.values()} == {3}


def test_a_bad_label_changes_nothing(rng):
    net = _digits_mlp()
    opt = fl.optim.Adam(net.parameters(), lr=1e-2)
    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    x = rng.random((8, 64), dtype=np.float32)
    step(x, rng.integers(0, 10, 8))
    saved = [p.data.copy() for p in net.parameters()]
    with pytest.raises(IndexError, match="label 12"):
        step(x, np.full(8, 12))
    assert all(np.array_equal(p.data, s) for p, s in zip(net.parameters(), saved))
    assert {s["step"] for s in opt.state.values()} == {1}
