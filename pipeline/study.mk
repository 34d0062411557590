## Study targets (pipeline/study.mk):
##   all           the whole study: models -> GGUF variants -> speed, memory, quality -> tables,
##                 figures, paper/paper.pdf and paper/RESULTS.md
##   models        fetch (or synthesise) every model of MODELS and QUALITY_MODELS
##   variants      quantize every model to every variant (data/gguf/MODEL/VARIANT.gguf)
##   speed         the timed generate runs (data/results/local/speed/...)
##   quality       perplexity and KL-divergence (data/results/local/quality/...)
##   tables        aggregated tables (data/results/local/tables/)
##   figures       figures/*.png and figures/*.pdf
##   paper         paper/paper.pdf and paper/RESULTS.md
##   demo          the quick CPU demo: generate + ppl on qb-gpt2-10m
##   clean         remove builds and results (keeps downloads); distclean removes everything

RES      := data/results/local

# $(call stamp,FILE,TEXT): FILE holds TEXT, rewritten only when TEXT changed, so that its
# timestamp says when a knob last changed. Done while the Makefile is read, not by a rule.
stamp = $(shell mkdir -p $(dir $(1)) && printf '%s' '$(subst ','\'',$(2))' > $(1).new && \
  { cmp -s $(1).new $(1) && rm -f $(1).new || mv $(1).new $(1); })

