# nprof - one GNU Makefile, pkg-config for every dependency.
#
#   make            build/libnprof.so, build/libnprof.a, build/nprof, examples
#   make check      the whole test suite (installs missing test peers first)
#   make demo       the quick start: a leaking service diagnosed under nprof
#   make bench      overhead against the anchors, as ratios
#   make install PREFIX=/usr/local
#   make SANITIZER=address|undefined|thread check   what can run under a sanitizer
#
# libunwind is not linked: it is dlopen()ed with RTLD_LOCAL at start so its
# exported backtrace()/_Unwind_* never replace the host's (docs/safety.md, *Symbols*).

CC      ?= cc
PREFIX  ?= /usr/local
ifneq ($(SANITIZER),)
BUILD   ?= build-$(SANITIZER)
else
BUILD   ?= build
endif
PKGS    := libdw libmicrohttpd zlib
CLI_PKGS := libcurl zlib

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -fno-omit-frame-pointer -pthread -D_GNU_SOURCE -Iinclude
# SAN: compile and link flags of the sanitized parts (library, CLI, unit
# tests, linked_* test programs); empty in a normal build.
ifneq ($(SANITIZER),)
SAN := -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
BASE_CFLAGS += $(SAN)
endif
# gcc's ThreadSanitizer does not model atomic_thread_fence and says so as
# an error; the fenced fields are atomics themselves (a seqlock), so TSan
# still sees every access: silence that note where the compiler has it.
ifeq ($(SANITIZER),thread)
BASE_CFLAGS += $(shell $(CC) -Werror -Wno-tsan -x c -c -o /dev/null /dev/null 2>/dev/null && echo -Wno-tsan)
endif
# src/ is one folder per layer (docs/internals/README.md); each is on the
# include path so a file names a header by its base name.
LAYERS      := base record output profiles hooks serve api
LAYER_INC   := $(addprefix -Isrc/,$(LAYERS))
LIB_CFLAGS  := $(BASE_CFLAGS) -fPIC -fvisibility=hidden $(LAYER_INC)

# pkg-config is asked lazily so that `make` on a fresh machine can first
# install what is missing (scripts/deps.sh) and then find it.
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs   = $(shell pkg-config --libs $(1) 2>/dev/null)

