# Thin wrapper around CMake and the scripts: `make` builds, `make run` runs the stack, `make test` tests.
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc)

.PHONY: all deps build build-san run demo demo-purge test test-unit test-san stop clean format

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(BUILD_SAN)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DMOHSTATS_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-san: deps $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j $(JOBS)

# The whole system on ./var with the demo world (DEMO=0: without), logs followed until Ctrl-C, which stops what
# it started.
run: build
	scripts/run.sh $(BUILD) var

# The same, with the demo world whatever DEMO says.
demo: build
	DEMO=1 scripts/run.sh $(BUILD) var

# Delete the demo world's data from ./var (scripts/demo.sh says what is kept).
demo-purge:
	MOHSTATS_BIN_DIR=$(BUILD) scripts/demo.sh purge var

stop:
	MOHSTATS_BIN_DIR=$(BUILD) scripts/demo.sh stop var || true
	scripts/stack.sh down var

# Every test, in the normal build and again under AddressSanitizer + UBSan.
test: build build-san
	scripts/test.sh $(BUILD) $(BUILD_SAN)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

clean:
	rm -rf $(BUILD) $(BUILD_SAN)

format:
	clang-format -i common/*.[ch] ingestd/*.[ch] queryd/*.[ch] authd/*.[ch] achievd/*.[ch] tests/*/*.c
