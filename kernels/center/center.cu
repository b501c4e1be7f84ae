// center on the GPU: two passes over x, viewed as (outer, red, inner).
// Pass 1 sums in double: partial sums per block of rows, then a block per output
// adds that output's partials; pass 2 subtracts the mean split as hi + lo in real_t, so
// float data is rounded once. Also the column sums of linear's bias gradient.
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

#define THREADS 256  // every kernel here runs blocks of 256 threads (kernels/gpu/_modules.py)

// The sum of each thread's v over the block, in thread 0.
__device__ double block_sum(double v) {
    __shared__ double lane[THREADS / 32];
    __syncthreads();  // a previous call's readers are done with lane
    for (int s = 16; s > 0; s >>= 1) v += __shfl_down_sync(0xffffffffu, v, s);
    if (threadIdx.x % 32 == 0) lane[threadIdx.x / 32] = v;
    __syncthreads();
    v = threadIdx.x < THREADS / 32 ? lane[threadIdx.x] : 0.0;
    if (threadIdx.x < 32)
        for (int s = 16; s > 0; s >>= 1) v += __shfl_down_sync(0xffffffffu, v, s);
    return v;
}

// partial[o, b, i] = sum over the rows r of block b of x[o, r, i], in double.
// One block per (o, b): a 1-D grid of outer * blocks_per_row blocks.
extern "C" __global__ void partial_sums(const real_t* x, double* partial, long long red, long long inner,
                                        long long rows_per_block, long long blocks_per_row) {
    long long o = blockIdx.x / blocks_per_row, b = blockIdx.x % blocks_per_row;
    long long r0 = b * rows_per_block, r1 = min(red, r0 + rows_per_block);
    const real_t* base = x + o * red * inner;
    if (inner == 1) {  // one contiguous run: four independent loads in flight per thread
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        long long r = r0 + threadIdx.x;
        for (; r + 3 * THREADS < r1; r += 4 * THREADS) {
            a0 += (double)base[r];
            a1 += (double)base[r + THREADS];
            a2 += (double)base[r + 2 * THREADS];
            a3 += (double)base[r + 3 * THREADS];
        }
        for (; r < r1; r += THREADS) a0 += (double)base[r];
        double s = block_sum((a0 + a1) + (a2 + a3));
        if (threadIdx.x == 0) partial[blockIdx.x] = s;
    } else {  // columns: each thread owns columns (coalesced across the block), sums down the rows
        for (long long i = threadIdx.x; i < inner; i += THREADS) {
            double acc = 0.0;
            for (long long r = r0; r < r1; ++r) acc += (double)base[r * inner + i];
            partial[blockIdx.x * inner + i] = acc;
        }
    }
}

// The sum over b of partial[o, b, i] for output k = o * inner + i, by the whole block.
__device__ double sum_partials(const double* partial, long long k, long long inner, long long blocks_per_row) {
    long long o = k / inner, i = k % inner;
    const double* p = partial + o * blocks_per_row * inner + i;
    double acc = 0.0;
    for (long long b = threadIdx.x; b < blocks_per_row; b += THREADS) acc += p[b * inner];
    return block_sum(acc);
}

// hi[k] + lo[k] = mean[k] = (sum of output k's partials) / red; blocks step over the outputs k.
extern "C" __global__ void split_means(const double* partial, real_t* hi, real_t* lo, long long n_outputs,
                                       long long inner, long long blocks_per_row, long long red) {
    for (long long k = blockIdx.x; k < n_outputs; k += gridDim.x) {
        double s = sum_partials(partial, k, inner, blocks_per_row);
        if (threadIdx.x != 0) continue;
        double mean = s / (double)red;
        real_t h = (real_t)mean;
        hi[k] = h;
        lo[k] = isfinite((double)h) ? (real_t)(mean - (double)h) : real_t(0);  // an inf mean: x - inf, as NumPy has it
    }
}

// sums[k] = the sum of output k's partials, rounded once to real_t; blocks step over the outputs k.
extern "C" __global__ void finish_sums(const double* partial, real_t* sums, long long n_outputs, long long inner,
                                       long long blocks_per_row) {
    for (long long k = blockIdx.x; k < n_outputs; k += gridDim.x) {
        double s = sum_partials(partial, k, inner, blocks_per_row);
        if (threadIdx.x == 0) sums[k] = (real_t)s;
    }
}

// out[o, r] = (x[o, r] - hi[o]) - lo[o] for inner == 1: x as outer rows of red elements, in
// tiles of TILE elements of one row (one division per tile, none per element).
#define TILE (8 * THREADS)
extern "C" __global__ void subtract_row_means(const real_t* x, const real_t* hi, const real_t* lo, real_t* out,
                                              long long outer, long long red, long long tiles_per_row) {
    for (long long t = blockIdx.x; t < outer * tiles_per_row; t += gridDim.x) {
        long long o = t / tiles_per_row, start = (t % tiles_per_row) * TILE;
        const real_t* xr = x + o * red;
        real_t* outr = out + o * red;
        real_t h = hi[o], l = lo[o];
#pragma unroll
        for (int q = 0; q < TILE / THREADS; ++q) {
            long long r = start + q * THREADS + threadIdx.x;
            if (r < red) outr[r] = (xr[r] - h) - l;
        }
    }
}

// out[o, r, i] = (x[o, r, i] - hi[o, i]) - lo[o, i] for inner > 1: threadIdx.x and blockIdx.x
// walk the columns i (coalesced), y the rows r, z the outer index o; no divisions.
extern "C" __global__ void subtract_column_means(const real_t* x, const real_t* hi, const real_t* lo, real_t* out,
                                                 long long outer, long long red, long long inner) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= inner) return;
    for (long long o = blockIdx.z; o < outer; o += gridDim.z) {
        real_t h = hi[o * inner + i], l = lo[o * inner + i];
        for (long long r = blockIdx.y * (long long)blockDim.y + threadIdx.y; r < red; r += (long long)gridDim.y * blockDim.y) {
            long long k = (o * red + r) * inner + i;
            out[k] = (x[k] - h) - l;
        }
    }
}
