// fake-nvml.c: a stand-in for libnvidia-ml.so.1, so that sample-res's NVML
// code (tools/lib/nvml.c) is tested on machines without an NVIDIA driver.
// Built as a shared library by tests/tools/sample-res.t and loaded through
// QB_NVML_LIBRARY.
//
// It claims two GPUs. On GPU i (0, 1) every process whose parent is the
// caller (sample-res: CMD and the orphans it adopted) uses (i + 1) * 64 MiB,
// so such a process counts 192 MiB in all; 100 processes that are not the
// caller's (pid 1 and pids that cannot exist) use 1 GiB each and must not be
// counted. That is more entries than a first query has room for, so the
// NVML_ERROR_INSUFFICIENT_SIZE path is taken. With FAKE_NVML_NA=1 the
// caller's processes report NVML_VALUE_NOT_AVAILABLE, as under MIG. Like the
// real library it keeps a device file open without O_CLOEXEC.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} proc_info;

int nvmlInit_v2(void) { return open("/dev/null", O_RDONLY) >= 0 ? 0 : 999; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) {
    *n = 2;
    return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
    if (i >= 2) return 2; // NVML_ERROR_INVALID_ARGUMENT
    *h = (void *)(size_t)(i + 1);
    return 0;
}
int nvmlDeviceGetName(void *h, char *name, unsigned int len) {
    (void)h;
    snprintf(name, len, "Fake GPU");
    return 0;
}
int nvmlSystemGetDriverVersion(char *v, unsigned int len) {
    snprintf(v, len, "0.0-fake");
    return 0;
}

static int child_pids(unsigned int *out, int cap) {
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        char *close = strrchr(buf, ')');
        int ppid;
        if (close && sscanf(close + 1, " %*c %d", &ppid) == 1 && ppid == (int)getpid())
            out[n++] = (unsigned int)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *count, proc_info *infos) {
    unsigned int dev = (unsigned int)(size_t)h - 1;
    proc_info all[256];
    unsigned int n = 0;
    for (unsigned int i = 0; i < 100; i++) // foreign: pid 1, then pids above any pid_max
        all[n++] = (proc_info){i == 0 ? 1 : 5000000 + i, 1ULL << 30, 0, 0};
    unsigned int kids[64];
    int nk = child_pids(kids, 64);
    const char *na = getenv("FAKE_NVML_NA");
    for (int i = 0; i < nk; i++)
        all[n++] = (proc_info){kids[i], na && *na == '1' ? ~0ULL : (dev + 1) * 64ULL << 20, 0, 0};
    if (*count < n) {
        *count = n;
        return 7; // NVML_ERROR_INSUFFICIENT_SIZE
    }
    memcpy(infos, all, n * sizeof *all);
    *count = n;
    return 0;
}
