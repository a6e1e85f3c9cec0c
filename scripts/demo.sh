#!/usr/bin/env bash
# A short tour of what xbpf does today. Expects a build in build/ (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
X=build/tools/xbpf/xbpf
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "assemble conformance-style assembly" $X asm examples/asm/fib.s -o build/fib.bin
step "disassemble it, kernel/LLVM syntax" $X disasm build/fib.bin
step "disassemble a clang-built BPF object (benchmark workload)" \
  $X disasm build/bench/workloads/bitcount.bpf.o --section xbpf/bitcount
step "run it on the interpreter, checked and verified mode" $X conformance -v examples/asm/fib.data
step "our own ISA corner cases" $X conformance tests/data
if [ -d ../shared/conformance/tests ]; then
  step "the bpf_conformance suite (313 programs)" $X conformance ../shared/conformance/tests
else
  echo "(../shared/conformance/tests not found: skipping the shared conformance suite)"
fi
step "bad input gets a clear error and exit code 1" bash -c "printf 'mov %%r0, 1\nfrob %%r1\n' > build/bad.s; $X asm build/bad.s || echo \"exit code \$?\""

# A BPF program of ours, from object file to map contents, as with bpftool.
# The store (where maps and programs live, shared between processes) is
# build/demo-store here; every command below is a separate process.
OBJ=build/examples/api/count_packets.bpf.o
S="--store build/demo-store"
rm -rf build/demo-store
step "what the loader sees in a clang-built object" $X object show $OBJ
step "verify it as the kernel would" $X verify $OBJ
step "load it: verified, JIT-compiled, pinned as demo/prog; its maps pinned under demo/" \
  $X prog load $OBJ demo/prog pinmaps demo $S
step "another process lists it (bpftool's layout)" $X prog show $S
step "the x86-64 code the JIT made of it (first lines)" bash -c "$X prog dump jited pinned demo/prog $S | head -24"
step "run it over a packet capture shipped in the repo" \
  $X prog run pinned demo/prog pcap examples/pcap/mixed.pcap $S
step "dump the map it filled (IPv4 / other), typed through BTF" $X map dump pinned demo/counts $S
step "bpftool's JSON, for scripts" $X -j map show pinned demo/counts $S
step "attach it to a device of the store: the XDP hook of a user-space packet port" \
  $X net attach xdp pinned demo/prog dev port0 $S
step "what is attached, in bpftool's layouts (net show, link show)" bash -c "$X net show $S && $X link show $S"
step "an application (examples/api/packet_port.cpp) runs the capture through port0's hook" \
  env XBPF_STORE=build/demo-store build/examples/api/example_packet_port port0 examples/pcap/mixed.pcap
step "the same map, counted again by the hook" $X map dump pinned demo/counts $S
step "detach: the device runs nothing, and its link is gone" \
  bash -c "$X net detach xdp dev port0 $S && $X link show $S && echo '(no links)'"
step "release it: remove the pins (files in the store), nothing is left" \
  bash -c "rm -r build/demo-store/pins/demo && $X prog show $S && $X map show $S && echo '(store empty)'"
