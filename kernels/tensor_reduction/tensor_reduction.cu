// tensor_reduction on the GPU: pair packing around cuBLAS GEMMs.
// x (n, I); pairs (rows, P) with P = I (I + 1) / 2 and p(i, j) for i <= j in row order;
// pair_i, pair_j (P,) give each pair's (i, j).
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// pairs[r, p] = x[r, i_p] * x[r, j_p]: threadIdx.x and blockIdx.x walk the pairs p (coalesced
// stores), y the rows r; no divisions. x's row is read through the cache.
extern "C" __global__ void pair_products(const real_t* x, const int* pair_i, const int* pair_j, real_t* pairs, long long rows, int n_in,
                                         long long n_pairs) {
    long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (p >= n_pairs) return;
    int i = pair_i[p], j = pair_j[p];
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const real_t* xr = x + r * n_in;
        pairs[r * n_pairs + p] = xr[i] * xr[j];
    }
}

// wp[p, k] = w[i, j, k] + w[j, i, k] (i < j), diagonal_scale * w[i, i, k] on the diagonal.
extern "C" __global__ void pack_pair_weights(const real_t* w, const int* pair_i, const int* pair_j, real_t* wp, int n_in, int n_out,
                                  long long n_pairs, real_t diagonal_scale) {
    long long total = n_pairs * n_out;
    for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < total;
         q += (long long)gridDim.x * blockDim.x) {
        long long p = q / n_out, k = q % n_out;
        int i = pair_i[p], j = pair_j[p];
        real_t upper = w[((long long)i * n_in + j) * n_out + k];
        wp[q] = i == j ? diagonal_scale * upper : upper + w[((long long)j * n_in + i) * n_out + k];
    }
}

// grad_x[r, a] = sum_j x[r, j] u[r, p(a, j)]: one thread per (r, a); u symmetric, stored as pairs.
extern "C" __global__ void contract_pairs(const real_t* x, const real_t* u, real_t* grad_x, long long rows, int n_in, long long n_pairs) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= rows * n_in) return;
    long long r = k / n_in;
    int a = (int)(k % n_in);
    const real_t* xr = x + r * n_in;
    const real_t* ur = u + r * n_pairs;
    double acc = 0.0;
    for (int j = 0; j < n_in; ++j) {
        int lo = a < j ? a : j, hi = a < j ? j : a;
        long long p = (long long)lo * n_in - (long long)lo * (lo - 1) / 2 + (hi - lo);  // row lo starts there
        acc += (double)ur[p] * (double)xr[j];
    }
    grad_x[k] = (real_t)acc;
}

// grad_w[i, j, k] = grad_w[j, i, k] = gp[p(i, j), k]
extern "C" __global__ void unpack_pair_grads(const real_t* gp, const int* pair_i, const int* pair_j, real_t* grad_w, int n_in, int n_out,
                                  long long n_pairs) {
    long long total = n_pairs * n_out;
    for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < total;
         q += (long long)gridDim.x * blockDim.x) {
        long long p = q / n_out, k = q % n_out;
        int i = pair_i[p], j = pair_j[p];
        real_t v = gp[q];
        grad_w[((long long)i * n_in + j) * n_out + k] = v;
        grad_w[((long long)j * n_in + i) * n_out + k] = v;
    }
}
