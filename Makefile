# Makefile: the README's two commands. Everything real lives in CMake and scripts/.
.PHONY: all demo test build bootstrap bench clean

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDIC_FUZZ=OFF >/dev/null
	cmake --build build/release -j $(JOBS)

demo: build
	build/release/medic demo

# The release build (what `make demo` runs) is built too, so a warning that only -O2 sees
# fails the tests rather than the demo.
test: bootstrap
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DMEDIC_SANITIZE=ON >/dev/null
	cmake --build build/test -j $(JOBS)
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDIC_FUZZ=OFF >/dev/null
	cmake --build build/release -j $(JOBS)
	scripts/run-tests build/test

bench: build
	bench/probe_throughput

clean:
	rm -rf build
