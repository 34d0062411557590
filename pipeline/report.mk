# Report (pipeline/report.mk): raw rows -> tables (tabulate) -> figures (gnuplot) -> paper (LaTeX).
# Tables live in $(TAB); each is rebuilt only when a row it reads (or tabulate) changed.

TAB := $(RES)/tables
# Committed GPU runs (tests/cuda/run-device.sh on one GPU machine, GPU_RESULTS: the H100's by
# default, e.g. GPU_RESULTS=data/results/h200 for another card's): our decode matrix and the
# transformers peers on the same shapes; absent files give empty tables. The GPU's name comes
# from the rows' machine line.
GPU_RESULTS ?= data/results/h100
# Its value as a file (study.mk's stamp), so that pointing it elsewhere rebuilds what reads the
# GPU rows even where the other directory's files are older than the tables.
GPU_STAMP   := $(RES)/gpu-results.txt
$(call stamp,$(GPU_STAMP),$(GPU_RESULTS))
GPU_DECODE  := $(wildcard $(GPU_RESULTS)/decode.tsv)
GPU_PEERS   := $(wildcard $(GPU_RESULTS)/peers-transformers.tsv)
GPU_LLAMA   := $(wildcard $(GPU_RESULTS)/peers-llamacpp.tsv)
GPU_LATENCY := $(wildcard $(GPU_RESULTS)/latency.tsv)
GPU_CHAIN   := $(wildcard $(GPU_RESULTS)/chain.tsv)
FIG_NAMES := decode size quality latency memory memtime roofline scaling
FIGS := $(foreach f,$(FIG_NAMES),figures/$(f).png figures/$(f).pdf)

# ---- bandwidth: the denominator of the roofline ---------------------------
MEMBW_MIB ?= 1024
$(RES)/membw.tsv: $(call prog_code,membw) | build/bench/membw
	@mkdir -p $(@D)
	{ $(call provenance,build/bench/membw -s $(MEMBW_MIB) -r 7 -t $(subst $(space),$(comma),$(THREADS))); \
	  $(LOCK) $(RUN) build/bench/membw -s $(MEMBW_MIB) -r 7 -t $(subst $(space),$(comma),$(THREADS)); } > $@.tmp
	mv $@.tmp $@
comma := ,
space := $(empty) $(empty)

# ---- tables -----------------------------------------------------------------
SPEED_AGG := --where warmup=0 --by model,variant,device,threads,new_tokens \
  --agg mean,std decode_tok_s,ttft_s,total_s --agg mean rss_peak_mb,rss_p90_mb,step_bytes$(if $(filter cuda,$(DEVICES)),$(comma)gpu_peak_mb)

$(TAB)/speed.tsv: $(SPEED_CELLS) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(SPEED_CELLS) $(SPEED_AGG) --ratio decode_tok_s_mean --baseline variant=f32 \
	  --columns model,variant,device,threads,new_tokens,decode_tok_s_mean=decode_tok_s,decode_tok_s_std,decode_tok_s_mean_ratio=speedup,ttft_s_mean=ttft_s,ttft_s_std,total_s_mean=total_s,total_s_std,rss_peak_mb_mean=rss_peak_mb,rss_p90_mb_mean=rss_p90_mb,$(if $(filter cuda,$(DEVICES)),gpu_peak_mb_mean=gpu_peak_mb$(comma))step_bytes_mean=step_bytes,n \
	  -o $@

$(TAB)/size.tsv: $(foreach m,$(ALL_MODELS),$(foreach v,$(VARIANTS),$(call gguf,$(m),$(v)))) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(foreach m,$(ALL_MODELS),$(foreach v,$(VARIANTS),$(call gguf,$(m),$(v)).summary.tsv)) \
	  --columns model,variant,file_mb,bpw,tensors -o $@

$(TAB)/quality.tsv: $(QUALITY_CELLS) $(TAB)/size.tsv $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $(QUALITY_CELLS) --join $(TAB)/size.tsv --on model,variant \
	  --columns model,variant,device,text,ppl,kl,top1,bpw,file_mb,scored_tokens -o $@

