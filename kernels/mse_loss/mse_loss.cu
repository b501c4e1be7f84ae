// mse_loss's gradient on the GPU. Compiled once per dtype: -Dreal_t=float or -Dreal_t=double
// (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// grad[k] = 2 (y[k] - t[k]) * scales[k * scale_stride], a grid-stride loop.
extern "C" __global__ void mse_grad(const real_t* y, const real_t* t, const real_t* scales, long long scale_stride,
                                    real_t* grad, long long size) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < size; k += (long long)gridDim.x * blockDim.x)
        grad[k] = (real_t)2 * (y[k] - t[k]) * scales[k * scale_stride];
}
