// cuda_mlp: is the decode step's MLP (x += mproj(gelu(fc(x)))) faster as one
// kernel than as two? The step is a chain of dependent launches and each costs
// ~4 us on gpt2-xl whether its weights come from DRAM or L2
// (data/results/h100/w16-run-847b4f9), so a launch fewer a layer is worth up
// to that much; one kernel must instead add up the partial sums of mproj that
// its blocks make. A chain of LAYERS such MLPs, each layer its own weights
// (streamed from DRAM, as in decode), replayed as one CUDA graph with PDL, the
// CUDA runtime only (no qbench code), three ways:
//
//   two      fc (8 or 32 rows a block, GELU) then mproj (as many rows a block,
//            adds into x): the decode chain's way (32 rows: each warp has as
//            many rows in flight as the one-kernel variants' 32-row slices)
//   two-flag the same, but a kernel waits on a count of the previous one's
//            finished blocks in L2, not for its end (cuda_chain's flag-all)
//   atomic   one kernel: block b makes SLICE rows of fc, then multiplies them
//            by the same SLICE columns of mproj and adds that into the next x
//            with atomicAdd (the order of those additions varies, so x does
//            too, in its last bits, from run to run)
//   ordered  one kernel: the same, but each block writes its partial sums,
//            the blocks meet at a grid-wide barrier (an atomic count; all are
//            resident) and then block b sums its share of the columns over the
//            blocks in a fixed order: the same x every run
//
// Weights F16, Q8 (int8 with an F16 scale a 32 weights, as Q8_0's planes) or
// Q4 (4-bit, 16 bytes and an F16 scale a 32 weights, as Q4_0's planes);
// bias and layernorm left out (the same in all three). Each variant's last x is
// checked against a plain reference kernel (one thread a row, no PDL); a
// relative error over 1e-3 or a NaN exits 1. Prints one TSV row per model, type
// and variant: microseconds a layer (median of REPS replays), the weights'
// GB/s and the fraction of the device's copy bandwidth that is, and whether
// two replays gave bitwise the same x. Without a GPU: one "# skipped" line.
#include <cuda_fp16.h>
#include <initializer_list>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BENCH_NAME "cuda_mlp"
#include "cuda_bench.cuh"

enum { THREADS = 128, WARPS = THREADS / 32, REPS = 9 };
enum { F16 = 0, Q8 = 1, Q4 = 2 };
static const char *const type_name[] = {"f16", "q8", "q4"};

// A matrix of n_out rows of n_in weights: F16 halves, or Q8 int8 or Q4 nibbles (q) with a
// scale (s) for each 32 weights of a row (Q4: byte j of a 32's 16 holds weight j in its low
// nibble and weight j + 16 in its high one, each stored plus 8).
struct mat {
    const uint8_t *q;
    const __half *s;
    int n_in, n_out;
};

// PER: weights one lane reads in one 16-byte load.
template <int T> struct wt {
    static constexpr int PER = T == F16 ? 8 : T == Q8 ? 16 : 32;
    static __host__ __device__ size_t bytes(size_t n) { return T == F16 ? 2 * n : T == Q8 ? n : n / 2; }
    static __host__ __device__ size_t row_bytes(int n_in) { return bytes((size_t)n_in); }
};

__device__ __forceinline__ void prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

__device__ __forceinline__ float gelu(float v) {
    return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
}

// Row `row`'s weights i .. i + PER - 1 times xv[0 .. PER - 1].
template <int T>
__device__ __forceinline__ float chunk_dot(const mat &m, int row, int i, const float *xv) {
    const uint4 w = __ldg((const uint4 *)(m.q + (size_t)row * wt<T>::row_bytes(m.n_in) + wt<T>::bytes(i)));
    const uint32_t u[4] = {w.x, w.y, w.z, w.w};
    float a = 0.0f;
    if constexpr (T == F16) {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const float2 f = __half22float2(*(const __half2 *)&u[k]);
            a = fmaf(f.x, xv[2 * k], a);
            a = fmaf(f.y, xv[2 * k + 1], a);
        }
    } else if constexpr (T == Q8) {
#pragma unroll
        for (int k = 0; k < 16; k++) a = fmaf((float)(int8_t)(u[k / 4] >> (8 * (k % 4))), xv[k], a);
        a *= __half2float(m.s[(size_t)row * (m.n_in / 32) + i / 32]);
    } else {
#pragma unroll
        for (int k = 0; k < 16; k++) {
            const uint32_t b = (u[k / 4] >> (8 * (k % 4))) & 0xffu;
            a = fmaf((float)((int)(b & 15u) - 8), xv[k], a);
            a = fmaf((float)((int)(b >> 4) - 8), xv[k + 16], a);
        }
        a *= __half2float(m.s[(size_t)row * (m.n_in / 32) + i / 32]);
    }
    return a;
}