# Roofline: bytes one decode step reads / measured read bandwidth at the same thread count,
# over the measured time per token.
$(TAB)/roofline.tsv: $(TAB)/speed.tsv $(RES)/membw.tsv
	awk -F'\t' -v OFS='\t' -v ntok=$(lastword $(NEW_TOKENS)) ' \
	  FNR==1 { f++ } /^#/ { next } \
	  f==1 && !h1++ { for (i=1;i<=NF;i++) c[$$i]=i; next } \
	  f==1 { if ($$c["metric"]=="read") bw[$$c["threads"]]=$$c["gbps"]*1e9; next } \
	  f==2 && !h2++ { for (i=1;i<=NF;i++) s[$$i]=i; print "model","variant","device","threads","step_bytes","floor_tok_s","decode_tok_s","frac"; next } \
	  f==2 && $$s["new_tokens"]==ntok && $$s["device"]=="cpu" && bw[$$s["threads"]] > 0 && $$s["step_bytes"] > 0 { \
	    floor = bw[$$s["threads"]] / $$s["step_bytes"]; \
	    print $$s["model"],$$s["variant"],$$s["device"],$$s["threads"],$$s["step_bytes"],floor,$$s["decode_tok_s"],$$s["decode_tok_s"]/floor }' \
	  $(RES)/membw.tsv $(TAB)/speed.tsv > $@.tmp && mv $@.tmp $@

# Memory over time: one series per variant (first model, 1 thread, largest token count, repeat 1).
$(TAB)/memtime.tsv: $(SPEED_CELLS)
	@mkdir -p $(@D)
	{ printf 'variant\tpath\n'; for v in $(VARIANTS); do \
	    printf '%s\t%s\n' $$v $(RES)/speed/$(firstword $(MODELS))/$$v/cpu/t1-n$(lastword $(NEW_TOKENS))-r1.series.tsv; done; } > $@.tmp
	mv $@.tmp $@

# Scaling: speed-up over f32 by model size, from our CPU rows and the committed GPU rows.
$(TAB)/scaling.tsv: $(TAB)/speed.tsv $(GPU_DECODE) $(GPU_STAMP) pipeline/scaling.sh
	bash pipeline/scaling.sh $(TAB)/speed.tsv $(lastword $(NEW_TOKENS)) $(GPU_DECODE) > $@.tmp && mv $@.tmp $@

# GPU: our CUDA decode per model x type beside transformers eager and compiled FP16.
$(TAB)/gpu.tsv: $(GPU_DECODE) $(GPU_PEERS) $(GPU_STAMP) pipeline/gpu-table.sh
	@mkdir -p $(@D)
	bash pipeline/gpu-table.sh $(GPU_RESULTS)/decode.tsv $(GPU_RESULTS)/peers-transformers.tsv > $@.tmp && mv $@.tmp $@
$(TAB)/gpu-peers.tsv: $(GPU_PEERS) $(GPU_STAMP) $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	if [ -f $(GPU_RESULTS)/peers-transformers.tsv ]; then \
	  bin/tabulate $(GPU_RESULTS)/peers-transformers.tsv --where warmup=0 --by model,variant \
	    --agg mean,std decode_tok_s --agg mean ttft_s -o $@; else printf 'model\tvariant\n' > $@; fi

# llama.cpp built with CUDA, on the same GGUF files as ours (tests/cuda/llamacpp-cuda.sh).
$(TAB)/gpu-llamacpp.tsv: $(GPU_LLAMA) $(GPU_STAMP) pipeline/gpu-llamacpp.sh
	@mkdir -p $(@D)
	bash pipeline/gpu-llamacpp.sh $(GPU_LLAMA) > $@.tmp && mv $@.tmp $@

# What bounds the GPU step: every layer's weights from DRAM or held in L2 (tests/cuda/w16-run.sh latency).
$(TAB)/gpu-bound.tsv: $(GPU_LATENCY) $(GPU_STAMP) pipeline/gpu-bound.sh
	@mkdir -p $(@D)
	bash pipeline/gpu-bound.sh $(GPU_LATENCY) > $@.tmp && mv $@.tmp $@

TABLES := $(TAB)/speed.tsv $(TAB)/size.tsv $(TAB)/quality.tsv $(TAB)/roofline.tsv $(TAB)/memtime.tsv $(TAB)/scaling.tsv \
  $(TAB)/gpu.tsv $(TAB)/gpu-peers.tsv $(TAB)/gpu-llamacpp.tsv $(TAB)/gpu-bound.tsv
tables: $(TABLES)

