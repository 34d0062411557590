// nvml.c: see nvml.h. The few NVML declarations we need are written out here
// (from NVIDIA's nvml.h, a stable C ABI) so nothing of CUDA is needed to build.
#include "nvml.h"
#include "util.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

typedef int nvml_return;               // nvmlReturn_t
typedef void *nvml_device;             // nvmlDevice_t
enum { NVML_SUCCESS = 0, NVML_ERROR_INSUFFICIENT_SIZE = 7 };
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

// nvmlProcessInfo_v1_t (nvmlDeviceGetComputeRunningProcesses) and the layout
// that the _v2 and _v3 entry points fill (nvmlProcessInfo_v2_t, also called
// nvmlProcessInfo_t): mixing them up misreads every entry after the first.
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nvml_process_v1;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvml_process_v2;

typedef nvml_return (*running_fn)(nvml_device, unsigned int *, void *);

struct qb_nvml {
    void *lib;
    nvml_return (*shutdown)(void);
    running_fn running;  // the newest of _v3, _v2, v1 the library has
    int v1_layout;       // running fills nvml_process_v1
    unsigned int ndev;
    nvml_device *dev;
    char **names;
    char driver[96];
    void *buf;           // query buffer, grown on NVML_ERROR_INSUFFICIENT_SIZE
    unsigned int buf_entries;
};

// The descriptors open now, as a bitmap of the first 1024.
static void open_fds(unsigned char *bits) {
    memset(bits, 0, 1024 / 8);
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd == dirfd(d)) continue; // the listing's own descriptor
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd < 1024) bits[fd / 8] |= (unsigned char)(1 << (fd % 8));
    }
    closedir(d);
}

