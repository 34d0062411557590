## Peers (pipeline/peers.mk): the seed studies' systems, measured by the same harness beside ours
##   peers-venv     the peers' Python environment .venv-peers/ (PyPI: torch, transformers,
##                  onnxruntime, onnx, llama-cpp-python built from source; about 15 min, 6 GB)
##   peers          timed peer runs, same matrix as speed (data/results/local/peers/speed/...)
##   peers-quality  peer perplexity, same protocol and texts as quality (.../peers/quality/...)
##   peers-tables   peer rows aggregated, beside ours (data/results/local/tables/peers-*.tsv)
##   check-peers    the peers' tests (tests/tools/peers.t) with .venv-peers installed first
## Knobs:
##   PEERS         peer variants SYSTEM/VARIANT run by make all (default empty: off, because of
##                 the environment's install time); PEERS=all means PEERS_ALL:
##                 pytorch/{f32,bf16,int8-dyn,int8-static} onnxruntime/{f32,int8-all}
##                 llama.cpp/V for V in PEER_GGUF. make peers alone runs PEERS_ALL when PEERS is empty.
##   PEER_MODELS, PEER_NEW_TOKENS, PEER_TEXTS  the peers' share of the matrix (default: MODELS,
##                 NEW_TOKENS, QUALITY_TEXTS; THREADS and REPEATS are shared)
##   PEER_GGUF     our GGUF variants that llama.cpp runs (default: the plain ggml types of VARIANTS, and q8_0)
##
# This file is read after matrix.mk, study.mk and report.mk (the Makefile includes those first),
# so study.mk's speed_rule and quality_rule and report.mk's SPEED_AGG are used as they are; the
# few paths of study.mk that name targets here are spelled out: data/models/M,
# data/gguf/M/V.gguf, the prompt file and the calibration slice. Recipes use study.mk's LOCK, RUN
# and provenance, expanded when they run.

PEERS_VENV  := .venv-peers
PEERS_PY    := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.stamp
PEERS_RES   := data/results/local/peers
PEERS_ART   := data/peers
PEERS_PROMPT := data/results/local/prompt.txt
PEERS_CALIB  := data/results/local/calib.txt
PEERS_TAB   := data/results/local/tables
PEER_GGUF   ?= $(filter f32 f16 bf16 q4_0 q4_1 q4_k q6_k iq4_nl mixed,$(VARIANTS)) q8_0
PEERS_ALL   := pytorch/f32 pytorch/bf16 pytorch/int8-dyn pytorch/int8-static onnxruntime/f32 \
               onnxruntime/int8-all $(addprefix llama.cpp/,$(PEER_GGUF))
PEERS       ?=
PEER_MODELS ?= $(MODELS)
PEER_NEW_TOKENS ?= $(NEW_TOKENS)
PEER_TEXTS  ?= $(QUALITY_TEXTS)
PEERS_ON    := $(if $(filter all,$(PEERS)),$(PEERS_ALL),$(PEERS))
PEERS_RUN   := $(or $(PEERS_ON),$(PEERS_ALL))
PEERS_CODE  := pipeline/peers/peer.py pipeline/peers/protocol.py

peer_model = data/models/$(1)
peer_sys   = $(firstword $(subst /, ,$(1)))
peer_var   = $(lastword $(subst /, ,$(1)))
# The file a peer variant runs from: a prepared artifact, our GGUF file, or none (the checkpoint).
peer_art = $(strip \
  $(if $(filter pytorch/int8-dyn pytorch/int8-static,$(2)),$(PEERS_ART)/$(1)/$(subst /,-,$(2)).pt) \
  $(if $(filter onnxruntime/%,$(2)),$(PEERS_ART)/$(1)/$(subst /,-,$(2)).onnx) \
  $(if $(filter llama.cpp/%,$(2)),data/gguf/$(1)/$(call peer_var,$(2)).gguf))
peer_src = pipeline/peers/sys_$(subst .,,$(call peer_sys,$(1))).py

.PHONY: peers peers-quality peers-venv peers-tables check-peers peers-clean