# ---- the programs, as the results see them -------------------------------------------------
# A result depends on the code that made it, not on its program's date. $(call prog_code,NAME)
# stands for the CPU code of program NAME (tools/NAME.c, or tests/bench/NAME.c for membw; libqb's
# sources and the headers they include; the compiler's name and flags): a checksum, rewritten (at
# parse time) only when it changes. So a change to the CUDA library alone, which relinks every
# tool, leaves the CPU rows fresh instead of re-measuring the whole study, and make -n tells the
# truth. The program itself is an order-only prerequisite (built before it runs, never a reason
# to rerun), except for the rows measured on the GPU (device cuda), whose code it all is. (The
# compiler's version is left out: on a fresh machine the first make installs the compiler after
# reading this, and would re-measure everything once more on the next run. After upgrading it,
# make clean.)
prog_code = build/code/$(1)
CPU_CODE := $(sort $(wildcard tools/lib/*.[ch] kernels/*.h kernels/cpu/*.[ch]) kernels/cuda/cuda_backend.h)
CPU_CODE_SUM := $(firstword $(shell cat $(CPU_CODE) | sha256sum)) $(CC) $(CFLAGS) $(CPPFLAGS) $(AVX2_FLAGS) $(AVX512_FLAGS)
$(foreach s,$(wildcard tools/*.c) tests/bench/membw.c,\
  $(call stamp,$(call prog_code,$(basename $(notdir $(s)))),$(CPU_CODE_SUM) $(firstword $(shell sha256sum $(s)))))
GGUF_DIR := data/gguf
MIRROR   ?= $(firstword $(wildcard ../shared/mirror))
export QB_MIRROR ?= $(MIRROR)
LOCK     ?= flock $(RES)/.lock
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

.PHONY: all models variants speed quality tables figures paper demo

# ---- models --------------------------------------------------------------
model_dir = data/models/$(1)
ALL_MODELS := $(sort $(MODELS) $(QUALITY_MODELS))

# A model: MODEL_SRC_NAME=DIR copies a local Hugging Face directory (tests, private models);
# synth-NAME is fetch --synthetic NAME; anything else is fetched by name (mirror first).
define model_rule
$(call model_dir,$(1))/config.json: | bin/fetch
	$(if $(MODEL_SRC_$(1)),mkdir -p $(call model_dir,$(1)) && cp $(MODEL_SRC_$(1))/* $(call model_dir,$(1))/,\
	  $(if $(filter synth-%,$(1)),bin/fetch --synthetic $(patsubst synth-%,%,$(1)) --dtype $(SYNTH_DTYPE) -o $(call model_dir,$(1)),\
	    bin/fetch --data data $(1)))
endef
$(foreach m,$(ALL_MODELS),$(eval $(call model_rule,$(m))))

data/datasets/%: | bin/fetch
	bin/fetch --data data $(firstword $(subst /, ,$*))

models: $(foreach m,$(ALL_MODELS),$(call model_dir,$(m))/config.json)

# ---- variants: one GGUF file per model x variant -----------------------------
gguf = $(GGUF_DIR)/$(1)/$(2).gguf

# The calibration slice for static INT8: the first 32 KiB of the in-domain validation text.
CALIB_SOURCE ?= qb-corpus/valid.txt
$(RES)/calib.txt: data/datasets/$(CALIB_SOURCE)
	@mkdir -p $(@D)
	head -c 32768 $< > $@.tmp && mv $@.tmp $@
CALIB_TEXT := $(RES)/calib.txt

# The quantize arguments of each variant are a file, rewritten (at parse time) only when they
# change, so editing a variant's definition rebuilds exactly that variant's file and everything
# measured on it, and make -n tells the truth about what is stale.
$(foreach m,$(ALL_MODELS),$(foreach v,$(VARIANTS),$(call stamp,$(GGUF_DIR)/$(m)/$(v).args,$(VARIANT_$(v)))))

define variant_rule
$(call gguf,$(1),$(2)): $(call model_dir,$(1))/config.json $(GGUF_DIR)/$(1)/$(2).args $(call prog_code,quantize) $(if $(filter int8-static,$(2)),$(CALIB_TEXT)) | bin/quantize
	@mkdir -p $$(@D)
	bin/quantize $(call model_dir,$(1)) $$@.new.gguf $(VARIANT_$(2)) --name $(1) -q --report $$@.report.tsv > $$@.summary.raw
	bash pipeline/join-row.sh $$@.summary.raw <(printf 'variant\n$(2)\n') | \
	  awk -F'\t' -v OFS='\t' 'NR==1 {for (i=1;i<=NF;i++) c[$$$$i]=i; print $$$$0, "file_mb", "bpw"; next} \
	    {print $$$$0, $$$$c["file_bytes"]/1e6, $$$$c["bits_per_weight"]}' > $$@.summary.tsv
	rm -f $$@.summary.raw
	mv $$@.new.gguf $$@
endef
$(foreach m,$(ALL_MODELS),$(foreach v,$(VARIANTS),$(eval $(call variant_rule,$(m),$(v)))))

variants: $(foreach m,$(ALL_MODELS),$(foreach v,$(VARIANTS),$(call gguf,$(m),$(v))))

# ---- provenance: every results file starts with these lines -----------------
# $(call provenance,COMMAND) prints the machine, the commit and the exact command.
provenance = bash pipeline/provenance.sh $(COMMIT) $(1)

# ---- speed: one row file per cell -----------------------------------------
# The prompt is a file so that changing PROMPT rebuilds exactly the runs that used it.
$(call stamp,$(RES)/prompt.txt,$(PROMPT))

speed_cell = $(RES)/speed/$(1)/$(2)/$(3)/t$(4)-n$(5)-r$(6).tsv

# A cell: model $(1), variant $(2), device $(3), threads $(4), new tokens $(5), repeat $(6)
# (repeat 0 is the warm-up, run once per model x variant x device x threads before the first
# token count, kept but marked warmup=1 and left out of the tables). The run goes through $(LOCK) $(RUN) and
# sample-res; the row joins generate's metrics and sample-res's summary.
define speed_rule
$(call speed_cell,$(1),$(2),$(3),$(4),$(5),$(6)): $(call gguf,$(1),$(2)) $(RES)/prompt.txt $(call prog_code,generate) $(call prog_code,sample-res) \
  $(if $(filter cuda,$(3)),bin/generate) | bin/generate bin/sample-res
	@mkdir -p $$(@D)
	$(LOCK) $(RUN) bin/sample-res -i 0.05 -s $$@.res -o $$@.series \
	  --tag variant=$(2) --tag repeat=$(6) --tag warmup=$(if $(filter 0,$(6)),1,0) -- \
	  bin/generate -m $(call gguf,$(1),$(2)) --model-name $(1) --device $(3) -t $(4) -n $(5) --ignore-eos \
	    --metrics $$@.gen < $(RES)/prompt.txt > $$@.out
	{ $(call provenance,generate -m $(call gguf,$(1),$(2)) --device $(3) -t $(4) -n $(5) --ignore-eos); \
	  bash pipeline/join-row.sh $$@.gen $$@.res; } > $$@.tmp
	mv $$@.series $$(basename $$@).series.tsv
	rm -f $$@.gen $$@.res
	mv $$@.tmp $$@
endef

threads_for = $(if $(filter cpu,$(1)),$(THREADS),1)
# The cells in the order make runs them (serially, under the lock): round by round, each round
# one pass over the whole matrix (round 0: the warm-ups, first token count only), so a machine
# whose speed drifts over the run (memory bandwidth on a shared VM: 2x within an hour seen here)
# shifts every variant alike instead of whichever ran its repeats back to back at the time; the
# ratios to f32 are what the study reports.
SPEED_CELLS :=
$(foreach r,0 $(shell seq 1 $(REPEATS)),$(foreach m,$(MODELS),$(foreach v,$(VARIANTS),$(foreach d,$(DEVICES),\
  $(foreach t,$(call threads_for,$(d)),$(foreach n,$(if $(filter 0,$(r)),$(firstword $(NEW_TOKENS)),$(NEW_TOKENS)),\
    $(eval $(call speed_rule,$(m),$(v),$(d),$(t),$(n),$(r)))\
    $(eval SPEED_CELLS += $(call speed_cell,$(m),$(v),$(d),$(t),$(n),$(r)))))))))

speed: $(SPEED_CELLS)

# ---- quality: perplexity and KL-divergence, once per model x variant x device x text ----------
quality_cell = $(RES)/quality/$(1)/$(2)/$(3)/$(subst /,_,$(4)).tsv
base_logits  = $(RES)/quality/$(1)/f32/$(2)/$(subst /,_,$(3)).logits

define quality_rule
$(call quality_cell,$(1),$(2),$(3),$(4)): $(call gguf,$(1),$(2)) data/datasets/$(4) $(call prog_code,ppl) $(if $(filter cuda,$(3)),bin/ppl) \
  $(if $(filter-out f32,$(2)),$(call quality_cell,$(1),f32,$(3),$(4))) | bin/ppl
	@mkdir -p $$(@D)
	$(LOCK) $(RUN) bin/ppl -m $(call gguf,$(1),$(2)) --model-name $(1) --device $(3) -t $(NPROC) -f data/datasets/$(4) \
	  $(ppl_window_args) \
	  $(if $(filter f32,$(2)),--save-logits $(call base_logits,$(1),$(3),$(4)),--kl-base $(call base_logits,$(1),$(3),$(4))) \
	  -o $$@.row
	{ $(call provenance,ppl -m $(call gguf,$(1),$(2)) --device $(3) -f data/datasets/$(4)); \
	  bash pipeline/join-row.sh $$@.row <(printf 'variant\ttext\n$(2)\t$(4)\n'); } > $$@.tmp
	rm -f $$@.row
	mv $$@.tmp $$@
endef

QUALITY_CELLS :=
$(foreach m,$(QUALITY_MODELS),$(foreach v,$(VARIANTS),$(foreach d,$(DEVICES),$(foreach x,$(QUALITY_TEXTS),\
  $(eval $(call quality_rule,$(m),$(v),$(d),$(x)))\
  $(eval QUALITY_CELLS += $(call quality_cell,$(m),$(v),$(d),$(x)))))))

quality: $(QUALITY_CELLS)

# ---- the main job ------------------------------------------------------------
all: build/.deps tables figures paper
	@echo "qbench: tables in $(TAB), figures in figures/, paper in paper/paper.pdf and paper/RESULTS.md"

# The quick CPU demo: one generation and one perplexity on qb-gpt2-10m, straight from the
# Hugging Face checkpoint.
demo: bin/generate bin/ppl $(call model_dir,qb-gpt2-10m)/config.json data/datasets/wikitext-2-raw-v1/wiki.test.raw
	bin/generate -m $(call model_dir,qb-gpt2-10m) -p '$(PROMPT)' -n 64 -t $(NPROC)
	bin/ppl -m $(call model_dir,qb-gpt2-10m) -f data/datasets/wikitext-2-raw-v1/wiki.test.raw -t $(NPROC)
