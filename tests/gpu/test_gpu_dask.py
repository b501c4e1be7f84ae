"""fastlayers.dask.predict over a Dask array of CuPy chunks (Dask's local scheduler; one GPU)."""

import numpy as np
import pytest

import fastlayers as fl


def test_predict_over_cupy_chunks_moves_a_copy_of_the_model_and_keeps_the_chunk_type(cupy, rng):
    da = pytest.importorskip("dask.array", reason="fastlayers[dask] is not installed")
    import fastlayers.dask as fld

    x = rng.standard_normal((500, 32), dtype=np.float32)
    net = fl.Sequential(fl.Linear(32, 64, activation="relu"), fl.Linear(64, 8))
    X = da.from_array(x, chunks=(120, 32)).map_blocks(cupy.asarray)
    Y = fld.predict(net, X, batch_size=50)
    assert isinstance(Y._meta, cupy.ndarray) and Y.dtype == np.float32 and net.device == "cpu"
    out = Y.compute()
    assert isinstance(out, cupy.ndarray)
    ref = np.maximum(x.astype(np.float64) @ net[0].weight.data + net[0].bias.data, 0) @ net[1].weight.data \
        + net[1].bias.data
    assert np.linalg.norm(cupy.asnumpy(out) - ref) / np.linalg.norm(ref) < 1e-5
