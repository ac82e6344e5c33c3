# SPDX-License-Identifier: MIT
# cdmplace: the preload library, the CLI, their tests, benchmarks and the demo.
#
#   make                 build build/libcdmplace.so and build/cdmplace
#   make deps            install the Debian packages the build and tests need (root, apt-get)
#   make check           every test: unit, sanitizers, preload, CLI, real programs, and the
#                        multi-node suites in QEMU guests (tests/guest/suites.txt)
#   make check-guest     only the multi-node guest suites
#   make check-host      the host's suites only, for a packager: no root (the two tests that
#                        make a setgid or capable program skip, saying so), no guest, nothing
#                        installed (without the network report-perfetto's consumer skips)
#   make test T=NAME [F=GLOB]  one suite (unit_config, process_lifecycle, guest/track, ...),
#                        or its Criterion tests matching GLOB (process/own*)
#   make check-sanitize  the library built with UBSan, in the suites that run programs under it,
#                        and its ThreadSanitizer build under threads and a fork (tests/tsan.sh)
#   make fuzz            the trace reader and the config parser fuzzed, ten minutes each
#   make stress          programs with their own allocators (redis/jemalloc, tcmalloc,
#                        mimalloc, python/jemalloc), each config 20 times (tests/allocators.sh)
#   make bench           the benchmarks of bench/, ratios against a baseline
#   make bench-guest     the migration, tracking and tier-accuracy benchmarks, in guests
#   make bench-report    `cdmplace report` over 64 traces of 100k events, against cat and wc
#   make bench-layout    placed buffers against glibc's: mbw and a triad over power-of-two arrays
#   make bench-redis     redis-server (jemalloc) plain, placed and follow-cpu: redis-benchmark's rps
#   make bench-live      the library's cost per mmap, munmap, malloc, free, madvise with 1k-100k buffers live
#   make bench-memory-given  what the memory a run is given costs it (why timed runs warm memory)
#   make bench-thp       random updates over 1 GiB of huge pages: tracking's cost, huge pages kept
#   make bench-stream    a streaming loop's whole run, fill and first pass included: tracking's cost
#   make bench-soft-dirty  soft-dirty bits as a tracker, in the 6.12 and 6.1 guests, root and nobody
#   make bench-fault-samples  what sampling a thread's page faults costs it (several sockets)
#   make bench-track-state  the tracker's memory per GiB tracked, 1 to 64 GiB, each tracker
#   make bench-short-lived  buffers filled and freed in the cdm guest: the pages moved, each tracker
#   make bench-own-node  two sockets: the share of a written buffer on its writer's DRAM node
#   make bench-real      third-party programs (mbw, hpcc, sysbench, numpy, redis) plain, placed,
#                        follow-cpu and profiled: the library's cost; GUEST=1: where their large
#                        buffers land in the cdm guest (bench/real.sh)
#   make demo            the demo of the README
#   make install PREFIX=/usr/local [DESTDIR=...]   (also BINDIR, LIBDIR, INCLUDEDIR, MANDIR,
#                        DOCDIR, PKGCONFIGDIR, BASHCOMPDIR, SPANKDIR; pass the same ones to the build:
#                        the CLI looks for the library in LIBDIR, the Slurm plugin for both in
#                        LIBDIR and BINDIR)
#   make uninstall       the same variables: removes what install put there

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/cdmplace
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The Slurm SPANK plugin (tools/spank_cdmplace.c), named by its full path in plugstack.conf.
SPANKDIR ?= $(LIBDIR)/slurm
VERSION := 0.1.0

CC ?= cc
B := build
# Warnings are errors in development and CI (`make check` sets WERROR), not in a packager's
# build with a newer compiler: `make WERROR=-Werror` for that anywhere.
WERROR ?=
WARN := -Wall -Wextra $(WERROR) -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wvla
CFLAGS ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ipreload -DCDM_VERSION='"$(VERSION)"'
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -fno-strict-aliasing

