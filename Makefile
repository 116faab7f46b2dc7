# Thin wrapper around meson/ninja.  See README.rst.
#
#   make               build (runs ./configure first if build/ is missing)
#   make check         all test suites (meson test --print-errorlogs)
#   make check-unit    unit tests only;  make check-qtest: qtests only
#   make check-asan    whole suite in build-asan/ with ASan+UBSan
#   make fuzz          libFuzzer harnesses (clang) in build-fuzz/, each run
#                      FUZZ_TIME seconds (default 60); FUZZERS="qmp hmp"
#                      narrows the set (tests/fuzz/run-fuzzers.sh)
#   make demo          save/restore demo of a 1 GiB VM (tools/mapmig-demo.c)
#   make bench         run build/tools/mapmig-perf (when it is built)
#   make docs          HTML documentation in build/docs/html (Sphinx, with
#                      the performance plot when matplotlib is there)
#   make format-check  clang-format --dry-run -Werror on all *.c/*.h
#                      (FILES="..." to check only some files)
#   make clean         remove build/, build-asan/ and build-fuzz/

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZERS    ?=
MESON_TEST  = meson test --print-errorlogs
PKGS        = glib-2.0 gio-2.0 json-glib-1.0

.PHONY: all build deps check check-unit check-qtest check-asan fuzz demo bench \
        clean format-check docs

all: build

# Install missing packages (as root) or print the apt-get line and fail.
deps:
	@command -v meson >/dev/null && command -v ninja >/dev/null && \
	  pkg-config --exists $(PKGS) 2>/dev/null || ./scripts/install-deps.sh

$(BUILD)/build.ninja:
	@$(MAKE) --no-print-directory deps
	./configure --builddir=$(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

check: build
	$(MESON_TEST) -C $(BUILD)

check-unit: build
	$(MESON_TEST) -C $(BUILD) --suite unit

check-qtest: build
	@if meson test -C $(BUILD) --suite qtest --list >/dev/null 2>&1; then \
	  $(MESON_TEST) -C $(BUILD) --suite qtest; \
	else \
	  echo "check-qtest: no tests in suite 'qtest' yet"; \
	fi

$(ASAN_BUILD)/build.ninja:
	@$(MAKE) --no-print-directory deps
	./configure --builddir=$(ASAN_BUILD) --enable-sanitizers

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	$(MESON_TEST) -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	@$(MAKE) --no-print-directory deps
	./configure --builddir=$(FUZZ_BUILD) --enable-fuzzing

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZERS)

demo: build
	$(BUILD)/tools/mapmig-demo $(BUILD)/mapmig

bench: build
	@if [ -x $(BUILD)/tools/mapmig-perf ]; then \
	  $(BUILD)/tools/mapmig-perf $(BENCH_ARGS); \
	else \
	  echo "bench: $(BUILD)/tools/mapmig-perf is not built yet"; \
	fi

# Sphinx from python3-sphinx; the plot needs python3-matplotlib (else the
# page shows the tables only, as docs/conf.py says).
SPHINX_BUILD ?= sphinx-build
docs:
	@command -v $(SPHINX_BUILD) >/dev/null || \
	  { echo "docs: $(SPHINX_BUILD) not found; install python3-sphinx" \
	         "(scripts/install-deps.sh lists it)"; exit 1; }
	$(SPHINX_BUILD) -q -b html docs $(BUILD)/docs/html
	@echo "docs: $(BUILD)/docs/html/index.html"

# Reports only (never rewrites).  FILES="a.c b.h" narrows the check.
format-check:
	@command -v clang-format >/dev/null || \
	  { echo "format-check: clang-format not installed"; exit 1; }
	@if [ -n "$(FILES)" ]; then \
	  clang-format --dry-run -Werror $(FILES); \
	else \
	  git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run -Werror; \
	fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
