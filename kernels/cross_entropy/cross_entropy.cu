// cross_entropy on the GPU. One block per row of logits: the row's max, then the sum
// of exp(x - max) in double, then the loss; the gradient kernel recomputes the row's logsumexp and
// writes (softmax - onehot) * scale in the same pass. Compiled once per dtype: -Dreal_t=float or
// -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

#define THREADS 256  // every kernel here runs blocks of 256 threads (kernels/gpu/_modules.py)

// The block's reduction of each thread's v by op, in every thread.
template <typename Op>
__device__ double block_reduce(double v, Op op) {
    __shared__ double lane[THREADS / 32];
    __shared__ double result;
    __syncthreads();  // a previous call's readers are done with lane and result
    for (int s = 16; s > 0; s >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, s));
    if (threadIdx.x % 32 == 0) lane[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < THREADS / 32 ? lane[threadIdx.x] : lane[0];
        for (int s = 16; s > 0; s >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, s));
        if (threadIdx.x == 0) result = v;
    }
    __syncthreads();
    return result;
}

struct Max {  // NaN wins, as a NaN logit makes the loss NaN
    __device__ double operator()(double a, double b) const { return (a > b || a != a) ? a : b; }
};
struct Add {
    __device__ double operator()(double a, double b) const { return a + b; }
};

__device__ double row_logsumexp(const real_t* row, long long classes) {
    double m = -INFINITY;
    for (long long j = threadIdx.x; j < classes; j += THREADS) m = Max()(m, (double)row[j]);
    m = block_reduce(m, Max());
    double s = 0.0;
    for (long long j = threadIdx.x; j < classes; j += THREADS) s += exp((double)row[j] - m);
    return m + log(block_reduce(s, Add()));
}

// losses[i] = logsumexp(logits[i]) - logits[i, labels[i]] (0 for an ignored row), in double.
extern "C" __global__ void cross_entropy_rows(const real_t* logits, const long long* labels, double* losses,
                                              long long n, long long classes, long long ignore_index) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long label = labels[i];
        if (label == ignore_index) {
            if (threadIdx.x == 0) losses[i] = 0.0;
            continue;
        }
        const real_t* row = logits + i * classes;
        double lse = row_logsumexp(row, classes);
        if (threadIdx.x == 0) losses[i] = lse - (double)row[label];
    }
}

// grad[i, j] = (softmax(logits[i])[j] - (j == labels[i])) * scales[i * scale_stride] (0 for an ignored row).
extern "C" __global__ void cross_entropy_grad_rows(const real_t* logits, const long long* labels, const double* scales,
                                                   long long scale_stride, real_t* grad, long long n,
                                                   long long classes, long long ignore_index) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        long long label = labels[i];
        const real_t* row = logits + i * classes;
        real_t* out = grad + i * classes;
        if (label == ignore_index) {
            for (long long j = threadIdx.x; j < classes; j += THREADS) out[j] = (real_t)0;
            continue;
        }
        double lse = row_logsumexp(row, classes), scale = scales[i * scale_stride];
        for (long long j = threadIdx.x; j < classes; j += THREADS)
            out[j] = (real_t)((exp((double)row[j] - lse) - (j == label ? 1.0 : 0.0)) * scale);
    }
}
