// engine_cli.h: what generate and ppl share on their command lines and in
// their input checks.
#pragma once
#include <stddef.h>

// Byte offset of the first byte of s[0..n) that is not part of valid UTF-8
// (overlongs, surrogates and code points above U+10FFFF are invalid), or -1.
long qb_utf8_invalid_at(const char *s, size_t n);
// Online CPUs: the default thread count.
int qb_default_threads(void);
// Accepts "cpu" (and "cuda" in a CUDA build); dies with a usage error naming
// the device otherwise.
void qb_check_device(const char *device);
