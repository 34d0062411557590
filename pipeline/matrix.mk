## The experiment matrix (pipeline/matrix.mk): every knob below can be set on the command line,
## e.g. make all MODELS='gpt2 gpt2-medium' DEVICES=cuda REPEATS=3
##
## Knobs:
##   MODELS        models measured for speed and memory      (default: qb-gpt2-10m synth-gpt2)
##   QUALITY_MODELS models measured for perplexity/KL        (default: qb-gpt2-10m)
##   VARIANTS      weight-type variants (see VARIANT_* below)
##   DEVICES       cpu, cuda (cuda only where a GPU answers)
##   THREADS       CPU thread counts                          (default: 1 and all cores)
##   REPEATS       timed repeats per cell, after one warm-up  (default: 5; run in rounds,
##                 each round one pass over the whole matrix)
##   NEW_TOKENS    generated tokens per run                   (default: 100 128 200 256)
##   PROMPT        the fixed prompt of the seed studies
##   RUN           prefix for every measured command (e.g. RUN='srun -N1 --exclusive')
##   LOCK          serialises timed runs on one machine (default: flock on data/results/local/.lock;
##                 set LOCK= when RUN spreads runs over a cluster)
##   GPU_RESULTS   committed GPU rows to report (default: data/results/h100; e.g. data/results/h200
##                 for tests/cuda/run-device.sh's output from another card)

NPROC      := $(shell nproc 2>/dev/null || echo 1)
MODELS     ?= qb-gpt2-10m synth-gpt2
QUALITY_MODELS ?= qb-gpt2-10m
VARIANTS   ?= f32 f16 bf16 int8-dyn int8-all int8-static q4_0 q4_k iq4_nl mixed
HAVE_GPU   := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
DEVICES    ?= cpu $(if $(HAVE_GPU),cuda)
THREADS    ?= $(sort 1 $(NPROC))
REPEATS    ?= 5
NEW_TOKENS ?= 100 128 200 256
PROMPT     ?= Once upon a time, there was a magical forest
RUN        ?=

# Where a model comes from: a fetch catalogue name, or synth-NAME for seeded random weights of
# NAME's exact shapes (fetch --synthetic NAME), used for speed and memory only.
SYNTH_DTYPE ?= f32

# Each variant: the quantize arguments that make its GGUF file. The activation mode (weight-only
# or W8A8) is stored in the file by the preset and used by generate/ppl; what stays F32 in each
# variant is defined in quantize(1) and the paper's methods section.
VARIANT_f32         := --type f32
VARIANT_f16         := --type f16
VARIANT_bf16        := --type bf16
VARIANT_int8-dyn    := --preset dynamic-int8
VARIANT_int8-all    := --preset all-int8
VARIANT_int8-static  = --preset static-int8 --calib $(CALIB_TEXT)
VARIANT_q4_0        := --type q4_0 --embed q4_0
VARIANT_q4_k        := --type q4_k --embed q4_k
VARIANT_iq4_nl      := --type iq4_nl --embed iq4_nl
VARIANT_mixed       := --preset q4_k_m

# Quality: texts, context (0 = the model's own) and stride between windows: half (Hugging Face's
# sliding window, the default: every scored token has at least ctx/2 tokens of left context; the
# transformer body runs twice per token but the output layer and softmax, which dominate a small
# model, only on scored tokens, so it costs ~1.1-1.2x disjoint windows), ctx (disjoint windows,
# llama.cpp's protocol) or a number of tokens.
QUALITY_TEXTS ?= wikitext-2-raw-v1/wiki.test.raw qb-corpus/valid.txt
PPL_CTX       ?= 0
PPL_STRIDE    ?= half
ppl_window_args = $(if $(filter-out 0,$(PPL_CTX)),--ctx $(PPL_CTX)) \
  $(if $(filter half,$(PPL_STRIDE)),--stride-half,$(if $(filter-out ctx 0,$(PPL_STRIDE)),--stride $(PPL_STRIDE)))