LIB_SRCS := $(sort $(wildcard $(addsuffix /*.c,$(addprefix src/,$(LAYERS)))))
LIB_HDRS := $(sort $(wildcard src/*/*.h))
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
# The web UI's files, compiled into the library as gzipped arrays.
UI_FILES := ui/src/index.html ui/src/app.css ui/src/app.js \
	ui/vendor/uplot/uPlot.iife.min.js ui/vendor/uplot/uPlot.min.css
LIB_OBJS += $(BUILD)/obj/serve/ui_assets.o
CLI_SRCS := $(sort $(wildcard cli/*.c))
CLI_OBJS := $(patsubst cli/%.c,$(BUILD)/cli/%.o,$(CLI_SRCS))
EX_SRCS  := $(sort $(wildcard examples/*.c))
EX_BINS  := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRCS))
EX_CXX   := $(sort $(wildcard examples/*.cc))
EX_BINS  += $(patsubst examples/%.cc,$(BUILD)/examples/%,$(EX_CXX))
UT_SRCS  := $(sort $(wildcard tests/unit/*.c))
UT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UT_SRCS))
TP_SRCS  := $(sort $(filter-out tests/programs/shim_%.c,$(wildcard tests/programs/*.c)))
TP_BINS  := $(patsubst tests/programs/%.c,$(BUILD)/tests/programs/%,$(TP_SRCS))
# shim_*.c: small preloadable libraries tests put beside libnprof.so.
TP_BINS  += $(patsubst tests/programs/%.c,$(BUILD)/tests/programs/%.so,\
	      $(wildcard tests/programs/shim_*.c))
TP_CXX   := $(sort $(wildcard tests/programs/*.cc))
TP_BINS  += $(patsubst tests/programs/%.cc,$(BUILD)/tests/programs/%,$(TP_CXX))

DEPS_STAMP := $(BUILD)/.deps-build

.PHONY: all check unit demo bench install clean deps deps-test fuzz
# Leak checks in test frameworks (cmocka, Check): linked with -lnprof.
LC_BINS  := $(BUILD)/examples/leakcheck/cmocka_suite $(BUILD)/examples/leakcheck/check_suite

all: $(BUILD)/libnprof.so $(BUILD)/libnprof.a $(BUILD)/nprof $(EX_BINS) $(TP_BINS) $(LC_BINS)

$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	@scripts/deps.sh build
	@touch $@

deps: $(DEPS_STAMP)
deps-test:
	@scripts/deps.sh test

$(BUILD)/obj/%.o: src/%.c $(LIB_HDRS) include/nprof.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) $(call pc_cflags,$(PKGS)) -c $< -o $@

$(BUILD)/gen/ui_assets.c: scripts/ui-embed.sh $(UI_FILES)
	@mkdir -p $(@D)
	scripts/ui-embed.sh $@ $(UI_FILES)

$(BUILD)/obj/serve/ui_assets.o: $(BUILD)/gen/ui_assets.c src/serve/ui_int.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

# Under a sanitizer the shared library is built from the archive whose libc
# overrides are local (UNIT_LIB, below): the linked library with its hooks
# off, for linked_* programs; a sanitizer runtime owns those functions.
ifneq ($(SANITIZER),)
SO_INPUT := -Wl,--whole-archive $(BUILD)/libnprof-unit.a -Wl,--no-whole-archive
SO_DEPS  := $(BUILD)/libnprof-unit.a
else
SO_INPUT := $(LIB_OBJS)
SO_DEPS  := $(LIB_OBJS)
endif
$(BUILD)/libnprof.so: $(SO_DEPS) src/libnprof.map
	$(CC) $(SAN) -shared -o $@ $(SO_INPUT) -Wl,--version-script=src/libnprof.map \
	  -Wl,-z,now -Wl,-soname,libnprof.so $(call pc_libs,$(PKGS)) -ldl -lm -pthread

$(BUILD)/libnprof.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) include/nprof.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Icli $(CFLAGS) $(call pc_cflags,$(CLI_PKGS)) -c $< -o $@

$(BUILD)/nprof: $(CLI_OBJS)
	$(CC) $(SAN) -o $@ $(CLI_OBJS) $(call pc_libs,$(CLI_PKGS))

# Examples and test programs are built as users ship: -O2 -g, no nprof
# linked, unless their name starts with "linked_" (they use -lnprof).
$(BUILD)/examples/%: examples/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread -Iinclude -o $@ $< -lm

$(BUILD)/examples/%: examples/%.cc | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -Werror -pthread -Iinclude -o $@ $<

$(BUILD)/examples/leakcheck/cmocka_suite: examples/leakcheck/cmocka_suite.c $(BUILD)/libnprof.so
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread -Iinclude -o $@ $< \
	  -L$(BUILD) -lnprof -Wl,-rpath,$(abspath $(BUILD)) $(call pc_libs,cmocka)

$(BUILD)/examples/leakcheck/check_suite: examples/leakcheck/check_suite.c $(BUILD)/libnprof.so
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread -Iinclude $(call pc_cflags,check) -o $@ $< \
	  -L$(BUILD) -lnprof -Wl,-rpath,$(abspath $(BUILD)) $(call pc_libs,check)

$(BUILD)/tests/programs/linked_%: tests/programs/linked_%.c $(BUILD)/libnprof.so
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread $(SAN) -Iinclude -o $@ $< \
	  -L$(BUILD) -lnprof -Wl,-rpath,$(abspath $(BUILD))

$(BUILD)/tests/programs/shim_%.so: tests/programs/shim_%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread -shared -fPIC -o $@ $< -ldl

$(BUILD)/tests/programs/%: tests/programs/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread -Iinclude -o $@ $< -lm -ldl

$(BUILD)/tests/programs/%: tests/programs/%.cc | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -Werror -pthread -Iinclude -o $@ $<

# Unit tests link the library's objects directly (static archive), so they
# can reach internal functions. Under a sanitizer, the libc functions nprof
# overrides (the global names of libnprof.map) are made local in a copy of
# the archive: the sanitizer keeps its own malloc and friends, and the
# unit tests still exercise everything else.
OVERRIDES := $(shell sed -n '/global:/,/local:/p' src/libnprof.map | sed 's,/\*.*\*/,,g' | \
	tr ';' '\n' | sed 's/^[ \t]*//' | grep -E '^[a-z_][a-z0-9_]*$$' | grep -v '^nprof_')
ifneq ($(SANITIZER),)
UNIT_LIB := $(BUILD)/libnprof-unit.a
$(UNIT_LIB): $(BUILD)/libnprof.a src/libnprof.map
	objcopy $(foreach s,$(OVERRIDES),-L $(s)) $< $@
else
UNIT_LIB := $(BUILD)/libnprof.a
endif

$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_LIB) tests/unit/unit.h
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(LAYER_INC) -Itests/unit $(CFLAGS) $(call pc_cflags,$(PKGS)) -o $@ $< \
	  $(STATIC_WHOLE) $(UNIT_LIB) $(call pc_libs,$(PKGS)) -ldl -lm

# static_*: link libnprof.a, a copy of nprof of their own, as the unit
# tests do; STATIC_WHOLE pulls in its life cycle and leak check, so that
# copy stands in for a preloaded libnprof.so (docs/internals/check.md).
STATIC_WHOLE := -Wl,-u,nprof_start -Wl,-u,nprof__check_at_exit
$(BUILD)/tests/programs/static_%: tests/programs/static_%.c $(UNIT_LIB)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -pthread $(SAN) -Iinclude -o $@ $< \
	  $(STATIC_WHOLE) $(UNIT_LIB) $(call pc_libs,$(PKGS)) -ldl -lm

# Under a sanitizer (README, "Sanitizers"): the unit tests, the sanitized
# CLI against programs that preload the plain library (built first in
# build/, named by NPROF_LIB), and the linked programs whose tests need no
# libc hook. Preloading into a sanitized process is refused by its runtime.
# linked_http is left out under thread: libunwind 1.6 (not instrumented)
# frees its per-thread trace cache from a pthread key destructor that
# takes a mutex through ThreadSanitizer's interceptor after the runtime
# has finished the thread, and the runtime itself crashes (SIGSEGV in
# __tsan::MutexPreLock) when an nprof thread that unwound exits.
SAN_TESTS := tests/unit/ cli_ cpu_linked socket_cmdline out_dir \
	$(if $(filter thread,$(SANITIZER)),,linked_http)
ifneq ($(SANITIZER),)
check: all $(UT_BINS)
	@$(MAKE) --no-print-directory SANITIZER= BUILD=build all
	@scripts/deps.sh test
	@BUILD=$(BUILD) NPROF_LIB=$(abspath build/libnprof.so) TEST_TIMEOUT=600 tests/run.sh $(SAN_TESTS)
else
check: all $(UT_BINS)
	@scripts/deps.sh test
	@tests/run.sh
endif

# Longer fuzzing than `make check` does: libFuzzer on the request-head
# check, then the grammar-based HTTP fuzzer against a live program.
FUZZ_SECONDS ?= 300
FUZZ_SEED ?= 1
$(BUILD)/fuzz/head_fuzz: tests/fuzz/head_fuzz.c src/serve/http_head.c src/serve/http_int.h \
		$(LIB_HDRS)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude $(LAYER_INC) \
	  $(call pc_cflags,libmicrohttpd) -o $@ tests/fuzz/head_fuzz.c src/serve/http_head.c

fuzz: all $(BUILD)/fuzz/head_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/head_fuzz -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=90000 $(BUILD)/fuzz/corpus
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED) TEST_TIMEOUT=$$(($(FUZZ_SECONDS) + 120)) \
	  BUILD=$(BUILD) tests/run.sh http_fuzz

unit: $(UT_BINS)
	@BUILD=$(BUILD) tests/run.sh unit

demo: all
	@scripts/deps.sh test
	@scripts/demo.sh

bench: all
	@scripts/deps.sh bench
	@bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libnprof.so $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 $(BUILD)/libnprof.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 include/nprof.h $(DESTDIR)$(PREFIX)/include/
	install -m 0755 $(BUILD)/nprof $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' nprof.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nprof.pc

clean:
	rm -rf $(BUILD)
