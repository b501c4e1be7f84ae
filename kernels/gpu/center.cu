// center on the GPU: two passes over x, viewed as (outer, red, inner).
// Pass 1 sums in double (block partials, then one block per output); pass 2
// subtracts the mean split as hi + lo in real_t, so float data is rounded once.
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// partial[o * blocks_per_row + b, i] = sum over rows r of block b of x[o, r, i], in double.
// One block per (o, b), launched as a 1-D grid of outer * blocks_per_row blocks of 256 threads.
extern "C" __global__ void partial_sums(const real_t* x, double* partial, long long red, long long inner,
                                        long long rows_per_block, long long blocks_per_row) {
    long long o = blockIdx.x / blocks_per_row, b = blockIdx.x % blocks_per_row;
    long long r0 = b * rows_per_block, r1 = min(red, r0 + rows_per_block);
    const real_t* base = x + o * red * inner;
    if (inner == 1) {  // contiguous rows: the whole block sums one run, then a tree in shared memory
        __shared__ double lane[256];
        double acc = 0.0;
        for (long long r = r0 + threadIdx.x; r < r1; r += blockDim.x) acc += (double)base[r];
        lane[threadIdx.x] = acc;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) lane[threadIdx.x] += lane[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0) partial[o * blocks_per_row + b] = lane[0];
    } else {  // columns: each thread owns columns, sums down the block's rows
        for (long long i = threadIdx.x; i < inner; i += blockDim.x) {
            double acc = 0.0;
            for (long long r = r0; r < r1; ++r) acc += (double)base[r * inner + i];
            partial[(o * blocks_per_row + b) * inner + i] = acc;
        }
    }
}

// hi[o, i] + lo[o, i] = mean[o, i] = sum of the blocks' partials / red.
extern "C" __global__ void split_means(const double* partial, real_t* hi, real_t* lo, long long outer, long long inner,
                            long long blocks_per_row, long long red) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= outer * inner) return;
    long long o = k / inner, i = k % inner;
    double s = 0.0;
    for (long long b = 0; b < blocks_per_row; ++b) s += partial[(o * blocks_per_row + b) * inner + i];
    double mean = s / (double)red;
    real_t h = (real_t)mean;
    hi[k] = h;
    lo[k] = isfinite((double)h) ? (real_t)(mean - (double)h) : real_t(0);  // an inf mean: x - inf, as NumPy has it
}

// out[o, r, i] = (x[o, r, i] - hi[o, i]) - lo[o, i]
extern "C" __global__ void subtract_means(const real_t* x, const real_t* hi, const real_t* lo, real_t* out, long long red, long long inner,
                               long long total) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)gridDim.x * blockDim.x) {
        long long i = k % inner, o = k / (red * inner);
        long long m = o * inner + i;
        out[k] = (x[k] - hi[m]) - lo[m];
    }
}
