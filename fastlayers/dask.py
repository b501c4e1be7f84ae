"""fastlayers over Dask: inference on arrays larger than memory, data-parallel training on a cluster.

Needs the extra: ``pip install "fastlayers[dask]"`` (dask, distributed, zarr). Dask does
all the distributing: its graphs carry the model and the data, its scheduler places the
work, and a lost worker's results are recomputed by it. Nothing here retries or moves
data on its own.

    import fastlayers.dask as fld
    Y = fld.predict(net, X)            # X: a Dask array chunked along axis 0; Y is lazy
    Y.to_zarr("out.zarr")              # streamed: one block in memory per worker thread
    fld.fit(net, X, y, fl.CrossEntropyLoss(), fl.optim.Adam(net.parameters()), epochs=5, batch_size=4096)

With a ``distributed.Client`` (passed, or the default one) the model is scattered to
every worker once; without one, it is one task of the graph, run by Dask's local
scheduler. A task's kernels use the threads its worker has to give (``_worker_threads``),
so several workers on one machine share its cores instead of each taking all of them.
"""

import copy
from contextlib import contextmanager

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError('fastlayers.dask needs Dask: pip install "fastlayers[dask]"') from e

import kernels

from .autograd import backward, no_grad
from .parameter import is_cupy
from .tensor import value

__all__ = ["predict", "fit", "Trainer"]


# --- inference ---


def predict(model, X, batch_size=None, client=None):
    """The model applied to every row block of X, lazily: a Dask array of its outputs.

    X (n, *features): a Dask array chunked along axis 0 only, NumPy or CuPy chunks (the
    model is moved to match, on a copy). Returns a Dask array (n, *out_features) with X's
    row chunks and the model's output dtype and chunk type (complex for FFTHalf). The
    model runs under fl.no_grad(), batch_size rows at a time (a whole block by default);
    it must treat rows independently, as any batched inference assumes. A lazy model
    gets its parameters here, from one probe row, as at a first call.
    """
    _check_dask_array("predict", "X", X)
    _check_row_chunks("predict", "X", X)
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"predict: batch_size must be None or a positive int, got {batch_size!r}")
    gpu = is_cupy(X._meta)
    xp = _cupy() if gpu else np
    shipped = _on_device(model, "cuda" if gpu else "cpu")
    with no_grad():
        probe = value(shipped(xp.ones((1, *X.shape[1:]), X.dtype)))
    if not hasattr(probe, "shape") or probe.ndim < 1 or probe.shape[0] != 1:
        raise ValueError(
            "predict: the model must map a batch of rows to a batch of outputs; one row "
            f"(1, {', '.join(map(str, X.shape[1:]))}) gave {getattr(probe, 'shape', type(probe).__name__)}"
        )
    tail = tuple(probe.shape[1:])
    return X.map_blocks(
        _predict_block, _ship(shipped, client), batch_size, tail,
        dtype=probe.dtype, meta=xp.empty((0,) * probe.ndim, probe.dtype),
        chunks=(X.chunks[0], *((d,) for d in tail)),
        drop_axis=list(range(1, X.ndim)), new_axis=list(range(1, probe.ndim)),
    )


def _predict_block(block, model, batch_size, tail):
    """One block's outputs (rows, *tail), batch_size rows at a time."""
    with _worker_threads(), no_grad():
        if batch_size is None or len(block) <= batch_size:
            out = value(model(block))
        else:
            parts = [value(model(block[i:i + batch_size])) for i in range(0, len(block), batch_size)]
            out = (_cupy() if is_cupy(parts[0]) else np).concatenate(parts)
    if tuple(out.shape) != (len(block), *tail):
        raise ValueError(f"predict: the model gave shape {tuple(out.shape)} for a block of {len(block)} rows, "
                         f"expected {(len(block), *tail)} (its output for one row was {tail})")
    return out


# --- training ---


