// engine_cli.h: what generate and ppl share on their command lines and in
// their input checks.
#pragma once
#include <stddef.h>

#include "model.h"

// Byte offset of the first byte of s[0..n) that is not part of valid UTF-8
// (overlongs, surrogates and code points above U+10FFFF are invalid), or -1.
long qb_utf8_invalid_at(const char *s, size_t n);
// Online CPUs: the default thread count.
int qb_default_threads(void);
// Accepts "cpu" (and "cuda" in a CUDA build); dies with a usage error naming
// the device otherwise. The GPU computes weight-only (float32 activations):
// act (the --act option, NULL when absent) other than f32 with cuda is a
// usage error too.
void qb_check_device(const char *device, const char *act);
// The activation handling a run's metrics row records: the CPU's
// (qb_model_act_label), or "f32" on the GPU, which does not apply a file's
// int8 activation mode; it says so on stderr (prog: the tool's name) then.
const char *qb_run_act_label(const qb_model *m, qb_act_mode act, int cuda, const char *prog);
