# Makefile: the README's two commands. Everything real lives in CMake and scripts/.
.PHONY: all demo test build bootstrap bench chaos clean install

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# The plain optimised build a user, a packager or the container image makes: no tests, and warnings
# are never errors there. `make test` builds exactly this too (build/test-o3), with warnings as
# errors, so CI compiles what ships.
RELEASE_FLAGS = -DCMAKE_BUILD_TYPE=Release -DMEDIC_TESTS=OFF
PREFIX ?= /usr/local

all: build

bootstrap:
	@echo "checking packages (scripts/bootstrap)"
	@scripts/bootstrap

# Each stage prints one line and shows its output only when it fails (VERBOSE=1 shows it all).
build: bootstrap
	@scripts/stage "configuring build/release" build/logs/release-configure.log \
	  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDIC_FUZZ=OFF
	@scripts/stage "building build/release" build/logs/release-build.log \
	  cmake --build build/release -j $(JOBS)

demo: build
	build/release/medic demo

# The test build: sanitizers, warnings as errors. Then the plain optimised build a user or a
# packager makes (CMAKE_BUILD_TYPE=Release, gcc -O3, no tests), also with warnings as errors, so a
# warning that only -O3 sees fails the tests rather than somebody's build.
test: bootstrap
	@scripts/stage "configuring build/test (sanitizers, warnings as errors)" build/logs/test-configure.log \
	  cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DMEDIC_SANITIZE=ON -DMEDIC_WERROR=ON
	@scripts/stage "building build/test" build/logs/test-build.log cmake --build build/test -j $(JOBS)
	@scripts/stage "configuring build/test-o3 (Release, warnings as errors)" build/logs/test-o3-configure.log \
	  cmake -S . -B build/test-o3 $(RELEASE_FLAGS) -DMEDIC_WERROR=ON
	@scripts/stage "building build/test-o3" build/logs/test-o3-build.log cmake --build build/test-o3 -j $(JOBS)
	@scripts/run-tests build/test

# The release build installed under $(PREFIX) (bin/medic and its helpers in libexec/medic). Runs
# no bootstrap: run `scripts/bootstrap --build-only` first (deploy/docker/Dockerfile does).
install:
	cmake -S . -B build/package $(RELEASE_FLAGS) >/dev/null
	cmake --build build/package -j $(JOBS)
	cmake --install build/package --prefix $(PREFIX)

# The full chaos matrix (docs/chaos.md): as root in network namespaces, otherwise the loopback
# subset. RUNS=N runs each scenario N times; the tables go to build/chaos-results/.
RUNS ?= 5
chaos: build
	build/release/medic chaos --runs $(RUNS) --results build/chaos-results

bench: build
	bench/probe_throughput

clean:
	rm -rf build
