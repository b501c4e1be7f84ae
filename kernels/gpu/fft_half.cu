// fft_half on the GPU: the half-spectrum slice around cuFFT, and its backward's input.
// Complex numbers are (re, im) pairs of real_t; rows are independent.
// Compiled once per dtype: -Dreal_t=float or -Dreal_t=double (see kernels/gpu/_modules.py).
#ifndef real_t
#error "compile with -Dreal_t=float or -Dreal_t=double"
#endif

// y[r, k] = spectrum[r, k] for k < half: the first n // 2 of rfft's n // 2 + 1 coefficients.
extern "C" __global__ void half_spectrum(const real_t* spectrum, real_t* y, long long rows, long long n_spec, long long half) {
    long long total = rows * half;
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)gridDim.x * blockDim.x) {
        long long r = k / half, c = k % half;
        y[2 * k] = spectrum[2 * (r * n_spec + c)];
        y[2 * k + 1] = spectrum[2 * (r * n_spec + c) + 1];
    }
}

// h (rows, n // 2 + 1): the Hermitian half whose inverse real FFT is the gradient,
// grad_x_t = Re(sum_{k < half} g_k e^{+2 pi i k t / n}) = irfft(h, n)_t with
// h_0 = n g_0, h_k = (n / 2) g_k for 0 < k < half, and 0 above.
extern "C" __global__ void backward_spectrum(const real_t* g, real_t* h, long long rows, long long half, long long n_spec, real_t n) {
    long long total = rows * n_spec;
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)gridDim.x * blockDim.x) {
        long long r = k / n_spec, c = k % n_spec;
        real_t re = real_t(0), im = real_t(0);
        if (c < half) {
            real_t scale = c == 0 ? n : n / real_t(2);
            re = scale * g[2 * (r * half + c)];
            im = scale * g[2 * (r * half + c) + 1];
        }
        h[2 * k] = re;
        h[2 * k + 1] = im;
    }
}