# ---- the environment ----------------------------------------------------------
# llama-cpp-python compiles llama.cpp (CPU, -march=native); the multimodal library, tools,
# examples and tests are not needed and are left out of the build.
peers-venv: $(PEERS_STAMP)
$(PEERS_STAMP): pipeline/peers/requirements.txt | build/.deps
	$(PYTHON) -m venv $(PEERS_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$(NPROC) \
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	  $(PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check -r pipeline/peers/requirements.txt
	@touch $@

# ---- artifacts: the int8 PyTorch modules and the ONNX graphs, made once per model ----------
define peer_prepare_rule
$(PEERS_ART)/$(1)/pytorch-int8-dyn.pt: $(call peer_model,$(1))/config.json $(PEERS_STAMP) $(PEERS_CODE) pipeline/peers/sys_pytorch.py
	@mkdir -p $$(@D)
	$(PEERS_PY) pipeline/peers/peer.py prepare --system pytorch --variant int8-dyn -m $(call peer_model,$(1)) -o $$@
$(PEERS_ART)/$(1)/pytorch-int8-static.pt: $(call peer_model,$(1))/config.json $(PEERS_CALIB) $(PEERS_STAMP) $(PEERS_CODE) pipeline/peers/sys_pytorch.py
	@mkdir -p $$(@D)
	$(PEERS_PY) pipeline/peers/peer.py prepare --system pytorch --variant int8-static -m $(call peer_model,$(1)) --calib $(PEERS_CALIB) -o $$@
$(PEERS_ART)/$(1)/onnxruntime-f32.onnx: $(call peer_model,$(1))/config.json $(PEERS_STAMP) $(PEERS_CODE) pipeline/peers/sys_onnxruntime.py
	@mkdir -p $$(@D)
	$(PEERS_PY) pipeline/peers/peer.py prepare --system onnxruntime --variant f32 -m $(call peer_model,$(1)) -o $$@
$(PEERS_ART)/$(1)/onnxruntime-int8-all.onnx: $(PEERS_ART)/$(1)/onnxruntime-f32.onnx
	$(PEERS_PY) pipeline/peers/peer.py prepare --system onnxruntime --variant int8-all -m $(call peer_model,$(1)) --from $$< -o $$@
# llama.cpp's q8_0 check needs our q8_0 file even where VARIANTS has none.
$(if $(filter q8_0,$(VARIANTS)),,$(if $(filter llama.cpp/q8_0,$(PEERS_RUN)),
data/gguf/$(1)/q8_0.gguf: $(call peer_model,$(1))/config.json $(call prog_code,quantize) | bin/quantize
	@mkdir -p $$(@D)
	bin/quantize $(call peer_model,$(1)) $$@.new.gguf --type q8_0 --name $(1) -q --report $$@.report.tsv > $$@.summary.tsv
	mv $$@.new.gguf $$@
))
endef
$(foreach m,$(sort $(MODELS) $(PEER_MODELS) $(QUALITY_MODELS)),$(eval $(call peer_prepare_rule,$(m))))

# ---- speed: one row file per cell, as study.mk's speed cells ----------------------
# model $(1), peer $(2) (SYSTEM/VARIANT), threads $(3), new tokens $(4), repeat $(5) (0 = warm-up)
peer_cell = $(PEERS_RES)/speed/$(1)/$(2)/cpu/t$(3)-n$(4)-r$(5).tsv
peer_cmd  = $(PEERS_PY) pipeline/peers/peer.py generate --system $(call peer_sys,$(2)) --variant $(call peer_var,$(2)) \
  -m $(call peer_model,$(1)) $(if $(call peer_art,$(1),$(2)),--artifact $(call peer_art,$(1),$(2))) --model-name $(1) -t $(3) -n $(4)

define peer_speed_rule
$(call peer_cell,$(1),$(2),$(3),$(4),$(5)): $(call peer_model,$(1))/config.json $(call peer_art,$(1),$(2)) $(PEERS_PROMPT) $(PEERS_STAMP) $(PEERS_CODE) $(call peer_src,$(2)) $(call prog_code,sample-res) | bin/sample-res
	@mkdir -p $$(@D)
	$$(LOCK) $$(RUN) bin/sample-res -i 0.05 -s $$@.res -o $$@.series \
	  --tag system=$(call peer_sys,$(2)) --tag variant=$(call peer_var,$(2)) --tag repeat=$(5) --tag warmup=$(if $(filter 0,$(5)),1,0) -- \
	  $(call peer_cmd,$(1),$(2),$(3),$(4)) --metrics $$@.gen < $(PEERS_PROMPT) > $$@.out
	{ $$(call provenance,$(call peer_cmd,$(1),$(2),$(3),$(4))); \
	  bash pipeline/join-row.sh $$@.gen $$@.res; } > $$@.tmp
	mv $$@.series $$(basename $$@).series.tsv
	rm -f $$@.gen $$@.res
	mv $$@.tmp $$@
endef

PEER_CELLS :=
$(foreach m,$(PEER_MODELS),$(foreach p,$(PEERS_RUN),$(foreach t,$(THREADS),$(foreach n,$(PEER_NEW_TOKENS),\
  $(foreach r,$(if $(filter $(firstword $(PEER_NEW_TOKENS)),$(n)),0) $(shell seq 1 $(REPEATS)),\
    $(eval $(call peer_speed_rule,$(m),$(p),$(t),$(n),$(r)))\
    $(eval PEER_CELLS += $(call peer_cell,$(m),$(p),$(t),$(n),$(r))))))))

peers: $(PEER_CELLS)

# ---- quality: perplexity with the same windows, once per model x peer x text ----------------
peer_qcell = $(PEERS_RES)/quality/$(1)/$(2)/cpu/$(subst /,_,$(3)).tsv
peer_qcmd  = $(PEERS_PY) pipeline/peers/peer.py ppl --system $(call peer_sys,$(2)) --variant $(call peer_var,$(2)) \
  -m $(call peer_model,$(1)) $(if $(call peer_art,$(1),$(2)),--artifact $(call peer_art,$(1),$(2))) --model-name $(1) \
  -t $(NPROC) -f data/datasets/$(3) $(ppl_window_args)

define peer_quality_rule
$(call peer_qcell,$(1),$(2),$(3)): $(call peer_model,$(1))/config.json $(call peer_art,$(1),$(2)) data/datasets/$(3) $(PEERS_STAMP) $(PEERS_CODE) $(call peer_src,$(2))
	@mkdir -p $$(@D)
	$$(LOCK) $$(RUN) $(call peer_qcmd,$(1),$(2),$(3)) -o $$@.row
	{ $$(call provenance,$(call peer_qcmd,$(1),$(2),$(3))); \
	  bash pipeline/join-row.sh $$@.row <(printf 'text\n$(3)\n'); } > $$@.tmp
	rm -f $$@.row
	mv $$@.tmp $$@
endef

PEER_QCELLS :=
$(foreach m,$(QUALITY_MODELS),$(foreach p,$(PEERS_RUN),$(foreach x,$(PEER_TEXTS),\
  $(eval $(call peer_quality_rule,$(m),$(p),$(x)))\
  $(eval PEER_QCELLS += $(call peer_qcell,$(m),$(p),$(x))))))

peers-quality: $(PEER_QCELLS)

# ---- tables: peers aggregated like ours, and our rows beside them ----------------------
PEERS_AGG := --where warmup=0 --by model,system,variant,threads,new_tokens \
  --agg mean,std decode_tok_s,ttft_s,total_s,load_s --agg mean rss_peak_mb,rss_hwm_mb

$(PEERS_TAB)/peers-speed.tsv: $(PEER_CELLS) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(PEER_CELLS) $(PEERS_AGG) -o $@
$(PEERS_TAB)/peers-quality.tsv: $(PEER_QCELLS) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(PEER_QCELLS) --columns model,system,variant,text,ctx,stride,scored_tokens,ppl,seconds -o $@

# ---- ours on the plain q8_0 file that llama.cpp runs ------------------------------------
# q8_0 (weight-only, FP32 embeddings) is not a study variant; with the llama.cpp/q8_0 peer on,
# ours is measured on that very file too, speed cells and perplexity, with study.mk's rules, so
# the pair sits side by side (the issue's check: llama.cpp's perplexity within 0.1 % of ours).
Q8_PAIR := $(if $(filter q8_0,$(VARIANTS)),,$(filter llama.cpp/q8_0,$(PEERS_ON)))
Q8_SPEED_CELLS :=
Q8_QUALITY_CELLS :=
$(if $(Q8_PAIR),$(foreach m,$(PEER_MODELS),$(foreach t,$(THREADS),$(foreach n,$(PEER_NEW_TOKENS),\
  $(foreach r,$(if $(filter $(firstword $(PEER_NEW_TOKENS)),$(n)),0) $(shell seq 1 $(REPEATS)),\
    $(eval $(call speed_rule,$(m),q8_0,cpu,$(t),$(n),$(r)))\
    $(eval Q8_SPEED_CELLS += $(call speed_cell,$(m),q8_0,cpu,$(t),$(n),$(r))))))))
# (only texts the f32 run covers: its logits are the KL base)
$(if $(Q8_PAIR),$(foreach m,$(QUALITY_MODELS),$(foreach x,$(filter $(QUALITY_TEXTS),$(PEER_TEXTS)),\
  $(eval $(call quality_rule,$(m),q8_0,cpu,$(x)))\
  $(eval Q8_QUALITY_CELLS += $(call quality_cell,$(m),q8_0,cpu,$(x))))))
$(PEERS_TAB)/speed-q8_0.tsv: $(Q8_SPEED_CELLS) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(Q8_SPEED_CELLS) $(SPEED_AGG) -o $@
Q8_OURS := $(if $(Q8_SPEED_CELLS),$(PEERS_TAB)/speed-q8_0.tsv)

# qbench / peer ratios, row by row (pipeline/peers/compare.sh).
$(PEERS_TAB)/peers-vs-speed.tsv: $(TAB)/speed.tsv $(Q8_OURS) $(PEERS_TAB)/peers-speed.tsv pipeline/peers/compare.sh
	bash pipeline/peers/compare.sh speed $(TAB)/speed.tsv $(Q8_OURS) $(PEERS_TAB)/peers-speed.tsv > $@.tmp && mv $@.tmp $@
$(PEERS_TAB)/peers-vs-quality.tsv: $(TAB)/quality.tsv $(Q8_QUALITY_CELLS) $(PEERS_TAB)/peers-quality.tsv pipeline/peers/compare.sh
	bash pipeline/peers/compare.sh quality $(PEERS_TAB)/peers-quality.tsv $(TAB)/quality.tsv $(Q8_QUALITY_CELLS) > $@.tmp && mv $@.tmp $@

PEERS_VS := $(PEERS_TAB)/peers-vs-speed.tsv $(PEERS_TAB)/peers-vs-quality.tsv
peers-tables: $(PEERS_TAB)/peers-speed.tsv $(PEERS_TAB)/peers-quality.tsv $(PEERS_VS)

# The report shows the peer tables that exist; with PEERS set, make all brings them up to date
# first (without it they are read as they are, never remade: that would run every peer).
paper/gen/tab-peers.tex: $(if $(PEERS_ON),$(PEERS_VS)) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	if [ -f $(PEERS_TAB)/peers-vs-speed.tsv ]; then bin/tabulate $(PEERS_TAB)/peers-vs-speed.tsv \
	  --where new_tokens=$(lastword $(NEW_TOKENS)) --sig 3 \
	  --columns 'model=Model,variant=Variant,system=Peer,threads=Thr.,qbench_tok_s=qbench tok/s,peer_tok_s=Peer tok/s,tok_s_ratio=Ratio,ttft_ratio=TTFT ratio,rss_ratio=RSS ratio' \
	  -f tex -o $@; else echo 'No peer runs in this build (make all PEERS=all runs them).' > $@; fi
paper/gen/macros.tex paper/RESULTS.md: $(if $(PEERS_ON),$(PEERS_VS))
paper/paper.pdf: paper/gen/tab-peers.tex

# The peers figure (figures/peers.gp), drawn where the peers' speed table exists; like the
# tables, it is brought up to date only when PEERS is set.
PEER_FIG_IN := $(PEERS_TAB)/peers-vs-speed.tsv
PEER_FIGS := $(if $(or $(PEERS_ON),$(wildcard $(PEER_FIG_IN))),figures/peers.png figures/peers.pdf)
figures/peers.png figures/peers.pdf: figures/peers.%: figures/peers.gp figures/style.gp $(if $(PEERS_ON),$(PEER_FIG_IN))
	gnuplot -e "in='$(PEER_FIG_IN)'; out='figures/peers.tmp'; fmt='$*'; $(FIG_VARS)" $<
	mv figures/peers.tmp.$* $@
figures: $(PEER_FIGS)
paper/paper.pdf paper/RESULTS.md: $(PEER_FIGS)

# make all runs the peers only when PEERS names some.
all: $(if $(PEERS_ON),peers peers-quality peers-tables)

# ---- tests ------------------------------------------------------------------------
check-peers: $(PEERS_STAMP) $(TOOLS)
	QB_ROOT=$(CURDIR) QB_PEERS_PYTHON=$(CURDIR)/$(PEERS_PY) prove --timer tests/tools/peers.t

peers-clean:
	rm -rf $(PEERS_ART) $(PEERS_RES)
distclean: peers-distclean
peers-distclean: peers-clean
	rm -rf $(PEERS_VENV)
