# The two set-up commands of the README: `make run` and `make test`. Everything else is a helper.
PY := /usr/bin/python3
CONFIG ?= examples/quickstart.yaml

.PHONY: all deps build build-asan run test unit e2e fuzz bench clean

all: build

deps:
	@scripts/install-deps

build/build.ninja:
	meson setup build --buildtype=release -Db_ndebug=false >/dev/null

build-asan/build.ninja:
	meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

build: deps build/build.ninja
	ninja -C build

build-asan: deps build-asan/build.ninja
	ninja -C build-asan

run: build
	./build/sekisho run -c $(CONFIG)

# Unit and fuzz-corpus tests first (meson), then the end-to-end suite, whose pytest summary closes the run.
unit: build-asan
	meson test -C build-asan --print-errorlogs

test: build-asan unit
	SEKISHO_BIN=$(CURDIR)/build-asan/sekisho ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e

# libFuzzer builds (clang); scripts/fuzz runs a target for a while.
fuzz: deps
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	ninja -C build-fuzz

bench: build
	bench/compare

clean:
	rm -rf build build-asan build-fuzz