// This warp's NR rows r0, r0 + stride, ... dotted with x (every lane gets the sums); CG: x
// read from L2 (written in this kernel's lifetime by another SM: L1 may hold an older copy).
template <int T, int NR, bool CG = false>
__device__ __forceinline__ void rows_dot(const mat &m, int r0, int stride, const float *x, float *acc) {
    constexpr int PER = wt<T>::PER;
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int j = 0; j < NR; j++) acc[j] = 0.0f;
#pragma unroll 2
    for (int i = lane * PER; i < m.n_in; i += 32 * PER) {
        float xv[PER];
#pragma unroll
        for (int k = 0; k < PER; k += 4)
            *(float4 *)&xv[k] = CG ? __ldcg((const float4 *)(x + i + k)) : *(const float4 *)(x + i + k);
#pragma unroll
        for (int j = 0; j < NR; j++)
            if (r0 + j * stride < m.n_out) acc[j] += chunk_dot<T>(m, r0 + j * stride, i, xv);
    }
#pragma unroll
    for (int j = 0; j < NR; j++) acc[j] = warp_sum(acc[j]);
}

// Rows r0 .. r0 + n - 1 of m (contiguous, with their scales) into L2.
template <int T>
__device__ void prefetch_rows(const mat &m, int r0, int n) {
    if (r0 + n > m.n_out) n = m.n_out - r0;
    const size_t rb = wt<T>::row_bytes(m.n_in), bytes = (size_t)n * rb;
    for (size_t off = (size_t)threadIdx.x * 128; off < bytes; off += THREADS * 128) prefetch_l2(m.q + r0 * rb + off);
    if (T != F16)
        for (size_t off = (size_t)threadIdx.x * 128; off < (size_t)n * (m.n_in / 32) * 2; off += THREADS * 128)
            prefetch_l2((const uint8_t *)(m.s + (size_t)r0 * (m.n_in / 32)) + off);
}

// Columns c0 .. c0 + slice - 1 of every row of m into L2.
template <int T>
__device__ void prefetch_columns(const mat &m, int c0) {
    const size_t rb = wt<T>::row_bytes(m.n_in);
    for (int o = threadIdx.x; o < m.n_out; o += THREADS) {
        prefetch_l2(m.q + o * rb + wt<T>::bytes(c0));
        if (T != F16) prefetch_l2(m.s + (size_t)o * (m.n_in / 32) + c0 / 32);
    }
}

// ---- two kernels: the decode chain's way -----------------------------------------------------
// epi 0: y[r] = gelu(row . x); 1: y[r] += row . x. FLAG: kernel k of the chain does not wait
// for the previous one to end but for ctr[k - 1] to count its `before` blocks, and counts
// itself in ctr[k] when done (cuda_chain's flag-all); safe since PDL launches it only once
// every block of the previous kernel has begun.
template <int T, bool FLAG, int ROWS>
__global__ void __launch_bounds__(THREADS) k_rows(mat m, const float *x, float *y, int epi, unsigned *ctr, int k,
                                                  unsigned before) {
    pdl_launch();
    const int r0 = blockIdx.x * ROWS, warp = threadIdx.x / 32;
    prefetch_rows<T>(m, r0, ROWS);
    if (FLAG && k > 0) {
        if (threadIdx.x == 0) wait_count(ctr + k - 1, before);
        __syncthreads();
    } else
        pdl_wait();
    float acc[ROWS / WARPS];
    rows_dot<T, ROWS / WARPS, FLAG>(m, r0 + warp, WARPS, x, acc);
    if (threadIdx.x % 32 == 0)
        for (int j = 0; j < ROWS / WARPS; j++) {
            const int r = r0 + warp + j * WARPS;
            if (r < m.n_out) y[r] = epi ? __ldcg(y + r) + acc[j] : gelu(acc[j]);
        }
    if (FLAG) {
        __syncthreads();
        if (threadIdx.x == 0) count_in(ctr + k);
    }
}

