"""fastlayers.dask.predict on a LocalCluster: against the model in one process, larger than memory, bad input."""

import pytest

pytest.importorskip("distributed", reason="fastlayers[dask] is not installed (pip install -e '.[test]')")
pytest.importorskip("zarr", reason="fastlayers[dask] is not installed (pip install -e '.[test]')")

import os  # noqa: E402

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
import zarr  # noqa: E402

import fastlayers as fl  # noqa: E402
import fastlayers.dask as fld  # noqa: E402
from tests.scale_out import layers  # noqa: E402
from tests.scale_out.conftest import relative_error  # noqa: E402

pytestmark = pytest.mark.timeout(180)


def _uneven(rng, rows, *features):
    """A Dask array of standard-normal float32 rows in blocks of unequal sizes."""
    x = rng.standard_normal((rows, *features), dtype=np.float32)
    sizes = [37, 100, 1, 62] * (rows // 200) + ([rows % 200] if rows % 200 else [])
    return x, da.from_array(x, chunks=(tuple(sizes), *((f,) for f in features)))


def test_predict_gives_the_one_process_outputs_block_for_block(client, rng):
    net = layers.mlp()
    x, X = _uneven(rng, 1000, 64)
    Y = fld.predict(net, X)
    assert Y.chunks == (X.chunks[0], (10,)) and Y.dtype == np.float32 and type(Y._meta) is np.ndarray
    out = Y.compute()
    assert relative_error(out, net(x)) < 1e-6
    assert relative_error(out, np.maximum(x.astype(np.float64) @ net[0].weight.data + net[0].bias.data, 0)
                          @ net[1].weight.data + net[1].bias.data) < 1e-5  # a float64 NumPy reference


@pytest.mark.parametrize("make, features, tail, dtype", [
    (fl.FFTHalf, (16,), (8,), np.complex64),           # complex outputs
    (layers.SquaredNorm, (5,), (), np.float32),          # one value per row: a 1-D result
    (lambda: layers.MyLinear(8, 4), (3, 8), (3, 4), np.float32),  # N-D rows, a user's NumPy layer
    (lambda: fl.Sequential(layers.MyLinear(8, 6), fl.Linear(6, 2)), (8,), (2,), np.float32),
])
def test_predict_takes_the_outputs_shape_and_dtype_from_the_model(client, rng, make, features, tail, dtype):
    model = make()
    x, X = _uneven(rng, 400, *features)
    Y = fld.predict(model, X)
    assert Y.shape == (400, *tail) and Y.dtype == dtype and Y._meta.dtype == dtype and Y.ndim == 1 + len(tail)
    assert relative_error(Y.compute(), model(x)) < 1e-6


def test_a_lazy_model_gets_its_parameters_and_batch_size_changes_nothing(client, rng):
    net = fl.Sequential(fl.LazyLinear(32, activation="relu"), fl.LazyLinear(3))
    x, X = _uneven(rng, 600, 20)
    whole = fld.predict(net, X).compute()
    assert type(net[0]) is fl.Linear and net[0].weight.shape == (20, 32)
    assert relative_error(fld.predict(net, X, batch_size=7).compute(), whole) < 1e-6  # BLAS blocks by size
    assert relative_error(whole, net(x)) < 1e-6


def test_the_model_is_sent_once_not_once_per_block(client, rng):
    model = layers.CountsPickles(fl.Linear(8, 4))
    layers.CountsPickles.pickled = 0
    x, X = _uneven(rng, 2000, 8)
    assert X.numblocks[0] == 40
    out = fld.predict(model, X).compute()
    assert layers.CountsPickles.pickled == 1, layers.CountsPickles.pickled  # one scatter, broadcast by Dask
    assert relative_error(out, model(x)) < 1e-6


def test_an_error_in_a_users_layer_reaches_the_caller_with_its_message(client, rng):
    model = layers.RefusesLargeValues(4, 2)
    x = rng.standard_normal((300, 4), dtype=np.float32)
    x[250, 1] = 1e3
    with pytest.raises(ValueError, match="RefusesLargeValues: an input above 100"):
        fld.predict(model, da.from_array(x, chunks=(50, 4))).compute()
    assert set(model.state_dict()) == {"inner.weight", "inner.bias"}


def test_each_task_uses_its_workers_one_thread(client, rng):
    X = da.from_array(rng.standard_normal((400, 4), dtype=np.float32), chunks=(100, 4))
    counts = fld.predict(layers.ThreadCounts(), X).compute()
    assert np.all(counts == 1), np.unique(counts, axis=0)  # Numba's and BLAS's, on 2 workers x 1 thread


def test_bad_inputs_are_refused_before_any_work(client, rng):
    x = rng.standard_normal((100, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"chunked along axis 1.*X\.rechunk\(\{1: -1\}\)"):
        fld.predict(layers.mlp(8), da.from_array(x, chunks=(50, 4)))
    with pytest.raises(TypeError, match="must be a Dask array.*got ndarray"):
        fld.predict(layers.mlp(8), x)
    with pytest.raises(ValueError, match="batch_size"):
        fld.predict(layers.mlp(8), da.from_array(x, chunks=(50, 8)), batch_size=0)


def _peak_rss_bytes():
    """This process's peak resident memory since it started: VmHWM (getrusage's ru_maxrss would include
    the high-water mark of the process that spawned it)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory is read from /proc (Linux)")
def test_predict_streams_a_zarr_store_three_times_a_workers_memory(tmp_path):
    """1.2 GB of inputs on disk against 2 workers of 400 MB each (a worker with fastlayers loaded holds ~200 MB)."""
    from distributed import Client, LocalCluster

    limit = 400_000_000
    rows, width = 1_200_000_000 // (4 * 256), 256
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=limit, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        source = da.random.default_rng(7).standard_normal((rows, width), dtype=np.float32, chunks=(8192, width))
        source.to_zarr(str(tmp_path / "x.zarr"))
        net = layers.mlp(width, 64, 16)
        fld.predict(net, da.from_zarr(str(tmp_path / "x.zarr"))).to_zarr(str(tmp_path / "y.zarr"))
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        peaks = client.run(_peak_rss_bytes)
    assert limits == [limit, limit] and source.nbytes >= 3 * limit
    assert max(peaks.values()) < limit, peaks
    x, y = zarr.open_array(str(tmp_path / "x.zarr")), zarr.open_array(str(tmp_path / "y.zarr"))
    assert y.shape == (rows, 16)
    for start in range(0, rows, 65536):
        assert relative_error(y[start:start + 65536], net(x[start:start + 65536])) < 1e-6, start
