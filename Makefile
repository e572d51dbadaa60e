# codex-gateway: the targets a user types. Every target installs what it needs first
# (scripts/install-deps is idempotent and quick when everything is present).

SHELL := /bin/bash
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
BUILD := build

.PHONY: all build run test test-unit test-blackbox test-e2e fuzz fuzz-run bench soak lint valgrind deps clean

all: build

deps:
	@scripts/install-deps build

build: deps
	@cmake --preset release >/dev/null
	@cmake --build $(BUILD)/release -j $(JOBS)

run:
	@scripts/install-deps codex
	@cmake --preset release >/dev/null
	@cmake --build $(BUILD)/release -j $(JOBS)
	@exec scripts/run-gateway

# The whole suite, as CI runs it: unit tests (release and sanitizers), black-box and
# real-Codex end-to-end suites against the ASan+UBSan binary, then the fuzz targets.
test:
	@scripts/install-deps test
	@cmake --preset release >/dev/null && cmake --build $(BUILD)/release -j $(JOBS)
	@cmake --preset asan >/dev/null && cmake --build $(BUILD)/asan -j $(JOBS)
	@scripts/lint
	$(BUILD)/unit-tests --jobs $(JOBS) --short-filename
	$(BUILD)/asan/unit-tests --jobs $(JOBS) --short-filename
	CG_BIN_DIR=$(CURDIR)/$(BUILD)/asan node --test tests/blackbox/
	CG_BIN_DIR=$(CURDIR)/$(BUILD)/asan node --test tests/e2e/
	CG_BIN_DIR=$(CURDIR)/$(BUILD)/asan node --test tests/deploy/
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

fuzz:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

fuzz-run:
	@cmake --preset fuzz >/dev/null && cmake --build $(BUILD)/fuzz -j $(JOBS)
	@scripts/fuzz $(BUILD)/fuzz $(FUZZ_SECONDS)

# The unit tests and the black-box suite under valgrind memcheck (release build; ~10 min).
valgrind:
	@scripts/install-deps valgrind
	@cmake --preset release >/dev/null && cmake --build $(BUILD)/release -j $(JOBS)
	@scripts/valgrind

bench: build
	@scripts/install-deps bench
	@bench/run

# The long run: SOAK_REQUESTS (1,000,000, ~3 min) of mixed traffic against one gateway, its RSS
# and descriptors sampled; fails on any failed request or a descriptor leak (bench/soak).
# SOAK_REQUESTS=20000 make soak is the quick check.
soak: build
	@bench/soak

lint:
	@scripts/lint

clean:
	rm -rf $(BUILD)