// ---- one kernel ------------------------------------------------------------------------------
// Block b's share of the MLP: hs = gelu(fc rows c0 .. c0 + S - 1 . x), then for every output
// row o of mproj, emit(o, mproj[o][c0 .. c0 + S - 1] . hs).
template <int T, int S, class F>
__device__ __forceinline__ void mlp_slice(const mat &fc, const mat &mp, int c0, const float *x, float *hs, F emit) {
    constexpr int PER = wt<T>::PER, LPR = S / PER, RPW = 32 / LPR; // lanes a row, rows a warp's pass
    static_assert(S % PER == 0 && S % WARPS == 0 && (T == F16 || S == 32), "a slice: whole loads, whole scales");
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, sub = lane % LPR;
    float acc[S / WARPS];
    rows_dot<T, S / WARPS>(fc, c0 + warp, WARPS, x, acc);
    if (lane == 0)
        for (int j = 0; j < S / WARPS; j++) hs[warp + j * WARPS] = c0 + warp + j * WARPS < fc.n_out ? gelu(acc[j]) : 0.0f;
    __syncthreads();
    float hv[PER];
#pragma unroll
    for (int k = 0; k < PER; k++) hv[k] = hs[sub * PER + k];
#pragma unroll 4
    for (int o0 = warp * RPW; o0 < mp.n_out; o0 += WARPS * RPW) {
        const int o = o0 + lane / LPR;
        float p = o < mp.n_out ? chunk_dot<T>(mp, o, c0 + sub * PER, hv) : 0.0f;
        for (int d = LPR / 2; d; d /= 2) p += __shfl_xor_sync(~0u, p, d);
        if (o < mp.n_out && sub == 0) emit(o, p);
    }
}

// x: three buffers of E; layer l reads x[l % 3], adds into x[(l + 1) % 3] (zero, and block 0
// adds the residual) and zeroes x[(l + 2) % 3] for the next layer (read by layer l - 1, done).
template <int T, int S>
__global__ void __launch_bounds__(THREADS) k_mlp_atomic(mat fc, mat mp, float *xs, int l) {
    __shared__ float hs[S];
    pdl_launch();
    const int c0 = blockIdx.x * S, E = fc.n_in;
    prefetch_rows<T>(fc, c0, S);
    prefetch_columns<T>(mp, c0);
    pdl_wait();
    const float *x = xs + (l % 3) * E;
    float *xn = xs + ((l + 1) % 3) * E, *xz = xs + ((l + 2) % 3) * E;
    for (int i = blockIdx.x * THREADS + threadIdx.x; i < E; i += gridDim.x * THREADS) xz[i] = 0.0f;
    const bool residual = blockIdx.x == 0;
    mlp_slice<T, S>(fc, mp, c0, x, hs, [&](int o, float p) { atomicAdd(xn + o, residual ? p + x[o] : p); });
}

// x: two buffers of E (layer l reads x[l % 2], writes x[(l + 1) % 2]); part: a row of E
// partial sums a block; ctr[l]: layer l's barrier count (zero at the start).
template <int T, int S>
__global__ void __launch_bounds__(THREADS) k_mlp_ordered(mat fc, mat mp, float *xs, float *part, unsigned *ctr, int l) {
    __shared__ float hs[S];
    pdl_launch();
    const int c0 = blockIdx.x * S, E = fc.n_in, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    prefetch_rows<T>(fc, c0, S);
    prefetch_columns<T>(mp, c0);
    pdl_wait();
    const float *x = xs + (l % 2) * E;
    float *xn = xs + ((l + 1) % 2) * E, *mine = part + (size_t)blockIdx.x * E;
    mlp_slice<T, S>(fc, mp, c0, x, hs, [&](int o, float p) { mine[o] = p; });
    __syncthreads();
    if (threadIdx.x == 0) { // the grid barrier
        count_in(ctr + l);
        wait_count(ctr + l, gridDim.x);
    }
    __syncthreads();
    const int per = (E + gridDim.x - 1) / gridDim.x;
    for (int c = blockIdx.x * per + warp; c < E && c < (int)(blockIdx.x + 1) * per; c += WARPS) {
        float s = 0.0f;
        for (int b = lane; b < (int)gridDim.x; b += 32) s += __ldcg(part + (size_t)b * E + c);
        s = warp_sum(s);
        if (lane == 0) xn[c] = x[c] + s;
    }
}