class Trainer:
    """Synchronous data-parallel training of model on the Dask arrays X (n, *features) and y (n, ...).

    The data is persisted where Dask puts it (on the workers, with a client) and stays
    there; the model (with the loss) is scattered to every worker once. Each ``step(rows)``
    puts the parameters in its graph once (a worker fetches them once); every row block holding some of
    the batch's rows computes their loss's gradient on a replica of the model, with the
    kernels' backward; Dask sums those gradients in a tree of tasks; the optimizer steps
    on this process's model. The result is the one-process step's to float round-off:

        out = model(X[rows]); fl.backward(loss(out, y[rows])); optimizer.step()

    loss(out, target) returns a scalar: a mean over the rows (the default of fl's losses;
    a loss with ``ignore_index``, as CrossEntropyLoss, averages over the labels kept) or,
    with ``reduction="sum"``, a sum. optimizer is any fl.optim optimizer of model's
    parameters. CPU models with NumPy chunks.
    """

    def __init__(self, model, X, y, loss, optimizer, client=None):
        _check_dask_array("fit", "X", X)
        _check_dask_array("fit", "y", y)
        _check_row_chunks("fit", "X", X)
        if y.ndim > 1:
            _check_row_chunks("fit", "y", y)
        if X.shape[0] != y.shape[0] or np.isnan(X.shape[0]):
            raise ValueError(f"fit: X and y must have the same, known number of rows, got {X.shape[0]} and {y.shape[0]}")
        if is_cupy(X._meta) or getattr(model, "device", "cpu") != "cpu":
            raise NotImplementedError("fit: data-parallel training runs CPU models on NumPy chunks (predict takes CuPy)")
        reduction = getattr(loss, "reduction", "mean")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"fit: the loss must reduce to a scalar ('mean' or 'sum'), got reduction={reduction!r}")
        if y.chunks[0] != X.chunks[0]:
            y = y.rechunk({0: X.chunks[0]})
        if any(not p.initialized for p in model.parameters()):
            with no_grad():  # a lazy model's first call, on the first row, as fl.Module's would be
                model(X[:1].compute())
        params = dict(model.named_parameters())
        if not {id(p) for p in optimizer.params} <= {id(p) for p in params.values()}:
            raise ValueError("fit: the optimizer must update this model's parameters (optimizer(model.parameters()))")
        self.model, self.loss, self.optimizer, self.client = model, loss, optimizer, client or _default_client()
        self.X, self.y = (self.client.persist([X, y]) if self.client is not None else dask.persist(X, y))
        self.n = int(X.shape[0])
        self._offsets = np.cumsum((0, *X.chunks[0]))
        self._x_blocks = self.X.to_delayed(optimize_graph=False).ravel()
        self._y_blocks = self.y.to_delayed(optimize_graph=False).reshape(len(X.chunks[0]), -1)[:, 0]
        template = copy.deepcopy(model)
        template.zero_grad()
        self._shipped = _ship((template, loss), self.client)

    def step(self, rows):
        """One optimizer step on the rows rows (int indices into X); returns the batch's loss (a float)."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
            raise ValueError(f"step: rows must be a non-empty 1-D array of row indices, got {rows.dtype} {rows.shape}")
        if rows.min() < 0 or rows.max() >= self.n:
            raise IndexError(f"step: row indices must be in [0, {self.n}), got {rows.min()}..{rows.max()}")
        params = {name: p.data for name, p in self.model.named_parameters()}
        params = dask.delayed(params, traverse=False)  # one task of the step's graph: each worker fetches it once
        block_of = np.searchsorted(self._offsets, rows, side="right") - 1
        parts = [
            dask.delayed(_block_gradient, pure=False)(
                self._shipped, params, self._x_blocks[b], self._y_blocks[b], rows[block_of == b] - self._offsets[b]
            )
            for b in np.unique(block_of)
        ]
        total = _tree_sum(parts)
        grads, loss_sum, count = (self.client.compute(total, sync=True) if self.client is not None
                                  else dask.compute(total)[0])
        if count == 0:
            raise ValueError("step: every label of this batch is the loss's ignore_index; nothing to average")
        scale = 1.0 / count if count is not None else 1.0
        for p, g in zip(self.model.parameters(), grads):
            p.grad = (g * scale).astype(p.dtype, copy=False)
        self.optimizer.step()
        return float(loss_sum * scale)


def fit(model, X, y, loss, optimizer, epochs=1, batch_size=64, shuffle=True, seed=None, client=None):
    """Train model on the Dask arrays X, y for epochs passes in minibatches (see Trainer).

    The batches are those of ``fl.data.batches(X, y, batch_size=batch_size, shuffle=shuffle,
    seed=rng)`` for every epoch, with one ``rng = np.random.default_rng(seed)``: the same
    loop in one process gives the same parameters (to float round-off). Returns the loss
    of every step, in order.
    """
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    trainer = Trainer(model, X, y, loss, optimizer, client)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(trainer.n) if shuffle else np.arange(trainer.n)
        for start in range(0, trainer.n, batch_size):
            losses.append(trainer.step(order[start:start + batch_size]))
    return losses


def _block_gradient(shipped, params, x_block, y_block, local_rows):
    """(per-parameter gradient of the loss summed over these rows, that loss, its row count) on one block.

    A mean loss's gradient is multiplied by the number of rows it averaged over, so the
    sums over blocks divided by the total count give the whole batch's mean.
    """
    template, loss = shipped
    model = _replica(template, params)
    xb, yb = x_block[local_rows], y_block[local_rows]
    with _worker_threads():
        out = loss(model(xb), yb)
        count = _rows_averaged(loss, yb)
        if count == 0:  # every label ignored: this block adds nothing
            return [np.zeros_like(params[name]) for name, _ in model.named_parameters()], 0.0, 0
        backward(out)
    weight = 1 if count is None else count
    grads = [np.zeros_like(p.data) if p.grad is None else p.grad * weight for _, p in model.named_parameters()]
    return grads, float(value(out)) * weight, count


def _rows_averaged(loss, target):
    """How many values a mean loss averaged over (None for a sum): the labels kept, or the rows."""
    if getattr(loss, "reduction", "mean") == "sum":
        return None
    ignore = getattr(loss, "ignore_index", None)
    return int(np.count_nonzero(target != ignore)) if ignore is not None else len(target)


def _add(a, b):
    """Two blocks' (gradients, loss, count) summed."""
    count = None if a[2] is None else a[2] + b[2]
    return [ga + gb for ga, gb in zip(a[0], b[0])], a[1] + b[1], count


