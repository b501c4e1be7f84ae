// linear on the GPU: the epilogue and mask kernels around cuBLAS's GEMM.
// out (n, cols) row-major; b (cols,). real_t is float or double.
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// out = relu?(out + b?), in place, right after the GEMM wrote out. threadIdx.x and blockIdx.x
// walk the columns (coalesced: a block holds at least a warp of them), y the rows; no divisions.
extern "C" __global__ void bias_relu_epilogue(real_t* out, const real_t* b, long long n, int cols, int has_bias, int apply_relu) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    real_t bias = has_bias ? b[c] : real_t(0);
    for (long long r = blockIdx.y * (long long)blockDim.y + threadIdx.y; r < n; r += (long long)gridDim.y * blockDim.y) {
        real_t v = out[r * cols + c] + bias;
        if (apply_relu && v < real_t(0)) v = real_t(0);  // NaN fails v < 0 and stays NaN
        out[r * cols + c] = v;
    }
}

// g = grad_y where y > 0, else 0: the ReLU's backward mask.
extern "C" __global__ void relu_mask(const real_t* grad_y, const real_t* y, real_t* g, long long total) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        g[i] = y[i] > real_t(0) ? grad_y[i] : real_t(0);
    }
}

// relu(x) elementwise; NaN stays NaN.
extern "C" __global__ void relu(const real_t* x, real_t* out, long long total) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        real_t v = x[i];
        out[i] = v < real_t(0) ? real_t(0) : v;
    }
}
