#!/usr/bin/env bash
# The whole test suite: the Release build (g++) and a Debug build with
# AddressSanitizer + UndefinedBehaviorSanitizer (clang, which also builds the
# libFuzzer targets and runs them as short smoke tests over their corpora).
# Installs missing packages first (same list as scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

bash scripts/setup.sh --deps-only

echo "== Release build (g++)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== Debug + ASan/UBSan build (clang), with fuzz smoke tests"
cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug -DXBPF_SANITIZE=ON -DXBPF_FUZZ=ON \
  -DXBPF_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-san
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-san --output-on-failure -j "$JOBS"
