// fft_half's backward on the GPU: the Hermitian half spectrum whose inverse real FFT
// (cuFFT C2R) is the gradient. The forward needs no kernel of ours: its half spectrum is
// a view of cuFFT's R2C output (kernels/gpu/fft.py).
// Complex numbers are (re, im) pairs of real_t; rows are independent.
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// h (rows, n_spec = n // 2 + 1) from g (rows, half = n // 2):
// grad_x_t = Re(sum_{k < half} g_k e^{+2 pi i k t / n}) = C2R(h)_t, cuFFT's unnormalized inverse
// real FFT (h_0 + 2 Re sum_{0 < k < n/2} h_k e^{...} + the Nyquist term), with
// h_0 = g_0 (C2R reads only its real part), h_k = g_k / 2 for 0 < k < half, and 0 above.
// threadIdx.x and blockIdx.x walk the coefficients c (coalesced), y the rows; no divisions.
extern "C" __global__ void backward_spectrum(const real_t* g, real_t* h, long long rows, long long half, long long n_spec) {
    long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (c >= n_spec) return;
    real_t scale = c == 0 ? real_t(1) : real_t(0.5);
    for (long long r = blockIdx.y * (long long)blockDim.y + threadIdx.y; r < rows; r += (long long)gridDim.y * blockDim.y) {
        real_t re = real_t(0), im = real_t(0);
        if (c < half) {
            re = scale * g[2 * (r * half + c)];
            im = scale * g[2 * (r * half + c) + 1];
        }
        h[2 * (r * n_spec + c)] = re;
        h[2 * (r * n_spec + c) + 1] = im;
    }
}