# ---- figures --------------------------------------------------------------------
fig_input_decode   := $(TAB)/speed.tsv
fig_input_latency  := $(TAB)/speed.tsv
fig_input_memory   := $(TAB)/speed.tsv
fig_input_size     := $(TAB)/size.tsv
fig_input_quality  := $(TAB)/quality.tsv
fig_input_roofline := $(TAB)/roofline.tsv
fig_input_memtime  := $(TAB)/memtime.tsv
fig_input_scaling  := $(TAB)/scaling.tsv
FIG_VARS = ntok=$(lastword $(NEW_TOKENS))

figures/%.png: figures/%.gp figures/style.gp $$(fig_input_$$*)
	gnuplot -e "in='$(fig_input_$*)'; out='figures/$*.tmp'; fmt='png'; $(FIG_VARS)" $<
	mv figures/$*.tmp.png $@
figures/%.pdf: figures/%.gp figures/style.gp $$(fig_input_$$*)
	gnuplot -e "in='$(fig_input_$*)'; out='figures/$*.tmp'; fmt='pdf'; $(FIG_VARS)" $<
	mv figures/$*.tmp.pdf $@

figures: $(FIGS)

# ---- paper ---------------------------------------------------------------------
PAPER_GEN := paper/gen/macros.tex paper/gen/tab-speed.tex paper/gen/tab-quality.tex paper/gen/tab-size.tex paper/gen/tab-gpu.tex

paper/gen/macros.tex: $(TABLES) $(GPU_CHAIN) pipeline/macros.sh
	@mkdir -p $(@D)
	bash pipeline/macros.sh $(TAB) $(RES)/membw.tsv $(COMMIT) "$(MODELS)" $(lastword $(NEW_TOKENS)) $(GPU_RESULTS) > $@.tmp && mv $@.tmp $@

paper/gen/tab-speed.tex: $(TAB)/speed.tsv $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $< --where new_tokens=$(lastword $(NEW_TOKENS)) --cells pm --sig 3 \
	  --columns 'model=Model,variant=Variant,device=Device,threads=Thr.,decode_tok_s=Decode (tok/s),speedup=vs f32,ttft_s=TTFT (s),rss_peak_mb=Peak RSS (MiB)' \
	  -f tex -o $@
paper/gen/tab-quality.tex: $(TAB)/quality.tsv $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $< --where device=cpu --sig 4 \
	  --columns 'variant=Variant,text=Text,bpw=Bits/weight,file_mb=Size (MB),ppl=PPL,kl=KL (nats),top1=Top-1 agr.' -f tex -o $@
paper/gen/tab-size.tex: $(TAB)/size.tsv $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	bin/tabulate $< --sig 3 --columns 'model=Model,variant=Variant,file_mb=Size (MB),bpw=Bits/weight,tensors=Tensors (type:count)' -f tex -o $@

# Without committed GPU rows the table is one line saying so (the paper's text checks \QBhavegpu).
paper/gen/tab-gpu.tex: $(TAB)/gpu.tsv $(call prog_code,tabulate) | bin/tabulate
	@mkdir -p $(@D)
	if [ $$(grep -vc '^#' $<) -gt 1 ]; then bin/tabulate $< --sig 3 \
	  --columns 'model=Model,variant=Type,decode_tok_s=Decode (tok/s),frac_floor=Floor frac.,ttft_ms=TTFT (ms),prefill_tok_s=Prefill (tok/s),peak_vram_mb=VRAM (MiB),vs_hf_f16=vs HF f16,vs_compile=vs compile' \
	  -f tex -o $@; else echo 'No GPU rows committed under \texttt{$(GPU_RESULTS)/}.' > $@; fi

paper/paper.pdf: paper/paper.tex $(wildcard paper/*.tex) $(PAPER_GEN) $(foreach f,$(FIG_NAMES),figures/$(f).pdf)
	cd paper && { latexmk -pdf -interaction=nonstopmode -halt-on-error -quiet paper.tex >/dev/null || \
	  { tail -30 paper.log >&2; exit 1; }; }
	touch $@

paper/RESULTS.md: $(TABLES) $(call prog_code,tabulate) pipeline/results-md.sh | bin/tabulate
	bash pipeline/results-md.sh $(TAB) $(lastword $(NEW_TOKENS)) $(GPU_RESULTS) > $@.tmp && mv $@.tmp $@

paper: paper/paper.pdf paper/RESULTS.md
