// nvml.h: GPU memory used by a set of processes, through NVIDIA's management
// library loaded at run time (dlopen), so the tools build and run on machines
// without a GPU or driver: there qb_nvml_open simply returns NULL.
#pragma once
#include <stddef.h>
#include <sys/types.h>

typedef struct qb_nvml qb_nvml;

// Loads the library (QB_NVML_LIBRARY if set, else libnvidia-ml.so.1),
// initialises it and finds the devices. NULL, silently, when the library is
// absent, fails to initialise or sees no device.
qb_nvml *qb_nvml_open(void);
// GPU memory (bytes) used on all devices by the processes pids[0..n), as the
// driver accounts it per process (usedGpuMemory of the compute processes).
// Returns -1 when it cannot be known (a query failed, or the driver does not
// report per-process memory, as under MIG or without permission).
double qb_nvml_used_bytes(qb_nvml *g, const pid_t *pids, size_t n);
// "N x NAME, driver VERSION" for provenance lines.
void qb_nvml_describe(qb_nvml *g, char *buf, size_t len);
void qb_nvml_close(qb_nvml *g);
