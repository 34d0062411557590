// gpu-alloc MB SECONDS: allocates MB MiB of GPU memory through the CUDA driver
// API (libcuda.so.1, loaded at run time, so this builds everywhere), writes
// it, holds it for SECONDS. Exits 77 when there is no driver or no GPU, so
// the test that uses it can skip visibly.
#include "util.h"

#include <dlfcn.h>
#include <time.h>

typedef int (*cu_init)(unsigned int);
typedef int (*cu_device_get)(int *, int);
typedef int (*cu_ctx_create)(void **, unsigned int, int);
typedef int (*cu_mem_alloc)(unsigned long long *, size_t);
typedef int (*cu_memset)(unsigned long long, unsigned char, size_t);
typedef int (*cu_sync)(void);

int main(int argc, char **argv) {
    if (argc != 3) qb_die(QB_EXIT_USAGE, "usage: gpu-alloc MB SECONDS");
    long mb = qb_parse_long("MB", argv[1], 1, 1 << 20);
    double secs = qb_parse_double("SECONDS", argv[2], 0, 3600);
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "gpu-alloc: no CUDA driver (libcuda.so.1)\n");
        return 77;
    }
    cu_init init = (cu_init)dlsym(lib, "cuInit");
    cu_device_get dev_get = (cu_device_get)dlsym(lib, "cuDeviceGet");
    cu_ctx_create ctx_create = (cu_ctx_create)dlsym(lib, "cuCtxCreate_v2");
    cu_mem_alloc mem_alloc = (cu_mem_alloc)dlsym(lib, "cuMemAlloc_v2");
    cu_memset memset_d8 = (cu_memset)dlsym(lib, "cuMemsetD8_v2");
    cu_sync sync = (cu_sync)dlsym(lib, "cuCtxSynchronize");
    int dev;
    void *ctx;
    if (!init || !dev_get || !ctx_create || !mem_alloc || !memset_d8 || !sync || init(0) != 0 ||
        dev_get(&dev, 0) != 0) {
        fprintf(stderr, "gpu-alloc: no usable GPU\n");
        return 77;
    }
    unsigned long long ptr;
    size_t n = (size_t)mb << 20;
    if (ctx_create(&ctx, 0, dev) != 0 || mem_alloc(&ptr, n) != 0 || memset_d8(ptr, 1, n) != 0 || sync() != 0)
        qb_die(QB_EXIT_DATA, "CUDA allocation of %ld MiB failed", mb);
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 0;
}
