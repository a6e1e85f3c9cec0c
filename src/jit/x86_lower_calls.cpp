// The entry stub, function prologues and epilogues, early exits, helper
// calls and their inlined fast paths, tail calls and callx on x86-64 (class
// Lowering: x86_lowering.hpp).
#include "jit/x86_lowering.hpp"

namespace xbpf::jit::x86low {

// uint64_t enter(const uint64_t* args, RunArea* area, const void* fn)
//
// Stub::full saves the C++ caller's callee-saved registers, records its rsp
// for early exits (which unwind every BPF frame at once, skipping their
// epilogues) and calls `fn`. Without facts it also zeroes r0 and r6-r9, as
// the interpreter starts; the verifier rejects any read of a register
// before its first write ("R0 !read_ok"), so verified programs skip that.
// Every program that may exit early (legacy packet loads, callx, falling
// off a function) or tail-call (the target may exit early, to this stub)
// gets it. Otherwise each BPF function saves what it clobbers itself
// (rbp, r6-r9), so the stub only sets r12 when helpers need the RunArea
// (Stub::area: push r12 keeps the call aligned) or just loads r1-r5 and
// jumps (Stub::lean: the function returns to the C++ caller itself).
namespace {

// The stub's code for one (kind, func_refs, facts) combination, `abort`
// bound where early exits land.
void assemble_enter_stub(x86::Assembler& a, Stub stub, bool func_refs, bool facts, Label abort) {
  if (stub == Stub::lean || stub == Stub::area) {
    if (stub == Stub::area) {
      a.push(kArea);
      a.mov(kArea, x86::rsi);
    }
    a.mov(kT11, x86::rdx);
    // The main function of a verified program reads only r1 before
    // writing (the verifier starts r2-r5 uninitialised); callbacks
    // (bpf_loop, for_each_map_elem) get r1-r5, but a lean program calls no
    // helper, so nothing calls back into it unless it has `lddw func`.
    if (stub != Stub::lean || func_refs) {
      a.mov(x86::rsi, x86::qword_ptr(x86::rdi, 8));
      a.mov(x86::rdx, x86::qword_ptr(x86::rdi, 16));
      a.mov(x86::rcx, x86::qword_ptr(x86::rdi, 24));
      a.mov(x86::r8, x86::qword_ptr(x86::rdi, 32));
    }
    a.mov(x86::rdi, x86::qword_ptr(x86::rdi, 0));
    if (stub == Stub::lean) {
      a.jmp(kT11);
    } else {
      a.call(kT11);
      a.pop(kArea);
      a.ret();
    }
    // No early exit exists in such a program: nothing jumps here.
    a.bind(abort);
    a.int3();
    return;
  }
  static const Gp kSaved[] = {x86::rbx, x86::rbp, x86::r12, x86::r13, x86::r14, x86::r15};
  for (const Gp& r : kSaved) a.push(r);
  a.sub(x86::rsp, 8);  // 6 pushes + return address: realign to 16 for the call
  a.mov(kArea, x86::rsi);
  a.mov(x86::qword_ptr(kArea, kAreaAbortRsp), x86::rsp);
  a.mov(kT11, x86::rdx);
  a.mov(x86::rsi, x86::qword_ptr(x86::rdi, 8));
  a.mov(x86::rdx, x86::qword_ptr(x86::rdi, 16));
  a.mov(x86::rcx, x86::qword_ptr(x86::rdi, 24));
  a.mov(x86::r8, x86::qword_ptr(x86::rdi, 32));
  a.mov(x86::rdi, x86::qword_ptr(x86::rdi, 0));
  if (!facts)
    for (int r : {0, 6, 7, 8, 9}) a.xor_(kReg[r].r32(), kReg[r].r32());
  a.call(kT11);
  Label leave = a.newLabel();
  a.bind(leave);
  a.add(x86::rsp, 8);
  for (size_t k = std::size(kSaved); k-- > 0;) a.pop(kSaved[k]);
  a.ret();
  // Early exit from any depth: back to the stub's frame with r0 = 0.
  a.bind(abort);
  a.mov(x86::rsp, x86::qword_ptr(kArea, kAreaAbortRsp));
  a.xor_(x86::eax, x86::eax);
  a.jmp(leave);
}

// The stub depends only on three facts about the program, so each form is
// assembled once per process and copied into every program (assembling it
// cost ~3,000 instructions per compile, as much as ~3 BPF instructions).
struct StubImage {
  std::vector<uint8_t> bytes;  // empty: assembling it failed; each program assembles its own
  size_t abort_at = 0;         // where `abort` is bound
};

StubImage assemble_stub_image(Stub stub, bool func_refs, bool facts) {
  StubImage image;
  x86::Assembler a;
  const Label abort = a.newLabel();
  assemble_enter_stub(a, stub, func_refs, facts, abort);
  if (!a.finish() || a.has_calls()) return image;
  image.abort_at = size_t(a.labelOffset(abort));
  image.bytes.assign(a.code().begin(), a.code().end());
  return image;
}

const StubImage& stub_image(Stub stub, bool func_refs, bool facts) {
  static const auto images = [] {
    std::array<StubImage, 12> all;
    for (unsigned k = 0; k < all.size(); ++k) all[k] = assemble_stub_image(Stub(k >> 2), k & 2, k & 1);
    return all;
  }();
  return images[(unsigned(stub) << 2) | (func_refs ? 2 : 0) | (facts ? 1 : 0)];
}

}  // namespace

void Lowering::emit_enter_stub() {
  abort_ = a_.newLabel();
  const StubImage& s = stub_image(an_.stub, an_.has_func_refs, facts_ != nullptr);
  if (s.bytes.empty()) return assemble_enter_stub(a_, an_.stub, an_.has_func_refs, facts_ != nullptr, abort_);
  a_.embed(s.bytes.data(), s.abort_at);
  a_.bind(abort_);
  a_.embed(s.bytes.data() + s.abort_at, s.bytes.size() - s.abort_at);
}

// Without facts: push rbp; mov rbp, rsp; sub rsp, 512 (+8); push r6-r9 it
// mentions. With facts, the frame is the verified depth, rbp is set only
// when used, and the alignment pad only when the function calls.
void Lowering::emit_prologue(const Function& f) {
  a_.align(AlignMode::kCode, 16);
  a_.bind(f.prologue);
  if (f.uses_rbp) {
    a_.push(x86::rbp);
    a_.mov(x86::rbp, x86::rsp);
    if (const int32_t bytes = f.frame + f.pad; bytes) a_.sub(x86::rsp, bytes);
    if (stack_poison_ >= 0 && f.frame > 0) {  // r11 is free here: it held the entry's or tail call's target
      a_.mov(kT11, Imm(int64_t(uint64_t(uint8_t(stack_poison_)) * 0x0101010101010101ULL)));
      for (int32_t off = 8; off <= f.frame; off += 8) a_.mov(x86::qword_ptr(x86::rbp, -off), kT11);
    }
    for (const Gp& r : f.saved) a_.push(r);
    return;
  }
  for (const Gp& r : f.saved) a_.push(r);
  if (f.pad) a_.sub(x86::rsp, f.pad);
}

// Restores what the prologue saved and drops the frame (no return).
void Lowering::emit_teardown(const Function& f) {
  if (f.uses_rbp) {
    for (size_t k = f.saved.size(); k-- > 0;) a_.pop(f.saved[k]);
    a_.leave();
    return;
  }
  if (f.pad) a_.add(x86::rsp, f.pad);
  for (size_t k = f.saved.size(); k-- > 0;) a_.pop(f.saved[k]);
}

void Lowering::emit_abort(Abort why, uint64_t arg) {
  a_.mov(x86::dword_ptr(kArea, kAreaError), uint32_t(why));
  a_.mov(x86::qword_ptr(kArea, kAreaErrorArg), Imm(int64_t(arg)));
  a_.jmp(abort_);
}

Expected<void> Lowering::call_helper(const Insn& i) {
  const uint32_t id = uint32_t(i.imm);
  if (id == vm::kHelperTailCall) {
    tail_call();
    return {};
  }
  for (const vm::InlineArrayLookup& l : prog_.array_lookups()) {
    if (l.pc == i.pc && id == kMapLookupElem) {
      if (l.ncpus > 1) inline_percpu_lookup(l);
      else inline_array_lookup(l);
      return {};
    }
  }
  const vm::HelperTable* table = prog_.helper_table();
  vm::HelperFn fn = table ? table->get(id) : nullptr;
  if (!fn) return fail(Errc::invalid_program, "insn {}: call to unknown helper {}", i.pc, i.imm);
  // The standard helper, by the name helpers::Registry::table_for gives it
  // (a table may put something else under the id). bpf_ktime_get_ns stays
  // a call: a direct clock_gettime call from here measured no faster than
  // the helper (bench/jit_helpers_bench; the vDSO's ~30 ns dominate).
  if (inline_helpers_ && id == kGetSmpProcessorId && cpu_id_off_ &&
      table->name(id) == "bpf_get_smp_processor_id") {
    inline_smp_processor_id(fn);
    return {};
  }
  emit_helper_call(fn);
  return {};
}

void Lowering::emit_helper_call(vm::HelperFn fn) {
  a_.mov(kT9, x86::qword_ptr(kArea, kAreaCtx));
  a_.call(Imm(reinterpret_cast<uint64_t>(fn)));
}

// r11d = the rseq area's cpu_id (thread pointer at fs:0, then the field).
void Lowering::load_rseq_cpu_id() {
  x86::Mem tp = x86::qword_ptr_abs(0);
  tp.setSegment(x86::fs);
  a_.mov(kT11, tp);
  a_.mov(kT11.r32(), x86::dword_ptr(kT11, *cpu_id_off_));
}

// bpf_get_smp_processor_id: the rseq cpu_id, as sched_getcpu() reads it;
// the helper when the thread has no valid one (cpu_id < 0).
void Lowering::inline_smp_processor_id(vm::HelperFn fn) {
  Label slow = a_.newLabel(), done = a_.newLabel();
  load_rseq_cpu_id();
  a_.test(kT11.r32(), kT11.r32());
  a_.short_().js(slow);
  a_.mov(x86::eax, kT11.r32());
  a_.short_().jmp(done);
  a_.bind(slow);
  emit_helper_call(fn);
  a_.bind(done);
}

// A per-CPU array's lookup into the current CPU's copy:
// base + ((key & mask) * ncpus + cpu) * stride, cpu = vm::current_cpu(ncpus)
// (the map's own notion), read from the rseq area when the CPU number is
// below ncpus, else computed by the call. Leaves r1-r5 intact on the fast
// path; the slow path clobbers them, as any call may.
void Lowering::inline_percpu_lookup(const vm::InlineArrayLookup& l) {
  const uint32_t mask = uint32_t((uint64_t{1} << std::bit_width(l.max_entries - 1)) - 1);
  Label null = a_.newLabel(), done = a_.newLabel(), slow = a_.newLabel(), have_cpu = a_.newLabel();
  a_.mov(x86::eax, x86::dword_ptr(x86::rsi));
  a_.cmp(x86::eax, Imm(l.max_entries));
  a_.jae(null);
  a_.and_(x86::eax, Imm(mask));
  if (cpu_id_off_) {
    load_rseq_cpu_id();
    a_.cmp(kT11.r32(), Imm(l.ncpus));  // unsigned: a negative (unknown) cpu_id too
    a_.jae(slow);
  } else {
    a_.jmp(slow);
  }
  a_.bind(have_cpu);
  // The index and the CPU are below 2^32 each, their products fit 64 bits.
  a_.mov(kT10, Imm(uint64_t(l.ncpus)));
  a_.imul(x86::rax, kT10);
  a_.add(x86::rax, kT11);
  element_address(l);
  a_.jmp(done);
  a_.bind(slow);
  a_.push(x86::rax);  // the masked index; two pushes keep rsp aligned
  a_.push(x86::rax);
  a_.mov(x86::edi, Imm(l.ncpus));
  a_.call(Imm(reinterpret_cast<uint64_t>(&vm::current_cpu)));
  a_.mov(kT11.r32(), x86::eax);  // zero-extended
  a_.pop(x86::rax);
  a_.pop(x86::rax);
  a_.jmp(have_cpu);
  a_.bind(null);
  a_.xor_(x86::eax, x86::eax);
  a_.bind(done);
}

// rax = l.base + rax * l.stride (rax: the element's slot index).
void Lowering::element_address(const vm::InlineArrayLookup& l) {
  if (std::has_single_bit(l.stride)) {
    if (l.stride > 1) a_.shl(x86::rax, std::countr_zero(l.stride));
  } else {
    a_.imul(x86::rax, x86::rax, Imm(l.stride));
  }
  a_.mov(kT11, Imm(reinterpret_cast<uint64_t>(l.base)));
  a_.add(x86::rax, kT11);
}

// The kernel's map_gen_lookup: r0 = &elem[key] or NULL; the index is masked
// after the bounds check so a mispredicted check cannot read out of bounds
// speculatively. Leaves r1-r5 intact (so does the interpreter's slot).
void Lowering::inline_array_lookup(const vm::InlineArrayLookup& l) {
  const uint32_t mask = uint32_t((uint64_t{1} << std::bit_width(l.max_entries - 1)) - 1);
  Label null = a_.newLabel(), done = a_.newLabel();
  a_.mov(x86::eax, x86::dword_ptr(x86::rsi));
  a_.cmp(x86::eax, Imm(l.max_entries));
  a_.short_().jae(null);
  a_.and_(x86::eax, Imm(mask));
  element_address(l);
  a_.short_().jmp(done);
  a_.bind(null);
  a_.xor_(x86::eax, x86::eax);
  a_.bind(done);
}

// bpf_tail_call(ctx, map, index): a true tail call. The target's prologue
// is entered after this function's frame is gone, so the target returns to
// this function's caller. Registers are preserved when it falls through.
void Lowering::tail_call() {
  static const Gp kKeep[] = {x86::rax, x86::rdi, x86::rsi, x86::rdx, x86::rcx, x86::r8};  // even: aligned
  for (const Gp& r : kKeep) a_.push(r);
  a_.mov(x86::rdi, kArea);  // (area, map = rsi, index = rdx)
  a_.call(Imm(reinterpret_cast<uint64_t>(&tail_call_target)));
  a_.mov(kT11, x86::rax);
  for (size_t k = std::size(kKeep); k-- > 0;) a_.pop(kKeep[k]);
  Label none = a_.newLabel();
  a_.test(kT11, kT11);
  a_.short_().jz(none);
  emit_teardown(*cur_);
  a_.jmp(kT11);
  a_.bind(none);
}

// callx rN: the helper whose id is in rN (uBPF's convention).
Expected<void> Lowering::callx(const Insn& i) {
  a_.mov(x86::qword_ptr(kArea, kAreaCallxId), kReg[i.dst]);
  a_.mov(x86::qword_ptr(kArea, kAreaErrorArg), Imm(int64_t(i.pc)));
  a_.mov(kT9, kArea);
  a_.call(Imm(reinterpret_cast<uint64_t>(&callx_dispatch)));
  a_.cmp(x86::dword_ptr(kArea, kAreaError), 0);
  a_.jne(abort_);  // unknown helper: callx_dispatch set the error
  return {};
}

}  // namespace xbpf::jit::x86low