// ---- the reference and the weights -----------------------------------------------------------
template <int T>
__global__ void k_ref(mat m, const float *x, float *y, int epi) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= m.n_out) return;
    float a = 0.0f;
    for (int i = 0; i < m.n_in; i++) {
        const size_t at = (size_t)r * m.n_in + i;
        const float scale = T == F16 ? 1.0f : __half2float(m.s[(size_t)r * (m.n_in / 32) + i / 32]);
        const uint8_t nib = T == Q4 ? m.q[at / 32 * 16 + at % 16] >> (at % 32 < 16 ? 0 : 4) & 15 : 0;
        const float w = T == F16  ? __half2float(((const __half *)m.q)[at])
                        : T == Q8 ? (float)(int8_t)m.q[at] * scale
                                  : (float)((int)nib - 8) * scale;
        a = fmaf(w, x[i], a);
    }
    y[r] = epi ? y[r] + a : gelu(a);
}

__device__ __forceinline__ uint32_t hash32(uint64_t i, uint32_t seed) {
    uint64_t z = (i + 0x9E3779B97F4A7C15ull * (seed + 1)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
    return (uint32_t)(z >> 32);
}
// Uniform in [-1, 1) times a.
__device__ __forceinline__ float uniform(uint64_t i, uint32_t seed, float a) {
    return a * ((float)(hash32(i, seed) >> 8) * (2.0f / 16777216.0f) - 1.0f);
}
__global__ void k_fill_half(__half *p, size_t n, uint32_t seed, float a) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = __float2half(uniform(i, seed, a));
}
__global__ void k_fill_i8(int8_t *p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (int8_t)(hash32(i, seed) % 255u) - 127;
}
__global__ void k_fill_float(float *p, size_t n, uint32_t seed, float a) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = uniform(i, seed, a);
}

// A random n_out x n_in matrix of type T whose rows have a variance of about 1 / n_in.
template <int T>
static mat make_mat(int n_in, int n_out, uint32_t seed) {
    const size_t n = (size_t)n_in * n_out;
    const float a = sqrtf(3.0f / n_in); // uniform(-a, a): variance a^2 / 3
    mat m = {NULL, NULL, n_in, n_out};
    uint8_t *q;
    CK(cudaMalloc(&q, wt<T>::bytes(n)));
    if (T == F16) k_fill_half<<<1024, 256>>>((__half *)q, n, seed, a);
    else {
        __half *s;
        CK(cudaMalloc(&s, n / 32 * sizeof(__half)));
        k_fill_i8<<<1024, 256>>>((int8_t *)q, wt<T>::bytes(n), seed); // (Q4: random bytes, two nibbles each)
        k_fill_half<<<1024, 256>>>(s, n / 32, seed + 7777, a / (T == Q8 ? 127.0f : 8.0f)); // of random sign and size
        m.s = s;
    }
    CK(cudaGetLastError());
    m.q = q;
    return m;
}
static void free_mat(mat m) {
    CK(cudaFree((void *)m.q));
    if (m.s) CK(cudaFree((void *)m.s));
}

// ---- the benchmark ---------------------------------------------------------------------------
struct model {
    const char *name;
    int E, I, L;
};
struct variant {
    const char *name;
    int slice; // one kernel: fc rows (mproj columns) a block; two: rows a block
};

// The launch of one PDL kernel into the stream being captured.
template <class... A>
static void launch(cudaStream_t s, void (*k)(A...), int blocks, A... args) {
    cudaLaunchAttribute attr = {};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks), cfg.blockDim = dim3(THREADS), cfg.stream = s, cfg.attrs = &attr, cfg.numAttrs = 1;
    CK(cudaLaunchKernelEx(&cfg, k, args...));
}

