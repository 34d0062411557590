# qbench: build the tools, run the tests, run the study.
#   make          build every tool into bin/
#   make check    build and run every test (prove, TAP)
#   make all      the study: fetch -> quantize -> measure -> tabulate -> figures -> paper
#   make help     targets and knobs
# Everything is discovered by file name: tools/NAME.c is the tool bin/NAME,
# tools/lib/*.c and kernels/cpu/*.c form build/libqb.a, tests/unit/NAME.c is
# the TAP test program build/tests/NAME, tests/tools/*.t are shell tests.

SHELL := /bin/bash
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDEXPANSION:

CC      ?= cc
CFLAGS  ?= -O2 -march=native
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -g -MMD -MP
CPPFLAGS += -Itools/lib -Ikernels -I/usr/include/pcre2
LDLIBS  += -lcurl -larchive -lpcre2-8 -ljansson -lcrypto -lpthread -ldl -lm
PYTHON  ?= python3
VENV    := .venv

# SIMD kernels are compiled for their own ISA and picked at run time. The
# AVX2 files say -mno-avx512f so that -march=native on an AVX-512 machine
# cannot slip AVX-512 instructions into them: QB_ISA=avx2 then tests what an
# AVX2-only CPU runs.
AVX2_FLAGS   := -mavx2 -mfma -mf16c -mno-avx512f
AVX512_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

