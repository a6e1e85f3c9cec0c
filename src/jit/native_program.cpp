// compile(): lowering -> encoding (x86_asm.hpp), relocation -> W^X code memory -> NativeCode
// attached to the vm::Program. Also the C++ side of runs: the RunArea, error
// reporting, callbacks (call_function), tail calls and callx.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "jit/code_memory.hpp"
#include "jit/jit.hpp"
#include "jit/run_area.hpp"
#include "jit/x86_lower.hpp"

namespace xbpf::jit {
namespace {

// A run's native frames live below the caller's frame: 8 BPF frames of 512
// bytes plus saved registers, and whatever helpers use. ExecContext's stack
// bounds only matter to checked programs, which never run here; they are set
// to this estimate so helpers see a plausible range.
constexpr uint64_t kNativeStackEstimate = vm::kMaxFrames * (vm::kStackSize + 64) + 256;

class NativeProgram final : public vm::NativeCode {
 public:
  NativeProgram(CodeMemory mem, size_t offset, size_t code_size, std::vector<uint64_t> functions,
                std::vector<uint32_t> function_pcs, std::vector<uint32_t> insn_offsets, uint64_t main, bool no_area)
      : no_area_(no_area),
        mem_(std::move(mem)),
        offset_(offset),
        code_size_(code_size),
        functions_(std::move(functions)),
        function_pcs_(std::move(function_pcs)),
        insn_offsets_(std::move(insn_offsets)),
        main_(main) {}

  Expected<uint64_t> run(const vm::Program& prog, std::span<const uint64_t, 5> args,
                         vm::ExecContext& ctx) const override {
    return enter(prog, main_, args.data(), ctx);
  }

  Expected<uint64_t> call_function(const vm::Program& prog, uint64_t fn, std::span<const uint64_t, 5> args,
                                   vm::ExecContext& ctx) const override {
    if (!std::binary_search(functions_.begin(), functions_.end(), fn))
      return fail(Errc::runtime, "callback {:#x} is not a function of this program", fn);
    const vm::Program* saved_prog = ctx.program;
    const uint64_t saved_lo = ctx.stack_lo, saved_hi = ctx.stack_hi;
    auto r = enter(prog, fn, args.data(), ctx);
    ctx.program = saved_prog;
    ctx.stack_lo = saved_lo;
    ctx.stack_hi = saved_hi;
    return r;
  }

  // A lean program's main function takes r1-r5 in rdi, rsi, rdx, rcx, r8
  // and returns r0 in rax, saving what it uses of rbx, rbp, r13-r15: the C
  // calling convention, so it is called without the entry stub.
  DirectFn direct() const override { return no_area_ ? reinterpret_cast<DirectFn>(main_) : nullptr; }

  [[nodiscard]] const void* main_entry() const { return reinterpret_cast<const void*>(main_); }

  [[nodiscard]] CodeView view() const {
    return CodeView{mem_.bytes().subspan(offset_, code_size_), insn_offsets_,
                    uint32_t(main_ - reinterpret_cast<uint64_t>(mem_.data() + offset_))};
  }

 private:
  Expected<uint64_t> enter(const vm::Program& prog, uint64_t fn, const uint64_t* args, vm::ExecContext& ctx) const {
    const auto stub = reinterpret_cast<EnterFn>(mem_.data() + offset_);
    if (no_area_) {  // no helper, tail call or early exit: nothing reads the RunArea or the stack bounds
      ctx.program = &prog;
      return stub(args, nullptr, reinterpret_cast<const void*>(fn));
    }
    RunArea area;
    area.ctx = &ctx;
    area.helpers = prog.helper_table();
    ctx.program = &prog;
    ctx.stack_hi = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
    ctx.stack_lo = ctx.stack_hi - kNativeStackEstimate;
    const uint64_t r0 = stub(args, &area, reinterpret_cast<const void*>(fn));
    switch (area.error) {
      case Abort::none: return r0;
      case Abort::fell_off:
        return fail(Errc::runtime, "insn {}: execution fell off the end of a function", area.error_arg);
      case Abort::callx_unknown:
        return fail(Errc::runtime, "insn {}: callx to unknown helper {}", area.error_arg, area.callx_id);
    }
    return fail(Errc::runtime, "jit: unknown abort reason {}", uint32_t(area.error));
  }