// The graph of variant v over the L layers, x0 copied in first; *out: where the last x lands.
template <int T, int S>
static cudaGraphExec_t capture(cudaStream_t s, const variant &v, const model &md, const mat *fc, const mat *mp,
                               const float *x0, float *xs, float *h, float *part, unsigned *ctr, float **out) {
    const int E = md.E, L = md.L;
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    CK(cudaMemcpyAsync(xs, x0, E * sizeof(float), cudaMemcpyDeviceToDevice, s));
    if (!strncmp(v.name, "two", 3)) {
        const bool flag = !strcmp(v.name, "two-flag");
        const unsigned b_fc = (md.I + S - 1) / S, b_mp = (E + S - 1) / S; // (S: rows a block)
        if (flag) CK(cudaMemsetAsync(ctr, 0, 2 * L * sizeof(unsigned), s));
        for (int l = 0; l < L; l++) {
            launch(s, flag ? k_rows<T, true, S> : k_rows<T, false, S>, b_fc, fc[l], (const float *)xs, h, 0, ctr, 2 * l,
                   b_mp);
            launch(s, flag ? k_rows<T, true, S> : k_rows<T, false, S>, b_mp, mp[l], (const float *)h, xs, 1, ctr, 2 * l + 1,
                   b_fc);
        }
        *out = xs;
    } else if constexpr (S % wt<T>::PER == 0 && S >= 16 && (T == F16 || S == 32)) { // (a slice one kernel takes)
        if (!strcmp(v.name, "atomic")) {
            CK(cudaMemsetAsync(xs + E, 0, E * sizeof(float), s));
            for (int l = 0; l < L; l++) launch(s, k_mlp_atomic<T, S>, md.I / S, fc[l], mp[l], xs, l);
            *out = xs + (L % 3) * E;
        } else {
            CK(cudaMemsetAsync(ctr, 0, L * sizeof(unsigned), s));
            for (int l = 0; l < L; l++) launch(s, k_mlp_ordered<T, S>, md.I / S, fc[l], mp[l], xs, part, ctr, l);
            *out = xs + (L % 2) * E;
        }
    } else {
        fprintf(stderr, "cuda_mlp: %s takes no slice of %d\n", v.name, S);
        exit(1);
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphDestroy(g));
    return ge;
}

