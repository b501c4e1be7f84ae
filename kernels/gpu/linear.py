"""linear, linear_relu, relu and their gradients on the GPU: cuBLAS GEMMs (the floor) and our
epilogue kernels (kernels/gpu/linear.cu). Shapes as on the CPU: x (n, in), w (in, out), b (out,)."""

import cupy

from ._modules import i32, i64, kernel, launch


def linear(x, w, b, apply_relu):
    out = cupy.matmul(x, w)
    if b is not None or apply_relu:
        n, cols = out.shape
        launch(kernel("linear", "bias_relu_epilogue", x.dtype), out.size,
               out, b if b is not None else out, i64(n), i32(cols), i32(b is not None), i32(apply_relu))
    return out


def relu(x):
    out = cupy.empty_like(x)
    launch(kernel("linear", "relu", x.dtype), x.size, x, out, i64(x.size))
    return out


def relu_backward(grad_y, y):
    grad_x = cupy.empty_like(y)
    launch(kernel("linear", "relu_mask", y.dtype), y.size, grad_y, y, grad_x, i64(y.size))
    return grad_x


def linear_backward(grad_y, x, w, y):
    """(grad_x, grad_w, grad_b); y given → the ReLU mask y > 0 applies first."""
    g = grad_y if y is None else relu_backward(grad_y, y)
    grad_b = g.sum(axis=0, dtype=cupy.float64).astype(x.dtype)  # float64 sums, as on the CPU
    return g @ w.T, x.T @ g, grad_b
