// The verifier's table of small programs, shared by verifier_test (xbpf's
// verdicts and messages) and verifier_kernel_test (the same programs through
// the Linux verifier): each case is the program in conformance assembly, its
// program type, and the verdict: "" for accept, else a substring of the
// kernel-style message. Maps: lddw map_idx N refers to kMaps[N].
#pragma once

#include <vector>

#include "kabi/kernel_types.hpp"
#include "verifier/verifier.hpp"

namespace xbpf::test {

using kabi::MapType;
using kabi::ProgType;
using verifier::MapDesc;

inline const MapDesc kHash{"counts", MapType::Hash, 4, 8, 16, 0, false, -1};
inline const MapDesc kArray1{"data", MapType::Array, 4, 16, 1, 0, false, -1};
inline const MapDesc kRodata{"rodata", MapType::Array, 4, 8, 1, 0, true, -1};
inline const MapDesc kRingbuf{"events", MapType::Ringbuf, 0, 0, 4096, 0, false, -1};
inline const MapDesc kProgs{"jmp", MapType::ProgArray, 4, 4, 8, 0, false, -1};

struct Case {
  const char* name;
  ProgType type;
  const char* text;
  const char* verdict;  // "" = accepted, else a substring of the message
  bool privileged = true;
  bool func_info = false;  // as if the object carried BTF func info (callbacks need it)
};

// Common fragments.
#define LOOKUP_HASH                                                                      \
  "mov %r2, %r10\nadd %r2, -4\nstw [%r10-4], 0\nlddw %r1, map_idx 0\ncall 1\n"

inline const Case kCases[] = {
    // --- registers and return values
    {"return constant", ProgType::SocketFilter, "mov %r0, 0\nexit\n", ""},
    {"r0 never set", ProgType::SocketFilter, "exit\n", "R0 !read_ok"},
    {"read uninit register", ProgType::SocketFilter, "mov %r0, %r2\nexit\n", "R2 !read_ok"},
    {"return ctx pointer unprivileged", ProgType::SocketFilter, "mov %r0, %r1\nexit\n", "R0 leaks addr as return value",
     false},
    {"return ctx pointer privileged", ProgType::SocketFilter, "mov %r0, %r1\nexit\n", ""},
    {"cgroup_skb return range", ProgType::CgroupSkb, "mov %r0, 2\nexit\n", "should have been in [0, 1]"},
    {"cgroup_skb return 1", ProgType::CgroupSkb, "mov %r0, 1\nexit\n", ""},
    {"shift by 64", ProgType::SocketFilter, "mov %r0, 1\nlsh %r0, 64\nexit\n", "invalid shift 64"},
    {"div by zero imm", ProgType::SocketFilter, "mov %r0, 1\ndiv %r0, 0\nexit\n", "div by zero"},
    {"div by zero reg is defined", ProgType::SocketFilter, "mov %r0, 1\nmov %r2, 0\ndiv %r0, %r2\nexit\n", ""},
    // --- stack
    {"stack write then read", ProgType::SocketFilter, "stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit\n", ""},
    {"stack read uninit unprivileged", ProgType::SocketFilter, "ldxdw %r0, [%r10-8]\nexit\n",
     "invalid read from stack off -8+0 size 8", false},
    {"stack read uninit privileged", ProgType::SocketFilter, "ldxdw %r0, [%r10-8]\nexit\n", ""},
    {"stack below 512", ProgType::SocketFilter, "stdw [%r10-520], 1\nmov %r0, 0\nexit\n",
     "invalid write to stack R10 off=-520 size=8"},
    {"stack above fp", ProgType::SocketFilter, "stw [%r10], 1\nmov %r0, 0\nexit\n",
     "invalid write to stack R10 off=0 size=4"},
    {"misaligned stack", ProgType::SocketFilter, "stdw [%r10-12], 1\nmov %r0, 0\nexit\n",
     "misaligned stack access off 0+0+-12 size 8"},
    {"spill and fill a pointer", ProgType::SocketFilter,
     "stxdw [%r10-8], %r1\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit\n", ""},
    {"partial fill of a pointer", ProgType::SocketFilter, "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit\n",
     "invalid size of register fill"},
    {"write to r10", ProgType::SocketFilter, "mov %r10, 0\nexit\n", "frame pointer is read only"},
    // --- context
    {"xdp reads data/data_end", ProgType::Xdp, "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r0, 2\nexit\n", ""},
    {"xdp 8-byte ctx read", ProgType::Xdp, "ldxdw %r2, [%r1+0]\nmov %r0, 2\nexit\n",
     "invalid bpf_context access off=0 size=8"},
    {"xdp ctx write", ProgType::Xdp, "stw [%r1+12], 0\nmov %r0, 2\nexit\n", "invalid bpf_context access off=12 size=4"},
    {"socket filter cannot read data", ProgType::SocketFilter, "ldxw %r2, [%r1+76]\nmov %r0, 0\nexit\n",
     "invalid bpf_context access off=76 size=4"},
    {"skb narrow read of len", ProgType::SocketFilter, "ldxb %r0, [%r1+0]\nexit\n", ""},
    {"skb write mark from tc", ProgType::SchedCls, "stw [%r1+8], 1\nmov %r0, 0\nexit\n", ""},
    {"skb write mark from socket filter", ProgType::SocketFilter, "stw [%r1+8], 1\nmov %r0, 0\nexit\n",
     "invalid bpf_context access off=8 size=4"},
    {"modified ctx pointer", ProgType::SocketFilter, "add %r1, 4\nldxw %r0, [%r1+0]\nexit\n",
     "dereference of modified ctx ptr R1 off=4 disallowed"},
    {"tracepoint reads common fields", ProgType::Tracepoint, "ldxdw %r0, [%r1+0]\nexit\n",
     "invalid bpf_context access off=0 size=8"},
    {"kprobe reads pt_regs", ProgType::Kprobe, "ldxdw %r0, [%r1+112]\nexit\n", ""},
    // --- packets
    {"xdp packet read without check", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit\n", "invalid access to packet, off=0 size=1"},
    {"xdp packet read after check", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2+13]\nexit\n"
     "mov %r0, 1\nexit\n",
     ""},
    {"xdp packet read one past the check", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2+14]\nexit\n"
     "mov %r0, 1\nexit\n",
     "invalid access to packet, off=14 size=1"},
    {"packet read on the wrong branch", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nmov %r0, 1\nexit\n"
     "ldxb %r0, [%r2+0]\nexit\n",
     "invalid access to packet"},
    {"pkt_end is not memory", ProgType::Xdp, "ldxw %r3, [%r1+4]\nldxb %r0, [%r3+0]\nexit\n",
     "R3 invalid mem access 'pkt_end'"},
    {"cgroup_skb cannot write packet", ProgType::CgroupSkb,
     "ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, +1\nstb [%r2+0], 1\nmov %r0, 1\n"
     "exit\n",
     "cannot write into packet"},
    // --- maps
    {"lookup then deref without null check", ProgType::SocketFilter, LOOKUP_HASH "ldxdw %r0, [%r0+0]\nexit\n",
     "R0 invalid mem access 'map_value_or_null'"},
    {"lookup with null check", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit\n", ""},
    {"lookup value out of bounds", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nldxdw %r0, [%r0+4]\nexit\nmov %r0, 0\nexit\n",
     "invalid access to map value, value_size=8 off=4 size=8"},
    {"lookup with uninit key", ProgType::SocketFilter,
     "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit\n",
     "invalid indirect read from stack R2 off -4+0 size 4", false},
    {"lookup with scalar key", ProgType::SocketFilter, "mov %r2, 0\nlddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit\n",
     "R2 type=scalar expected=fp"},
    {"map pointer expected", ProgType::SocketFilter, "mov %r2, %r10\nadd %r2, -4\nstw [%r10-4], 0\nmov %r1, 0\ncall 1\n"
                                                     "mov %r0, 0\nexit\n",
     "R1 type=scalar expected=map_ptr"},
    {"variable index bounded", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +5\nldxdw %r1, [%r0+0]\nand %r1, 7\nadd %r0, %r1\nldxb %r0, [%r0+0]\nexit\nmov %r0, 0\n"
                 "exit\n",
     ""},
    {"variable index unbounded", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +4\nldxdw %r1, [%r0+0]\nadd %r0, %r1\nldxb %r0, [%r0+0]\nexit\nmov %r0, 0\nexit\n",
     "unbounded min value"},
    {"variable index too large", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +5\nldxdw %r1, [%r0+0]\nand %r1, 15\nadd %r0, %r1\nldxb %r0, [%r0+0]\nexit\nmov %r0, 0\n"
                 "exit\n",
     "invalid access to map value, value_size=8 off=15 size=1"},
    {"direct value access", ProgType::SocketFilter, "lddw %r1, map_idx_value 1\nldxdw %r0, [%r1+8]\nexit\n", ""},
    {"rodata is read-only", ProgType::SocketFilter, "lddw %r1, map_idx_value 2\nstdw [%r1+0], 1\nmov %r0, 0\nexit\n",
     "write into map forbidden"},
    {"lookup on a ringbuf", ProgType::SocketFilter,
     "mov %r2, %r10\nadd %r2, -4\nstw [%r10-4], 0\nlddw %r1, map_idx 3\ncall 1\nmov %r0, 0\nexit\n",
     "invalid zero-sized read"},
    {"lookup on a prog array", ProgType::SocketFilter,
     "mov %r2, %r10\nadd %r2, -4\nstw [%r10-4], 0\nlddw %r1, map_idx 4\ncall 1\nmov %r0, 0\nexit\n",
     "cannot pass map_type 3 into func bpf_map_lookup_elem#1"},
    {"unknown helper", ProgType::SocketFilter, "call 9999\nmov %r0, 0\nexit\n", "invalid func unknown#9999"},
    {"pointer arithmetic on null", ProgType::SocketFilter, LOOKUP_HASH "add %r0, 1\nmov %r0, 0\nexit\n",
     "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first"},
    // --- ringbuf references
    {"reserve and submit", ProgType::SocketFilter,
     "lddw %r1, map_idx 3\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +4\nstdw [%r0+0], 1\nmov %r1, %r0\nmov %r2, 0\n"
     "call 132\nmov %r0, 0\nexit\n",
     ""},
    {"reserve without submit", ProgType::SocketFilter,
     "lddw %r1, map_idx 3\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +1\nstdw [%r0+0], 1\nmov %r0, 0\nexit\n",
     "Unreleased reference"},
    {"ringbuf record out of bounds", ProgType::SocketFilter,
     "lddw %r1, map_idx 3\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +4\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\n"
     "call 132\nmov %r0, 0\nexit\n",
     "invalid access to memory, mem_size=8 off=8 size=8"},
    // --- loops and calls
    {"bounded loop", ProgType::SocketFilter, "mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit\n", ""},
    {"infinite loop", ProgType::SocketFilter, "mov %r0, 0\nja -1\n", "infinite loop detected at insn 1"},
    {"loop that never ends", ProgType::SocketFilter, "mov %r0, 0\nmov %r1, 1\njne %r1, 0, -1\nexit\n",
     "infinite loop detected"},
    {"bpf-to-bpf call", ProgType::SocketFilter, "mov %r1, 5\ncall local f\nexit\nf:\nmov %r0, %r1\nexit\n", ""},
    {"callee returns its stack", ProgType::SocketFilter, "call local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r10\nexit\n",
     "cannot return stack pointer to the caller"},
    {"callee reads caller's stack through a pointer", ProgType::SocketFilter,
     "stdw [%r10-8], 7\nmov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit\n", ""},
    {"callback without BTF", ProgType::SocketFilter,
     "mov %r1, 10\nlddw %r2, func cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\ncb:\nmov %r0, 0\nexit\n",
     "missing btf func_info"},
    {"bpf_loop callback", ProgType::SocketFilter,
     "mov %r1, 10\nlddw %r2, func cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\ncb:\nmov %r0, 0\nexit\n", "",
     true, true},
    {"bpf_loop callback returning 2", ProgType::SocketFilter,
     "mov %r1, 10\nlddw %r2, func cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\ncb:\nmov %r0, 2\nexit\n",
     "should have been in [0, 1]", true, true},
    // --- more stack
    {"narrow read of a spilled scalar", ProgType::SocketFilter,
     "stdw [%r10-8], 5\nldxw %r0, [%r10-8]\nexit\n", ""},
    {"partial pointer store then fill", ProgType::SocketFilter,
     "stxdw [%r10-8], %r1\nstw [%r10-8], 0\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit\n",
     "R2 invalid mem access 'scalar'"},
    {"variable-offset stack write", ProgType::SocketFilter,
     "ldxw %r3, [%r1+0]\nand %r3, 7\nmov %r2, %r10\nadd %r2, -16\nadd %r2, %r3\nstb [%r2+0], 1\nmov %r0, 0\nexit\n",
     ""},
    {"variable-offset stack write out of bounds", ProgType::SocketFilter,
     "ldxw %r3, [%r1+0]\nand %r3, 15\nmov %r2, %r10\nadd %r2, -8\nadd %r2, %r3\nstb [%r2+0], 1\nmov %r0, 0\nexit\n",
     "invalid variable-offset write to stack R2"},
    {"unbounded stack pointer", ProgType::SocketFilter,
     "ldxw %r3, [%r1+0]\nmov %r2, %r10\nadd %r2, %r3\nstb [%r2+0], 1\nmov %r0, 0\nexit\n",
     "invalid unbounded variable-offset write to stack R2"},
    {"stack read past the frame", ProgType::SocketFilter, "ldxdw %r0, [%r10+8]\nexit\n",
     "invalid read from stack R10 off=8 size=8"},
    // --- more context
    {"xdp reads ingress_ifindex", ProgType::Xdp, "ldxw %r0, [%r1+12]\nexit\n", ""},
    {"xdp reads past the context", ProgType::Xdp, "ldxw %r0, [%r1+24]\nexit\n", "invalid bpf_context access off=24 size=4"},
    {"skb reads cb as u64", ProgType::SocketFilter, "ldxdw %r0, [%r1+48]\nexit\n", ""},
    {"skb 4-byte read of tstamp", ProgType::SchedCls, "ldxw %r0, [%r1+152]\nexit\n",
     "invalid bpf_context access off=152 size=4"},
    {"tc writes len", ProgType::SchedCls, "stw [%r1+0], 1\nmov %r0, 0\nexit\n", "invalid bpf_context access off=0 size=4"},
    {"tc writes tc_index", ProgType::SchedCls, "stw [%r1+44], 1\nmov %r0, 0\nexit\n", ""},
    {"misaligned ctx read", ProgType::SocketFilter, "ldxw %r0, [%r1+2]\nexit\n", "invalid bpf_context access off=2 size=4"},
    {"kprobe reads past pt_regs", ProgType::Kprobe, "ldxdw %r0, [%r1+168]\nexit\n",
     "invalid bpf_context access off=168 size=8"},
    {"kprobe writes pt_regs", ProgType::Kprobe, "stdw [%r1+0], 1\nmov %r0, 0\nexit\n",
     "invalid bpf_context access off=0 size=8"},
    {"raw tracepoint last argument", ProgType::RawTracepoint, "ldxdw %r0, [%r1+88]\nexit\n", ""},
    {"raw tracepoint past the arguments", ProgType::RawTracepoint, "ldxdw %r0, [%r1+96]\nexit\n",
     "invalid bpf_context access off=96 size=8"},
    {"perf_event sample_period", ProgType::PerfEvent, "ldxdw %r0, [%r1+168]\nexit\n", ""},
    {"perf_event narrow register read", ProgType::PerfEvent, "ldxw %r0, [%r1+0]\nexit\n",
     "invalid bpf_context access off=0 size=4"},
    {"sock_ops reads op", ProgType::SockOps, "ldxw %r0, [%r1+0]\nmov %r0, 1\nexit\n", ""},
    {"sock_ops writes reply", ProgType::SockOps, "stw [%r1+4], 1\nmov %r0, 1\nexit\n", ""},
    {"sock_ops writes op", ProgType::SockOps, "stw [%r1+0], 1\nmov %r0, 1\nexit\n",
     "invalid bpf_context access off=0 size=4"},
    {"ctx pointer passed with offset", ProgType::SchedCls,
     "add %r1, 8\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 8\ncall 26\nmov %r0, 0\nexit\n",
     "dereference of modified ctx ptr R1 off=8 disallowed"},
    // --- pointer arithmetic
    {"and on a pointer", ProgType::SocketFilter, "and %r1, 1\nmov %r0, 0\nexit\n",
     "R1 bitwise operator &= on pointer prohibited"},
    {"multiply a pointer", ProgType::SocketFilter, "mul %r1, 2\nmov %r0, 0\nexit\n",
     "R1 pointer arithmetic with *= operator prohibited"},
    {"32-bit add to a pointer", ProgType::SocketFilter, "add32 %r1, 1\nmov %r0, 0\nexit\n",
     "R1 32-bit pointer arithmetic prohibited"},
    {"scalar minus pointer", ProgType::SocketFilter, "mov %r0, 0\nsub %r0, %r1\nexit\n",
     "R0 tried to subtract pointer from scalar"},
    {"pointer plus pointer", ProgType::SocketFilter, "add %r1, %r10\nmov %r0, 0\nexit\n",
     "R1 pointer += pointer prohibited"},
    {"map pointer plus one", ProgType::SocketFilter, "lddw %r1, map_idx 0\nadd %r1, 1\nmov %r0, 0\nexit\n",
     "R1 pointer arithmetic on map_ptr prohibited"},
    {"pkt_end plus one", ProgType::Xdp, "ldxw %r3, [%r1+4]\nadd %r3, 1\nmov %r0, 0\nexit\n",
     "R3 pointer arithmetic on pkt_end prohibited"},
    {"pointer minus pointer is a scalar", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nsub %r3, %r2\nmov %r0, %r3\nexit\n", ""},
    {"32-bit copy of a pointer is a scalar", ProgType::SocketFilter, "mov32 %r2, %r1\nldxw %r0, [%r2+0]\nexit\n",
     "R2 invalid mem access 'scalar'"},
    // --- more maps
    {"map value write", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nstdw [%r0+0], 1\nmov %r0, 0\nmov %r0, 0\nexit\n", ""},
    {"map value at a negative offset", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nldxw %r0, [%r0-4]\nexit\nmov %r0, 0\nexit\n",
     "invalid access to map value, value_size=8 off=-4 size=4"},
    {"update with a value from the stack", ProgType::SocketFilter,
     "stw [%r10-4], 0\nstdw [%r10-16], 7\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\n"
     "lddw %r1, map_idx 0\ncall 2\nmov %r0, 0\nexit\n",
     ""},
    {"update with a value too close to the frame top", ProgType::SocketFilter,
     "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -4\nmov %r4, 0\n"
     "lddw %r1, map_idx 0\ncall 2\nmov %r0, 0\nexit\n",
     "invalid read from stack R3 off=-4 size=8"},
    {"delete with a key in a map value", ProgType::SocketFilter,
     "lddw %r2, map_idx_value 1\nlddw %r1, map_idx 0\ncall 3\nmov %r0, 0\nexit\n", ""},
    {"direct value access on a hash", ProgType::SocketFilter, "lddw %r1, map_idx_value 0\nmov %r0, 0\nexit\n",
     "direct value access"},
    {"tail call through a hash", ProgType::SocketFilter,
     "lddw %r2, map_idx 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit\n",
     "expected prog array map for tail call"},
    {"tail call", ProgType::SocketFilter, "lddw %r2, map_idx 4\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit\n", ""},
    // --- more packets
    {"packet read with a bounded variable offset", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+12]\nand %r4, 7\nadd %r2, %r4\nmov %r5, %r2\nadd %r5, 4\n"
     "jgt %r5, %r3, +2\nldxw %r0, [%r2+0]\nexit\nmov %r0, 1\nexit\n",
     ""},
    {"packet check with end on the left", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njlt %r3, %r4, +2\nldxdw %r0, [%r2+0]\nexit\n"
     "mov %r0, 1\nexit\n",
     ""},
    {"packet check with jge", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njge %r4, %r3, +2\nldxdw %r0, [%r2+0]\nexit\n"
     "mov %r0, 1\nexit\n",
     ""},
    {"xdp writes the packet", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, +1\nstb [%r2+0], 1\nmov %r0, 2\n"
     "exit\n",
     ""},
    {"tc reads data_meta", ProgType::SchedCls, "ldxw %r2, [%r1+140]\nmov %r0, 0\nexit\n", ""},
    {"legacy packet load", ProgType::SocketFilter, "mov %r6, %r1\nldabsb 12\nexit\n", ""},
    {"legacy packet load with r6 unset", ProgType::SocketFilter, "ldabsb 12\nexit\n", "R6 !read_ok"},
    {"legacy packet load without skb in r6", ProgType::SocketFilter, "mov %r6, 0\nldabsb 12\nexit\n",
     "at the time of BPF_LD_ABS|IND R6 != pointer to skb"},
    {"legacy packet load in xdp", ProgType::Xdp, "mov %r6, %r1\nldabsb 12\nexit\n",
     "BPF_LD_[ABS|IND] instructions not allowed for this program type"},
    // --- more helpers
    {"unbounded size to a helper", ProgType::Kprobe,
     "ldxdw %r2, [%r1+112]\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit\n",
     "R2 min value is negative, either use unsigned or 'var &= const'"},
    {"unbounded unsigned size to a helper", ProgType::Kprobe,
     "ldxdw %r2, [%r1+112]\nrsh %r2, 1\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit\n",
     "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'"},
    {"bounded size to a helper", ProgType::Kprobe,
     "ldxdw %r2, [%r1+112]\nand %r2, 7\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit\n", ""},
    {"helper size too large for the stack buffer", ProgType::Kprobe,
     "mov %r2, 16\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit\n",
     "invalid write to stack R1 off=-8 size=16"},
    {"arguments are clobbered by a call", ProgType::SocketFilter, "call 5\nmov %r0, %r1\nexit\n", "R1 !read_ok"},
    {"callee-saved registers survive a call", ProgType::SocketFilter, "mov %r6, 1\ncall 5\nmov %r0, %r6\nexit\n", ""},
    {"helper not for this program type", ProgType::SocketFilter, "mov %r2, 0\ncall 44\nmov %r0, 0\nexit\n",
     "program of this type cannot use helper bpf_xdp_adjust_head#44"},
    {"submit twice", ProgType::SocketFilter,
     "lddw %r1, map_idx 3\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +6\nmov %r6, %r0\nmov %r1, %r6\nmov %r2, 0\n"
     "call 132\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit\n",
     "expected=ringbuf_mem"},
    {"reserve with a variable size", ProgType::SocketFilter,
     "ldxw %r2, [%r1+0]\nlddw %r1, map_idx 3\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit\n", "is not a known constant"},
    {"comm into a stack buffer", ProgType::Kprobe,
     "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 16\nldxdw %r0, [%r10-16]\nexit\n", ""},
    // --- more ALU and jumps
    {"jset refines nothing unsafe", ProgType::SocketFilter,
     "ldxw %r0, [%r1+0]\njset %r0, 1, +1\nmov %r0, 0\nexit\n", ""},
    {"jmp32 bound makes an index safe", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +6\nmov %r6, %r0\nldxw %r1, [%r6+0]\njgt32 %r1, 7, +2\nadd %r6, %r1\nldxb %r0, [%r6+0]\n"
                 "exit\nmov %r0, 0\nexit\n",
     ""},
    {"signed bound is not enough", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +6\nmov %r6, %r0\nldxdw %r1, [%r6+0]\njsgt %r1, 7, +2\nadd %r6, %r1\nldxb %r0, [%r6+0]\n"
                 "exit\nmov %r0, 0\nexit\n",
     "math between map_value pointer and register with unbounded min value is not allowed"},
    {"movsx of a byte is bounded", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +8\nmov %r6, %r0\nldxb %r1, [%r6+0]\nmovsx864 %r1, %r1\nadd %r1, 128\njgt %r1, 7, +2\n"
                 "add %r6, %r1\nldxb %r0, [%r6+0]\nexit\nmov %r0, 0\nexit\n",
     ""},
    {"byte swap makes an unknown value", ProgType::SocketFilter,
     "mov %r0, 1\nbe16 %r0\nexit\n", ""},
    {"callee reads an argument the caller did not set", ProgType::SocketFilter,
     "call local f\nexit\nf:\nmov %r0, %r2\nexit\n", "R2 !read_ok"},
    {"callee must set r0", ProgType::SocketFilter, "call local f\nexit\nf:\nexit\n", "R0 !read_ok"},
    {"atomic add on a map value", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nmov %r1, 1\nlock add [%r0+0], %r1\nmov %r0, 0\nexit\n", ""},
    {"misaligned atomic on a map value", ProgType::SocketFilter,
     LOOKUP_HASH "jeq %r0, 0, +2\nmov %r1, 1\nlock add32 [%r0+2], %r1\nmov %r0, 0\nexit\n",
     "misaligned value access off 0+0+2 size 4"},
    {"atomic on the context", ProgType::SchedCls, "mov %r2, 1\nlock add32 [%r1+8], %r2\nmov %r0, 0\nexit\n",
     "BPF_ATOMIC stores into R1 ctx is not allowed"},
    {"packet pointer after a packet-moving helper", ProgType::Xdp,
     "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, +5\nmov %r6, %r2\nmov %r2, 0\n"
     "call 44\nldxb %r0, [%r6+0]\nexit\nmov %r0, 1\nexit\n",
     "R6 invalid mem access 'scalar'"},
    {"packet pointer reloaded after a packet-moving helper", ProgType::Xdp,
     "mov %r6, %r1\nmov %r2, 0\ncall 44\nldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\nmov %r4, %r2\nadd %r4, 1\n"
     "jgt %r4, %r3, +2\nldxb %r0, [%r2+0]\nexit\nmov %r0, 1\nexit\n",
     ""},
    {"redirect_map with a hash", ProgType::Xdp, "lddw %r1, map_idx 0\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit\n",
     "cannot pass map_type 1 into func bpf_redirect_map#51"},
    {"pointer comparison unprivileged", ProgType::SocketFilter, "mov %r0, 0\njeq %r1, %r10, +0\nexit\n",
     "pointer comparison prohibited", false},
    {"back-edge unprivileged", ProgType::SocketFilter, "mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit\n",
     "back-edge from insn 2 to 1", false},
};

inline const std::vector<MapDesc> kMaps = {kHash, kArray1, kRodata, kRingbuf, kProgs};

}  // namespace xbpf::test
