"""Real `dask scheduler` and `dask worker` processes on 127.0.0.1, and workers killed with SIGKILL."""

import pytest

pytest.importorskip("distributed", reason="fastlayers[dask] is not installed (pip install -e '.[test]')")

import copy  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

import fastlayers as fl  # noqa: E402
import fastlayers.dask as fld  # noqa: E402
from tests.scale_out import layers  # noqa: E402
from tests.scale_out.conftest import relative_error  # noqa: E402

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and the process tests are POSIX")]


def _one_process_steps(model, x, t, rows_per_step, lr):
    opt = fl.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for rows in rows_per_step:
        opt.zero_grad()
        fl.backward(fl.CrossEntropyLoss()(model(x[rows]), t[rows]))
        opt.step()


def _data(rng, rows=512, features=16, classes=4, chunk=64):
    x = rng.standard_normal((rows, features), dtype=np.float32)
    t = rng.integers(0, classes, rows)
    return x, t, da.from_array(x, chunks=(chunk, features)), da.from_array(t, chunks=chunk)


def test_predict_and_three_training_steps_on_a_scheduler_and_two_workers_started_from_the_command_line(
        dask_processes, rng):
    x, t, X, T = _data(rng)
    with dask_processes.client() as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in client.scheduler_info()["workers"])
        net = fl.Sequential(layers.MyLinear(16, 32), fl.Linear(32, 4))
        assert relative_error(fld.predict(net, X, client=client).compute(), net(x)) < 1e-6
        ref = copy.deepcopy(net)
        steps = [rng.permutation(512)[:128] for _ in range(3)]
        trainer = fld.Trainer(net, X, T, fl.CrossEntropyLoss(), fl.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
                              client=client)
        for rows in steps:
            trainer.step(rows)
    _one_process_steps(ref, x, t, steps, lr=0.1)
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        assert relative_error(p.data, q.data) <= 1e-5, name


def _kill_a_worker_holding_results(client, futures, at_least):
    """SIGKILL a worker once at_least blocks are done (and not all): one that holds some of them."""
    deadline = time.monotonic() + 60
    while sum(f.done() for f in futures) < at_least:
        assert time.monotonic() < deadline, "the blocks did not start"
        time.sleep(0.02)
    assert not all(f.done() for f in futures), "the job finished before the kill: make its blocks slower"
    holders = client.who_has([f for f in futures if f.done()])
    victim = next(addr for addrs in holders.values() for addr in addrs)
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    return victim


def test_a_worker_killed_in_the_middle_of_predict_loses_nothing(dask_processes, rng):
    x = rng.standard_normal((24 * 40, 8), dtype=np.float32)
    X = da.from_array(x, chunks=(40, 8))
    model = layers.Slow(8, 3, seconds=0.1)
    with dask_processes.client() as client:
        Y = fld.predict(model, X, client=client).persist()
        futures = client.futures_of(Y)
        assert len(futures) == 24
        victim = _kill_a_worker_holding_results(client, futures, at_least=4)
        out = Y.compute()
        assert victim not in client.scheduler_info()["workers"]
    assert out.shape == (960, 3) and relative_error(out, model(x)) < 1e-6
    layers.Slow(8, 3, 0).load_state_dict(model.state_dict())


def test_a_worker_killed_between_two_steps_training_goes_on_with_the_other(dask_processes, rng):
    x, t, X, T = _data(rng)
    net = layers.mlp(16, 32, 4)
    ref = copy.deepcopy(net)
    steps = [rng.permutation(512)[:200] for _ in range(5)]
    with dask_processes.client() as client:
        trainer = fld.Trainer(net, X, T, fl.CrossEntropyLoss(), fl.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
                              client=client)
        for rows in steps[:2]:
            trainer.step(rows)
        workers = client.run(os.getpid)
        victim = sorted(workers)[0]
        os.kill(workers[victim], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in client.scheduler_info()["workers"]:
            assert time.monotonic() < deadline, "the scheduler did not notice the dead worker"
            time.sleep(0.05)
        for rows in steps[2:]:
            trainer.step(rows)
        assert list(client.scheduler_info()["workers"]) == [a for a in workers if a != victim]
    _one_process_steps(ref, x, t, steps, lr=0.1)
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        assert relative_error(p.data, q.data) <= 1e-5, name
    layers.mlp(16, 32, 4).load_state_dict(net.state_dict())