# Sources shared by the library and the CLI: platform, logging, environment, config,
# topology, node sets, rules.
CORE_SRC := $(addprefix preload/,platform.c log.c env.c sysfs.c config.c topology.c nodeset.c rules.c backends.c damon.c)
LIB_SRC := $(CORE_SRC) $(addprefix preload/,bootstrap.c arena.c interpose.c init.c early.c callsite.c symtab.c placement.c query.c budget.c rule_stats.c buffer_table.c users.c pages.c decide.c tracker.c track_wp.c track_wp_async.c track_damon.c migrate.c profile.c trace.c report.c)
# tools/spank_cdmplace.c is the Slurm plugin, a module of srun and slurmstepd, not the CLI's.
CLI_SRC := $(filter-out tools/spank_cdmplace.c,$(wildcard tools/*.c))
# The trace reader is C++: simdjson's parser (tools/trace_read.cc).
CLI_CXX_SRC := $(wildcard tools/*.cc)

LIB_OBJ := $(patsubst %.c,$(B)/lib/%.o,$(LIB_SRC))
CORE_OBJ := $(patsubst %.c,$(B)/core/%.o,$(CORE_SRC))
CLI_OBJ := $(patsubst %.c,$(B)/core/%.o,$(CLI_SRC)) $(patsubst %.cc,$(B)/core/%.o,$(CLI_CXX_SRC))
ASAN_CORE_OBJ := $(patsubst %.c,$(B)/asan/%.o,$(CORE_SRC))
ASAN_CLI_OBJ := $(patsubst %.c,$(B)/asan/%.o,$(CLI_SRC)) $(patsubst %.cc,$(B)/asan/%.o,$(CLI_CXX_SRC))
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

LIB := $(B)/libcdmplace.so
CLI := $(B)/cdmplace
# Built where <slurm/spank.h> is (Debian: libslurm-dev); make deps installs it.
SPANK := $(if $(shell $(CC) -E -include slurm/spank.h -x c /dev/null >/dev/null 2>&1 && echo y),$(B)/spank_cdmplace.so)
ASAN_CLI := $(B)/asan/cdmplace

# Tests: tests/unit_*.c link the core objects (parser, rules, topology: pure code, also
# built with sanitizers); tests/preload_*.c are programs run with the library preloaded.
UNIT_SRC := $(wildcard tests/unit_*.c)
PRELOAD_SRC := $(wildcard tests/preload_*.c)
UNIT_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(UNIT_SRC))
ASAN_UNIT_BIN := $(patsubst tests/%.c,$(B)/asan/tests/%,$(UNIT_SRC))
PRELOAD_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(PRELOAD_SRC))
# tests/guest_*.c run preloaded inside the multi-node guest (tests/guest/suites.txt).
GUEST_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/guest_*.c))
# tests/process_*.c spawn programs (tests/probe.c, the CLI) under the preload, some under a
# container's seccomp filter (tests/seccomp_launch.c).
PROCESS_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/process_*.c)) $(B)/tests/probe $(B)/tests/linked_probe $(B)/tests/seccomp_launch
TEST_LIBS := $(B)/tests/libcallsite_fixture.so $(B)/tests/liblate_fixture.so $(B)/tests/libatfork_fixture.so \
             $(B)/tests/libearly_fixture.so
# The MPI job of tests/jobs.sh, built with Open MPI's mpicc (make deps installs it); the
# library and the CLI never need MPI.
MPICC ?= mpicc
JOBS_BIN := $(B)/tests/mpi_ranks
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))
BENCH := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))

LIB_LDLIBS := -lnuma -lunwind -ldl -lpthread
# Tests that run with the library preloaded (on the host, or in the guest).
LINK_PRELOADED_TEST = @mkdir -p $(@D) && $(CC) $(CPPFLAGS) $(ALL_CFLAGS) -rdynamic -o $@ $< -L$(B)/tests -lcallsite_fixture -Wl,-rpath,'$$ORIGIN' -lcriterion -lnuma -lpthread -ldl
CLI_LDLIBS := -lnuma
CXX ?= c++
ALL_CXXFLAGS = $(CFLAGS) -Wall -Wextra $(WERROR) -std=gnu++17
CLI_CXX_LDLIBS := -lsimdjson -ldw

.PHONY: FORCE uninstall all deps tests test check check-host check-sanitize check-guest fuzz stress guest-kernels bench bench-report bench-layout bench-live bench-track-state bench-short-lived bench-own-node bench-redis bench-memory-given bench-thp bench-stream bench-soft-dirty bench-fault-samples bench-real bench-guest demo demo-host install clean
all: $(LIB) $(CLI) $(SPANK)

$(B)/lib/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -fPIC -fvisibility=hidden -ftls-model=initial-exec -c $< -o $@
$(B)/core/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@
$(B)/asan/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SANITIZE) -MMD -MP -c $< -o $@
$(B)/core/%.o: %.cc Makefile
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@
$(B)/asan/%.o: %.cc Makefile
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) $(SANITIZE) -MMD -MP -c $< -o $@

# Only the interposed functions and the public API leave the library (preload/exports.map).
$(LIB): $(LIB_OBJ) preload/exports.map
	$(CC) -shared $(LDFLAGS) -o $@ $(LIB_OBJ) -Wl,--version-script=preload/exports.map -Wl,-z,now -Wl,-z,relro $(LIB_LDLIBS)
$(CLI): $(CLI_OBJ) $(CORE_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CLI_LDLIBS) $(CLI_CXX_LDLIBS)
# Not linked to libslurm: srun and slurmstepd, which load it, define the spank_* functions.
$(B)/spank_cdmplace.so: tools/spank_cdmplace.c Makefile $(B)/libdir
	$(CC) $(ALL_CFLAGS) -D_GNU_SOURCE -DCDM_LIBDIR='"$(LIBDIR)"' -DCDM_BINDIR='"$(BINDIR)"' -fPIC -shared $(LDFLAGS) -o $@ $<
# `cdmplace run` finds the library next to itself, else in LIBDIR (compiled in), else in
# ../lib: tools/run.c is built again when LIBDIR changes.
$(B)/core/tools/run.o $(B)/asan/tools/run.o: CPPFLAGS += -DCDM_LIBDIR='"$(LIBDIR)"'
$(B)/core/tools/run.o $(B)/asan/tools/run.o: $(B)/libdir
$(B)/libdir: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = "$(LIBDIR) $(BINDIR)" ] || echo "$(LIBDIR) $(BINDIR)" >$@
$(B)/cdmplace.pc: FORCE
	@mkdir -p $(@D)
	printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: cdmplace\nDescription: %s\nVersion: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lcdmplace\n' \
	    "$(PREFIX)" "$(LIBDIR)" "$(INCLUDEDIR)" "placement of buffers on coherent device memory: cdm_query, cdm_version" "$(VERSION)" >$@
$(ASAN_CLI): $(ASAN_CLI_OBJ) $(ASAN_CORE_OBJ)
	$(CXX) $(SANITIZE) -o $@ $^ $(CLI_LDLIBS) $(CLI_CXX_LDLIBS)

# The tracker's pure code (page state, decisions) is tested alone, without the core.
TRACK_PURE := preload/pages.o preload/decide.o
TRACK_PURE_TESTS := unit_pages unit_decide
$(addprefix $(B)/tests/,$(TRACK_PURE_TESTS)): $(B)/tests/%: tests/%.c $(addprefix $(B)/core/,$(TRACK_PURE)) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(addprefix $(B)/core/,$(TRACK_PURE)) -lcriterion
$(addprefix $(B)/asan/tests/,$(TRACK_PURE_TESTS)): $(B)/asan/tests/%: tests/%.c $(addprefix $(B)/asan/,$(TRACK_PURE)) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SANITIZE) -o $@ $< $(addprefix $(B)/asan/,$(TRACK_PURE)) -lcriterion
# The table of placed buffers is tested alone, with the arena it takes its memory from.
BUFFER_TABLE := preload/buffer_table.o preload/arena.o
$(B)/tests/unit_buffer_table: tests/unit_buffer_table.c $(addprefix $(B)/core/,$(BUFFER_TABLE)) $(CORE_OBJ) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(addprefix $(B)/core/,$(BUFFER_TABLE)) $(CORE_OBJ) -lcriterion $(CLI_LDLIBS)
$(B)/asan/tests/unit_buffer_table: tests/unit_buffer_table.c $(addprefix $(B)/asan/,$(BUFFER_TABLE)) $(ASAN_CORE_OBJ) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SANITIZE) -o $@ $< $(addprefix $(B)/asan/,$(BUFFER_TABLE)) $(ASAN_CORE_OBJ) -lcriterion $(CLI_LDLIBS)
$(B)/tests/unit_%: tests/unit_%.c $(CORE_OBJ) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_OBJ) -lcriterion $(CLI_LDLIBS)
$(B)/asan/tests/unit_%: tests/unit_%.c $(ASAN_CORE_OBJ) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SANITIZE) -o $@ $< $(ASAN_CORE_OBJ) -lcriterion $(CLI_LDLIBS)
# The trace reader's test links the reader itself (C++: simdjson).
TRACE_READER := tools/trace_model.o tools/trace_read.o
$(B)/tests/unit_trace: tests/unit_trace.c $(addprefix $(B)/core/,$(TRACE_READER)) tests/testutil.h
	@mkdir -p $(@D)
	$(CXX) -x c $(CPPFLAGS) -Itools $(ALL_CFLAGS) -o $@ $< -x none $(addprefix $(B)/core/,$(TRACE_READER)) -lcriterion $(CLI_CXX_LDLIBS)
$(B)/asan/tests/unit_trace: tests/unit_trace.c $(addprefix $(B)/asan/,$(TRACE_READER)) tests/testutil.h
	@mkdir -p $(@D)
	$(CXX) -x c $(CPPFLAGS) -Itools $(ALL_CFLAGS) $(SANITIZE) -o $@ $< -x none $(addprefix $(B)/asan/,$(TRACE_READER)) -lcriterion $(CLI_CXX_LDLIBS)
# The trace schema as doc/design.md shows it (tests/trace-schema.sh compares the two).
$(B)/tests/trace_schema: tests/trace_schema.c preload/trace_schema.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $<
# The reader's fuzz target (tests/fuzz-trace.sh runs it): clang's libFuzzer, ASan, UBSan.
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
$(B)/fuzz/trace_reader: tests/fuzz/trace_reader.c tools/trace_model.c tools/trace_read.cc tools/trace.h preload/trace_schema.h
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -Itools $(FUZZ_FLAGS) -std=gnu11 -c tests/fuzz/trace_reader.c -o $(@D)/target.o
	clang $(CPPFLAGS) -Itools $(FUZZ_FLAGS) -std=gnu11 -c tools/trace_model.c -o $(@D)/trace_model.o
	clang++ $(CPPFLAGS) -Itools $(FUZZ_FLAGS) -std=gnu++17 -c tools/trace_read.cc -o $(@D)/trace_read.o
	clang++ $(FUZZ_FLAGS) -o $@ $(@D)/target.o $(@D)/trace_model.o $(@D)/trace_read.o -lsimdjson
# The config parser's fuzz target (tests/fuzz-config.sh): the core, built the same way.
$(B)/fuzz/config_parser: tests/fuzz/config_parser.c $(CORE_SRC)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -std=gnu11 -o $@ tests/fuzz/config_parser.c $(CORE_SRC) -lnuma
$(B)/tests/guest_%: tests/guest_%.c $(TEST_LIBS) tests/preload_util.h tests/kernel_features.h include/cdmplace.h
	$(LINK_PRELOADED_TEST)
$(B)/tests/preload_%: tests/preload_%.c $(TEST_LIBS) tests/preload_util.h include/cdmplace.h
	$(LINK_PRELOADED_TEST)
$(B)/tests/process_%: tests/process_%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -lcriterion
$(B)/tests/probe: tests/probe.c include/cdmplace.h tests/kernel_features.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -lpthread -lnuma -ldl
$(B)/tests/seccomp_launch: tests/seccomp_launch.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $<
# The probe linked to the library itself: secure execution ignores LD_PRELOAD paths.
$(B)/tests/linked_probe: tests/probe.c tests/kernel_features.h $(LIB)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -L$(B) -lcdmplace -Wl,-rpath,$(CURDIR)/$(B) -lpthread -ldl
# tests/allocators.sh runs it under tcmalloc and mimalloc.
# The report's call-site names: C++ frames, and a stripped program's static function.
$(B)/tests/cxx_sites: tests/cxx_sites.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) -g -O1 -o $@ $<
$(B)/tests/cxx_sites_stripped: tests/cxx_sites.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) -O1 -rdynamic -o $@ $<
	strip --strip-all $@
# The same with its debug information apart, found through its debug link (as Debian's -dbgsym
# packages install it under /usr/lib/debug).
$(B)/tests/cxx_sites_debuglink: tests/cxx_sites.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) -g -O1 -o $@ $<
	objcopy --only-keep-debug $@ $@.debug
	strip --strip-all $@
	objcopy --add-gnu-debuglink=$@.debug $@
$(B)/tests/alloc_churn: tests/alloc_churn.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -lpthread
$(B)/tests/mpi_ranks: tests/mpi_ranks.c
	@mkdir -p $(@D)
	$(MPICC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $<
$(B)/tests/lib%.so: tests/%.c include/cdmplace.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -shared -fno-omit-frame-pointer -O0 -o $@ $<
# DAMON is driven from the tracker thread; its guest test drives the module directly, and the
# harness's test the platform layer's fault samplers.
$(B)/tests/guest_damon $(B)/tests/guest_harness: $(B)/tests/guest_%: tests/guest_%.c $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $^ -lcriterion -lnuma -lpthread
$(B)/examples/%: examples/%.c examples/where.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -lpthread -lnuma
$(B)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -lnuma -lpthread -ldl
# The platform layer itself, without the library.
$(B)/bench/fault_samples: bench/fault_samples.c $(B)/core/preload/platform.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $^ -lnuma -lpthread

tests: all $(TEST_LIBS) $(ASAN_CLI) $(UNIT_BIN) $(ASAN_UNIT_BIN) $(PRELOAD_BIN) $(GUEST_BIN) $(PROCESS_BIN) $(JOBS_BIN) $(EXAMPLES) $(B)/fuzz/trace_reader $(B)/fuzz/config_parser $(B)/tests/trace_schema $(B)/tests/alloc_churn $(B)/tests/cxx_sites $(B)/tests/cxx_sites_stripped $(B)/tests/cxx_sites_debuglink $(B)/ubsan/libcdmplace.so $(B)/tsan/libcdmplace.so $(B)/tsan/tsan_stress

deps:
	sh tests/install-deps.sh

# The guests' kernels (Debian 12's 6.12 and 6.1, unpacked in build/guest/kernels, not
# installed) and their initramfs; kept once fetched.
guest-kernels:
	sh tests/guest/fetch-kernels.sh
	sh tests/guest/initramfs.sh 6.12
	sh tests/guest/initramfs.sh 6.1

# Every test; the README's test command. Prints per-suite times. The builds use every CPU:
# one at a time, the five builds of `tests` took 132 s on two CPUs, 69 s on both.
check: deps
	$(MAKE) -j$$(nproc) WERROR=-Werror tests guest-kernels
	sh tests/run-all.sh

check-host: tests
	sh tests/run-all.sh --host

# The library built with UBSan (undefined behaviour aborts the program it is in), preloaded
# into the suites that run programs under it: the preload and process suites, programs that
# bring their own allocators, real programs. ASan is left out: it interposes malloc and must
# be loaded first, ahead of a library whose job is to interpose malloc. ThreadSanitizer has
# a suite of its own (tests/tsan.sh): its runtime is linked into the program, whose malloc
# family it serves, and reaches the library's mapping hooks as the next definition.
UBSAN := -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SANITIZE_SUITES := $(notdir $(PRELOAD_BIN)) process_lifecycle allocators real-programs
$(B)/ubsan/libcdmplace.so: $(LIB_SRC) preload/exports.map Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(UBSAN) -shared -fPIC -fvisibility=hidden -ftls-model=initial-exec -o $@ $(LIB_SRC) -Wl,--version-script=preload/exports.map -Wl,-z,now $(LIB_LDLIBS)
check-sanitize: tests
	set -e; for suite in $(addprefix ubsan/,$(SANITIZE_SUITES)) tsan; do sh tests/run-all.sh --suite $$suite; done

# The library for ThreadSanitizer: instrumented but for the hooks' own files, which run inside
# the runtime's start-up (its fork handlers reach our __register_atfork) before it can count,
# and linked without the runtime, which the program carries (tests/tsan_stress.c).
TSAN_PLAIN := preload/interpose.c preload/bootstrap.c preload/init.c preload/platform.c
TSAN_OBJ := $(patsubst %.c,$(B)/tsan/%.o,$(LIB_SRC))
$(B)/tsan/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(if $(filter $<,$(TSAN_PLAIN)),,-fsanitize=thread) -MMD -MP -fPIC -fvisibility=hidden -ftls-model=initial-exec -c $< -o $@
$(B)/tsan/libcdmplace.so: $(TSAN_OBJ) preload/exports.map
	$(CC) -shared -o $@ $(TSAN_OBJ) -Wl,--version-script=preload/exports.map -Wl,-z,now $(LIB_LDLIBS)
$(B)/tsan/tsan_stress: tests/tsan_stress.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 -fsanitize=thread -static-libtsan -rdynamic -pthread -o $@ $<

# One suite (T, as a full run names it), or only its tests matching F (Criterion suites).
test: tests
	@[ -n "$(T)" ] || { echo "make test T=SUITE [F=suite/test-glob]: e.g. T=unit_config, T=guest/track" >&2; exit 2; }
	$(if $(filter guest/%,$(T)),$(MAKE) guest-kernels &&) sh tests/run-all.sh --suite "$(T)" $(if $(F),--filter "$(F)")

check-guest: deps
	$(MAKE) WERROR=-Werror tests guest-kernels
	sh tests/guest/run-suites.sh

# The fuzz targets for ten minutes each instead of make check's 30 seconds.
fuzz: tests
	FUZZ_SECONDS=600 sh tests/fuzz-trace.sh
	FUZZ_SECONDS=600 FUZZ_STARTS=200 sh tests/fuzz-config.sh

# tests/allocators.sh with 20 runs of every program and config instead of make check's 3.
stress: tests
	ALLOC_REPEAT=20 sh tests/allocators.sh

bench: all $(BENCH)
	sh bench/run.sh
# Apart from `bench`: it writes 2.4 GB of traces and measures the CLI, not the library.
bench-report: all $(B)/bench/alloc_events
	sh bench/report_speed.sh
bench-layout: all $(B)/bench/track_loop
	sh bench/layout.sh
bench-live: all $(B)/bench/live_buffers
	sh bench/live_buffers.sh
bench-track-state: all $(B)/bench/track_state
	sh bench/track_state.sh
bench-short-lived: all $(B)/bench/short_lived guest-kernels
	sh bench/short_lived.sh
bench-own-node: all $(B)/bench/own_node guest-kernels
	sh bench/own_node.sh
bench-redis: all $(B)/bench/warm_memory
	sh bench/redis.sh
bench-memory-given: $(B)/bench/warm_memory
	sh bench/memory_given.sh
bench-thp: all $(B)/bench/thp_random
	sh bench/thp_random.sh
bench-stream: all $(B)/bench/track_loop $(B)/bench/warm_memory
	sh bench/stream_run.sh
bench-soft-dirty: all $(B)/bench/soft_dirty guest-kernels
	sh bench/soft_dirty.sh
bench-fault-samples: $(B)/bench/fault_samples
	$(B)/bench/fault_samples
# Installs the programs it lacks (root): hpcc and sysbench are not in make deps.
bench-real: all $(B)/bench/warm_memory $(if $(GUEST),guest-kernels)
	sh bench/real.sh $(if $(GUEST),guest)
bench-guest: all $(BENCH) guest-kernels
	sh bench/guest.sh
	sh tests/guest/run.sh --kernel 6.12 --topology tiers --mem 1G,512M,512M --timeout 1500 -- sh bench/tier_guest.sh

# The demo runs in the `cdm` guest (node 1: memory, no CPUs); demo-host on this machine.
demo: deps
	$(MAKE) all $(EXAMPLES) guest-kernels
	sh tests/guest/run.sh --kernel 6.12 --topology cdm --timeout 600 -- sh examples/demo.sh

demo-host: all $(EXAMPLES)
	sh examples/demo.sh

install: all $(B)/cdmplace.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/cdmplace
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libcdmplace.so
	install -m 644 include/cdmplace.h $(DESTDIR)$(INCLUDEDIR)/cdmplace.h
	install -m 644 $(B)/cdmplace.pc $(DESTDIR)$(PKGCONFIGDIR)/cdmplace.pc
	install -m 644 man/cdmplace.1 $(DESTDIR)$(MANDIR)/man1/cdmplace.1
	install -m 644 man/cdmplace.conf.5 $(DESTDIR)$(MANDIR)/man5/cdmplace.conf.5
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 tools/completion.bash $(DESTDIR)$(BASHCOMPDIR)/cdmplace
	install -m 644 config/*.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	$(if $(SPANK),install -d $(DESTDIR)$(SPANKDIR) && install -m 755 $(SPANK) $(DESTDIR)$(SPANKDIR)/spank_cdmplace.so)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cdmplace $(DESTDIR)$(LIBDIR)/libcdmplace.so \
	    $(DESTDIR)$(INCLUDEDIR)/cdmplace.h $(DESTDIR)$(PKGCONFIGDIR)/cdmplace.pc \
	    $(DESTDIR)$(MANDIR)/man1/cdmplace.1 $(DESTDIR)$(MANDIR)/man5/cdmplace.conf.5 \
	    $(DESTDIR)$(BASHCOMPDIR)/cdmplace $(DESTDIR)$(SPANKDIR)/spank_cdmplace.so
	-rmdir $(DESTDIR)$(SPANKDIR) 2>/dev/null
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(B)

# Header dependencies, written by the compiler (-MMD -MP) next to each object.
-include $(shell find $(B) -name '*.d' 2>/dev/null)
