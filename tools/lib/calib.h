// calib.h: offline calibration of static INT8 activation scales: run the
// float model over calibration text and record, for the input of every
// matrix, the distribution of |x|; the scale of a matrix is the chosen
// percentile of |x| over 127 (values beyond it are clipped at run time).
#pragma once
#include "model.h"

// The matrices whose inputs are observed: layer l's qkv, attn output, ffn up,
// ffn down at 4 l + 0..3, the output projection at 4 n_layer.
static inline int qb_calib_n(const qb_model *m) { return 4 * m->cfg.n_layer + 1; }

// Runs tokens[0..n) through m in windows of the model's context (at most
// max_tokens tokens in all) on n_threads threads, and writes qb_calib_n(m)
// scales: the pct-th percentile (0 < pct <= 100) of |x| / 127. absmax (may be
// NULL) receives each input's largest |x|.
void qb_calibrate(const qb_model *m, const int *tokens, size_t n, size_t max_tokens, int n_threads, double pct,
                  float *scales, float *absmax);
