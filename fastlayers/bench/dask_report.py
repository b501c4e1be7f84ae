"""``fastlayers bench --only dask``: fastlayers.dask on a LocalCluster against one process on the same machine.

- predict: a model over a Zarr store on disk, streamed block by block: 2 worker processes x 1
  thread (``predict(...).to_zarr``) against one process with the kernels on every core (a
  loop over the store's blocks, each written as it is done).
- training: one synchronous data-parallel step (Trainer.step) against the same step in one
  process, at a global batch of 4096 on the digits MLP (64 -> 128 -> 10, Adam).

Runs alternate between the contenders; the ratios are of medians (one process's time / the
cluster's: > 1, the cluster is faster).
"""

import os
import statistics
import tempfile
import time

import numpy as np

ROWS, WIDTH, CHUNK = 262_144, 256, 16_384  # 256 MiB of float32 in 16 blocks of 16 MiB
TRAIN_ROWS, BATCH = 16_384, 4_096


def _predict_model():
    import fastlayers as fl

    fl.manual_seed(0)
    return fl.Sequential(fl.Linear(WIDTH, 512, activation="relu"), fl.Linear(512, 16))


def _one_process_predict(net, source, target):
    import zarr

    import fastlayers as fl

    x = zarr.open_array(source, mode="r")
    y = zarr.open_array(target, mode="w", shape=(x.shape[0], 16), chunks=(CHUNK, 16), dtype=np.float32)
    with fl.no_grad():
        for start in range(0, x.shape[0], CHUNK):
            y[start:start + CHUNK] = net(x[start:start + CHUNK])


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(rounds=5):
    import dask.array as da
    from distributed import Client, LocalCluster

    import fastlayers as fl
    import fastlayers.dask as fld

    results = {}
    with tempfile.TemporaryDirectory() as folder, \
            LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        source = os.path.join(folder, "x.zarr")
        da.random.default_rng(0).standard_normal((ROWS, WIDTH), dtype=np.float32, chunks=(CHUNK, WIDTH)).to_zarr(source)
        net = _predict_model()
        contenders = {
            "one process": lambda: _one_process_predict(net, source, os.path.join(folder, "y1.zarr")),
            "2 workers x 1 thread": lambda: fld.predict(net, da.from_zarr(source)).to_zarr(
                os.path.join(folder, "y2.zarr"), overwrite=True),
        }
        times = {name: [] for name in contenders}
        for _ in range(rounds + 1):  # the first round warms up: compiles, fills the page cache
            for name, fn in contenders.items():
                times[name].append(_timed(fn))
        results["predict"] = {name: statistics.median(t[1:]) for name, t in times.items()}

        rng = np.random.default_rng(1)
        x = rng.random((TRAIN_ROWS, 64), dtype=np.float32)
        t = rng.integers(0, 10, TRAIN_ROWS)
        local, remote = _digits_mlp(), _digits_mlp()
        trainer = fld.Trainer(remote, da.from_array(x, chunks=(TRAIN_ROWS // 4, 64)),
                              da.from_array(t, chunks=TRAIN_ROWS // 4), fl.CrossEntropyLoss(),
                              fl.optim.Adam(remote.parameters()), client=client)
        opt, loss = fl.optim.Adam(local.parameters()), fl.CrossEntropyLoss()

        def local_step(rows):
            opt.zero_grad()
            fl.backward(loss(local(x[rows]), t[rows]))
            opt.step()

        steps = {"one process": [], "2 workers x 1 thread": []}
        for i in range(4 * rounds + 2):
            rows = rng.permutation(TRAIN_ROWS)[:BATCH]
            steps["one process"].append(_timed(lambda: local_step(rows)))
            steps["2 workers x 1 thread"].append(_timed(lambda: trainer.step(rows)))
        results["train step"] = {name: statistics.median(s[2:]) for name, s in steps.items()}
    _print(results)
    return results


def _digits_mlp():
    import fastlayers as fl

    fl.manual_seed(0)
    return fl.Sequential(fl.Linear(64, 128, activation="relu"), fl.Linear(128, 10))


def _print(results):
    from .report import _format_time

    print(f"fastlayers.dask on a LocalCluster (2 worker processes x 1 thread) against one process, "
          f"{os.cpu_count()} cores")
    p = results["predict"]
    gb = ROWS * WIDTH * 4 / 2**30
    print(f"  predict, {gb:.2f} GiB of float32 from Zarr on disk through Linear({WIDTH}, 512, relu), Linear(512, 16):")
    for name, s in p.items():
        print(f"    {name:22s} {_format_time(s):>9s}  {gb / s:.2f} GiB/s")
    print(f"    throughput, the cluster's / one process's: {p['one process'] / p['2 workers x 1 thread']:.2f}x")
    s = results["train step"]
    print(f"  train step, digits MLP (64 -> 128 -> 10, Adam), global batch {BATCH} of {TRAIN_ROWS} rows in 4 blocks:")
    for name, t in s.items():
        print(f"    {name:22s} {_format_time(t):>9s}")
    print(f"    one process's time / the cluster's: {s['one process'] / s['2 workers x 1 thread']:.2f}x")
