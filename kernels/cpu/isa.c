// isa.c: which SIMD kernels this CPU can run, decided at run time so one
// binary runs everywhere. The environment variable QB_ISA=scalar|avx2|avx512
// may lower the choice (never raise it): the tests use it to exercise every
// path, and it is how to measure a fast kernel against its scalar twin.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "util.h"

static qb_isa hardware_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return QB_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return QB_ISA_AVX2;
#endif
    return QB_ISA_SCALAR;
}

qb_isa qb_cpu_isa(void) {
    qb_isa isa = hardware_isa();
    const char *e = getenv("QB_ISA");
    if (!e || !*e) return isa;
    qb_isa want;
    if (!strcmp(e, "scalar"))
        want = QB_ISA_SCALAR;
    else if (!strcmp(e, "avx2"))
        want = QB_ISA_AVX2;
    else if (!strcmp(e, "avx512"))
        want = QB_ISA_AVX512;
    else
        qb_die(QB_EXIT_USAGE, "QB_ISA=%s: expected scalar, avx2 or avx512", e);
    return want < isa ? want : isa;
}

// Written once, then only read: the answer cannot change while the process runs.
static pthread_once_t cached_once = PTHREAD_ONCE_INIT;
static qb_isa cached_isa;
static void cache_isa(void) { cached_isa = qb_cpu_isa(); }

qb_isa qb_cpu_isa_cached(void) {
    pthread_once(&cached_once, cache_isa);
    return cached_isa;
}

const char *qb_isa_name(qb_isa isa) {
    switch (isa) {
    case QB_ISA_SCALAR: return "scalar";
    case QB_ISA_AVX2: return "avx2";
    case QB_ISA_AVX512: return "avx512";
    }
    return "unknown";
}
