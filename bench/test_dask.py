"""fastlayers.dask: predict over a Zarr store on disk, a LocalCluster of 2 workers x 1 thread against one
process; and one data-parallel training step at a global batch of 4096 against the same step in one process.
The report's section: fastlayers bench --only dask."""

import os

import numpy as np
import pytest

pytest.importorskip("distributed", reason="needs fastlayers[dask]")

import dask.array as da  # noqa: E402

import fastlayers as fl  # noqa: E402
import fastlayers.dask as fld  # noqa: E402
from fastlayers.bench import dask_report as job  # noqa: E402


@pytest.fixture(scope="module")
def cluster_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dask") / "x.zarr")
    da.random.default_rng(0).standard_normal((job.ROWS, job.WIDTH), dtype=np.float32,
                                             chunks=(job.CHUNK, job.WIDTH)).to_zarr(path)
    return path


@pytest.mark.parametrize("where", ["one process", "2 workers x 1 thread"])
def test_predict_from_zarr(benchmark, cluster_client, store, where):
    net = job._predict_model()
    out = os.path.join(os.path.dirname(store), f"y-{where.replace(' ', '-')}.zarr")
    if where == "one process":
        run = lambda: job._one_process_predict(net, store, out)  # noqa: E731
    else:
        run = lambda: fld.predict(net, da.from_zarr(store)).to_zarr(out, overwrite=True)  # noqa: E731
    benchmark.group = "dask predict, Zarr on disk"
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("where", ["one process", "2 workers x 1 thread"])
def test_train_step_at_batch_4096(benchmark, cluster_client, where):
    rng = np.random.default_rng(1)
    x = rng.random((job.TRAIN_ROWS, 64), dtype=np.float32)
    t = rng.integers(0, 10, job.TRAIN_ROWS)
    net, loss = job._digits_mlp(), fl.CrossEntropyLoss()
    opt = fl.optim.Adam(net.parameters())
    rows = rng.permutation(job.TRAIN_ROWS)[:job.BATCH]
    if where == "one process":
        def run():
            opt.zero_grad()
            fl.backward(loss(net(x[rows]), t[rows]))
            opt.step()
    else:
        trainer = fld.Trainer(net, da.from_array(x, chunks=(job.TRAIN_ROWS // 4, 64)),
                              da.from_array(t, chunks=job.TRAIN_ROWS // 4), loss, opt, client=cluster_client)
        run = lambda: trainer.step(rows)  # noqa: E731
    benchmark.group = "dask train step, batch 4096"
    benchmark.pedantic(run, rounds=20, warmup_rounds=2)
