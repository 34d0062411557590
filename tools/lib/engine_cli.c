// engine_cli.c: see engine_cli.h.
#include "engine_cli.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

long qb_utf8_invalid_at(const char *text, size_t n) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
        if (len == 0 || i + len > n) return (long)i;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
        if (len == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F))) return (long)i;
        if (len == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))) return (long)i;
        i += len;
    }
    return -1;
}

int qb_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1024 ? (int)n : 1;
}

void qb_check_device(const char *device, const char *act) {
    if (strcmp(device, "cpu") == 0) return;
#ifdef QB_HAVE_CUDA
    if (strcmp(device, "cuda") == 0) {
        if (act && qb_act_parse(act) != QB_ACT_F32)
            qb_die(QB_EXIT_USAGE, "--act %s: --device cuda computes weight-only (float32 activations); int8 "
                   "activations run on the CPU", act);
        return; // a missing GPU is found (and reported) when the model is loaded
    }
#endif
    if (strcmp(device, "cuda") == 0) qb_die(QB_EXIT_USAGE, "--device cuda: this build has no CUDA backend");
    qb_die(QB_EXIT_USAGE, "--device: unknown device '%s' (cpu or cuda)", device);
}

const char *qb_run_act_label(const qb_model *m, qb_act_mode act, int cuda, const char *prog) {
    const char *cpu = qb_model_act_label(m, act);
    if (!cuda) return cpu;
    if (strcmp(cpu, "f32"))
        fprintf(stderr, "%s: %s asks for %s activations; --device cuda computes weight-only (f32), as its metrics say\n",
                prog, m->path, cpu);
    return "f32";
}