// The driver library opens /dev/nvidia* (and more) without O_CLOEXEC; mark
// what it opened close-on-exec so that programs we start later do not
// inherit the driver's handles.
static void cloexec_new_fds(const unsigned char *before) {
    unsigned char after[1024 / 8];
    open_fds(after);
    for (int fd = 3; fd < 1024; fd++)
        if ((after[fd / 8] >> (fd % 8) & 1) && !(before[fd / 8] >> (fd % 8) & 1)) {
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
}

static qb_nvml *open_library(void);

qb_nvml *qb_nvml_open(void) {
    unsigned char before[1024 / 8];
    open_fds(before);
    qb_nvml *g = open_library();
    cloexec_new_fds(before);
    return g;
}

static qb_nvml *open_library(void) {
    const char *name = getenv("QB_NVML_LIBRARY");
    if (!name || !*name) name = "libnvidia-ml.so.1";
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    nvml_return (*init)(void) = (nvml_return(*)(void))dlsym(lib, "nvmlInit_v2");
    if (!init) init = (nvml_return(*)(void))dlsym(lib, "nvmlInit");
    nvml_return (*shutdown)(void) = (nvml_return(*)(void))dlsym(lib, "nvmlShutdown");
    nvml_return (*count)(unsigned int *) = (nvml_return(*)(unsigned int *))dlsym(lib, "nvmlDeviceGetCount_v2");
    if (!count) count = (nvml_return(*)(unsigned int *))dlsym(lib, "nvmlDeviceGetCount");
    nvml_return (*handle)(unsigned int, nvml_device *) =
        (nvml_return(*)(unsigned int, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    if (!handle) handle = (nvml_return(*)(unsigned int, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByIndex");
    nvml_return (*devname)(nvml_device, char *, unsigned int) =
        (nvml_return(*)(nvml_device, char *, unsigned int))dlsym(lib, "nvmlDeviceGetName");
    nvml_return (*driver)(char *, unsigned int) =
        (nvml_return(*)(char *, unsigned int))dlsym(lib, "nvmlSystemGetDriverVersion");
    running_fn running = (running_fn)dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    int v1 = 0;
    if (!running) running = (running_fn)dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    if (!running) running = (running_fn)dlsym(lib, "nvmlDeviceGetComputeRunningProcesses"), v1 = 1;
    unsigned int ndev = 0;
    if (!init || !shutdown || !count || !handle || !running || init() != NVML_SUCCESS) {
        dlclose(lib);
        return NULL;
    }
    if (count(&ndev) != NVML_SUCCESS || ndev == 0) {
        shutdown();
        dlclose(lib);
        return NULL;
    }
    qb_nvml *g = qb_calloc(1, sizeof *g);
    g->lib = lib;
    g->shutdown = shutdown;
    g->running = running;
    g->v1_layout = v1;
    g->dev = qb_calloc(ndev, sizeof *g->dev);
    g->names = qb_calloc(ndev, sizeof *g->names);
    for (unsigned int i = 0; i < ndev; i++) {
        if (handle(i, &g->dev[g->ndev]) != NVML_SUCCESS) continue; // e.g. a GPU we may not see
        char nm[96] = "unknown GPU";
        if (devname && devname(g->dev[g->ndev], nm, sizeof nm) != NVML_SUCCESS) strcpy(nm, "unknown GPU");
        g->names[g->ndev++] = qb_strdup(nm);
    }
    if (!driver || driver(g->driver, sizeof g->driver) != NVML_SUCCESS) strcpy(g->driver, "unknown");
    if (g->ndev == 0) {
        qb_nvml_close(g);
        return NULL;
    }
    g->buf_entries = 64;
    g->buf = qb_calloc(g->buf_entries, sizeof(nvml_process_v2));
    return g;
}

static int in_set(const pid_t *pids, size_t n, unsigned int pid) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned int)pids[i] == pid) return 1;
    return 0;
}

double qb_nvml_used_bytes(qb_nvml *g, const pid_t *pids, size_t n) {
    double total = 0;
    size_t stride = g->v1_layout ? sizeof(nvml_process_v1) : sizeof(nvml_process_v2);
    for (unsigned int d = 0; d < g->ndev; d++) {
        unsigned int count;
        nvml_return r;
        for (;;) {
            count = g->buf_entries;
            r = g->running(g->dev[d], &count, g->buf);
            if (r != NVML_ERROR_INSUFFICIENT_SIZE) break;
            // More processes than room: grow (count says how many there are now).
            g->buf_entries = (count > g->buf_entries ? count : g->buf_entries) * 2;
            free(g->buf);
            g->buf = qb_calloc(g->buf_entries, sizeof(nvml_process_v2));
        }
        if (r != NVML_SUCCESS) return -1;
        for (unsigned int k = 0; k < count; k++) {
            const char *e = (const char *)g->buf + k * stride;
            unsigned int pid;
            unsigned long long used;
            // Both layouts begin with pid and usedGpuMemory at the same offsets.
            memcpy(&pid, e + offsetof(nvml_process_v2, pid), sizeof pid);
            memcpy(&used, e + offsetof(nvml_process_v2, usedGpuMemory), sizeof used);
            if (!in_set(pids, n, pid)) continue;
            if (used == NVML_VALUE_NOT_AVAILABLE) return -1;
            total += (double)used;
        }
    }
    return total;
}

void qb_nvml_describe(qb_nvml *g, char *buf, size_t len) {
    // Identical names collapse to "N x NAME"; mixed machines list each.
    size_t k = 0;
    buf[0] = 0;
    for (unsigned int i = 0; i < g->ndev && k < len; i++) {
        unsigned int same = 1;
        while (i + same < g->ndev && strcmp(g->names[i], g->names[i + same]) == 0) same++;
        k += (size_t)snprintf(buf + k, len - k, "%s%u x %s", k ? ", " : "", same, g->names[i]);
        i += same - 1;
    }
    if (k < len) snprintf(buf + k, len - k, ", driver %s", g->driver);
}

void qb_nvml_close(qb_nvml *g) {
    if (!g) return;
    g->shutdown();
    dlclose(g->lib);
    for (unsigned int i = 0; i < g->ndev; i++) free(g->names[i]);
    free(g->names);
    free(g->dev);
    free(g->buf);
    free(g);
}