LIB_SRCS  := $(wildcard tools/lib/*.c) $(wildcard kernels/cpu/*.c)
LIB_OBJS  := $(patsubst %.c,build/obj/%.o,$(LIB_SRCS))
TOOLS     := $(patsubst tools/%.c,bin/%,$(wildcard tools/*.c))
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
TOOL_TESTS := $(sort $(wildcard tests/tools/*.t))
TEST_HELPERS := $(patsubst tests/helpers/%.c,build/tests/helpers/%,$(wildcard tests/helpers/*.c))
BENCH_BINS := $(patsubst tests/bench/%.c,build/bench/%,$(wildcard tests/bench/*.c))

# CUDA: built only where nvcc exists (kernels/cuda/*.cu -> build/libqbcuda.a).
NVCC ?= $(shell command -v nvcc 2>/dev/null)
CUDA_SRCS := $(wildcard kernels/cuda/*.cu)
ifneq ($(NVCC),)
ifneq ($(CUDA_SRCS),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCCFLAGS ?= -O3 -std=c++17 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90
# NVCC_EXTRA: flags added to the defaults (tests/cuda/stage.sh: -DQB_TRACE_PRODUCT=1).
NVCCFLAGS += -Xcompiler -Wall,-Wextra,-Werror -Itools/lib -Ikernels -MMD -MP $(NVCC_EXTRA)
CUDA_OBJS := $(patsubst %.cu,build/obj/%.o,$(CUDA_SRCS))
CUDA_LIB  := build/libqbcuda.a
CPPFLAGS  += -DQB_HAVE_CUDA
# The static runtime only: cuBLAS is dlopen'ed by the backend when a GEMM is
# first needed, so CPU runs neither load it nor pay its ~150 MB of pages.
LDLIBS    += -L$(CUDA_HOME)/lib64 -lcudart_static -lrt -lstdc++
# The CUDA device code also runs on the CPU emulator of tests/sim (simt.h):
# its tests build with the host C++ compiler against the CUDA headers, so CI
# (CUDA toolkit, no GPU) runs the persistent decode step too. The device code
# is written for nvcc, whose host pass never compiles it: three warnings fire
# here on its idioms (#pragma unroll, unsigned threadIdx against int sizes,
# per-type hooks that ignore a parameter) and are turned off for these files.
# Two optimisations must go: the device code reinterprets words as other
# types, as CUDA code does (-fno-strict-aliasing), and __shared__ arrays are
# thread-local statics that other fibers change across __syncthreads, an
# external call GCC would otherwise prove cannot touch them (-fno-ipa-reference).
# (The emulator's fiber switch is x86-64 code: elsewhere these tests are not built.)
ifeq ($(shell uname -m),x86_64)
SIM_BINS  := $(patsubst tests/sim/%.cpp,build/tests/sim/%,$(wildcard tests/sim/test_*.cpp))
endif
SIM_CXXFLAGS := -O2 -march=native -std=c++17 -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-sign-compare -Wno-unused-parameter -fno-strict-aliasing -fno-ipa-reference -g -pthread -D_GNU_SOURCE -MMD -MP \
                -I$(CUDA_HOME)/include -Itools/lib -Ikernels -include tests/sim/simt.h
endif
endif

## qbench make targets (make help):
##   make            build every tool into bin/ (CUDA parts too where nvcc exists)
##   check           build and run every test through prove (installs what it needs)
##   check-oracle    regenerate the golden fixtures with torch + transformers and compare
##   check-interop   load our GGUF files with llama.cpp (llama-cpp-python) and compare
##   bench           benchmarks: memory bandwidth, kernels, tokenizer, fetch, sample-res
##
.PHONY: build check check-oracle check-interop bench help clean distclean deps venv
build: $(TOOLS)

build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
build/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@
build/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@
build/obj/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
ifneq ($(CUDA_LIB),)
# The persistent decode step calls one function per op and weight type (inlined,
# the kernel needs 255 registers and spills). Compiled whole-program, ptxas gave
# those callees only the registers its caller left over and they spilled every
# weight word they loaded (LDG, then STL at once: each load waited for in turn).
# Compiled apart (-rdc) the calls follow the ABI: a callee saves on entry the few
# registers it borrows and its loop runs in registers. -maxrregcount=168 caps
# every function so that three blocks of 128 threads fit an SM (QB_STEP_MAXREG
# sets it, for measuring occupancy against registers); nvcc -dlink resolves the
# calls into one more object for the library.
QB_STEP_MAXREG ?= 168
build/obj/kernels/cuda/decode_step.o: NVCCFLAGS += -rdc=true -maxrregcount=$(QB_STEP_MAXREG)
build/obj/kernels/cuda/dlink.o: build/obj/kernels/cuda/decode_step.o
	$(NVCC) $(filter -gencode=%,$(NVCCFLAGS)) -dlink $^ -o $@
endif

# Every object is named as a target, so none counts as an intermediate file of a pattern chain
# that make would delete after linking. (A blanket .SECONDARY: did that job before, but it made every
# target intermediate: a deleted result cell was then not re-measured while its table was newer.)
ENTRY_OBJS := $(patsubst %.c,build/obj/%.o,$(wildcard tools/*.c tests/unit/*.c tests/helpers/*.c tests/bench/*.c)) \
              $(patsubst %.cpp,build/obj/%.o,$(wildcard tests/sim/*.cpp))
$(ENTRY_OBJS):

build/libqb.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
ifneq ($(CUDA_LIB),)
$(CUDA_LIB): $(CUDA_OBJS) build/obj/kernels/cuda/dlink.o
	@rm -f $@
	ar rcs $@ $^
endif

# The CUDA library calls back into libqb (qb_die, qb_type_name), so libqb is
# named again after it: a static library resolves only what is asked before it.
QB_LIBS := build/libqb.a $(if $(CUDA_LIB),$(CUDA_LIB) build/libqb.a)

bin/%: build/obj/tools/%.o build/libqb.a $(CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(QB_LIBS) $(LDLIBS) -o $@

build/tests/%: build/obj/tests/unit/%.o build/libqb.a $(CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(QB_LIBS) $(LDLIBS) -o $@

build/obj/tests/sim/%.o: tests/sim/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(SIM_CXXFLAGS) -c $< -o $@
build/tests/sim/%: build/obj/tests/sim/%.o build/obj/tests/sim/simt.o build/libqb.a
	@mkdir -p $(@D)
	$(CXX) $(SIM_CXXFLAGS) $^ $(LDLIBS) -o $@

build/tests/helpers/%: build/obj/tests/helpers/%.o build/libqb.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< build/libqb.a $(LDLIBS) -o $@

build/bench/%: build/obj/tests/bench/%.o build/libqb.a $(CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(QB_LIBS) $(LDLIBS) -o $@

ifneq ($(CUDA_LIB),)
# Standalone CUDA benchmarks (the CUDA runtime only, no qbench code): cuda_chain, the GPU's own
# cost of handing work from kernel to kernel; cuda_mlp, the MLP as one kernel or two.
CUDA_BENCH := build/bench/cuda_chain build/bench/cuda_mlp
BENCH_BINS += $(CUDA_BENCH)
$(CUDA_BENCH): build/bench/%: tests/bench/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) $< -o $@
endif

# Benchmarks: every tests/bench/*.sh, each printing its own table.
bench: $(TOOLS) $(BENCH_BINS) $(TEST_HELPERS)
	@set -e; for s in $(sort $(wildcard tests/bench/*.sh)); do echo "== $$s"; QB_ROOT=$(CURDIR) bash $$s; done

# Prerequisites: Debian packages (installed when missing) and the test
# oracles' Python packages in the project-local virtual environment.
deps: build/.deps
build/.deps: pipeline/install-deps.sh
	@mkdir -p $(@D)
	bash pipeline/install-deps.sh
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: tests/requirements.txt | build/.deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# The tests: unit programs and tool scripts, all speaking TAP, run by prove.
check: build/.deps $(TOOLS) $(UNIT_BINS) $(SIM_BINS) $(TEST_HELPERS) $(VENV)/.stamp
	QB_ROOT=$(CURDIR) QB_PYTHON=$(CURDIR)/$(VENV)/bin/python prove --timer $(UNIT_BINS) $(SIM_BINS) $(TOOL_TESTS)

# Live oracles (torch + transformers, llama.cpp): slower, separate targets.
check-oracle: $(TOOLS) $(VENV)/.stamp
	QB_ROOT=$(CURDIR) bash tests/golden/check-oracle.sh

# llama.cpp itself through llama-cpp-python (PyPI; builds llama.cpp from source).
check-interop: $(TOOLS) $(TEST_HELPERS) $(VENV)/.interop
	QB_ROOT=$(CURDIR) QB_PYTHON=$(CURDIR)/$(VENV)/bin/python prove -v tests/interop/*.t
$(VENV)/.interop: tests/requirements-interop.txt | $(VENV)/.stamp
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-interop.txt
	@touch $@

help:
	@sed -n 's/^##//p' $(MAKEFILE_LIST)

# clean keeps downloads (data/models, data/datasets) and the virtual environments.
clean:
	rm -rf build bin data/gguf data/results/local paper/gen figures/*.png figures/*.pdf
	cd paper && rm -f *.pdf *.aux *.log *.out *.fls *.fdb_latexmk
distclean: clean
	rm -rf $(VENV) .venv-* data/models data/datasets

-include $(shell find build/obj build/bench -name '*.d' 2>/dev/null)
# The study: the matrix first (knobs), then the rules that use it.
STUDY_MK := pipeline/matrix.mk pipeline/study.mk pipeline/report.mk
include $(STUDY_MK)
-include $(filter-out $(STUDY_MK),$(wildcard pipeline/*.mk))
