# libFuzzer harnesses (fuzz/README.md), included by the Makefile.
#
#   make fuzz		build them with clang into build/fuzz and run each
#			for FUZZ_SECONDS on its corpus, FUZZ_JOBS at a time
#   make fuzz-smoke	the same for 3 s each: the test command's step
#   make fuzz-cov	line coverage of the code under fuzzing, from the
#			corpora the runs have grown

FUZZ_CC?=	clang
FUZZ_SECONDS?=	60
FUZZ_JOBS?=	2
FUZZ_BUILD=	build/fuzz
FUZZ_COV_BUILD=	build/fuzz-cov
FUZZ_NAMES=	$(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

ifeq ($(FUZZ),1)
CFLAGS+=	-fsanitize=fuzzer-no-link,address,undefined \
		-fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS+=	-fsanitize=fuzzer,address,undefined \
		-Wl,--wrap=fatalx -Wl,--wrap=mono_ms
endif
ifeq ($(FUZZ_COV),1)
CFLAGS+=	-fprofile-instr-generate -fcoverage-mapping
LDFLAGS+=	-fprofile-instr-generate
endif

# A make of its own, so that the libraries get clang and the
# instrumentation too, in a tree apart from the other builds; in parallel
# unless the caller's -j already says how.
fuzz-build:
	$(MAKE) $(if $(filter --jobserver%,$(MAKEFLAGS)),,-j$(FUZZ_JOBS)) \
	    FUZZ=1 CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) \
	    $(patsubst %,$(FUZZ_BUILD)/bin/fuzz_%,$(FUZZ_NAMES))

$(BUILD)/bin/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/util.o \
    $(SERVER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group \
	    $(SERVER_LIBS) -Wl,--end-group $(LDLIBS)

fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS) \
	    $(FUZZ_NAMES)

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=3

fuzz-cov:
	$(MAKE) $(if $(filter --jobserver%,$(MAKEFLAGS)),,-j$(FUZZ_JOBS)) \
	    FUZZ=1 FUZZ_COV=1 CC=$(FUZZ_CC) BUILD=$(FUZZ_COV_BUILD) \
	    $(patsubst %,$(FUZZ_COV_BUILD)/bin/fuzz_%,$(FUZZ_NAMES))
	sh fuzz/cov.sh $(FUZZ_COV_BUILD) $(FUZZ_BUILD) $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-cov