  bool no_area_;  // Lowered::no_area
  CodeMemory mem_;
  size_t offset_;                    // where the code starts in mem_ (Options::code_offset)
  size_t code_size_;                 // bytes of code after offset_ (the rest is padding)
  std::vector<uint64_t> functions_;  // prologue addresses, ascending (valid callbacks)
  std::vector<uint32_t> function_pcs_;
  std::vector<uint32_t> insn_offsets_;
  uint64_t main_;
};

}  // namespace

const void* tail_call_target(RunArea* area, uint64_t map, uint64_t index) noexcept {
  vm::ExecContext* ctx = area->ctx;
  if (!ctx->tail_call || area->tail_calls >= vm::kMaxTailCalls) return nullptr;
  const vm::Program* next = ctx->tail_call(ctx, map, uint32_t(index));  // r3's low 32 bits, as the kernel
  if (!next) return nullptr;
  const auto* native = dynamic_cast<const NativeProgram*>(next->native());
  if (!native) return nullptr;  // an interpreted program cannot take over this frame
  ++area->tail_calls;
  ctx->program = next;
  area->helpers = next->helper_table();
  return native->main_entry();
}

uint64_t callx_dispatch(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, RunArea* area) noexcept {
  const uint64_t id = area->callx_id;
  const vm::HelperFn fn = id <= UINT32_MAX && area->helpers ? area->helpers->get(uint32_t(id)) : nullptr;
  if (!fn) {
    area->error = Abort::callx_unknown;
    return 0;
  }
  return fn(r1, r2, r3, r4, r5, area->ctx);
}

namespace {

// What an attempt's failure asks of the next one.
enum class Retry : uint8_t {
  none,      // the program's own problem (or success)
  rel32,     // a forward jump's size bound was wrong: no rel8 forward jumps
  far_calls, // a call target is out of rel32 reach of the code memory
};

// One attempt, with or without rel8 forward jumps and far calls.
Expected<void> compile_once(vm::Program& prog, const Options& opts, bool short_jumps, bool far_calls, Retry* retry) {
  const auto t0 = std::chrono::steady_clock::now();
  // One assembler per thread, reset (its buffers keep their capacity) for
  // each compile. After a large program it is let go, so the thread does
  // not keep that much memory for good.
  thread_local auto a = std::make_unique<x86::Assembler>();
  struct Release {
    std::unique_ptr<x86::Assembler>& a;
    bool large;
    ~Release() {
      if (large) a = std::make_unique<x86::Assembler>();
    }
  } release{a, prog.size() > 16384};
  a->reset();
  a->far_calls(far_calls);
  Lowered out;
  if (auto r = lower(prog, opts, short_jumps, *a, out); !r) return r;
  if (!a->finish()) {
    *retry = Retry::rel32;
    return fail(Errc::unsupported, "jit: encoder: {}", a->error());
  }
  const auto t1 = std::chrono::steady_clock::now();
  // Helpers live in this binary: ask for code memory near it so helper calls
  // are direct rel32 calls (else far_calls: through r11).
  const size_t pad = opts.code_offset;
  const size_t size = a->size();
  auto mem = CodeMemory::allocate(pad + size, reinterpret_cast<const void*>(&callx_dispatch));
  if (!mem) return xbpf::unexpected(mem.error());
  const uint64_t base = reinterpret_cast<uint64_t>(mem->data() + pad);
  // The image: int3 before the code (code_offset), then the code.
  std::vector<uint8_t> image(pad + size, 0xcc);
  if (!a->relocate(base, image.data() + pad)) {
    *retry = Retry::far_calls;
    return fail(Errc::unsupported, "jit: relocation: {}", a->error());
  }
  if (auto r = mem->install(image); !r) return r;
  if (opts.stats) {
    const auto t2 = std::chrono::steady_clock::now();
    opts.stats->emit_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    opts.stats->memory_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count());
    opts.stats->code_bytes = size;
    opts.stats->insns = prog.size();
    opts.stats->tail_copies = out.tail_copies;
    opts.stats->unrolled = out.unrolled;
    opts.stats->idioms = out.idioms;
    opts.stats->moves_first = out.moves_first;
    opts.stats->selects = out.selects;
    opts.stats->indexed_loads = out.indexed_loads;
  }

  std::vector<uint64_t> functions;
  for (const Label& l : out.function_labels) functions.push_back(base + uint64_t(a->labelOffset(l)));
  const uint64_t main = base + uint64_t(a->labelOffset(out.main));
  std::sort(functions.begin(), functions.end());
  prog.set_native(std::make_unique<NativeProgram>(std::move(*mem), pad, size, std::move(functions), std::move(out.function_pcs),
                                                  std::move(out.insn_offsets), main, out.no_area));
  return {};
}

}  // namespace

Expected<void> compile(vm::Program& prog, const Options& opts) {
  if (prog.mode() != vm::Mode::Verified)
    return fail(Errc::unsupported, "jit: only verified-mode programs are compiled (checked mode runs on the interpreter)");
  bool short_jumps = true, far_calls = false;
  for (;;) {
    Retry retry = Retry::none;
    auto r = compile_once(prog, opts, short_jumps, far_calls, &retry);
    if (r || retry == Retry::none || (retry == Retry::rel32 && !short_jumps) || (retry == Retry::far_calls && far_calls))
      return r;
    if (retry == Retry::rel32) {
      short_jumps = false;
      if (opts.stats) opts.stats->rel32_retry = true;
    } else {
      far_calls = true;
      if (opts.stats) opts.stats->far_calls = true;
    }
  }
}

std::optional<CodeView> code_of(const vm::Program& prog) {
  const auto* n = dynamic_cast<const NativeProgram*>(prog.native());
  if (!n) return std::nullopt;
  return n->view();
}

}  // namespace xbpf::jit
