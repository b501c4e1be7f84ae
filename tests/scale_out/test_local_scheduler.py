"""Without a distributed Client: Dask's local scheduler runs the same graphs (the model is one task of it)."""

import pytest

pytest.importorskip("dask.array", reason="fastlayers[dask] is not installed (pip install -e '.[test]')")

import copy  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

import fastlayers as fl  # noqa: E402
import fastlayers.dask as fld  # noqa: E402
from tests.scale_out import layers  # noqa: E402
from tests.scale_out.conftest import relative_error  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def no_client():
    from distributed import default_client

    with pytest.raises(ValueError):
        default_client()  # a module before this one left a client behind


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_predict_and_a_step_on_the_local_scheduler(rng, scheduler):
    x = rng.standard_normal((300, 12), dtype=np.float32)
    t = rng.integers(0, 3, 300)
    net = layers.mlp(12, 20, 3)
    ref = copy.deepcopy(net)
    with dask.config.set(scheduler=scheduler):
        Y = fld.predict(net, da.from_array(x, chunks=70))
        assert sum(1 for key in Y.__dask_graph__() if "_predict_block" not in str(key)) == 5 + 1  # blocks, model
        assert relative_error(Y.compute(), net(x)) < 1e-6
        trainer = fld.Trainer(net, da.from_array(x, chunks=70), da.from_array(t, chunks=70), fl.CrossEntropyLoss(),
                              fl.optim.SGD(net.parameters(), lr=0.1))
        rows = rng.permutation(300)[:150]
        trainer.step(rows)
    opt = fl.optim.SGD(ref.parameters(), lr=0.1)
    fl.backward(fl.CrossEntropyLoss()(ref(x[rows]), t[rows]))
    opt.step()
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        assert relative_error(p.data, q.data) <= 1e-5, name