def _tree_sum(parts):
    """The sum of delayed parts as a binary tree of delayed additions (log2 levels, not a chain)."""
    while len(parts) > 1:
        parts = [dask.delayed(_add, pure=True)(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _replica(template, params):
    """A copy of template whose parameters hold params' arrays (not copied) and no gradients."""
    memo = {id(p.data): params[name] for name, p in template.named_parameters()}
    return copy.deepcopy(template, memo)


# --- shared ---


def _check_dask_array(fn, name, a):
    if not isinstance(a, da.Array):
        raise TypeError(
            f"{fn}: {name} must be a Dask array chunked along its first axis, got {type(a).__name__} "
            f"(wrap one: dask.array.from_array({name}, chunks=(rows, *{name}.shape[1:])))"
        )
    if a.ndim < 1:
        raise ValueError(f"{fn}: {name} must have a batch axis, got a 0-d array")


def _check_row_chunks(fn, name, a):
    split = [axis for axis in range(1, a.ndim) if len(a.chunks[axis]) > 1]
    if split:
        whole = ", ".join(f"{axis}: -1" for axis in split)
        raise ValueError(
            f"{fn}: {name} is chunked along axis {split[0]} (chunks {a.chunks}); each block must hold whole rows, "
            f"chunked along axis 0 only: {name}.rechunk({{{whole}}})"
        )


def _ship(obj, client):
    """obj as one piece of the graph: scattered to every worker with a client, else one task."""
    client = client or _default_client()
    if client is not None:
        return client.scatter([obj], broadcast=True, hash=False)[0]  # in a list: a dict or tuple is one piece
    return dask.delayed(obj, traverse=False)


def _default_client():
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def _on_device(model, device):
    """model, or a copy of it on device when its parameters live elsewhere."""
    return model if getattr(model, "device", "cpu") == device else copy.deepcopy(model).to(device)


def _cupy():
    import cupy

    return cupy


@contextmanager
def _worker_threads():
    """On a Dask worker: the kernels get the worker's threads shared among its running tasks.

    A worker started with nthreads=k runs up to k tasks at once; each task's Numba and
    BLAS calls get k // (tasks running now) threads, at least 1. Outside a worker
    (Dask's local scheduler, plain calls) the kernels' own choice stands.
    """
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        yield
        return
    with kernels.limit_threads(max(1, worker.state.nthreads // max(1, len(worker.state.executing)))):
        yield