// Every variant of type T on model md: one TSV row each.
template <int T>
static int bench_model(cudaStream_t s, const model &md, double copy_gbs, int sms) {
    const int E = md.E, I = md.I, L = md.L;
    mat *fc = (mat *)host_alloc(L * sizeof(mat)), *mp = (mat *)host_alloc(L * sizeof(mat));
    for (int l = 0; l < L; l++) fc[l] = make_mat<T>(E, I, 2 * l + 1), mp[l] = make_mat<T>(I, E, 2 * l + 2);
    float *x0, *xs, *h, *part;
    unsigned *ctr;
    CK(cudaMalloc(&x0, E * sizeof(float)));
    CK(cudaMalloc(&xs, 3 * E * sizeof(float)));
    CK(cudaMalloc(&h, I * sizeof(float)));
    CK(cudaMalloc(&part, (size_t)(I / 8) * E * sizeof(float)));
    CK(cudaMalloc(&ctr, 2 * L * sizeof(unsigned)));
    k_fill_float<<<64, 256>>>(x0, E, 99, 1.0f);
    CK(cudaGetLastError());
    // The reference: layer by layer, one thread a row.
    CK(cudaMemcpy(xs, x0, E * sizeof(float), cudaMemcpyDeviceToDevice));
    for (int l = 0; l < L; l++) {
        k_ref<T><<<(I + 127) / 128, 128>>>(fc[l], xs, h, 0);
        k_ref<T><<<(E + 127) / 128, 128>>>(mp[l], h, xs, 1);
    }
    CK(cudaGetLastError());
    float *ref = to_host(xs, E);
    double ref_max = 0;
    for (int i = 0; i < E; i++) ref_max = fmax(ref_max, fabs(ref[i]));
    const double bytes = (double)L * 2 * (wt<T>::bytes((size_t)E * I) + (T == F16 ? 0 : (size_t)E * I / 16)); // (scales)
    static const variant vars[] = {{"two", 8}, {"two", 32}, {"two-flag", 8}, {"atomic", 16}, {"atomic", 32}, {"ordered", 16}, {"ordered", 32}};
    constexpr int S16 = T == F16 ? 16 : 32; // (a quantized slice is a whole scale's 32: its 16 is skipped)
    int bad = 0;
    for (const variant &v : vars) {
        if (v.slice == 16 && T != F16) continue;
        if (I % v.slice) continue;
        const int blocks = I / v.slice; // (two kernels: fc's)
        if (!strcmp(v.name, "ordered")) { // every block resident, or its barrier never opens
            int per_sm = 0;
            CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                &per_sm, v.slice == 16 ? k_mlp_ordered<T, S16> : k_mlp_ordered<T, 32>, THREADS, 0));
            if (blocks > per_sm * sms) continue;
        }
        float *out = NULL;
        cudaGraphExec_t ge =
            v.slice == 32  ? capture<T, 32>(s, v, md, fc, mp, x0, xs, h, part, ctr, &out)
            : v.slice == 8 ? capture<T, 8>(s, v, md, fc, mp, x0, xs, h, part, ctr, &out)
                          : capture<T, S16>(s, v, md, fc, mp, x0, xs, h, part, ctr, &out);
        const double us = graph_median_ms(ge, s, REPS, NULL, 0) * 1e3 / L;
        float *got = to_host(out, E);
        CK(cudaGraphLaunch(ge, s));
        CK(cudaStreamSynchronize(s));
        float *again = to_host(out, E);
        double err = 0;
        for (int i = 0; i < E; i++) err = fmax(err, fabs((double)got[i] - ref[i]) / ref_max);
        const int same = !memcmp(got, again, E * sizeof(float));
        if (!(err <= 1e-3)) { // (NaN too)
            fprintf(stderr, "cuda_mlp: %s %s %s/%d: relative error %g against the reference\n", md.name,
                    type_name[T], v.name, v.slice, err);
            bad = 1;
        }
        const double gbs = bytes / L / (us * 1e3);
        printf("%s\t%s\t%s\t%d\t%d\t%.2f\t%.0f\t%.3f\t%.2e\t%d\n", md.name, type_name[T], v.name,
               v.slice, blocks, us, gbs, gbs / copy_gbs, err, same);
        fflush(stdout);
        free(got), free(again);
        CK(cudaGraphExecDestroy(ge));
    }
    free(ref);
    for (int l = 0; l < L; l++) free_mat(fc[l]), free_mat(mp[l]);
    free(fc), free(mp);
    for (void *p : {(void *)x0, (void *)xs, (void *)h, (void *)part, (void *)ctr}) CK(cudaFree(p));
    return bad;
}

// The device's copy bandwidth (bytes read plus written a second, GB/s): a 1 GiB copy, median of 5.
static double copy_bandwidth(cudaStream_t s) {
    const size_t n = (size_t)1 << 30;
    void *a, *b;
    CK(cudaMalloc(&a, n));
    CK(cudaMalloc(&b, n));
    CK(cudaMemset(a, 1, n));
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    CK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice, s));
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    const double ms = graph_median_ms(ge, s, 5, NULL, 0);
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaFree(a));
    CK(cudaFree(b));
    return 2.0 * n / (ms * 1e6);
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: cuda_mlp\n  the decode step's MLP as two kernels or one (partial sums added by atomics or\n"
               "  in a fixed order after a grid barrier), a chain of a model's layers replayed as one\n"
               "  CUDA graph on GPU 0, F16, Q8 and Q4 weights; TSV on standard output\n");
        return 0;
    }
    cudaDeviceProp prop;
    if (!bench_device(&prop)) return 0;
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const double copy_gbs = copy_bandwidth(s);
    printf("# device: %s, %d SMs; copy bandwidth %.0f GB/s; median of %d replays of each chain\n", prop.name,
           prop.multiProcessorCount, copy_gbs, REPS);
    printf("model\ttype\tvariant\trows_or_slice\tblocks\tus_per_layer\tGB_s\tof_copy\trel_err\trepeatable\n");
    static const model models[] = {{"gpt2-xl", 1600, 6400, 48}, {"gpt2", 768, 3072, 12}};
    int bad = 0;
    for (const model &md : models) {
        bad |= bench_model<F16>(s, md, copy_gbs, prop.multiProcessorCount);
        bad |= bench_model<Q8>(s, md, copy_gbs, prop.multiProcessorCount);
        bad |= bench_model<Q4>(s, md, copy_gbs, prop.multiProcessorCount);
    }
    CK(cudaStreamDestroy(s));
    return bad;
}
