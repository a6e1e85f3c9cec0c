#!/usr/bin/env bash
# Fresh Debian 12 -> built xbpf: installs every dependency with apt, builds
# (Release, in build/), then runs the demo. Safe to run again.
# `--deps-only` stops after installing packages (scripts/test.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config ccache git xxd
  clang llvm libclang-rt-14-dev           # BPF target for our C programs; libFuzzer
  libfmt-dev libcli11-dev libelf-dev zlib1g-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  bpftool                                 # reference output for BTF dump tests
  libbpf-dev libpcap-dev                  # kernel oracle in differential tests; pcap input
  libasmjit-dev libcapstone-dev           # JIT: the encoder test's oracle (x86_asm_test, jit_bench); disassembler
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--deps-only" ] && exit 0

echo "== building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build

bash scripts/demo.sh
